#include "adapters/kafka/kafka_event_log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "engine/logging.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "kafka";
// Per-record bound checked before a transaction starts, so that one oversized record cannot
// abort the transaction of the other requests grouped with it (broker default 1 MiB).
constexpr size_t kMaxRecordBytes = 1000 * 1000;
constexpr int kAbortRetries = 3;

int Ms(std::chrono::milliseconds d) { return static_cast<int>(d.count()); }

Error KafkaError(rd_kafka_resp_err_t err, std::string_view what) {
  const Errc code = err == RD_KAFKA_RESP_ERR__TIMED_OUT ? Errc::kTimeout : Errc::kUnavailable;
  return Error{code, std::string(what) + ": " + rd_kafka_err2str(err)};
}

std::string RandomSuffix() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

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

Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return MakeError(Errc::kInvalidArgument, "kafka config " + key + ": " + err);
  }
  return {};
}

// Logs librdkafka's own messages as JSON lines (they carry broker names and error codes, never
// record contents).
void LogCallback(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  const LogLevel our = level <= 3   ? LogLevel::kError
                       : level <= 4 ? LogLevel::kWarn
                                    : LogLevel::kInfo;
  Log(our, kComponent, buf, {{"facility", std::string(fac)}});
}

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

void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  std::unique_ptr<DeliverySlot> slot(static_cast<DeliverySlot*>(msg->_private));
  if (!slot) return;
  DeliveryGroup& g = *slot->group;
  std::lock_guard lock(g.mu);
  if (msg->err) {
    if (!g.first_error) g.first_error = msg->err;
  } else {
    g.offsets[slot->index] = msg->offset;
  }
  --g.outstanding;
  g.cv.notify_all();
}

}  // namespace

class KafkaEventLog::Impl {
 public:
  explicit Impl(KafkaEventLogOptions options) : options_(std::move(options)) {
    if (options_.transactional_id.empty()) {
      options_.transactional_id = "clawvisor-" + RandomSuffix();
    }
  }

  ~Impl() {
    if (producer_ != nullptr) DestroyProducer();
    for (auto& c : read_consumers_) rd_kafka_destroy(c->rk);
    for (auto& c : poll_consumers_) rd_kafka_destroy(c->rk);
    for (auto& [group, rk] : group_consumers_) rd_kafka_destroy(rk);
    if (meta_ != nullptr) rd_kafka_destroy(meta_);
    if (uncommitted_meta_ != nullptr) rd_kafka_destroy(uncommitted_meta_);
  }

  Status Init() {
    auto rk = NewConsumer("clawvisor-meta-" + RandomSuffix(), false);
    if (!rk) return std::unexpected(rk.error());
    meta_ = *rk;
    return CreateProducer();
  }

  // ---- configuration

