#include "engine/partitioner.h"

namespace clawvisor {

// A transcription of org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c).
uint32_t Murmur2(std::string_view key) {
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const int length = static_cast<int>(key.size());
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const int length4 = length / 4;
  for (int i = 0; i < length4; ++i) {
    const int i4 = i * 4;
    uint32_t k = (data[i4 + 0] & 0xffu) + ((data[i4 + 1] & 0xffu) << 8) +
                 ((data[i4 + 2] & 0xffu) << 16) + ((data[i4 + 3] & 0xffu) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(data[(length & ~3) + 2] & 0xff) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[(length & ~3) + 1] & 0xff) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(data[length & ~3] & 0xff);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

}  // namespace clawvisor
