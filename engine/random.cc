#include "engine/random.h"

#include <array>
#include <cstdio>

namespace clawvisor {

void SeededRandom::Fill(std::span<std::byte> out) {
  std::lock_guard lock(mu_);
  for (auto& b : out) {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    b = static_cast<std::byte>((z ^ (z >> 31)) & 0xff);
  }
}

std::string NewUuidV7(TimestampUs now_us, RandomSource& random) {
  std::array<std::byte, 16> u{};
  random.Fill(u);
  const uint64_t ms = static_cast<uint64_t>(now_us / 1000);
  for (int i = 0; i < 6; ++i) u[i] = static_cast<std::byte>((ms >> (40 - 8 * i)) & 0xff);
  u[6] = (u[6] & std::byte{0x0f}) | std::byte{0x70};  // version 7
  u[8] = (u[8] & std::byte{0x3f}) | std::byte{0x80};  // variant 10
  char buf[37];
  const auto b = [&](int i) { return static_cast<unsigned>(u[i]); };
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b(0), b(1),
                b(2), b(3), b(4), b(5), b(6), b(7), b(8), b(9), b(10), b(11), b(12), b(13), b(14),
                b(15));
  return buf;
}

}  // namespace clawvisor
