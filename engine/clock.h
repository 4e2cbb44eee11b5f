#pragma once

// Time, injected (design D5). Nothing in the domain reads the system clock or sleeps by itself:
// it asks a Clock. Production wires SystemClock; tests drive ManualClock.
//
// Thread-safety: implementations are safe for concurrent use.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace clawvisor {

// Microseconds since the Unix epoch, UTC. The unit events store (occurred_at_us).
using TimestampUs = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, to record and to show a person.
  virtual TimestampUs NowUs() = 0;
  // Monotonic time, to measure an interval; unrelated to NowUs()'s epoch.
  virtual std::chrono::steady_clock::time_point Monotonic() = 0;
};

class SystemClock final : public Clock {
 public:
  TimestampUs NowUs() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point Monotonic() override {
    return std::chrono::steady_clock::now();
  }
};

// A clock that moves only when told to. Both readings advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampUs start_us = 1'700'000'000'000'000) : now_us_(start_us) {}
  TimestampUs NowUs() override { return now_us_.load(); }
  std::chrono::steady_clock::time_point Monotonic() override {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(now_us_.load()));
  }
  void Advance(std::chrono::microseconds by) { now_us_ += by.count(); }
  void Set(TimestampUs now_us) { now_us_ = now_us; }

 private:
  std::atomic<TimestampUs> now_us_;
};

}  // namespace clawvisor
