#include "adapters/kafka/kafka_admin.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <thread>

#include "events/event_log.h"

namespace clawvisor {
namespace {

int Ms(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

// The admin API answers on a queue; this waits for the one result event of a request.
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

int64_t ParseInt(const std::map<std::string, std::string>& config, const std::string& key,
                 int64_t fallback) {
  auto it = config.find(key);
  if (it == config.end()) return fallback;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return fallback;
  }
}

std::string Get(const std::map<std::string, std::string>& config, const std::string& key) {
  auto it = config.find(key);
  return it == config.end() ? std::string() : it->second;
}

}  // namespace

struct KafkaAdmin::Handle {
  rd_kafka_t* rk = nullptr;
  rd_kafka_queue_t* queue = nullptr;
  ~Handle() {
    if (queue != nullptr) rd_kafka_queue_destroy(queue);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

std::vector<KafkaTopicSpec> ClawvisorTopics(const KafkaInitOptions& options) {
  const std::map<std::string, std::string> common{
      {"min.insync.replicas", std::to_string(options.min_insync_replicas)},
      {"unclean.leader.election.enable", "false"},
      {"message.timestamp.type", "CreateTime"},
      {"cleanup.policy", "delete"}};
  KafkaTopicSpec events{std::string(kEventsTopic), options.partitions, options.replication_factor,
                        common};
  events.config["retention.ms"] = "-1";
  events.config["retention.bytes"] = "-1";
  KafkaTopicSpec commands{std::string(kCommandsTopic), options.partitions,
                          options.replication_factor, common};
  commands.config["retention.ms"] = std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.commands_retention).count());
  commands.config["retention.bytes"] = "-1";
  // Latest value per key (wrapped data keys, ARCHITECTURE.md "Sharing the vault on Kafka"):
  // compacted, never expired. A destroyed key is superseded by an empty value; compaction must
  // drop the superseded bytes within a bound: the active segment (never compacted) rolls every
  // hour, and every record is compacted at most two hours after it was written.
  KafkaTopicSpec keys{std::string(kKeysTopic), options.partitions, options.replication_factor,
                      common};
  keys.config["cleanup.policy"] = "compact";
  keys.config["retention.ms"] = "-1";
  keys.config["retention.bytes"] = "-1";
  keys.config["segment.ms"] = std::to_string(kKeysSegmentMs);
  keys.config["max.compaction.lag.ms"] = std::to_string(kKeysMaxCompactionLagMs);
  return {commands, events, keys};
}

std::vector<std::string> CheckTopic(const KafkaTopicSpec& spec, const KafkaTopicState& state) {
  std::vector<std::string> problems;
  const std::string t = spec.name + ": ";
  if (state.partitions != spec.partitions) {
    problems.push_back(t + "has " + std::to_string(state.partitions) + " partitions, expected " +
                       std::to_string(spec.partitions) +
                       " (records are placed by partition; the count cannot change)");
  }
  if (state.replication_factor < spec.replication_factor) {
    problems.push_back(t + "replication factor " + std::to_string(state.replication_factor) +
                       " is below " + std::to_string(spec.replication_factor));
  }
  const int64_t want_isr = ParseInt(spec.config, "min.insync.replicas", 1);
  if (ParseInt(state.config, "min.insync.replicas", 1) < want_isr) {
    problems.push_back(t + "min.insync.replicas " + Get(state.config, "min.insync.replicas") +
                       " is below " + std::to_string(want_isr));
  }
  if (Get(state.config, "unclean.leader.election.enable") == "true") {
    problems.push_back(t + "unclean.leader.election.enable=true can lose acknowledged records");
  }
  if (Get(spec.config, "cleanup.policy") == "compact" &&
      Get(state.config, "cleanup.policy") != "compact") {
    problems.push_back(t + "cleanup.policy=" + Get(state.config, "cleanup.policy") +
                       " would delete latest values (must be compact)");
  }
  if (Get(spec.config, "retention.ms") == "-1" &&
      Get(spec.config, "cleanup.policy") == "delete") {  // the audit trail
    if (ParseInt(state.config, "retention.ms", 0) != -1) {
      problems.push_back(t + "retention.ms=" + Get(state.config, "retention.ms") +
                         " would expire audit events (must be -1)");
    }
    if (ParseInt(state.config, "retention.bytes", 0) != -1) {
      problems.push_back(t + "retention.bytes=" + Get(state.config, "retention.bytes") +
                         " would delete audit events (must be -1)");
    }
    if (Get(state.config, "cleanup.policy").find("compact") != std::string::npos) {
      problems.push_back(t + "cleanup.policy=" + Get(state.config, "cleanup.policy") +
                         " would compact audit events away (must be delete)");
    }
  }
  if (spec.name == kKeysTopic) {
    // Crypto-shredding: a destroyed key's wrapped bytes must leave the brokers within a bound.
    const int64_t lag = ParseInt(state.config, "max.compaction.lag.ms", INT64_MAX);
    const int64_t segment = ParseInt(state.config, "segment.ms", INT64_MAX);
    if (lag > kKeysMaxCompactionLagMs || segment > kKeysMaxCompactionLagMs) {
      problems.push_back(t + "max.compaction.lag.ms=" + Get(state.config, "max.compaction.lag.ms") +
                         " and segment.ms=" + Get(state.config, "segment.ms") +
                         " let a destroyed key's bytes stay on the brokers (at most " +
                         std::to_string(kKeysMaxCompactionLagMs) + " each)");
    }
  }
  if (spec.name == kCommandsTopic) {
    // Commands are transport, but a command deleted before a processor decided it is an
    // acknowledged command lost (a processor down for a while, a long rebuild).
    const int64_t retention = ParseInt(state.config, "retention.ms", -1);
    if (retention >= 0 && retention < kMinCommandsRetentionMs) {
      problems.push_back(t + "retention.ms=" + Get(state.config, "retention.ms") +
                         " could delete commands before they are decided (at least " +
                         std::to_string(kMinCommandsRetentionMs) + ")");
    }
    if (ParseInt(state.config, "retention.bytes", -1) >= 0) {
      problems.push_back(t + "retention.bytes=" + Get(state.config, "retention.bytes") +
                         " could delete commands before they are decided (must be -1)");
    }
  }
  return problems;
}

KafkaAdmin::KafkaAdmin(std::unique_ptr<Handle> handle, std::chrono::milliseconds timeout)
    : handle_(std::move(handle)), timeout_(timeout) {}

KafkaAdmin::~KafkaAdmin() = default;

Result<std::unique_ptr<KafkaAdmin>> KafkaAdmin::Connect(
    const std::string& bootstrap_servers, std::chrono::milliseconds timeout,
    const std::vector<std::pair<std::string, std::string>>& extra) {
  if (bootstrap_servers.empty()) {
    return MakeError(Errc::kInvalidArgument, "no Kafka bootstrap servers given");
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_servers.c_str(), err, sizeof err) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return MakeError(Errc::kInvalidArgument, std::string("kafka config: ") + err);
  }
  for (const auto& [key, value] : extra) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return MakeError(Errc::kInvalidArgument, "kafka config: " + key + " refused");
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (handle->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return MakeError(Errc::kInvalidArgument, std::string("kafka admin: ") + err);
  }
  handle->queue = rd_kafka_queue_new(handle->rk);
  auto admin = std::unique_ptr<KafkaAdmin>(new KafkaAdmin(std::move(handle), timeout));
  // Fail early, with a clear message, when no broker answers.
  if (auto brokers = admin->BrokerCount(); !brokers) return std::unexpected(brokers.error());
  return admin;
}

