#pragma once

// MemoryKvStore: an in-memory KvStore (a std::map behind a mutex), for unit tests of the layers
// above storage and for benchmarks that measure something other than storage.
//
// It keeps the port's contract so that code tested against it behaves the same on RocksDbStore:
// - Write() is atomic: every range delete of the batch is applied first, then its puts and
//   deletes in order; a concurrent reader sees the store before the batch or after it.
// - Scan() visits [begin, end) in byte order over a snapshot taken when it starts, as a RocksDB
//   iterator does, so the visitor may call back into the store (even write) without deadlock.
// - A range whose begin sorts after its end is refused with kInvalidArgument and nothing of the
//   batch is applied: that is always a caller bug.
// Test hooks: FailWrites() makes every later Write fail (fault injection), counters say how many
// writes (and synced writes) succeeded, Snapshot() copies the whole content for inspection.
//
// Thread-safety: all methods may be called concurrently.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "projections/kv_store.h"

namespace clawvisor {

class MemoryKvStore final : public KvStore {
 public:
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Write(const KvBatch& batch, bool sync) override;
  Status Scan(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) override;

  // Every Write after this call fails with `error` (and applies nothing) until ClearFailure().
  void FailWrites(Error error);
  void ClearFailure();

  std::map<std::string, std::string, std::less<>> Snapshot() const;
  size_t size() const;
  uint64_t writes() const;
  uint64_t synced_writes() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> data_;  // GUARDED_BY(mu_)
  std::optional<Error> write_failure_;                    // GUARDED_BY(mu_)
  uint64_t writes_ = 0;                                   // GUARDED_BY(mu_)
  uint64_t synced_writes_ = 0;                            // GUARDED_BY(mu_)
};

}  // namespace clawvisor
