#pragma once

// KafkaEventLog: the production EventLog (design D1) on Apache Kafka, through librdkafka.
//
// Contract: everything EventLog promises (tests/contract/event_log_contract.h), plus:
//   - Writes go through ONE idempotent, transactional producer (acks=all). Append and Transact
//     requests are group-committed: the caller at the head of the queue becomes the leader and
//     runs one Kafka transaction for every request queued behind it (records in queue order, so
//     each request stays contiguous per partition; each Transact's consumed positions go in with
//     send_offsets_to_transaction). All or nothing per group: if the transaction aborts, every
//     request in it fails and nothing of it is ever visible to read_committed readers.
//   - Errors follow librdkafka's transactional rules: a retriable error retries the call; an
//     abortable one aborts the transaction (the group is retried a few times, then fails with
//     kUnavailable); a fatal one (fenced, or the producer's state is unknown) destroys the
//     producer and creates a new one with the same transactional.id, which fences the old epoch.
//   - Readers are read_committed consumers that never join a group (manual assignment). Poll
//     keeps a consumer's assignment between calls when the caller resumes exactly where it left
//     off, so a processor or projector loop streams instead of re-fetching.
//   - EndOffset is the last stable offset (LSO): the offset after the last committed record or
//     transaction marker. Offsets have gaps where markers and aborted records sit.
//   - CommittedOffset asks the group coordinator for stable offsets (KIP-447), so it never
//     returns a position whose transaction is still undecided. Its commit marker may still be
//     on its way to the transaction's other partitions: SettledEndOffset waits until the LSO
//     reaches the high watermark read when it was called.
//   - Topics must exist (`clawvisor kafka init` creates them); the log never creates any.
//
// Thread-safety: every method may be called concurrently from any thread.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"
#include "events/result.h"

namespace clawvisor {

struct KafkaEventLogOptions {
  std::string bootstrap_servers;  // host:port[,host:port...]
  // The producer's transactional.id. A processor restarted under the same id fences its
  // predecessor's open transaction at once instead of waiting for transaction_timeout to expire.
  // Empty: a random id (a fresh producer identity per instance).
  std::string transactional_id;
  std::chrono::milliseconds transaction_timeout{10000};
  // How long one request may take before it fails (broker unreachable, no leader).
  std::chrono::milliseconds request_timeout{30000};
  // Extra librdkafka properties ("key", "value"), for tests (e.g. the mock cluster's
  // "test.mock.num.brokers") and tuning. Applied to the producer and every consumer.
  std::vector<std::pair<std::string, std::string>> extra_config;
};

class KafkaEventLog final : public EventLog {
 public:
  // Connects, initializes transactions (waits for the transaction coordinator).
  static Result<std::unique_ptr<KafkaEventLog>> Open(const KafkaEventLogOptions& options);

  ~KafkaEventLog() override;
  KafkaEventLog(const KafkaEventLog&) = delete;
  KafkaEventLog& operator=(const KafkaEventLog&) = delete;

  Result<int32_t> PartitionCount(std::string_view topic) override;
  Result<AppendResult> Append(std::span<const OutgoingRecord> records) override;
  Result<AppendResult> Transact(const Transaction& txn) override;
  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from_offset,
                                   size_t max_records) override;
  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max_records,
                                   std::chrono::milliseconds timeout) override;
  Result<int64_t> EndOffset(const TopicPartition& tp) override;
  Result<int64_t> SettledEndOffset(const TopicPartition& tp) override;
  Result<int64_t> OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) override;
  Result<int64_t> CommittedOffset(std::string_view group, const TopicPartition& tp) override;

  // Zombie fencing (KIP-447). A Transact's consumed positions for `group` are sent with the
  // metadata of the group's member in this process (its generation and member id), drawn from
  // `member` for each transaction: the group coordinator refuses them, and the transaction
  // aborts, once that member lost its partitions in a rebalance, so a stalled processor can
  // never commit decisions for a partition a new owner already took. `member` returns a new
  // rd_kafka_consumer_group_metadata() (the log destroys it), or nullptr once the member left:
  // such a transaction fails instead of committing unfenced. Without a member for the group the
  // offsets go under the bare group id (fine for a single processor, fenced by transactional.id).
  // Pass an empty function to unbind (before the member's handle is destroyed).
  using GroupMetadataSource = std::function<rd_kafka_consumer_group_metadata_t*()>;
  void BindGroupMember(const std::string& group, GroupMetadataSource member);

  // Counters for tests and benchmarks.
  struct Stats {
    uint64_t transactions = 0;       // committed
    uint64_t aborted = 0;            // aborted (abortable errors)
    uint64_t producer_restarts = 0;  // producers re-created after a fatal error
    uint64_t requests = 0;           // Append/Transact requests committed
  };
  Stats GetStats() const;

  class Impl;

 private:
  explicit KafkaEventLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor
