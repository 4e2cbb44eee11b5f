#pragma once

// LocalEventLog: the embedded EventLog (design D1), one RocksDB database on local disk.
//
// Contract: everything EventLog promises (tests/contract/event_log_contract.h), plus:
//   - Offsets of a partition are consecutive from 0; a failed request consumes none.
//   - Append/Transact are durable when they return if `sync` (the default): the WriteBatch that
//     holds them was fsynced. Concurrent callers are group-committed, leveldb-style: the caller
//     at the head of the queue becomes the leader, merges the queued requests into ONE
//     WriteBatch, writes it with one sync, and hands every follower its own result. A request is
//     all-or-nothing; if the merged write fails, every request in it fails.
//   - After a failed write the log refuses further writes (kUnavailable) until it is reopened:
//     a WAL whose sync failed is in an unknown state, so offsets could otherwise be reused
//     (leveldb keeps its bg_error_ for the same reason). Reopening recovers the true ends.
//   - Topics and their partition counts are fixed when the database is created; reopening with
//     a different partition count for an existing topic is refused (kFailedPrecondition).
//   - Record timestamps of 0 are stamped with the system clock when the request is made.
//
// Key layout (integers big-endian so that byte order is numeric order):
//   m|<topic>                            -> u32 partition count
//   r|<topic>|<u32 partition><u64 offset> -> encoded record (see local_event_log.cc)
//   t|<topic>|<u32 partition><u64 ts>     -> u64 offset: written when a record's timestamp
//                                            exceeds the partition's running maximum, so the
//                                            first entry >= t names the first offset >= t
//   g|<u32 len><group><topic>|<u32 partition> -> u64 committed next offset
// Topic names follow Kafka's rules ([A-Za-z0-9._-], 1..249 chars), so '|' never occurs in one.
//
// Thread-safety: every method may be called concurrently from any thread. The destructor must
// not run while another call is in flight.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"
#include "events/result.h"

namespace rocksdb {
class DB;
}

namespace clawvisor {

struct TopicSpec {
  std::string name;
  int32_t partitions = 1;
};

struct LocalEventLogOptions {
  std::string path;  // the database directory; created if missing
  // Topics to create on first open. On a later open, topics already recorded in the database
  // must have the same partition count; new ones are added; recorded ones not listed stay.
  std::vector<TopicSpec> topics;
  // Sync the WAL on every (group) write. Off only for tests and benchmarks of the upper bound.
  bool sync = true;
  // Tests only: called by each group's leader just before its write, without locks held, so a
  // test can hold a leader back while followers queue and observe that they merge.
  std::function<void()> before_write_for_testing;
};

// Counters for benchmarks: write_batches / requests is the inverse of the average group size.
struct LocalEventLogStats {
  uint64_t write_batches = 0;  // successful RocksDB writes (synced ones when options.sync)
  uint64_t requests = 0;       // Append/Transact calls those writes carried
  uint64_t records = 0;        // records appended
};

class LocalEventLog final : public EventLog {
 public:
  static Result<std::unique_ptr<LocalEventLog>> Open(const LocalEventLogOptions& options);

  ~LocalEventLog() override;
  LocalEventLog(const LocalEventLog&) = delete;
  LocalEventLog& operator=(const LocalEventLog&) = delete;

  Result<int32_t> PartitionCount(std::string_view topic) override;
  Result<AppendResult> Append(std::span<const OutgoingRecord> records) override;
  Result<AppendResult> Transact(const Transaction& txn) override;
  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from_offset,
                                   size_t max_records) override;
  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max_records,
                                   std::chrono::milliseconds timeout) override;
  Result<int64_t> EndOffset(const TopicPartition& tp) override;
  // Transactions are applied whole, under the lock that publishes committed offsets: the end
  // offset is always settled.
  Result<int64_t> SettledEndOffset(const TopicPartition& tp) override { return EndOffset(tp); }
  Result<int64_t> OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) override;
  Result<int64_t> CommittedOffset(std::string_view group, const TopicPartition& tp) override;

  LocalEventLogStats Stats() const;

  // Requests waiting in the group-commit queue, the leader included. For tests.
  size_t QueuedWritersForTesting();

 private:
  // One partition's state. `end` is what readers may see; only the leader of a write group
  // advances it, after the write succeeded, so readers never see a gap.
  struct Partition {
    std::atomic<int64_t> end{0};
    int64_t max_timestamp = 0;  // running maximum; touched only by the current leader
  };
  struct Topic {
    std::string name;
    int32_t partitions = 0;
    std::unique_ptr<Partition[]> parts;
  };
  // A record validated and encoded by its caller, outside any lock.
  struct Prepared {
    Partition* partition;
    const Topic* topic;
    int32_t partition_index;
    int64_t timestamp_ms;
    std::string encoded;
  };
  struct Commit {
    std::string key;  // g|... key
    int64_t next_offset;
  };
  // A queued Append/Transact request; lives on its caller's stack.
  struct Writer {
    std::vector<Prepared> records;
    std::vector<Commit> commits;
    size_t bytes = 0;
    bool done = false;
    Result<AppendResult> result;
    std::condition_variable cv;
  };

  LocalEventLog(std::unique_ptr<rocksdb::DB> db, std::map<std::string, Topic, std::less<>> topics,
                std::map<std::string, int64_t, std::less<>> commits, bool sync,
                std::function<void()> before_write);

  Result<const Topic*> FindTopic(std::string_view name) const;
  Result<Partition*> FindPartition(const TopicPartition& tp) const;
  Status Prepare(std::span<const OutgoingRecord> records, Writer& writer) const;
  Result<AppendResult> Submit(Writer& writer);
  // Writes `group` as one WriteBatch, publishes it and fills in every writer's result.
  // REQUIRES: mutex_ is not held; the caller is the leader (front of writers_).
  Status WriteGroup(std::span<Writer* const> group);
  Result<std::vector<Record>> ReadRange(const Topic& topic, int32_t partition, int64_t from,
                                        int64_t to);
  // Reads what is available at `positions` now, fair-ish across them.
  Result<std::vector<Record>> Collect(std::span<const Position> positions, size_t max_records);

  const std::unique_ptr<rocksdb::DB> db_;
  const std::map<std::string, Topic, std::less<>> topics_;  // immutable after Open
  const bool sync_;
  const std::function<void()> before_write_;

  std::mutex mutex_;             // guards writers_ and write_error_
  std::deque<Writer*> writers_;  // the group-commit queue; front is the leader
  std::optional<Error> write_error_;

  // Committed group offsets, loaded at Open and updated with the ends of the partitions under
  // one exclusive lock, so an observer that sees a transaction's commit also sees its records.
  mutable std::shared_mutex commits_mutex_;
  std::map<std::string, int64_t, std::less<>> commits_;  // g|... key -> next offset

  // Poll waits here; `write_seq_` changes after each successful write.
  std::mutex poll_mutex_;
  std::condition_variable poll_cv_;
  uint64_t write_seq_ = 0;  // guarded by poll_mutex_

  std::atomic<uint64_t> poll_rotation_{0};  // where Collect starts, for fairness

  std::atomic<uint64_t> stat_batches_{0};
  std::atomic<uint64_t> stat_requests_{0};
  std::atomic<uint64_t> stat_records_{0};
};

}  // namespace clawvisor
