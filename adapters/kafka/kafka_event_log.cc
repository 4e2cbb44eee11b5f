#include "adapters/kafka/kafka_event_log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "adapters/kafka/kafka_event_log_impl.h"
#include "engine/logging.h"

namespace clawvisor {
namespace kafka_detail {

std::string RandomSuffix() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return MakeError(Errc::kInvalidArgument, "kafka config " + key + ": " + err);
  }
  return {};
}

}  // namespace kafka_detail

namespace {

// Logs librdkafka's own messages as JSON lines (they carry broker names and error codes, never
// record contents).
void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  const LogLevel our = level <= 3   ? LogLevel::kError
                       : level <= 4 ? LogLevel::kWarn
                                    : LogLevel::kInfo;
  Log(our, kafka_detail::kComponent, buf, {{"facility", std::string(fac)}});
}

}  // namespace

using namespace kafka_detail;

KafkaEventLog::Impl::Impl(KafkaEventLogOptions options) : options_(std::move(options)) {
  if (options_.transactional_id.empty()) {
    options_.transactional_id = "clawvisor-" + RandomSuffix();
  }
}

KafkaEventLog::Impl::~Impl() {
  if (producer_ != nullptr) DestroyProducer();
  for (auto& c : read_consumers_) rd_kafka_destroy(c->rk);
  for (auto& c : poll_consumers_) rd_kafka_destroy(c->rk);
  for (auto& [group, rk] : group_consumers_) rd_kafka_destroy(rk);
  if (meta_ != nullptr) rd_kafka_destroy(meta_);
  if (uncommitted_meta_ != nullptr) rd_kafka_destroy(uncommitted_meta_);
}

Status KafkaEventLog::Impl::Init() {
  auto rk = NewConsumer("clawvisor-meta-" + RandomSuffix(), false);
  if (!rk) return std::unexpected(rk.error());
  meta_ = *rk;
  return CreateProducer();
}

// ---- configuration

Result<ConfPtr> KafkaEventLog::Impl::BaseConf() {
  ConfPtr conf(rd_kafka_conf_new());
  if (auto ok = Set(conf.get(), "bootstrap.servers", options_.bootstrap_servers); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = Set(
          conf.get(), "socket.timeout.ms",
          std::to_string(std::min(Ms(options_.request_timeout), Ms(options_.transaction_timeout))));
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = Set(conf.get(), "log_level", "4"); !ok) return std::unexpected(ok.error());
  for (const auto& [k, v] : options_.extra_config) {
    if (auto ok = Set(conf.get(), k, v); !ok) return std::unexpected(ok.error());
  }
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return conf;
}

Status KafkaEventLog::Impl::CreateProducer() {
  auto conf = BaseConf();
  if (!conf) return std::unexpected(conf.error());
  const std::string txn_ms = std::to_string(Ms(options_.transaction_timeout));
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"transactional.id", options_.transactional_id},
           {"enable.idempotence", "true"},
           {"acks", "all"},
           {"linger.ms", "1"},
           {"transaction.timeout.ms", txn_ms},
           {"message.timeout.ms", txn_ms},
           {"partitioner", "murmur2_random"}}) {
    if (auto ok = Set(conf->get(), k, v); !ok) return ok;
  }
  rd_kafka_conf_set_dr_msg_cb(conf->get(), DeliveryCallback);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), err, sizeof err);
  if (rk == nullptr) return MakeError(Errc::kInvalidArgument, std::string("producer: ") + err);
  conf->release();  // rd_kafka_new took it
  ErrorPtr e(rd_kafka_init_transactions(rk, Ms(options_.request_timeout)));
  if (e) {
    std::string message = std::string("init_transactions: ") + rd_kafka_error_string(e.get());
    rd_kafka_destroy(rk);
    return MakeError(Errc::kUnavailable, std::move(message));
  }
  producer_ = rk;
  return {};
}

void KafkaEventLog::Impl::DestroyProducer() {
  // Deliver (as failures) whatever is still queued, so that every slot is freed.
  rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(producer_, 5000);
  rd_kafka_destroy(producer_);
  producer_ = nullptr;
}

Result<rd_kafka_t*> KafkaEventLog::Impl::NewConsumer(const std::string& group, bool eof,
                                                     Isolation isolation) {
  auto conf = BaseConf();
  if (!conf) return std::unexpected(conf.error());
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"group.id", group},
           {"isolation.level",
            isolation == Isolation::kReadCommitted ? "read_committed" : "read_uncommitted"},
           {"enable.auto.commit", "false"},
           {"enable.auto.offset.store", "false"},
           {"auto.offset.reset", "error"},
           {"enable.partition.eof", eof ? "true" : "false"},
           {"fetch.wait.max.ms", "20"},
           {"queued.max.messages.kbytes", "8192"}}) {
    if (auto ok = Set(conf->get(), k, v); !ok) return std::unexpected(ok.error());
  }
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof err);
  if (rk == nullptr) return MakeError(Errc::kInvalidArgument, std::string("consumer: ") + err);
  conf->release();
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

