#include "adapters/kafka/kafka_group_processor.h"

#include <librdkafka/rdkafka.h>

#include <mutex>
#include <set>
#include <thread>

#include "engine/logging.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "processor-group";

std::vector<int32_t> PartitionsOf(const rd_kafka_topic_partition_list_t* list) {
  std::vector<int32_t> out;
  for (int i = 0; i < list->cnt; ++i) out.push_back(list->elems[i].partition);
  return out;
}

int64_t Count(const std::vector<int32_t>& v) { return static_cast<int64_t>(v.size()); }

}  // namespace

class KafkaGroupProcessor::Impl {
 public:
  Impl(Processor& processor, KafkaEventLog& log, KafkaGroupOptions options)
      : processor_(processor), log_(log), options_(std::move(options)) {}
  ~Impl() { Leave(); }

  // Unbinds the fencing metadata, then leaves the group (the others rebalance at once).
  void Leave() {
    log_.BindGroupMember(options_.group, {});
    SetFence({});
    if (rk_ != nullptr) {
      rd_kafka_consumer_close(rk_);
      rd_kafka_destroy(rk_);
      rk_ = nullptr;
    }
  }

  // The group metadata every transaction's offsets go with: a snapshot taken when partitions
  // were assigned (the generation that gave them), none while nothing is owned. A snapshot
  // rather than the member's live metadata: a member that noticed it was cut off resets its
  // generation to -1, which the coordinator would not check at all.
  void SetFence(std::string snapshot) {
    std::lock_guard lock(fence_mu_);
    fence_ = std::move(snapshot);
  }
  rd_kafka_consumer_group_metadata_t* Fence() {
    std::lock_guard lock(fence_mu_);
    if (fence_.empty()) return nullptr;
    rd_kafka_consumer_group_metadata_t* cgmd = nullptr;
    if (rd_kafka_error_t* e =
            rd_kafka_consumer_group_metadata_read(&cgmd, fence_.data(), fence_.size())) {
      rd_kafka_error_destroy(e);
      return nullptr;
    }
    return cgmd;
  }
  void SnapshotFence(rd_kafka_t* rk) {
    rd_kafka_consumer_group_metadata_t* cgmd = rd_kafka_consumer_group_metadata(rk);
    void* buffer = nullptr;
    size_t size = 0;
    rd_kafka_error_t* e = rd_kafka_consumer_group_metadata_write(cgmd, &buffer, &size);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (e != nullptr) {
      rd_kafka_error_destroy(e);
      SetFence({});  // transactions fail until the next assignment: never unfenced
      return;
    }
    SetFence(std::string(static_cast<const char*>(buffer), size));
    rd_kafka_mem_free(nullptr, buffer);
  }

