#pragma once

// KafkaAdmin: topic administration through librdkafka's admin API (CreateTopics,
// DescribeConfigs, metadata), for `clawvisor kafka init` and tests.
//
// The topics clawvisor needs (ClawvisorTopics) and what makes an existing topic dangerous
// (CheckTopic): events are the audit trail and must never expire or be compacted away;
// commands must be replicated as durably; both must have the same partition count.
//
// Thread-safety: one KafkaAdmin may be used from one thread at a time.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"
#include "events/result.h"

namespace clawvisor {

// The keys topic's compaction bounds (how long a destroyed key's wrapped bytes may stay).
inline constexpr int64_t kKeysSegmentMs = 3'600'000;
inline constexpr int64_t kKeysMaxCompactionLagMs = 7'200'000;

// The compacted topic of wrapped data keys (the vault shared by every process on Kafka).

struct KafkaTopicSpec {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  std::map<std::string, std::string> config;  // topic-level configs
};

struct KafkaTopicState {
  std::string name;
  int32_t partitions = 0;
  int16_t replication_factor = 0;             // of partition 0
  std::map<std::string, std::string> config;  // effective values
};

// The shortest retention an existing commands topic may have: one hour.
inline constexpr int64_t kMinCommandsRetentionMs = 3600 * 1000;

struct KafkaInitOptions {
  int32_t partitions = 12;
  int16_t replication_factor = 3;
  int16_t min_insync_replicas = 2;
  // How long commands are kept: they are transport, not the audit trail (events are).
  std::chrono::hours commands_retention{24 * 7};
};

// The topics `clawvisor kafka init` creates, with their configuration:
//   clawvisor.events    retention.ms=-1, retention.bytes=-1, cleanup.policy=delete
//                       (unlimited: the audit trail), min.insync.replicas
//   clawvisor.commands  retention.ms=commands_retention, cleanup.policy=delete,
//                       min.insync.replicas
//   clawvisor.keys      cleanup.policy=compact (latest wrapped key per key id), never
//                       expired; delete.retention.ms = min.compaction.lag.ms = 1 h
// Both: unclean.leader.election.enable=false, message.timestamp.type=CreateTime.
std::vector<KafkaTopicSpec> ClawvisorTopics(const KafkaInitOptions& options);

// Problems that make an existing topic unsafe for `spec` (empty: fine). Partition counts must
// match exactly (records are placed by partition); the replication factor and
// min.insync.replicas must be at least the spec's; events must not expire or be compacted;
// unclean leader election must be off.
std::vector<std::string> CheckTopic(const KafkaTopicSpec& spec, const KafkaTopicState& state);

class KafkaAdmin {
 public:
  // `extra`: the operator's client properties (TLS, SASL; kafka_client_config.h).
  static Result<std::unique_ptr<KafkaAdmin>> Connect(
      const std::string& bootstrap_servers, std::chrono::milliseconds timeout,
      const std::vector<std::pair<std::string, std::string>>& extra = {});
  ~KafkaAdmin();
  KafkaAdmin(const KafkaAdmin&) = delete;
  KafkaAdmin& operator=(const KafkaAdmin&) = delete;

  // Number of brokers in the cluster metadata.
  Result<int32_t> BrokerCount();
  // The topic's partition count, replication factor and effective configuration; kNotFound if
  // it does not exist.
  Result<KafkaTopicState> Describe(const std::string& topic);
  // Creates the topic and waits until every partition has a leader.
  Status Create(const KafkaTopicSpec& spec);
  // Deletes a topic (tests only).
  Status Delete(const std::string& topic);

 private:
  struct Handle;
  explicit KafkaAdmin(std::unique_ptr<Handle> handle, std::chrono::milliseconds timeout);
  Result<std::vector<std::pair<int32_t, int16_t>>> Metadata(const std::string& topic);
  std::unique_ptr<Handle> handle_;
  std::chrono::milliseconds timeout_;
};

}  // namespace clawvisor
