#pragma once

// RocksDbStore: the KvStore projections keep their read models in (one RocksDB database).
//
// Contract: KvStore's. Write() applies its range deletions first, then its puts and deletes in
// order, as one RocksDB WriteBatch: atomic for readers and after a crash. Scan() sees a
// consistent snapshot of the store. An empty `end` in Scan() means "to the last key".
// RocksDB errors become Error (kUnavailable for I/O, kCorruption for corruption); nothing
// throws out of this class.
//
// Thread-safety: every method may be called concurrently, except DestroyAndReopen(), which
// REQUIRES that no other call is in flight.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "projections/kv_store.h"

namespace rocksdb {
class DB;
class Status;
}  // namespace rocksdb

namespace clawvisor {

struct RocksDbStoreOptions {
  bool create_if_missing = true;
  // Skip the write-ahead log. Only for a store that can be rebuilt from the event log (a
  // projection being rebuilt): a crash loses the unflushed tail, and since each batch carries
  // its offset the store reopens at a consistent, earlier offset.
  bool disable_wal = false;
  size_t block_cache_bytes = 64 << 20;
  // Bloom filter bits per key for point lookups (Get); 0 disables the filter.
  int bloom_bits_per_key = 10;
};

class RocksDbStore final : public KvStore {
 public:
  static Result<std::unique_ptr<RocksDbStore>> Open(const std::string& path,
                                                    const RocksDbStoreOptions& options = {});
  // Opens the store another process writes at `primary_path` read-only, as a RocksDB secondary
  // instance (its own state in `secondary_path`): it sees what the primary had written when it
  // opened, then more at each CatchUpWithPrimary(). Write and Purge answer kFailedPrecondition.
  // The API service reads the projector's read models this way (ARCHITECTURE.md, #5).
  static Result<std::unique_ptr<RocksDbStore>> OpenSecondary(
      const std::string& primary_path, const std::string& secondary_path,
      const RocksDbStoreOptions& options = {});
  // Makes what the primary wrote since visible (secondary stores only).
  Status CatchUpWithPrimary();

  // Deletes the database at `path` (a projection rebuild starts from nothing). The store must
  // not be open. Succeeds when there is nothing to delete.
  static Status Destroy(const std::string& path, const RocksDbStoreOptions& options = {});

  ~RocksDbStore() override;
  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Write(const KvBatch& batch, bool sync) override;
  // Flushes the memtable (so the write-ahead log holding the deleted values becomes obsolete
  // and is removed) and rewrites every file overlapping the range, bottommost level included.
  Status Purge(std::string_view begin, std::string_view end) override;
  Status Scan(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) override;

  // Closes, destroys and reopens this store empty, for a projection rebuild.
  // REQUIRES: no other call on this object is in flight.
  Status DestroyAndReopen();

  const std::string& path() const { return path_; }

 private:
  RocksDbStore(std::string path, RocksDbStoreOptions options, std::unique_ptr<rocksdb::DB> db);

  std::string path_;
  RocksDbStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  bool secondary_ = false;
};

// Maps a RocksDB status to our Error, naming the operation `what`: corruption to kCorruption,
// a bad argument to kInvalidArgument, everything else (I/O, busy, no space) to kUnavailable.
// Shared by the adapters in this folder.
Error FromRocksDb(const rocksdb::Status& status, std::string_view what);

}  // namespace clawvisor
