#include "engine/run_loop.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "engine/logging.h"

namespace clawvisor {

void RunUntilStopped(std::stop_token stop, std::string_view component,
                     const std::function<Result<bool>()>& step,
                     std::chrono::milliseconds idle_wait) {
  constexpr auto kFirstBackoff = std::chrono::milliseconds(50);
  constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
  std::mutex wait_mu;
  std::condition_variable_any wait_cv;
  const auto wait = [&](std::chrono::milliseconds d) {
    std::unique_lock lock(wait_mu);
    wait_cv.wait_for(lock, stop, d, [] { return false; });
  };
  auto backoff = kFirstBackoff;
  while (!stop.stop_requested()) {
    auto idle = step();
    if (idle) {
      backoff = kFirstBackoff;
      if (*idle && idle_wait.count() > 0) wait(idle_wait);
      continue;
    }
    Log(LogLevel::kWarn, component, "step failed; retrying",
        {{"error", idle.error().ToString()}, {"backoff_ms", backoff.count()}});
    wait(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace clawvisor