Result<int32_t> KafkaAdmin::BrokerCount() {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle_->rk, 0, nullptr, &md, Ms(timeout_));
  if (err) {
    return MakeError(Errc::kUnavailable,
                     std::string("no answer from the Kafka cluster: ") + rd_kafka_err2str(err));
  }
  const int32_t count = md->broker_cnt;
  rd_kafka_metadata_destroy(md);
  return count;
}

Result<std::vector<std::pair<int32_t, int16_t>>> KafkaAdmin::Metadata(const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(handle_->rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(handle_->rk, 0, rkt, &md, Ms(timeout_));
  rd_kafka_topic_destroy(rkt);
  if (err) {
    return MakeError(Errc::kUnavailable,
                     "metadata of " + topic + ": " + std::string(rd_kafka_err2str(err)));
  }
  std::vector<std::pair<int32_t, int16_t>> out;  // (leader, replicas) per partition
  Status status;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      status = MakeError(Errc::kNotFound, "no topic " + topic);
    } else if (t.err) {
      status =
          MakeError(Errc::kUnavailable, "metadata of " + topic + ": " + rd_kafka_err2str(t.err));
    }
    for (int p = 0; p < t.partition_cnt; ++p) {
      out.emplace_back(t.partitions[p].leader, static_cast<int16_t>(t.partitions[p].replica_cnt));
    }
  }
  rd_kafka_metadata_destroy(md);
  if (!status) return std::unexpected(status.error());
  if (out.empty()) return MakeError(Errc::kNotFound, "no topic " + topic);
  return out;
}

Result<KafkaTopicState> KafkaAdmin::Describe(const std::string& topic) {
  auto partitions = Metadata(topic);
  if (!partitions) return std::unexpected(partitions.error());
  KafkaTopicState state;
  state.name = topic;
  state.partitions = static_cast<int32_t>(partitions->size());
  state.replication_factor = partitions->front().second;

  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(handle_->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(options, Ms(timeout_), err, sizeof err);
  rd_kafka_DescribeConfigs(handle_->rk, &resource, 1, options, handle_->queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
  EventPtr event(rd_kafka_queue_poll(handle_->queue, Ms(timeout_) + 5000));
  if (!event) return MakeError(Errc::kTimeout, "describing " + topic + " timed out");
  if (rd_kafka_event_error(event.get())) {
    return MakeError(Errc::kUnavailable,
                     "describing " + topic + ": " + rd_kafka_event_error_string(event.get()));
  }
  const auto* result = rd_kafka_event_DescribeConfigs_result(event.get());
  size_t count = 0;
  const rd_kafka_ConfigResource_t** resources =
      rd_kafka_DescribeConfigs_result_resources(result, &count);
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_ConfigResource_error(resources[i])) {
      return MakeError(Errc::kUnavailable,
                       "describing " + topic + ": " +
                           std::string(rd_kafka_ConfigResource_error_string(resources[i])));
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs =
        rd_kafka_ConfigResource_configs(resources[i], &entries);
    for (size_t j = 0; j < entries; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(configs[j]);
      state.config[rd_kafka_ConfigEntry_name(configs[j])] = value == nullptr ? "" : value;
    }
  }
  return state;
}

Status KafkaAdmin::Create(const KafkaTopicSpec& spec) {
  char err[512];
  rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                     spec.replication_factor, err, sizeof err);
  if (topic == nullptr) return MakeError(Errc::kInvalidArgument, spec.name + ": " + err);
  for (const auto& [k, v] : spec.config) {
    if (rd_kafka_NewTopic_set_config(topic, k.c_str(), v.c_str())) {
      rd_kafka_NewTopic_destroy(topic);
      return MakeError(Errc::kInvalidArgument, spec.name + ": bad config " + k);
    }
  }
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(handle_->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, Ms(timeout_), err, sizeof err);
  rd_kafka_AdminOptions_set_operation_timeout(options, Ms(timeout_), err, sizeof err);
  rd_kafka_CreateTopics(handle_->rk, &topic, 1, options, handle_->queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(topic);
  EventPtr event(rd_kafka_queue_poll(handle_->queue, Ms(timeout_) + 5000));
  if (!event) return MakeError(Errc::kTimeout, "creating " + spec.name + " timed out");
  if (rd_kafka_event_error(event.get())) {
    return MakeError(Errc::kUnavailable,
                     "creating " + spec.name + ": " + rd_kafka_event_error_string(event.get()));
  }
  const auto* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(topics[i]);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      return MakeError(Errc::kAlreadyExists, spec.name + " already exists");
    }
    if (e) {
      return MakeError(
          e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                  e == RD_KAFKA_RESP_ERR_INVALID_CONFIG || e == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS
              ? Errc::kInvalidArgument
              : Errc::kUnavailable,
          "creating " + spec.name + ": " + rd_kafka_topic_result_error_string(topics[i]));
    }
  }
  // Wait until the metadata shows a leader for every partition, so that clients can use it.
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    auto md = Metadata(spec.name);
    if (md && static_cast<int32_t>(md->size()) == spec.partitions &&
        std::all_of(md->begin(), md->end(), [](const auto& p) { return p.first >= 0; })) {
      return {};
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return MakeError(Errc::kTimeout, spec.name + " was created but has no leaders yet");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status KafkaAdmin::Delete(const std::string& name) {
  rd_kafka_DeleteTopic_t* topic = rd_kafka_DeleteTopic_new(name.c_str());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(handle_->rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
  char err[512];
  rd_kafka_AdminOptions_set_operation_timeout(options, Ms(timeout_), err, sizeof err);
  rd_kafka_DeleteTopics(handle_->rk, &topic, 1, options, handle_->queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_DeleteTopic_destroy(topic);
  EventPtr event(rd_kafka_queue_poll(handle_->queue, Ms(timeout_) + 5000));
  if (!event) return MakeError(Errc::kTimeout, "deleting " + name + " timed out");
  if (rd_kafka_event_error(event.get())) {
    return MakeError(Errc::kUnavailable,
                     "deleting " + name + ": " + rd_kafka_event_error_string(event.get()));
  }
  return {};
}

}  // namespace clawvisor
