#pragma once

// BatchView: the rows one projection batch has written so far, over the store. Every table's
// Apply reads and writes through it, so a read-modify-write within one batch sees the batch's
// own writes. Writes collect in an overlay and become one KvBatch at the end: its range deletes
// first, then the overlay's puts and deletes (an erasure nulls the overlay rows it covers, so
// rows written before it in the batch are deleted and rows after it survive).
//
// ReadRow and ScanRows read committed rows straight from the store, for the tables' queries.
//
// Thread-safety: a BatchView belongs to the one thread applying; ReadRow/ScanRows are as safe
// as the KvStore (any thread).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "engine/hex.h"
#include "events/result.h"
#include "projections/kv_store.h"
#include "projections/table_keys.h"

namespace clawvisor::projection {

// The row at `key` parsed as a `Message`; none when absent; kCorruption when it does not parse.
template <typename Message>
Result<std::optional<Message>> ReadRow(KvStore& store, const std::string& key) {
  auto raw = store.Get(key);
  if (!raw) return std::unexpected(raw.error());
  if (!raw->has_value()) return std::optional<Message>();
  Message m;
  if (!m.ParseFromString(**raw)) {
    return MakeError(Errc::kCorruption, "projection row is not readable: " + HexEncode(key));
  }
  return std::optional<Message>(std::move(m));
}

// Parses every row under `prefix` into a message `add()` appends to a list; `what` names the
// row in the error.
template <typename Add>
Status ScanRows(KvStore& store, const std::string& prefix, std::string_view what, Add add) {
  bool corrupt = false;
  Status scanned = store.Scan(prefix, PrefixEnd(prefix), [&](auto, std::string_view value) {
    corrupt = !add()->ParseFromArray(value.data(), static_cast<int>(value.size()));
    return !corrupt;
  });
  if (!scanned) return scanned;
  if (corrupt)
    return MakeError(Errc::kCorruption, "a " + std::string(what) + " row is not readable");
  return {};
}

class BatchView {
 public:
  explicit BatchView(KvStore& store) : store_(store) {}

  template <typename Message>
  Result<std::optional<Message>> Get(const std::string& key) {
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      if (!it->second) return std::optional<Message>();
      Message m;
      if (!m.ParseFromString(*it->second)) {
        return MakeError(Errc::kInternal, "a row written by this batch does not parse");
      }
      return std::optional<Message>(std::move(m));
    }
    for (const auto& prefix : erased_prefixes_) {
      if (key.starts_with(prefix)) return std::optional<Message>();
    }
    return ReadRow<Message>(store_, key);
  }
  void Put(const std::string& key, const google::protobuf::Message& m) {
    m.SerializeToString(&overlay_[key].emplace());
  }
  void PutRaw(const std::string& key, std::string value) { overlay_[key] = std::move(value); }
  void Delete(const std::string& key) { overlay_[key] = std::nullopt; }
  // Deletes every row under `prefix`, stored or written by this batch so far.
  void DeletePrefix(const std::string& prefix);

  // Tracks the command of the previous event applied in this batch (see CommandTable).
  const std::string& last_command_key() const { return last_command_key_; }
  void set_last_command_key(const std::string& key) {
    last_command_key_ = key;
    first_event_ = false;
  }
  bool first_event() const { return first_event_; }

  KvBatch Materialize() const;
  void Reset();

 private:
  KvStore& store_;
  std::map<std::string, std::optional<std::string>> overlay_;
  std::vector<std::string> erased_prefixes_;
  std::string last_command_key_;
  bool first_event_ = true;
};

}  // namespace clawvisor::projection