  Result<ConfPtr> BaseConf() {
    ConfPtr conf(rd_kafka_conf_new());
    if (auto ok = Set(conf.get(), "bootstrap.servers", options_.bootstrap_servers); !ok) {
      return std::unexpected(ok.error());
    }
    if (auto ok = Set(conf.get(), "socket.timeout.ms",
                      std::to_string(std::min(Ms(options_.request_timeout),
                                              Ms(options_.transaction_timeout))));
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

  Status CreateProducer() {
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

  void DestroyProducer() {
    // Deliver (as failures) whatever is still queued, so that every slot is freed.
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(producer_, 5000);
    rd_kafka_destroy(producer_);
    producer_ = nullptr;
  }

  // ---- metadata

  Result<int32_t> PartitionCount(std::string_view topic) {
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

  Status CheckPartition(const TopicPartition& tp) {
    auto count = PartitionCount(tp.topic);
    if (!count) return std::unexpected(count.error());
    if (tp.partition < 0 || tp.partition >= *count) {
      return MakeError(Errc::kInvalidArgument,
                       "topic " + tp.topic + " has no partition " + std::to_string(tp.partition));
    }
    return {};
  }

  // ---- writes: group commit through one transactional producer

  struct Writer {
    std::span<const OutgoingRecord> records;
    const Transaction* txn = nullptr;  // offsets to send, when a Transact
    bool done = false;
    Result<AppendResult> result;
    std::condition_variable cv;
  };

  Status Validate(std::span<const OutgoingRecord> records) {
    for (const OutgoingRecord& r : records) {
      if (auto ok = CheckPartition({r.topic, r.partition}); !ok) return ok;
      size_t bytes = r.key.size() + r.value.size();
      for (const Header& h : r.headers) bytes += h.key.size() + h.value.size() + 16;
      if (bytes > kMaxRecordBytes) {
        return MakeError(Errc::kInvalidArgument,
                         "record of " + std::to_string(bytes) + " bytes exceeds the limit");
      }
      if (r.timestamp_ms < 0) return MakeError(Errc::kInvalidArgument, "negative timestamp");
    }
    return {};
  }

  Result<AppendResult> Submit(Writer& w) {
    std::unique_lock lock(write_mu_);
    writers_.push_back(&w);
    while (!w.done && writers_.front() != &w) w.cv.wait(lock);
    if (w.done) return std::move(w.result);
    // Leader: take the queue as it stands now.
    std::vector<Writer*> group(writers_.begin(), writers_.end());
    lock.unlock();
    Status status = CommitGroup(group);
    lock.lock();
    for (Writer* x : group) {
      writers_.pop_front();
      if (!status) x->result = std::unexpected(status.error());
      x->done = true;
      if (x != &w) x->cv.notify_one();
    }
    if (!writers_.empty()) writers_.front()->cv.notify_one();
    return std::move(w.result);
  }

  // Runs one transaction for `group`, retrying it after aborts. Fills every writer's offsets.
  Status CommitGroup(std::span<Writer* const> group) {
    std::lock_guard lock(producer_mu_);
    Status last;
    for (int attempt = 0; attempt <= kAbortRetries; ++attempt) {
      if (producer_ == nullptr) {
        if (auto ok = CreateProducer(); !ok) return ok;
        ++stats_restarts_;
      }
      last = RunTransaction(group);
      if (last) {
        ++stats_transactions_;
        stats_requests_ += group.size();
        return {};
      }
    }
    // A producer dropped after a fatal error may have left its transaction open. A new one under
    // the same transactional.id aborts it now; otherwise the broker would only after
    // transaction.timeout.ms, and a caller that rebuilds from the log meanwhile would wait.
    if (producer_ == nullptr && CreateProducer()) ++stats_restarts_;
    return last;
  }

  // Outcome of one transactional call, following librdkafka's error rules.
  enum class Verdict { kOk, kAbort, kFatal };
  Verdict Judge(ErrorPtr& e, std::string_view what, std::optional<Error>& error) {
    if (!e) return Verdict::kOk;
    error = Error{Errc::kUnavailable, std::string(what) + ": " + rd_kafka_error_string(e.get())};
    if (rd_kafka_error_txn_requires_abort(e.get())) return Verdict::kAbort;
    return Verdict::kFatal;  // retriable ones are retried by the caller before judging
  }

  Status RunTransaction(std::span<Writer* const> group) {
    std::optional<Error> error;
    auto fail = [&](Verdict v) -> Status {
      if (v == Verdict::kAbort) {
        ++stats_aborted_;
        ErrorPtr a(rd_kafka_abort_transaction(producer_, -1));
        if (a) {
          Log(LogLevel::kWarn, kComponent, "abort_transaction failed; re-creating the producer",
              {{"error", std::string(rd_kafka_error_string(a.get()))}});
          DestroyProducer();
        }
      } else {
        Log(LogLevel::kWarn, kComponent, "fatal producer error; re-creating the producer",
            {{"error", error->message}});
        DestroyProducer();
      }
      return std::unexpected(*error);
    };

    ErrorPtr e(rd_kafka_begin_transaction(producer_));
    if (e) {
      error = Error{Errc::kUnavailable,
                    std::string("begin_transaction: ") + rd_kafka_error_string(e.get())};
      return fail(Verdict::kFatal);
    }
    // Produce every record, in queue order.
    std::vector<std::shared_ptr<DeliveryGroup>> deliveries;
    for (Writer* w : group) {
      auto d = std::make_shared<DeliveryGroup>();
      d->offsets.assign(w->records.size(), -1);
      d->outstanding = w->records.size();
      deliveries.push_back(d);
      for (size_t i = 0; i < w->records.size(); ++i) {
        const OutgoingRecord& r = w->records[i];
        rd_kafka_headers_t* headers = nullptr;
        if (!r.headers.empty()) {
          headers = rd_kafka_headers_new(r.headers.size());
          for (const Header& h : r.headers) {
            rd_kafka_header_add(headers, h.key.data(), static_cast<ssize_t>(h.key.size()),
                                h.value.data(), static_cast<ssize_t>(h.value.size()));
          }
        }
        auto* slot = new DeliverySlot{d, i};
        rd_kafka_resp_err_t err;
        for (;;) {
          err = Produce(r, headers, slot);
          if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
          rd_kafka_poll(producer_, 10);  // serve delivery reports to make room
        }
        if (err) {
          delete slot;
          if (headers != nullptr) rd_kafka_headers_destroy(headers);
          {
            std::lock_guard dl(d->mu);
            d->outstanding -= w->records.size() - i;
          }
          error = KafkaError(err, "produce to " + r.topic);
          // A produce error inside a transaction leaves it unusable: abort it.
          WaitDeliveries(deliveries);
          return fail(Verdict::kAbort);
        }
      }
    }
    // Each Transact's consumed positions, per consumer group.
    for (Writer* w : group) {
      if (w->txn == nullptr || w->txn->consumed.empty()) continue;
      ListPtr offsets(rd_kafka_topic_partition_list_new(static_cast<int>(w->txn->consumed.size())));
      for (const Position& p : w->txn->consumed) {
        rd_kafka_topic_partition_list_add(offsets.get(), p.tp.topic.c_str(), p.tp.partition)
            ->offset = p.next_offset;
      }
      CgmdPtr cgmd = GroupMetadata(w->txn->consumer_group);
      if (!cgmd) {
        error = Error{Errc::kUnavailable, "the consumer group member of " + w->txn->consumer_group +
                                              " has left: its offsets are not committed"};
        WaitDeliveries(deliveries);
        return fail(Verdict::kAbort);
      }
      for (;;) {
        e.reset(rd_kafka_send_offsets_to_transaction(producer_, offsets.get(), cgmd.get(), -1));
        if (!e || !rd_kafka_error_is_retriable(e.get())) break;
      }
      if (Verdict v = Judge(e, "send_offsets_to_transaction", error); v != Verdict::kOk) {
        WaitDeliveries(deliveries);
        return fail(v);
      }
    }
    for (;;) {
      e.reset(rd_kafka_commit_transaction(producer_, -1));
      // A retriable error (a timeout) means the commit continues in the background: resume it.
      if (!e || !rd_kafka_error_is_retriable(e.get())) break;
    }
    if (Verdict v = Judge(e, "commit_transaction", error); v != Verdict::kOk) {
      WaitDeliveries(deliveries);
      return fail(v);
    }
    WaitDeliveries(deliveries);
    for (size_t k = 0; k < group.size(); ++k) {
      std::lock_guard dl(deliveries[k]->mu);
      if (deliveries[k]->first_error) {
        // Cannot happen after a successful commit; refuse to report offsets we do not know.
        return MakeError(Errc::kInternal, "a committed record has no delivery report");
      }
      group[k]->result = AppendResult{std::move(deliveries[k]->offsets)};
    }
    return {};
  }

  // The metadata a transaction's offsets for `group` go with: the bound member's (generation
  // and member id: fenced once it lost its partitions), else the bare group id.
  CgmdPtr GroupMetadata(const std::string& group) {
    GroupMetadataSource member;
    {
      std::lock_guard lock(members_mu_);
      auto it = members_.find(group);
      if (it == members_.end()) return CgmdPtr(rd_kafka_consumer_group_metadata_new(group.c_str()));
      member = it->second;
    }
    return CgmdPtr(member());
  }

  void BindGroupMember(const std::string& group, GroupMetadataSource member) {
    std::lock_guard lock(members_mu_);
    if (member) {
      members_[group] = std::move(member);
    } else {
      members_.erase(group);
    }
  }

  // One produce call, through the array form (the variadic macros use C casts).
  rd_kafka_resp_err_t Produce(const OutgoingRecord& r, rd_kafka_headers_t* headers,
                              DeliverySlot* slot) {
    rd_kafka_vu_t vu[8] = {};
    size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[n++].u.cstr = r.topic.c_str();
    vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[n++].u.i32 = r.partition;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = const_cast<char*>(r.key.data());
    vu[n++].u.mem.size = r.key.size();
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = const_cast<char*>(r.value.data());
    vu[n++].u.mem.size = r.value.size();
    vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[n++].u.i64 = r.timestamp_ms;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = slot;
    if (headers != nullptr) {
      vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
      vu[n++].u.headers = headers;
    }
    ErrorPtr e(rd_kafka_produceva(producer_, vu, n));
    return e ? rd_kafka_error_code(e.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  void WaitDeliveries(const std::vector<std::shared_ptr<DeliveryGroup>>& deliveries) {
    for (const auto& d : deliveries) {
      for (;;) {
        {
          std::lock_guard dl(d->mu);
          if (d->outstanding == 0) break;
        }
        rd_kafka_poll(producer_, 50);
      }
    }
  }

  // ---- reads

  // A read_committed consumer that never joins its group (manual assignment only).
  struct Consumer {
    rd_kafka_t* rk = nullptr;
    // The assignment Poll left, and where its caller would resume: a Poll that asks for exactly
    // these positions keeps the assignment (and what librdkafka prefetched).
    std::vector<Position> resume;
  };

  enum class Isolation { kReadCommitted, kReadUncommitted };
  Result<rd_kafka_t*> NewConsumer(const std::string& group, bool eof,
                                  Isolation isolation = Isolation::kReadCommitted) {
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

  // Borrows a reader; `want` prefers one whose resume positions equal it. Read and Poll keep
  // separate pools: Read re-assigns on every call, Poll consumers keep streaming.
  Result<std::unique_ptr<Consumer>> Borrow(std::span<const Position> want, bool for_poll) {
    {
      std::lock_guard lock(pool_mu_);
      auto& consumers_ = for_poll ? poll_consumers_ : read_consumers_;
      auto same = [&](const std::unique_ptr<Consumer>& c) {
        if (c->resume.size() != want.size()) return false;
        for (size_t i = 0; i < want.size(); ++i) {
          if (!(c->resume[i].tp == want[i].tp) || c->resume[i].next_offset != want[i].next_offset) {
            return false;
          }
        }
        return true;
      };
      auto it = std::find_if(consumers_.begin(), consumers_.end(), same);
      if (it == consumers_.end() && !consumers_.empty()) it = consumers_.begin();
      if (it != consumers_.end()) {
        auto c = std::move(*it);
        consumers_.erase(it);
        return c;
      }
    }
    auto rk = NewConsumer("clawvisor-reader-" + RandomSuffix(), true);
    if (!rk) return std::unexpected(rk.error());
    auto c = std::make_unique<Consumer>();
    c->rk = *rk;
    return c;
  }

  void Return(std::unique_ptr<Consumer> c, bool for_poll) {
    std::lock_guard lock(pool_mu_);
    (for_poll ? poll_consumers_ : read_consumers_).push_back(std::move(c));
  }

  Status AssignAt(Consumer& c, std::span<const Position> positions) {
    ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())));
    for (const Position& p : positions) {
      rd_kafka_topic_partition_list_add(list.get(), p.tp.topic.c_str(), p.tp.partition)->offset =
          p.next_offset;
    }
    c.resume.clear();
    rd_kafka_resp_err_t err = rd_kafka_assign(c.rk, list.get());
    if (err) return std::unexpected(KafkaError(err, "assign"));
    return {};
  }

  static Record ToRecord(const rd_kafka_message_t* m) {
    Record r;
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    if (m->key != nullptr) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload != nullptr) r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_timestamp_type_t type;
    r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        r.headers.push_back({name, value == nullptr
                                       ? std::string()
                                       : std::string(static_cast<const char*>(value), size)});
      }
    }
    return r;
  }

  Status CheckPositions(std::span<const Position> positions) {
    for (const Position& p : positions) {
      if (auto ok = CheckPartition(p.tp); !ok) return ok;
      if (p.next_offset < 0) return MakeError(Errc::kInvalidArgument, "negative offset");
    }
    return {};
  }

  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from, size_t max) {
    if (auto ok = CheckPositions(std::span<const Position>({Position{tp, from}})); !ok) {
      return std::unexpected(ok.error());
    }
    if (max == 0) return std::vector<Record>{};
    auto end = EndOffset(tp);
    if (!end) return std::unexpected(end.error());
    if (from >= *end) return std::vector<Record>{};
    const Position pos{tp, from};
    auto c = Borrow(std::span<const Position>(&pos, 1), /*for_poll=*/false);
    if (!c) return std::unexpected(c.error());
    std::vector<Record> out;
    Status status = ReadUntilEnd(**c, pos, *end, max, out);
    (*c)->resume.clear();
    rd_kafka_assign((*c)->rk, nullptr);
    Return(std::move(*c), /*for_poll=*/false);
    if (!status) return std::unexpected(status.error());
    return out;
  }

