#pragma once

// LoginThrottle: failed sign-ins per source address, across accounts (the processor throttles
// per account; an attacker spraying one password over many accounts shows only here).
//
// Each address may fail kFreeFailures times within kWindowUs; every further failure in the
// window doubles its wait (1 s, 2 s, 4 s, ... capped at kMaxWaitUs). Failures older than the
// window are forgotten. The state is in memory (a restart forgets it, and several API processes
// each keep their own): it is a brake on guessing, the per-account lockout is the limit.
// Time comes from the injected Clock.
//
// Thread-safety: safe for concurrent use.

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "engine/clock.h"

namespace clawvisor {

class LoginThrottle {
 public:
  static constexpr size_t kFreeFailures = 20;
  static constexpr TimestampUs kWindowUs = 3600LL * 1'000'000;
  static constexpr TimestampUs kMaxWaitUs = 15LL * 60 * 1'000'000;
  static constexpr size_t kMaxAddresses = 100'000;  // then the oldest-failing are dropped

  explicit LoginThrottle(Clock& clock) : clock_(clock) {}

  // How long `address` must still wait before trying again (0: it may try now).
  TimestampUs Wait(const std::string& address);
  void RecordFailure(const std::string& address);

 private:
  struct Failures {
    std::deque<TimestampUs> at;  // within the window, oldest first
    TimestampUs blocked_until = 0;
  };
  void Forget(Failures& f, TimestampUs now) const;

  Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Failures> by_address_;  // GUARDED_BY(mu_)
};

}  // namespace clawvisor
