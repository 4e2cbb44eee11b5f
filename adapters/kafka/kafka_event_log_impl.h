#pragma once

// KafkaEventLog::Impl, internal to adapters/kafka (include it from nowhere else). The log's one
// class is split over three files along its seams:
//   kafka_event_log.cc           the facade, configuration (client properties, the producer's
//                                and consumers' creation) and topic metadata;
//   kafka_event_log_writer.cc    writes: group commit through the one transactional producer;
//   kafka_event_log_reader.cc    reads: the pooled read_committed consumers, Read and Poll, and
//                                the offset queries.
// The contract is KafkaEventLog's (kafka_event_log.h).
//
// Thread-safety: as KafkaEventLog. Each piece of state names the mutex that guards it below.

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/kafka/kafka_event_log.h"

namespace clawvisor {
namespace kafka_detail {

inline constexpr std::string_view kComponent = "kafka";

inline int Ms(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

inline Error KafkaError(rd_kafka_resp_err_t err, std::string_view what) {
  const Errc code = err == RD_KAFKA_RESP_ERR__TIMED_OUT ? Errc::kTimeout : Errc::kUnavailable;
  return Error{code, std::string(what) + ": " + rd_kafka_err2str(err)};
}

// 16 random hex digits, for client and group names that must not collide.
std::string RandomSuffix();

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
struct CgmdDeleter {
  void operator()(rd_kafka_consumer_group_metadata_t* m) const {
    rd_kafka_consumer_group_metadata_destroy(m);
  }
};
using CgmdPtr = std::unique_ptr<rd_kafka_consumer_group_metadata_t, CgmdDeleter>;

// One client property; kInvalidArgument names the key librdkafka refused.
Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

// One delivery report's destination; allocated per record, freed by the report.
struct DeliveryGroup {
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0;
  std::vector<int64_t> offsets;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};
struct DeliverySlot {
  std::shared_ptr<DeliveryGroup> group;
  size_t index;
};

// The producer's delivery-report callback (kafka_event_log_writer.cc).
void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* msg, void*);

}  // namespace kafka_detail

class KafkaEventLog::Impl {
 public:
  using ConfPtr = kafka_detail::ConfPtr;
  using ErrorPtr = kafka_detail::ErrorPtr;
  using CgmdPtr = kafka_detail::CgmdPtr;
  using DeliveryGroup = kafka_detail::DeliveryGroup;
  using DeliverySlot = kafka_detail::DeliverySlot;

  explicit Impl(KafkaEventLogOptions options);
  ~Impl();
  Status Init();

  // ---- configuration (kafka_event_log.cc)
  Result<ConfPtr> BaseConf();
  // REQUIRES: producer_mu_ is held, or the log is not shared yet (Init).
  Status CreateProducer();
  void DestroyProducer();
  enum class Isolation { kReadCommitted, kReadUncommitted };
  // A consumer that never joins `group` (manual assignment only).
  Result<rd_kafka_t*> NewConsumer(const std::string& group, bool eof,
                                  Isolation isolation = Isolation::kReadCommitted);

  // ---- metadata (kafka_event_log.cc)
  Result<int32_t> PartitionCount(std::string_view topic);
  Status CheckPartition(const TopicPartition& tp);

  // ---- writes: group commit through one transactional producer (kafka_event_log_writer.cc)
  struct Writer {
    std::span<const OutgoingRecord> records;
    const Transaction* txn = nullptr;  // offsets to send, when a Transact
    bool done = false;
    Result<AppendResult> result;
    std::condition_variable cv;
  };
  Status Validate(std::span<const OutgoingRecord> records);
  Result<AppendResult> Submit(Writer& w);
  Status CommitGroup(std::span<Writer* const> group);
  // Outcome of one transactional call, following librdkafka's error rules.
  enum class Verdict { kOk, kAbort, kFatal };
  Verdict Judge(ErrorPtr& e, std::string_view what, std::optional<Error>& error);
  // REQUIRES: producer_mu_ is held (as are the rest of the write path's producer calls).
  Status RunTransaction(std::span<Writer* const> group);
  CgmdPtr GroupMetadata(const std::string& group);
  void BindGroupMember(const std::string& group, GroupMetadataSource member);
  rd_kafka_resp_err_t Produce(const OutgoingRecord& r, rd_kafka_headers_t* headers,
                              DeliverySlot* slot);
  void WaitDeliveries(const std::vector<std::shared_ptr<DeliveryGroup>>& deliveries);

  // ---- reads (kafka_event_log_reader.cc)
  // A read_committed consumer that never joins its group (manual assignment only).
  struct Consumer {
    rd_kafka_t* rk = nullptr;
    // The assignment Poll left, and where its caller would resume: a Poll that asks for exactly
    // these positions keeps the assignment (and what librdkafka prefetched).
    std::vector<Position> resume;
  };
  Result<std::unique_ptr<Consumer>> Borrow(std::span<const Position> want, bool for_poll);
  void Return(std::unique_ptr<Consumer> c, bool for_poll);
  Status AssignAt(Consumer& c, std::span<const Position> positions);
  static Record ToRecord(const rd_kafka_message_t* m);
  Status CheckPositions(std::span<const Position> positions);
  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from, size_t max);
  Status ReadUntilEnd(Consumer& c, const Position& pos, int64_t end, size_t max,
                      std::vector<Record>& out);
  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max,
                                   std::chrono::milliseconds timeout);
  template <typename Call>
  rd_kafka_resp_err_t RetryTransient(Call call);
  // A read_committed client's ListOffsets(latest) answers the last stable offset (LSO).
  Result<int64_t> EndOffset(const TopicPartition& tp) { return LatestOffset(tp, MetadataHandle()); }
  Result<int64_t> SettledEndOffset(const TopicPartition& tp);
  Result<int64_t> LatestOffset(const TopicPartition& tp, rd_kafka_t* handle);
  Result<int64_t> OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms);
  Result<int64_t> CommittedOffset(std::string_view group, const TopicPartition& tp);
  // A read_committed handle for metadata and offset queries (never assigned; thread-safe).
  rd_kafka_t* MetadataHandle() { return meta_; }
  Result<rd_kafka_t*> UncommittedHandle();

  Stats GetStats() const {
    return Stats{stats_transactions_.load(), stats_aborted_.load(), stats_restarts_.load(),
                 stats_requests_.load()};
  }

  KafkaEventLogOptions options_;

 private:
  std::mutex producer_mu_;  // one transaction at a time
  rd_kafka_t* producer_ = nullptr;

  std::mutex write_mu_;  // guards writers_
  std::deque<Writer*> writers_;

  std::mutex meta_mu_;
  std::map<std::string, int32_t, std::less<>> partitions_;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Consumer>> read_consumers_;
  std::vector<std::unique_ptr<Consumer>> poll_consumers_;

  std::mutex group_mu_;
  std::map<std::string, rd_kafka_t*, std::less<>> group_consumers_;

  std::mutex members_mu_;
  std::map<std::string, GroupMetadataSource, std::less<>> members_;

  rd_kafka_t* meta_ = nullptr;  // set by Init, then constant
  std::mutex uncommitted_mu_;
  rd_kafka_t* uncommitted_meta_ = nullptr;  // see UncommittedHandle; guarded by uncommitted_mu_

  std::atomic<uint64_t> stats_transactions_{0};
  std::atomic<uint64_t> stats_aborted_{0};
  std::atomic<uint64_t> stats_restarts_{0};
  std::atomic<uint64_t> stats_requests_{0};

 public:
  friend class KafkaEventLog;
};

}  // namespace clawvisor
