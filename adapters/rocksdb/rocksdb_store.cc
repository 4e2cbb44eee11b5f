#include "adapters/rocksdb/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <exception>
#include <utility>

namespace clawvisor {
namespace {

rocksdb::Slice AsSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view AsView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

rocksdb::Options MakeOptions(const RocksDbStoreOptions& options) {
  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  if (options.bloom_bits_per_key > 0) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(options.bloom_bits_per_key));
  }
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return db_options;
}

Error Internal(const std::exception& e) {
  return Error{Errc::kInternal, std::string("rocksdb store: ") + e.what()};
}

}  // namespace

Error FromRocksDb(const rocksdb::Status& status, std::string_view what) {
  Errc code = Errc::kUnavailable;
  if (status.IsCorruption()) {
    code = Errc::kCorruption;
  } else if (status.IsInvalidArgument()) {
    code = Errc::kInvalidArgument;
  } else if (status.IsNotSupported()) {
    code = Errc::kUnsupported;
  }
  return Error{code, std::string(what) + ": " + status.ToString()};
}

Result<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& path,
                                                         const RocksDbStoreOptions& options) {
  try {
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(MakeOptions(options), path, &raw);
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "open store at " + path));
    return std::unique_ptr<RocksDbStore>(
        new RocksDbStore(path, options, std::unique_ptr<rocksdb::DB>(raw)));
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<std::unique_ptr<RocksDbStore>> RocksDbStore::OpenSecondary(
    const std::string& primary_path, const std::string& secondary_path,
    const RocksDbStoreOptions& options) {
  try {
    rocksdb::Options db_options = MakeOptions(options);
    db_options.create_if_missing = false;
    db_options.max_open_files = -1;  // required of a secondary instance
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s =
        rocksdb::DB::OpenAsSecondary(db_options, primary_path, secondary_path, &raw);
    if (!s.ok()) {
      return std::unexpected(FromRocksDb(s, "open store at " + primary_path + " as a secondary"));
    }
    std::unique_ptr<RocksDbStore> store(
        new RocksDbStore(primary_path, options, std::unique_ptr<rocksdb::DB>(raw)));
    store->secondary_ = true;
    return store;
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Status RocksDbStore::CatchUpWithPrimary() {
  try {
    if (!secondary_) return MakeError(Errc::kFailedPrecondition, "not a secondary store");
    rocksdb::Status s = db_->TryCatchUpWithPrimary();
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "catch up with the primary at " + path_));
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Status RocksDbStore::Destroy(const std::string& path, const RocksDbStoreOptions& options) {
  try {
    rocksdb::Status s = rocksdb::DestroyDB(path, MakeOptions(options));
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "destroy store at " + path));
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

RocksDbStore::RocksDbStore(std::string path, RocksDbStoreOptions options,
                           std::unique_ptr<rocksdb::DB> db)
    : path_(std::move(path)), options_(options), db_(std::move(db)) {}

RocksDbStore::~RocksDbStore() = default;

Status RocksDbStore::DestroyAndReopen() {
  try {
    db_.reset();  // DestroyDB needs the lock file released
    if (Status s = Destroy(path_, options_); !s) return s;
    RocksDbStoreOptions create = options_;
    create.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(MakeOptions(create), path_, &raw);
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "reopen store at " + path_));
    db_.reset(raw);
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<std::optional<std::string>> RocksDbStore::Get(std::string_view key) {
  try {
    if (!db_) return MakeError(Errc::kFailedPrecondition, "store at " + path_ + " is closed");
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), AsSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "get"));
    return std::optional<std::string>(std::move(value));
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Status RocksDbStore::Purge(std::string_view begin, std::string_view end) {
  if (secondary_) return MakeError(Errc::kFailedPrecondition, "store is a read-only secondary");
  rocksdb::FlushOptions flush;
  flush.wait = true;
  if (auto s = db_->Flush(flush); !s.ok()) {
    return MakeError(Errc::kUnavailable, "rocksdb flush: " + s.ToString());
  }
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  const rocksdb::Slice from(begin.data(), begin.size());
  const rocksdb::Slice to(end.data(), end.size());
  if (auto s = db_->CompactRange(compact, &from, end.empty() ? nullptr : &to); !s.ok()) {
    return MakeError(Errc::kUnavailable, "rocksdb compact: " + s.ToString());
  }
  return {};
}

Status RocksDbStore::Write(const KvBatch& batch, bool sync) {
  try {
    if (!db_) return MakeError(Errc::kFailedPrecondition, "store at " + path_ + " is closed");
    if (secondary_) return MakeError(Errc::kFailedPrecondition, "store is a read-only secondary");
    if (batch.empty()) return {};
    rocksdb::WriteBatch wb;
    for (const auto& [begin, end] : batch.ranges()) {
      if (begin > end) {
        return MakeError(Errc::kInvalidArgument, "DeleteRange with begin after end");
      }
      if (begin == end) continue;  // an empty range; RocksDB would reject it
      rocksdb::Status s = wb.DeleteRange(begin, end);
      if (!s.ok()) return std::unexpected(FromRocksDb(s, "build batch"));
    }
    for (const KvBatch::Op& op : batch.ops()) {
      rocksdb::Status s = op.value ? wb.Put(op.key, *op.value) : wb.Delete(op.key);
      if (!s.ok()) return std::unexpected(FromRocksDb(s, "build batch"));
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync && !options_.disable_wal;
    wo.disableWAL = options_.disable_wal;
    rocksdb::Status s = db_->Write(wo, &wb);
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "write"));
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Status RocksDbStore::Scan(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view key, std::string_view value)>& visit) {
  try {
    if (!db_) return MakeError(Errc::kFailedPrecondition, "store at " + path_ + " is closed");
    if (!end.empty() && end <= begin) return {};
    const rocksdb::Slice upper = AsSlice(end);
    rocksdb::ReadOptions ro;
    if (!end.empty()) ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->Seek(AsSlice(begin)); it->Valid(); it->Next()) {
      if (!visit(AsView(it->key()), AsView(it->value()))) return {};
    }
    if (!it->status().ok()) return std::unexpected(FromRocksDb(it->status(), "scan"));
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

}  // namespace clawvisor
