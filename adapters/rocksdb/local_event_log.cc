#include "adapters/rocksdb/local_event_log.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <unordered_map>
#include <utility>

#include "adapters/rocksdb/rocksdb_store.h"

namespace clawvisor {
namespace {

// leveldb caps a write group at 1 MiB so that a small write is not delayed behind a huge
// group; our records are small events, so a larger cap still keeps latency low.
constexpr size_t kMaxGroupBytes = 4 << 20;
constexpr int32_t kMaxPartitions = 1 << 16;
constexpr size_t kMaxTopicName = 249;  // Kafka's limit
constexpr char kRecordFormat = 1;      // first byte of every stored record

// ---- key encoding -------------------------------------------------------------------------

void PutBE32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void PutBE64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t GetBE64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

uint32_t GetBE32(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string PartitionPrefix(char kind, std::string_view topic, int32_t partition) {
  std::string key;
  key.reserve(2 + topic.size() + 1 + 4 + 8);
  key.push_back(kind);
  key.push_back('|');
  key.append(topic);
  key.push_back('|');
  PutBE32(key, static_cast<uint32_t>(partition));
  return key;
}

std::string RecordKey(std::string_view topic, int32_t partition, uint64_t offset) {
  std::string key = PartitionPrefix('r', topic, partition);
  PutBE64(key, offset);
  return key;
}

std::string TimeKey(std::string_view topic, int32_t partition, uint64_t timestamp_ms) {
  std::string key = PartitionPrefix('t', topic, partition);
  PutBE64(key, timestamp_ms);
  return key;
}

// The group name is length-prefixed because, unlike a topic name, it may contain any byte.
std::string GroupKey(std::string_view group, std::string_view topic, int32_t partition) {
  std::string key = "g|";
  PutBE32(key, static_cast<uint32_t>(group.size()));
  key.append(group);
  key.append(topic);
  key.push_back('|');
  PutBE32(key, static_cast<uint32_t>(partition));
  return key;
}

std::string MetaKey(std::string_view topic) { return "m|" + std::string(topic); }

std::string BE64Value(uint64_t v) {
  std::string s;
  PutBE64(s, v);
  return s;
}

// ---- record encoding: version byte, varint timestamp, then length-prefixed fields -----------

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutBytes(std::string& out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out.append(bytes);
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

std::string EncodeRecord(const OutgoingRecord& r, int64_t timestamp_ms) {
  size_t size = 1 + VarintSize(static_cast<uint64_t>(timestamp_ms)) + VarintSize(r.key.size()) +
                r.key.size() + VarintSize(r.value.size()) + r.value.size() +
                VarintSize(r.headers.size());
  for (const Header& h : r.headers) {
    size += VarintSize(h.key.size()) + h.key.size() + VarintSize(h.value.size()) + h.value.size();
  }
  std::string out;
  out.reserve(size);
  out.push_back(kRecordFormat);
  PutVarint(out, static_cast<uint64_t>(timestamp_ms));
  PutBytes(out, r.key);
  PutBytes(out, r.value);
  PutVarint(out, r.headers.size());
  for (const Header& h : r.headers) {
    PutBytes(out, h.key);
    PutBytes(out, h.value);
  }
  return out;
}

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (in_.empty()) return false;
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Bytes(std::string& out) {
    uint64_t n = 0;
    if (!Varint(n) || n > in_.size()) return false;
    out.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Byte(char& c) {
    if (in_.empty()) return false;
    c = in_.front();
    in_.remove_prefix(1);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

bool DecodeRecord(std::string_view in, Record& r) {
  Decoder d(in);
  char format = 0;
  uint64_t ts = 0;
  uint64_t headers = 0;
  if (!d.Byte(format) || format != kRecordFormat || !d.Varint(ts) || !d.Bytes(r.key) ||
      !d.Bytes(r.value) || !d.Varint(headers) || headers > in.size()) {
    return false;
  }
  r.timestamp_ms = static_cast<int64_t>(ts);
  r.headers.resize(headers);
  for (Header& h : r.headers) {
    if (!d.Bytes(h.key) || !d.Bytes(h.value)) return false;
  }
  return d.done();
}

rocksdb::Slice AsSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view AsView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

bool ValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicName || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error Internal(const std::exception& e) {
  return Error{Errc::kInternal, std::string("local event log: ") + e.what()};
}

// The last key of `prefix` in the database, or nullopt.
Result<std::optional<std::string>> LastKeyWithPrefix(rocksdb::DB& db, const std::string& prefix) {
  std::string upper = prefix;
  upper.append(8, '\xff');
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(ro));
  it->SeekForPrev(upper);
  if (it->Valid() && it->key().starts_with(prefix)) return std::string(AsView(it->key()));
  if (!it->status().ok()) return std::unexpected(FromRocksDb(it->status(), "recovery scan"));
  return std::nullopt;
}

}  // namespace

// ---- Open ---------------------------------------------------------------------------------

Result<std::unique_ptr<LocalEventLog>> LocalEventLog::Open(const LocalEventLogOptions& options) {
  try {
    std::map<std::string, int32_t, std::less<>> wanted;
    for (const TopicSpec& t : options.topics) {
      if (!ValidTopicName(t.name)) {
        return MakeError(Errc::kInvalidArgument,
                         "invalid topic name '" + t.name +
                             "': use 1-249 characters of [A-Za-z0-9._-] (Kafka's rule)");
      }
      if (t.partitions < 1 || t.partitions > kMaxPartitions) {
        return MakeError(Errc::kInvalidArgument, "topic '" + t.name + "': partition count " +
                                                     std::to_string(t.partitions) +
                                                     " out of range [1, 65536]");
      }
      auto [it, inserted] = wanted.emplace(t.name, t.partitions);
      if (!inserted && it->second != t.partitions) {
        return MakeError(Errc::kInvalidArgument,
                         "topic '" + t.name + "' listed twice with different partition counts");
      }
    }

    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "open event log at " + options.path));
    std::unique_ptr<rocksdb::DB> db(raw);

    // Topics recorded by earlier opens.
    std::map<std::string, int32_t, std::less<>> recorded;
    {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek("m|"); it->Valid() && it->key().starts_with("m|"); it->Next()) {
        if (it->value().size() != 4) {
          return MakeError(Errc::kCorruption, "event log metadata for topic '" +
                                                  std::string(AsView(it->key()).substr(2)) +
                                                  "' is malformed");
        }
        recorded.emplace(std::string(AsView(it->key()).substr(2)),
                         static_cast<int32_t>(GetBE32(AsView(it->value()))));
      }
      if (!it->status().ok()) {
        return std::unexpected(FromRocksDb(it->status(), "read event log metadata"));
      }
    }

    rocksdb::WriteBatch meta;
    for (const auto& [name, partitions] : wanted) {
      auto it = recorded.find(name);
      if (it == recorded.end()) {
        std::string count;
        PutBE32(count, static_cast<uint32_t>(partitions));
        meta.Put(MetaKey(name), count);
        recorded.emplace(name, partitions);
      } else if (it->second != partitions) {
        return MakeError(Errc::kFailedPrecondition,
                         "topic '" + name + "' in " + options.path + " has " +
                             std::to_string(it->second) + " partitions; refusing to open it with " +
                             std::to_string(partitions) +
                             " (records are placed by partition, so the count cannot change)");
      }
    }
    if (meta.Count() > 0) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      s = db->Write(wo, &meta);
      if (!s.ok()) return std::unexpected(FromRocksDb(s, "record event log topics"));
    }