// ---- metadata

Result<int32_t> KafkaEventLog::Impl::PartitionCount(std::string_view topic) {
  {
    std::lock_guard lock(meta_mu_);
    if (auto it = partitions_.find(topic); it != partitions_.end()) return it->second;
  }
  if (topic.empty() || topic.size() > 249) {
    return MakeError(Errc::kInvalidArgument, "invalid topic name");
  }
  rd_kafka_t* rk = MetadataHandle();
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, std::string(topic).c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, Ms(options_.request_timeout));
  rd_kafka_topic_destroy(rkt);
  if (err) return std::unexpected(KafkaError(err, "metadata of " + std::string(topic)));
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> hold(
      md, rd_kafka_metadata_destroy);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0) {
      return MakeError(Errc::kNotFound, "no topic " + std::string(topic));
    }
    if (t.err) return std::unexpected(KafkaError(t.err, "metadata of " + std::string(topic)));
    std::lock_guard lock(meta_mu_);
    partitions_[std::string(topic)] = t.partition_cnt;
    return t.partition_cnt;
  }
  return MakeError(Errc::kNotFound, "no topic " + std::string(topic));
}

Status KafkaEventLog::Impl::CheckPartition(const TopicPartition& tp) {
  auto count = PartitionCount(tp.topic);
  if (!count) return std::unexpected(count.error());
  if (tp.partition < 0 || tp.partition >= *count) {
    return MakeError(Errc::kInvalidArgument,
                     "topic " + tp.topic + " has no partition " + std::to_string(tp.partition));
  }
  return {};
}

// ---- the facade

KafkaEventLog::KafkaEventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaEventLog::~KafkaEventLog() = default;

Result<std::unique_ptr<KafkaEventLog>> KafkaEventLog::Open(const KafkaEventLogOptions& options) {
  if (options.bootstrap_servers.empty()) {
    return MakeError(Errc::kInvalidArgument, "no Kafka bootstrap servers given");
  }
  auto impl = std::make_unique<Impl>(options);
  if (auto ok = impl->Init(); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<KafkaEventLog>(new KafkaEventLog(std::move(impl)));
}

Result<int32_t> KafkaEventLog::PartitionCount(std::string_view topic) {
  return impl_->PartitionCount(topic);
}

Result<AppendResult> KafkaEventLog::Append(std::span<const OutgoingRecord> records) {
  if (auto ok = impl_->Validate(records); !ok) return std::unexpected(ok.error());
  if (records.empty()) return AppendResult{};
  Impl::Writer w;
  w.records = records;
  return impl_->Submit(w);
}

Result<AppendResult> KafkaEventLog::Transact(const Transaction& txn) {
  if (auto ok = impl_->Validate(txn.records); !ok) return std::unexpected(ok.error());
  if (!txn.consumed.empty() && txn.consumer_group.empty()) {
    return MakeError(Errc::kInvalidArgument, "a transaction with offsets needs a consumer group");
  }
  if (auto ok = impl_->CheckPositions(txn.consumed); !ok) return std::unexpected(ok.error());
  if (txn.records.empty() && txn.consumed.empty()) return AppendResult{};
  Impl::Writer w;
  w.records = txn.records;
  w.txn = &txn;
  return impl_->Submit(w);
}

Result<std::vector<Record>> KafkaEventLog::Read(const TopicPartition& tp, int64_t from_offset,
                                                size_t max_records) {
  return impl_->Read(tp, from_offset, max_records);
}

Result<std::vector<Record>> KafkaEventLog::Poll(std::span<const Position> positions,
                                                size_t max_records,
                                                std::chrono::milliseconds timeout) {
  return impl_->Poll(positions, max_records, timeout);
}

Result<int64_t> KafkaEventLog::EndOffset(const TopicPartition& tp) { return impl_->EndOffset(tp); }

Result<int64_t> KafkaEventLog::SettledEndOffset(const TopicPartition& tp) {
  return impl_->SettledEndOffset(tp);
}

Result<int64_t> KafkaEventLog::OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) {
  return impl_->OffsetForTime(tp, timestamp_ms);
}

Result<int64_t> KafkaEventLog::CommittedOffset(std::string_view group, const TopicPartition& tp) {
  return impl_->CommittedOffset(group, tp);
}

void KafkaEventLog::BindGroupMember(const std::string& group, GroupMetadataSource member) {
  impl_->BindGroupMember(group, std::move(member));
}

KafkaEventLog::Stats KafkaEventLog::GetStats() const { return impl_->GetStats(); }

}  // namespace clawvisor
