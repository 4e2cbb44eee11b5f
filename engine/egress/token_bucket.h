#pragma once

// A byte-rate limit shared by every connection of one instance (design D9: one instance cannot
// starve another). Bytes are taken as they pass and may run the bucket into debt; the debt is
// the wait before the next read, so the long-run rate is `bytes_per_second` and a burst of up to
// `burst_bytes` passes at once.
//
// The front door (adapters/front_door) counts requests instead of bytes with TryTake, which
// refuses rather than running into debt.
//
// Thread-safety: none; the egress gateway uses one from its I/O thread only, the front door under
// its own mutex.

#include <algorithm>
#include <cstdint>

namespace clawvisor::egress {

class TokenBucket {
 public:
  // bytes_per_second 0: unlimited.
  TokenBucket(uint64_t bytes_per_second, uint64_t burst_bytes)
      : rate_(bytes_per_second),
        burst_(std::max(burst_bytes, uint64_t{1})),
        tokens_(static_cast<double>(burst_)) {}

  // Takes `bytes` at `now_us`; returns the microseconds to wait before reading again.
  int64_t Take(int64_t now_us, uint64_t bytes) {
    if (rate_ == 0) return 0;
    Refill(now_us);
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return 0;
    return static_cast<int64_t>(-tokens_ * 1e6 / static_cast<double>(rate_)) + 1;
  }

  // Takes `n` at `now_us` if the bucket holds that many; otherwise takes nothing, returns false.
  bool TryTake(int64_t now_us, uint64_t n) {
    if (rate_ == 0) return true;
    Refill(now_us);
    if (tokens_ < static_cast<double>(n)) return false;
    tokens_ -= static_cast<double>(n);
    return true;
  }

  uint64_t bytes_per_second() const { return rate_; }

 private:
  void Refill(int64_t now_us) {
    if (last_us_ != 0 && now_us > last_us_) {
      tokens_ = std::min(static_cast<double>(burst_),
                         tokens_ + static_cast<double>(now_us - last_us_) * rate_ / 1e6);
    }
    last_us_ = std::max(last_us_, now_us);
  }

  uint64_t rate_;
  uint64_t burst_;
  double tokens_;
  int64_t last_us_ = 0;
};

}  // namespace clawvisor::egress