  Status Init() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    std::vector<std::pair<std::string, std::string>> settings{
        {"bootstrap.servers", options_.bootstrap_servers},
        {"group.id", options_.group},
        {"session.timeout.ms", std::to_string(options_.session_timeout.count())},
        {"heartbeat.interval.ms", std::to_string(options_.session_timeout.count() / 3)},
        // Eager rebalancing: every partition is revoked (and its batch finished) before any
        // is assigned elsewhere.
        {"partition.assignment.strategy", "range"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"log_level", "4"}};
    settings.insert(settings.end(), options_.extra_config.begin(), options_.extra_config.end());
    for (const auto& [k, v] : settings) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return MakeError(Errc::kInvalidArgument, "kafka config " + k + ": " + err);
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &Impl::RebalanceCallback);
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return MakeError(Errc::kInvalidArgument, std::string("group member: ") + err);
    }
    rd_kafka_poll_set_consumer(rk_);
    log_.BindGroupMember(options_.group, [this] { return Fence(); });
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, options_.commands_topic.c_str(),
                                      RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) return MakeError(Errc::kUnavailable, std::string("subscribe: ") + rd_kafka_err2str(e));
    return {};
  }

  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<Impl*>(opaque)->Rebalance(rk, err, partitions);
  }

  // Runs on the Run thread (inside rd_kafka_consumer_poll), between two batches: a revoked
  // partition's last transaction is already committed or aborted.
  void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions) {
    const std::vector<int32_t> ids = PartitionsOf(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      rd_kafka_assign(rk, partitions);
      SnapshotFence(rk);
      // The member only holds ownership; the processor reads through the EventLog.
      rd_kafka_pause_partitions(rk, partitions);
      {
        std::lock_guard lock(mu_);
        owned_.insert(ids.begin(), ids.end());
        unrebuilt_.insert(ids.begin(), ids.end());
      }
      Log(LogLevel::kInfo, kComponent, "partitions assigned", {{"count", Count(ids)}});
      AssignPending();
    } else {
      SetFence({});
      processor_.Revoke(ids);
      {
        std::lock_guard lock(mu_);
        for (int32_t p : ids) {
          owned_.erase(p);
          unrebuilt_.erase(p);
        }
      }
      rd_kafka_assign(rk, nullptr);
      Log(LogLevel::kInfo, kComponent, "partitions revoked", {{"count", Count(ids)}});
    }
  }

  // Rebuilds and installs the assigned partitions not installed yet; retried by Run on failure
  // (the previous owner's transaction may still be undecided).
  bool AssignPending() {
    std::vector<int32_t> pending;
    {
      std::lock_guard lock(mu_);
      pending.assign(unrebuilt_.begin(), unrebuilt_.end());
    }
    if (pending.empty()) return true;
    auto ok = processor_.Assign(pending);
    if (!ok) {
      Log(LogLevel::kWarn, kComponent, "rebuilding assigned partitions failed; will retry",
          {{"error", ok.error().ToString()}});
      return false;
    }
    std::lock_guard lock(mu_);
    for (int32_t p : pending) unrebuilt_.erase(p);
    return true;
  }

  void Run(std::stop_token stop) {
    auto backoff = std::chrono::milliseconds(50);
    int64_t decided = 0;
    auto last_report = std::chrono::steady_clock::now();
    while (!stop.stop_requested()) {
      if (std::chrono::steady_clock::now() - last_report > std::chrono::seconds(10)) {
        last_report = std::chrono::steady_clock::now();
        Log(LogLevel::kInfo, kComponent, "progress",
            {{"owned", Count(Owned())}, {"commands_consumed", decided}});
      }
      // Serves rebalance callbacks; the member's partitions are paused, so records are rare
      // (one fetched before the pause) and dropped: the processor reads them through the log.
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 0)) {
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          Log(LogLevel::kWarn, kComponent, "group member error",
              {{"error", std::string(rd_kafka_err2str(m->err))}});
        }
        rd_kafka_message_destroy(m);
      }
      if (!AssignPending()) {
        std::this_thread::sleep_for(backoff);
        continue;
      }
      auto done = processor_.ProcessOnce();
      if (!done) {
        Log(LogLevel::kWarn, kComponent, "batch failed; retrying",
            {{"error", done.error().ToString()}});
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      } else {
        decided += static_cast<int64_t>(*done);
        backoff = std::chrono::milliseconds(50);
        bool idle = false;
        {
          std::lock_guard lock(mu_);
          idle = owned_.empty();
        }
        if (idle) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    Leave();
  }

  std::vector<int32_t> Owned() {
    std::lock_guard lock(mu_);
    std::vector<int32_t> out;
    for (int32_t p : owned_) {
      if (!unrebuilt_.contains(p)) out.push_back(p);
    }
    return out;
  }

 private:
  Processor& processor_;
  KafkaEventLog& log_;
  KafkaGroupOptions options_;
  std::mutex fence_mu_;
  std::string fence_;  // serialized rd_kafka_consumer_group_metadata_t, empty: none
  rd_kafka_t* rk_ = nullptr;
  std::mutex mu_;
  std::set<int32_t> owned_;
  std::set<int32_t> unrebuilt_;
};

KafkaGroupProcessor::KafkaGroupProcessor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaGroupProcessor::~KafkaGroupProcessor() = default;

Result<std::unique_ptr<KafkaGroupProcessor>> KafkaGroupProcessor::Create(
    Processor& processor, KafkaEventLog& log, KafkaGroupOptions options) {
  if (options.bootstrap_servers.empty()) {
    return MakeError(Errc::kInvalidArgument, "no Kafka bootstrap servers given");
  }
  if (options.group != processor.consumer_group()) {
    return MakeError(Errc::kInvalidArgument, "the group member's group (" + options.group +
                                                 ") is not the processor's consumer group (" +
                                                 processor.consumer_group() +
                                                 "): its transactions would not be fenced");
  }
  auto impl = std::make_unique<Impl>(processor, log, std::move(options));
  if (auto ok = impl->Init(); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<KafkaGroupProcessor>(new KafkaGroupProcessor(std::move(impl)));
}

void KafkaGroupProcessor::Run(std::stop_token stop) { impl_->Run(stop); }

std::vector<int32_t> KafkaGroupProcessor::Owned() { return impl_->Owned(); }

}  // namespace clawvisor
