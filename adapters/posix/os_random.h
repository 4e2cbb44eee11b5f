#pragma once

// The kernel's CSPRNG (getrandom(2)): the RandomSource for ids, tokens, nonces and keys.

#include "engine/random.h"

namespace clawvisor {

class OsRandom final : public RandomSource {
 public:
  // Aborts if the kernel cannot supply randomness: continuing without it would be unsafe.
  void Fill(std::span<std::byte> out) override;
};

}  // namespace clawvisor
