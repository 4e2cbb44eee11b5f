#include "adapters/cli/cli_support.h"

#include <cstdlib>
#include <iostream>
#include <string>

#include "engine/logging.h"

namespace clawvisor::cli {

std::filesystem::path DefaultDataDir() {
  if (const char* d = std::getenv("CLAWVISOR_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    return std::filesystem::path(x) / "clawvisor";
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return std::filesystem::path(h) / ".local/share/clawvisor";
  }
  return "/var/lib/clawvisor";
}

int Fail(const Error& error) {
  std::cerr << "clawvisor: " << error.ToString() << "\n";
  switch (error.code) {
    case Errc::kInvalidArgument:
      return kExitUsage;
    case Errc::kCorruption:
    case Errc::kUnsupported:
      return kExitDataErr;
    case Errc::kUnavailable:
      return kExitUnavailable;
    case Errc::kInternal:
      return kExitSoftware;
    default:
      return kExitFailure;
  }
}

int UsageError(std::string_view message, std::string_view help) {
  std::cerr << "clawvisor: " << message << "\n\n" << help;
  return kExitUsage;
}

void BlockServiceSignals(sigset_t& signals, bool usr1) {
  // Taken by sigwait on the calling thread; every thread started later inherits the mask.
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (usr1) sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int RunUntilStopSignal(std::string_view component, const std::function<int()>& start,
                       const std::function<void()>& stop) {
  sigset_t signals;
  BlockServiceSignals(signals);
  if (const int started = start(); started != kExitOk) return started;
  int received = 0;
  sigwait(&signals, &received);
  Log(LogLevel::kInfo, component, "stopping", {{"signal", received}});
  stop();
  return kExitOk;
}

}  // namespace clawvisor::cli
