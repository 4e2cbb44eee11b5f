#pragma once

// Randomness, injected like time (design D5): ids and tokens come from a RandomSource, so tests
// can make them deterministic. Production uses the OS's CSPRNG (adapters/posix).
//
// Thread-safety: implementations are safe for concurrent use.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "engine/clock.h"

namespace clawvisor {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void Fill(std::span<std::byte> out) = 0;
};

// A deterministic generator for tests (splitmix64). Never for secrets.
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  void Fill(std::span<std::byte> out) override;

 private:
  std::mutex mu_;
  uint64_t state_;  // GUARDED_BY(mu_)
};

// A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Sorts roughly by time.
std::string NewUuidV7(TimestampUs now_us, RandomSource& random);

}  // namespace clawvisor
