#pragma once

// KvStore: the ordered key-value store projections keep their read models in.
//
// Write() applies a batch atomically: a projection puts its rows and its last applied offset in
// one batch, so after a crash the store holds either both or neither (design D2), and replaying
// from the stored offset is idempotent. Implementation: RocksDbStore (adapters/rocksdb).
//
// Thread-safety: all methods may be called concurrently; a Write is atomic for readers.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/result.h"

namespace clawvisor {

class KvBatch {
 public:
  struct Op {
    std::string key;
    std::optional<std::string> value;  // nullopt: delete
  };
  void Put(std::string key, std::string value) {
    ops_.push_back({std::move(key), std::move(value)});
  }
  void Delete(std::string key) { ops_.push_back({std::move(key), std::nullopt}); }
  // Deletes every key in [begin, end).
  void DeleteRange(std::string begin, std::string end) {
    ranges_.emplace_back(std::move(begin), std::move(end));
  }
  const std::vector<Op>& ops() const { return ops_; }
  const std::vector<std::pair<std::string, std::string>>& ranges() const { return ranges_; }
  bool empty() const { return ops_.empty() && ranges_.empty(); }
  void Clear() {
    ops_.clear();
    ranges_.clear();
  }

 private:
  std::vector<Op> ops_;
  std::vector<std::pair<std::string, std::string>> ranges_;  // applied before ops_
};

class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // Applies the batch atomically. `sync`: durable before returning.
  virtual Status Write(const KvBatch& batch, bool sync) = 0;
  // Visits keys in [begin, end) in order until `visit` returns false. An empty `end` means
  // no upper bound.
  virtual Status Scan(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) = 0;
  // Makes what was deleted in [begin, end) physically gone from the store's files (a storage
  // engine keeps deleted values until it rewrites them): the key vault calls it after destroying
  // an erased account's keys. Stores that keep nothing after a delete need not override it.
  virtual Status Purge(std::string_view /*begin*/, std::string_view /*end*/) { return {}; }
};

}  // namespace clawvisor