    // Recover each partition's end and running maximum timestamp from its last keys.
    std::map<std::string, Topic, std::less<>> topics;
    for (const auto& [name, partitions] : recorded) {
      Topic topic;
      topic.name = name;
      topic.partitions = partitions;
      topic.parts = std::make_unique<Partition[]>(static_cast<size_t>(partitions));
      for (int32_t p = 0; p < partitions; ++p) {
        auto last = LastKeyWithPrefix(*db, PartitionPrefix('r', name, p));
        if (!last) return std::unexpected(last.error());
        if (*last) {
          topic.parts[static_cast<size_t>(p)].end.store(
              static_cast<int64_t>(GetBE64(std::string_view(**last).substr((*last)->size() - 8))) +
                  1,
              std::memory_order_relaxed);
        }
        auto last_ts = LastKeyWithPrefix(*db, PartitionPrefix('t', name, p));
        if (!last_ts) return std::unexpected(last_ts.error());
        if (*last_ts) {
          topic.parts[static_cast<size_t>(p)].max_timestamp = static_cast<int64_t>(
              GetBE64(std::string_view(**last_ts).substr((*last_ts)->size() - 8)));
        }
      }
      topics.emplace(name, std::move(topic));
    }

    std::map<std::string, int64_t, std::less<>> commits;
    {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek("g|"); it->Valid() && it->key().starts_with("g|"); it->Next()) {
        if (it->value().size() != 8) {
          return MakeError(Errc::kCorruption, "a committed consumer-group offset is malformed");
        }
        commits.emplace(std::string(AsView(it->key())),
                        static_cast<int64_t>(GetBE64(AsView(it->value()))));
      }
      if (!it->status().ok()) {
        return std::unexpected(FromRocksDb(it->status(), "read committed offsets"));
      }
    }

