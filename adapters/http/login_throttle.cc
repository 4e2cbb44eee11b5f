#include "adapters/http/login_throttle.h"

#include <algorithm>
#include <iterator>

namespace clawvisor {

void LoginThrottle::Forget(Failures& f, TimestampUs now) const {
  while (!f.at.empty() && now - f.at.front() >= kWindowUs) f.at.pop_front();
}

TimestampUs LoginThrottle::Wait(const std::string& address) {
  const TimestampUs now = clock_.NowUs();
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it == by_address_.end()) return 0;
  Forget(it->second, now);
  if (it->second.at.empty() && it->second.blocked_until <= now) {
    by_address_.erase(it);
    return 0;
  }
  return std::max<TimestampUs>(0, it->second.blocked_until - now);
}

void LoginThrottle::RecordFailure(const std::string& address) {
  const TimestampUs now = clock_.NowUs();
  std::lock_guard lock(mu_);
  if (by_address_.size() >= kMaxAddresses && !by_address_.contains(address)) {
    for (auto it = by_address_.begin(); it != by_address_.end();) {
      Forget(it->second, now);
      const bool idle = it->second.at.empty() && it->second.blocked_until <= now;
      it = idle ? by_address_.erase(it) : std::next(it);
    }
    if (by_address_.size() >= kMaxAddresses) by_address_.erase(by_address_.begin());
  }
  Failures& f = by_address_[address];
  Forget(f, now);
  f.at.push_back(now);
  if (f.at.size() > kFreeFailures) {
    const size_t doublings = std::min<size_t>(f.at.size() - kFreeFailures - 1, 30);
    const TimestampUs wait = std::min<TimestampUs>(1'000'000LL << doublings, kMaxWaitUs);
    f.blocked_until = now + wait;
  }
  while (f.at.size() > 4 * kFreeFailures) f.at.pop_front();  // bounded memory per address
}

}  // namespace clawvisor