  // Consumes from `pos` until a record at or past end-1, the partition's end (EOF) or `max`.
  Status ReadUntilEnd(Consumer& c, const Position& pos, int64_t end, size_t max,
                      std::vector<Record>& out) {
    if (auto ok = AssignAt(c, std::span<const Position>(&pos, 1)); !ok) return ok;
    const auto deadline = std::chrono::steady_clock::now() + options_.request_timeout;
    while (out.size() < max) {
      if (std::chrono::steady_clock::now() > deadline) {
        return MakeError(Errc::kTimeout, "reading " + pos.tp.topic + "/" +
                                             std::to_string(pos.tp.partition) + " timed out");
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c.rk, 100);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> hold(
          m, rd_kafka_message_destroy);
      // Events of an earlier assignment of this pooled consumer may still be queued: an end of
      // partition counts only for this partition and at or past `end` (the LSO only grows).
      // Taking a stale one would end the read early, and a processor rebuilding its state from
      // such a read would miss decided commands and decide them again.
      const bool ours = m->rkt != nullptr && m->partition == pos.tp.partition &&
                        pos.tp.topic == rd_kafka_topic_name(m->rkt);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (ours && m->offset >= end) break;
        continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
          m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        if (!ours) continue;
        break;  // past the end: nothing to read
      }
      if (m->err) return std::unexpected(KafkaError(m->err, "fetch"));
      // Never a message left over from an earlier assignment of this consumer.
      if (!ours || m->offset < (out.empty() ? pos.next_offset : out.back().offset + 1)) {
        continue;
      }
      out.push_back(ToRecord(m));
      if (m->offset >= end - 1) break;
    }
    return {};
  }

  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max,
                                   std::chrono::milliseconds timeout) {
    if (auto ok = CheckPositions(positions); !ok) return std::unexpected(ok.error());
    if (max == 0 || positions.empty()) return std::vector<Record>{};
    auto borrowed = Borrow(positions, /*for_poll=*/true);
    if (!borrowed) return std::unexpected(borrowed.error());
    Consumer& c = **borrowed;
    std::vector<Position> next(positions.begin(), positions.end());
    Status status;
    if (c.resume.size() != positions.size() ||
        !std::equal(c.resume.begin(), c.resume.end(), positions.begin(),
                    [](const Position& a, const Position& b) {
                      return a.tp == b.tp && a.next_offset == b.next_offset;
                    })) {
      status = AssignAt(c, positions);
    }
    std::vector<Record> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (status && out.size() < max) {
      const auto now = std::chrono::steady_clock::now();
      // Once something arrived, only take what is already there.
      int wait = 0;
      if (out.empty() && now < deadline) {
        wait = static_cast<int>(std::min<int64_t>(
            100,
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c.rk, wait);
      if (m == nullptr) {
        if (!out.empty() || std::chrono::steady_clock::now() >= deadline) break;
        continue;
      }
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> hold(
          m, rd_kafka_message_destroy);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      // Only records at or after the caller's position of a requested partition: a message
      // still queued from an earlier assignment of this consumer must never reach the caller
      // (a processor would take its offset for a position of the commands topic), and neither
      // must an error about a partition it no longer reads.
      Position* at = nullptr;
      for (Position& p : next) {
        if (m->rkt != nullptr && p.tp.partition == m->partition &&
            p.tp.topic == rd_kafka_topic_name(m->rkt)) {
          at = &p;
        }
      }
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
          m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        if (at == nullptr) continue;
        // A position past the end. The fetcher stops for that partition, so the assignment
        // must not be kept: the next Poll assigns afresh.
        int64_t low = -1;
        int64_t high = -1;
        (void)rd_kafka_query_watermark_offsets(MetadataHandle(), at->tp.topic.c_str(),
                                               at->tp.partition, &low, &high, 5000);
        Log(LogLevel::kWarn, kComponent, "poll position out of range",
            {{"topic", at->tp.topic},
             {"partition", m->partition},
             {"offset", m->offset},
             {"position", at->next_offset},
             {"log_start", low},
             {"log_end", high}});
        status = MakeError(Errc::kUnavailable, "poll position out of range");
        break;
      }
      if (m->err) {
        status = std::unexpected(KafkaError(m->err, "fetch"));
        break;
      }
      if (at == nullptr || m->offset < at->next_offset) continue;
      Record r = ToRecord(m);
      at->next_offset = r.offset + 1;
      out.push_back(std::move(r));
    }
    if (status) {
      c.resume = std::move(next);
    } else {
      c.resume.clear();
      rd_kafka_assign(c.rk, nullptr);
    }
    Return(std::move(*borrowed), /*for_poll=*/true);
    if (!status) return std::unexpected(status.error());
    return out;
  }

  // Retries `call` while it fails with an error that a metadata refresh cures (a new topic's
  // leader not known yet, a leader that moved), until request_timeout.
  template <typename Call>
  rd_kafka_resp_err_t RetryTransient(Call call) {
    const auto deadline = std::chrono::steady_clock::now() + options_.request_timeout;
    for (;;) {
      const rd_kafka_resp_err_t err = call();
      const bool transient = err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                             err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                             err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                             err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                             err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                             err == RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH ||
                             err == RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH ||
                             err == RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE;
      if (!transient || std::chrono::steady_clock::now() > deadline) return err;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // A read_committed client's ListOffsets(latest) answers the last stable offset (LSO).
  Result<int64_t> EndOffset(const TopicPartition& tp) { return LatestOffset(tp, MetadataHandle()); }

  // The LSO is the first offset of the oldest undecided transaction in the partition (else the
  // high watermark). Once it reaches the high watermark read at the start, every transaction
  // that had written there by then is decided and its commit marker is in the partition.
  Result<int64_t> SettledEndOffset(const TopicPartition& tp) {
    auto handle = UncommittedHandle();
    if (!handle) return std::unexpected(handle.error());
    auto written = LatestOffset(tp, *handle);
    if (!written) return written;
    // An abandoned transaction is aborted by its coordinator once it is older than its writer's
    // transaction.timeout.ms (ours, for the processor's own) and the broker's expiry check has
    // run (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by default).
    constexpr auto kBrokerExpiryCheck = std::chrono::seconds(10);
    const auto deadline = std::chrono::steady_clock::now() + options_.transaction_timeout +
                          kBrokerExpiryCheck + options_.request_timeout;
    auto pause = std::chrono::milliseconds(10);
    for (;;) {
      auto stable = EndOffset(tp);
      if (!stable || *stable >= *written) return stable;
      if (std::chrono::steady_clock::now() > deadline) {
        return MakeError(Errc::kTimeout, "a transaction on " + tp.topic + "/" +
                                             std::to_string(tp.partition) + " stayed undecided");
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(250));
    }
  }

  Result<int64_t> LatestOffset(const TopicPartition& tp, rd_kafka_t* handle) {
    if (auto ok = CheckPartition(tp); !ok) return std::unexpected(ok.error());
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err = RetryTransient([&] {
      return rd_kafka_query_watermark_offsets(handle, tp.topic.c_str(), tp.partition, &low, &high,
                                              Ms(options_.request_timeout));
    });
    if (err) return std::unexpected(KafkaError(err, "end offset of " + tp.topic));
    return high;
  }

  Result<int64_t> OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) {
    if (auto ok = CheckPartition(tp); !ok) return std::unexpected(ok.error());
    ListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
        timestamp_ms;
    rd_kafka_resp_err_t err = RetryTransient([&] {
      list->elems[0].offset = timestamp_ms;
      rd_kafka_resp_err_t e =
          rd_kafka_offsets_for_times(MetadataHandle(), list.get(), Ms(options_.request_timeout));
      return e ? e : list->elems[0].err;
    });
    if (err) return std::unexpected(KafkaError(err, "offsets for times of " + tp.topic));
    if (list->elems[0].offset < 0) return EndOffset(tp);
    // The broker may answer with a transaction marker (its timestamp is the commit's, not a
    // record's): the answer is the first record at or after that offset, if there is one.
    auto first = Read(tp, list->elems[0].offset, 1);
    if (!first) return std::unexpected(first.error());
    if (first->empty()) return EndOffset(tp);
    return first->front().offset;
  }

  Result<int64_t> CommittedOffset(std::string_view group, const TopicPartition& tp) {
    if (auto ok = CheckPartition(tp); !ok) return std::unexpected(ok.error());
    if (group.empty()) return MakeError(Errc::kInvalidArgument, "empty consumer group");
    rd_kafka_t* rk = nullptr;
    {
      std::lock_guard lock(group_mu_);
      auto it = group_consumers_.find(group);
      if (it == group_consumers_.end()) {
        auto made = NewConsumer(std::string(group), false);
        if (!made) return std::unexpected(made.error());
        it = group_consumers_.emplace(std::string(group), *made).first;
      }
      rk = it->second;
    }
    ListPtr list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    // read_committed: librdkafka asks for stable offsets and retries while a transaction that
    // commits offsets for this group is undecided.
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, list.get(), Ms(options_.request_timeout));
    if (!err) err = list->elems[0].err;
    if (err) return std::unexpected(KafkaError(err, "committed offset"));
    return std::max<int64_t>(0, list->elems[0].offset);
  }

  // A read_committed handle for metadata and offset queries (never assigned; thread-safe).
  rd_kafka_t* MetadataHandle() { return meta_; }

  // A read_uncommitted handle for the high watermark, made on first use: only a processor's
  // rebuild asks for it, so the web tier's and the projector's logs never open it.
  Result<rd_kafka_t*> UncommittedHandle() {
    std::lock_guard lock(uncommitted_mu_);
    if (uncommitted_meta_ == nullptr) {
      auto rk = NewConsumer("clawvisor-meta-" + RandomSuffix(), false, Isolation::kReadUncommitted);
      if (!rk) return std::unexpected(rk.error());
      uncommitted_meta_ = *rk;
    }
    return uncommitted_meta_;
  }

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