    return std::unique_ptr<LocalEventLog>(new LocalEventLog(std::move(db), std::move(topics),
                                                            std::move(commits), options.sync,
                                                            options.before_write_for_testing));
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

LocalEventLog::LocalEventLog(std::unique_ptr<rocksdb::DB> db,
                             std::map<std::string, Topic, std::less<>> topics,
                             std::map<std::string, int64_t, std::less<>> commits, bool sync,
                             std::function<void()> before_write)
    : db_(std::move(db)),
      topics_(std::move(topics)),
      sync_(sync),
      before_write_(std::move(before_write)),
      commits_(std::move(commits)) {}

LocalEventLog::~LocalEventLog() = default;

LocalEventLogStats LocalEventLog::Stats() const {
  return LocalEventLogStats{stat_batches_.load(std::memory_order_relaxed),
                            stat_requests_.load(std::memory_order_relaxed),
                            stat_records_.load(std::memory_order_relaxed)};
}

size_t LocalEventLog::QueuedWritersForTesting() {
  std::lock_guard lock(mutex_);
  return writers_.size();
}

// ---- validation ---------------------------------------------------------------------------

Result<const LocalEventLog::Topic*> LocalEventLog::FindTopic(std::string_view name) const {
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return MakeError(Errc::kNotFound, "unknown topic '" + std::string(name) + "'");
  }
  return &it->second;
}

Result<LocalEventLog::Partition*> LocalEventLog::FindPartition(const TopicPartition& tp) const {
  auto topic = FindTopic(tp.topic);
  if (!topic) return std::unexpected(topic.error());
  if (tp.partition < 0 || tp.partition >= (*topic)->partitions) {
    return MakeError(Errc::kInvalidArgument,
                     "partition " + std::to_string(tp.partition) + " out of range for topic '" +
                         tp.topic + "' (" + std::to_string((*topic)->partitions) + " partitions)");
  }
  return &(*topic)->parts[static_cast<size_t>(tp.partition)];
}

Result<int32_t> LocalEventLog::PartitionCount(std::string_view topic) {
  auto t = FindTopic(topic);
  if (!t) return std::unexpected(t.error());
  return (*t)->partitions;
}

Status LocalEventLog::Prepare(std::span<const OutgoingRecord> records, Writer& writer) const {
  writer.records.reserve(records.size());
  int64_t now = 0;
  for (const OutgoingRecord& r : records) {
    auto topic = FindTopic(r.topic);
    if (!topic) return std::unexpected(topic.error());
    auto partition = FindPartition(TopicPartition{r.topic, r.partition});
    if (!partition) return std::unexpected(partition.error());
    if (r.timestamp_ms < 0) {
      return MakeError(Errc::kInvalidArgument,
                       "negative record timestamp " + std::to_string(r.timestamp_ms));
    }
    int64_t ts = r.timestamp_ms;
    if (ts == 0) {
      if (now == 0) now = NowMs();
      ts = now;
    }
    Prepared p{*partition, *topic, r.partition, ts, EncodeRecord(r, ts)};
    writer.bytes += p.encoded.size() + r.topic.size() + 16;
    writer.records.push_back(std::move(p));
  }
  return {};
}

