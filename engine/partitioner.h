#pragma once

// Which partition an account's records live in. Kafka's default partitioner for keyed records
// (murmur2 of the key, sign bit cleared, modulo the partition count), so a web tier that produces
// commands straight to Kafka with the account id as key lands in the same partition as the API.

#include <cstdint>
#include <string_view>

namespace clawvisor {

uint32_t Murmur2(std::string_view key);

inline int32_t PartitionFor(std::string_view account_id, int32_t partition_count) {
  return static_cast<int32_t>((Murmur2(account_id) & 0x7fffffff) %
                              static_cast<uint32_t>(partition_count));
}

}  // namespace clawvisor
