#pragma once

// EventLog: an append-only, partitioned log in Kafka's terms (design D1).
//
// A log holds named topics; each topic has a fixed number of partitions; each partition is an
// ordered sequence of records numbered by offset from 0 with no gaps visible to readers. The
// engine uses two topics: `kCommandsTopic` (requests) and `kEventsTopic` (facts), both keyed and
// partitioned by account id, so all of one account's records are totally ordered.
//
// The one operation that makes exactly-once possible is Transact(): a processor that consumed
// commands up to some offset appends the events it decided and records the consumed position of
// its consumer group, atomically: after a crash either all of it is visible or none of it is.
//
// Implementations: LocalEventLog (adapters/rocksdb, embedded) and KafkaEventLog
// (adapters/kafka). tests/contract/event_log_contract.h holds the suite both must pass.
//
// Thread-safety: every method may be called concurrently from any thread. Appends to one
// partition from concurrent callers are serialized in an unspecified order; each caller's own
// records stay contiguous and in order.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "events/result.h"

namespace clawvisor {

inline constexpr std::string_view kCommandsTopic = "clawvisor.commands";
inline constexpr std::string_view kEventsTopic = "clawvisor.events";
// Wrapped data keys shared by the processes of a Kafka deployment
// (projections/shared_vault_store.h).
inline constexpr std::string_view kKeysTopic = "clawvisor.keys";

struct Header {
  std::string key;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

// A record to append. `key` is the account id; it does not choose the partition (the caller
// does, through Partitioner) but is stored and returned with the record.
struct OutgoingRecord {
  std::string topic;
  int32_t partition = 0;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;  // the caller's clock; 0 means "the log's clock"
};

struct Record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
};

// Where a reader stands in one partition: the offset of the next record it wants.
struct Position {
  TopicPartition tp;
  int64_t next_offset = 0;
};

// The offsets appended records were given, in the order of the request.
struct AppendResult {
  std::vector<int64_t> offsets;
};

// One atomic consume-decide-append step.
struct Transaction {
  std::string consumer_group;           // e.g. "clawvisor-processor"
  std::vector<Position> consumed;       // next offsets of the consumed input partitions
  std::vector<OutgoingRecord> records;  // outputs, any topics and partitions
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  // Number of partitions of `topic`; an error if the topic does not exist.
  virtual Result<int32_t> PartitionCount(std::string_view topic) = 0;

  // Appends `records` (each names its topic and partition). Durable when it returns: on the
  // embedded log, synced to disk; on Kafka, acknowledged by all in-sync replicas. All or none.
  virtual Result<AppendResult> Append(std::span<const OutgoingRecord> records) = 0;

  // Atomically appends `txn.records` and stores `txn.consumed` as the committed position of
  // `txn.consumer_group`. On success the records are visible to readers and
  // CommittedOffset() returns the new positions; on failure nothing is.
  virtual Result<AppendResult> Transact(const Transaction& txn) = 0;

  // Reads up to `max_records` records of one partition starting at `from_offset`, in offset
  // order. Never blocks waiting for new records. Returns fewer (possibly none) at the end.
  virtual Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from_offset,
                                           size_t max_records) = 0;

  // Like Read over several partitions: returns what is available from each position (up to
  // `max_records` in all); if nothing is, waits up to `timeout` for a record to arrive.
  virtual Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max_records,
                                           std::chrono::milliseconds timeout) = 0;

  // The offset the next appended record of `tp` will get (Kafka's end offset / LSO).
  virtual Result<int64_t> EndOffset(const TopicPartition& tp) = 0;

  // EndOffset, once every transaction that appended to `tp` before this call is decided: what
  // any transaction committed before the call wrote to `tp` is readable below the answer. A
  // transaction's commit reaches each of its partitions separately (on Kafka, a marker written
  // per partition after the commit is decided), so CommittedOffset can already report a
  // transaction whose records in another partition Read does not return yet. A reader that
  // rebuilds state from `tp` to match a committed position reads up to this offset. Fails with
  // kTimeout if a transaction stays undecided too long.
  virtual Result<int64_t> SettledEndOffset(const TopicPartition& tp) = 0;

  // The first offset whose record has timestamp >= `timestamp_ms` (Kafka's offsetsForTimes),
  // or EndOffset() when there is none.
  virtual Result<int64_t> OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) = 0;

  // The position `group` last committed through Transact(), or 0 when it never did.
  virtual Result<int64_t> CommittedOffset(std::string_view group, const TopicPartition& tp) = 0;
};

}  // namespace clawvisor