// ---- writes -------------------------------------------------------------------------------

Result<AppendResult> LocalEventLog::Append(std::span<const OutgoingRecord> records) {
  try {
    if (records.empty()) return AppendResult{};
    Writer writer;
    if (Status s = Prepare(records, writer); !s) return std::unexpected(s.error());
    return Submit(writer);
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<AppendResult> LocalEventLog::Transact(const Transaction& txn) {
  try {
    if (txn.consumer_group.empty() && !txn.consumed.empty()) {
      return MakeError(Errc::kInvalidArgument, "transaction names no consumer group");
    }
    Writer writer;
    if (Status s = Prepare(txn.records, writer); !s) return std::unexpected(s.error());
    for (const Position& pos : txn.consumed) {
      if (auto p = FindPartition(pos.tp); !p) return std::unexpected(p.error());
      if (pos.next_offset < 0) {
        return MakeError(Errc::kInvalidArgument,
                         "negative consumed offset " + std::to_string(pos.next_offset));
      }
      writer.commits.push_back(
          Commit{GroupKey(txn.consumer_group, pos.tp.topic, pos.tp.partition), pos.next_offset});
      writer.bytes += writer.commits.back().key.size() + 8;
    }
    if (writer.records.empty() && writer.commits.empty()) return AppendResult{};
    return Submit(writer);
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<AppendResult> LocalEventLog::Submit(Writer& writer) {
  std::unique_lock lock(mutex_);
  writers_.push_back(&writer);
  while (!writer.done && &writer != writers_.front()) writer.cv.wait(lock);
  if (writer.done) return std::move(writer.result);

  // This caller leads: it writes for itself and for the writers queued behind it.
  std::vector<Writer*> group;
  Status status;
  try {
    size_t bytes = 0;
    for (Writer* w : writers_) {
      if (!group.empty() && bytes + w->bytes > kMaxGroupBytes) break;
      group.push_back(w);
      bytes += w->bytes;
    }
  } catch (const std::exception& e) {
    group.clear();
    status = std::unexpected(Internal(e));
  }
  if (group.empty()) {
    writers_.pop_front();
    if (!writers_.empty()) writers_.front()->cv.notify_one();
    return std::unexpected(status.error());
  }

  if (write_error_) {
    status = std::unexpected(*write_error_);
  } else {
    lock.unlock();
    status = WriteGroup(group);
    lock.lock();
    if (!status) write_error_ = status.error();
  }
  for (Writer* w : group) {
    if (!status) w->result = std::unexpected(status.error());
    writers_.pop_front();
    if (w != &writer) {
      w->done = true;
      w->cv.notify_one();
    }
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  return std::move(writer.result);
}

Status LocalEventLog::WriteGroup(std::span<Writer* const> group) {
  try {
    struct Tentative {
      int64_t next;
      int64_t max_timestamp;
    };
    // Only the leader touches ends and running maxima, so reading them here is race-free; they
    // are published only once the batch is durable.
    std::unordered_map<Partition*, Tentative> tentative;
    rocksdb::WriteBatch batch;
    uint64_t records = 0;
    for (Writer* w : group) {
      AppendResult out;
      out.offsets.reserve(w->records.size());
      for (const Prepared& r : w->records) {
        auto [it, inserted] = tentative.try_emplace(r.partition, Tentative{0, 0});
        if (inserted) {
          it->second = Tentative{r.partition->end.load(std::memory_order_relaxed),
                                 r.partition->max_timestamp};
        }
        Tentative& t = it->second;
        const int64_t offset = t.next++;
        out.offsets.push_back(offset);
        rocksdb::Status s = batch.Put(
            RecordKey(r.topic->name, r.partition_index, static_cast<uint64_t>(offset)), r.encoded);
        if (s.ok() && r.timestamp_ms > t.max_timestamp) {
          t.max_timestamp = r.timestamp_ms;
          s = batch.Put(
              TimeKey(r.topic->name, r.partition_index, static_cast<uint64_t>(r.timestamp_ms)),
              BE64Value(static_cast<uint64_t>(offset)));
        }
        if (!s.ok()) return std::unexpected(FromRocksDb(s, "build write batch"));
      }
      for (const Commit& c : w->commits) {
        rocksdb::Status s = batch.Put(c.key, BE64Value(static_cast<uint64_t>(c.next_offset)));
        if (!s.ok()) return std::unexpected(FromRocksDb(s, "build write batch"));
      }
      records += w->records.size();
      w->result = std::move(out);
    }

    if (before_write_) before_write_();
    rocksdb::WriteOptions wo;
    wo.sync = sync_;
    rocksdb::Status s = db_->Write(wo, &batch);
    if (!s.ok()) return std::unexpected(FromRocksDb(s, "append to event log"));

    {
      std::unique_lock commits_lock(commits_mutex_);
      for (Writer* w : group) {
        for (const Commit& c : w->commits) commits_[c.key] = c.next_offset;
      }
      for (const auto& [partition, t] : tentative) {
        partition->max_timestamp = t.max_timestamp;
        partition->end.store(t.next, std::memory_order_release);
      }
    }
    stat_batches_.fetch_add(1, std::memory_order_relaxed);
    stat_requests_.fetch_add(group.size(), std::memory_order_relaxed);
    stat_records_.fetch_add(records, std::memory_order_relaxed);
    {
      std::lock_guard poll_lock(poll_mutex_);
      ++write_seq_;
    }
    poll_cv_.notify_all();
    return {};
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

// ---- reads --------------------------------------------------------------------------------

Result<std::vector<Record>> LocalEventLog::ReadRange(const Topic& topic, int32_t partition,
                                                     int64_t from, int64_t to) {
  std::vector<Record> out;
  if (from >= to) return out;
  out.reserve(static_cast<size_t>(to - from));
  const std::string lower = RecordKey(topic.name, partition, static_cast<uint64_t>(from));
  const std::string upper = RecordKey(topic.name, partition, static_cast<uint64_t>(to));
  const rocksdb::Slice upper_slice = AsSlice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  int64_t expected = from;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const std::string_view key = AsView(it->key());
    const auto offset = static_cast<int64_t>(GetBE64(key.substr(key.size() - 8)));
    Record r;
    if (offset != expected || !DecodeRecord(AsView(it->value()), r)) {
      return MakeError(Errc::kCorruption, "record " + std::to_string(expected) + " of " +
                                              topic.name + "/" + std::to_string(partition) +
                                              " is missing or malformed");
    }
    r.topic = topic.name;
    r.partition = partition;
    r.offset = offset;
    out.push_back(std::move(r));
    ++expected;
  }
  if (!it->status().ok()) return std::unexpected(FromRocksDb(it->status(), "read event log"));
  if (expected != to) {
    return MakeError(Errc::kCorruption, "record " + std::to_string(expected) + " of " + topic.name +
                                            "/" + std::to_string(partition) + " is missing");
  }
  return out;
}

Result<std::vector<Record>> LocalEventLog::Read(const TopicPartition& tp, int64_t from_offset,
                                                size_t max_records) {
  try {
    auto partition = FindPartition(tp);
    if (!partition) return std::unexpected(partition.error());
    if (from_offset < 0) {
      return MakeError(Errc::kInvalidArgument, "negative offset " + std::to_string(from_offset));
    }
    const int64_t end = (*partition)->end.load(std::memory_order_acquire);
    if (from_offset >= end || max_records == 0) return std::vector<Record>{};
    const int64_t to = from_offset + static_cast<int64_t>(std::min<uint64_t>(
                                         max_records, static_cast<uint64_t>(end - from_offset)));
    return ReadRange(topics_.find(tp.topic)->second, tp.partition, from_offset, to);
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<std::vector<Record>> LocalEventLog::Collect(std::span<const Position> positions,
                                                   size_t max_records) {
  std::vector<Record> out;
  const size_t n = positions.size();
  if (n == 0 || max_records == 0) return out;
  // Two passes: first each partition gets an equal share, then leftovers go to whoever has
  // more. The rotating start means that when max_records < n, later partitions get their turn
  // on the next call instead of starving.
  const size_t start = poll_rotation_.fetch_add(1, std::memory_order_relaxed) % n;
  const size_t quota = std::max<size_t>(1, max_records / n);
  std::vector<int64_t> next(n);
  for (size_t i = 0; i < n; ++i) next[i] = positions[i].next_offset;
  size_t remaining = max_records;
  for (int pass = 0; pass < 2 && remaining > 0; ++pass) {
    for (size_t k = 0; k < n && remaining > 0; ++k) {
      const size_t i = (start + k) % n;
      const TopicPartition& tp = positions[i].tp;
      const Topic& topic = topics_.find(tp.topic)->second;
      const int64_t end =
          topic.parts[static_cast<size_t>(tp.partition)].end.load(std::memory_order_acquire);
      if (next[i] >= end) continue;
      const size_t take = std::min<size_t>(
          {static_cast<size_t>(end - next[i]), remaining, pass == 0 ? quota : remaining});
      auto got = ReadRange(topic, tp.partition, next[i], next[i] + static_cast<int64_t>(take));
      if (!got) return std::unexpected(got.error());
      next[i] += static_cast<int64_t>(take);
      remaining -= take;
      std::move(got->begin(), got->end(), std::back_inserter(out));
    }
  }
  return out;
}

Result<std::vector<Record>> LocalEventLog::Poll(std::span<const Position> positions,
                                                size_t max_records,
                                                std::chrono::milliseconds timeout) {
  try {
    for (const Position& pos : positions) {
      if (auto p = FindPartition(pos.tp); !p) return std::unexpected(p.error());
      if (pos.next_offset < 0) {
        return MakeError(Errc::kInvalidArgument,
                         "negative offset " + std::to_string(pos.next_offset));
      }
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::max(timeout, std::chrono::milliseconds(0));
    for (;;) {
      uint64_t seq = 0;
      {
        // Read the sequence before looking, so a write landing in between wakes us.
        std::lock_guard lock(poll_mutex_);
        seq = write_seq_;
      }
      auto got = Collect(positions, max_records);
      if (!got || !got->empty() || max_records == 0 || positions.empty()) return got;
      std::unique_lock lock(poll_mutex_);
      if (!poll_cv_.wait_until(lock, deadline, [&] { return write_seq_ != seq; })) {
        return std::vector<Record>{};
      }
    }
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<int64_t> LocalEventLog::EndOffset(const TopicPartition& tp) {
  auto partition = FindPartition(tp);
  if (!partition) return std::unexpected(partition.error());
  return (*partition)->end.load(std::memory_order_acquire);
}

Result<int64_t> LocalEventLog::OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) {
  try {
    auto partition = FindPartition(tp);
    if (!partition) return std::unexpected(partition.error());
    const int64_t end = (*partition)->end.load(std::memory_order_acquire);
    if (end == 0) return int64_t{0};
    // Stored timestamps are >= 1 (0 is stamped), so any t <= 0 means "from the start".
    const uint64_t t = timestamp_ms <= 0 ? 0 : static_cast<uint64_t>(timestamp_ms);
    const std::string prefix = PartitionPrefix('t', tp.topic, tp.partition);
    std::string upper = prefix;
    upper.append(8, '\xff');
    const rocksdb::Slice upper_slice = AsSlice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    it->Seek(TimeKey(tp.topic, tp.partition, t));
    if (it->Valid()) {
      if (it->value().size() != 8) return MakeError(Errc::kCorruption, "malformed time index");
      // An entry at or past `end` belongs to a write not yet published: no visible record
      // reaches t.
      return std::min(end, static_cast<int64_t>(GetBE64(AsView(it->value()))));
    }
    if (!it->status().ok()) return std::unexpected(FromRocksDb(it->status(), "time index"));
    return end;
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

Result<int64_t> LocalEventLog::CommittedOffset(std::string_view group, const TopicPartition& tp) {
  try {
    if (auto p = FindPartition(tp); !p) return std::unexpected(p.error());
    const std::string key = GroupKey(group, tp.topic, tp.partition);
    std::shared_lock lock(commits_mutex_);
    auto it = commits_.find(key);
    return it == commits_.end() ? int64_t{0} : it->second;
  } catch (const std::exception& e) {
    return std::unexpected(Internal(e));
  }
}

}  // namespace clawvisor
