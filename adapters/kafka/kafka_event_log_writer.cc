// KafkaEventLog's writes: Append and Transact requests group-committed through the one
// transactional producer (see kafka_event_log.h for the contract, kafka_event_log_impl.h for the
// split).

#include <librdkafka/rdkafka.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/kafka/kafka_event_log_impl.h"
#include "engine/logging.h"

namespace clawvisor {
namespace {

// Per-record bound checked before a transaction starts, so that one oversized record cannot
// abort the transaction of the other requests grouped with it (broker default 1 MiB).
constexpr size_t kMaxRecordBytes = 1000 * 1000;
constexpr int kAbortRetries = 3;

}  // namespace

namespace kafka_detail {

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

}  // namespace kafka_detail

using namespace kafka_detail;

Status KafkaEventLog::Impl::Validate(std::span<const OutgoingRecord> records) {
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

Result<AppendResult> KafkaEventLog::Impl::Submit(Writer& w) {
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
Status KafkaEventLog::Impl::CommitGroup(std::span<Writer* const> group) {
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

KafkaEventLog::Impl::Verdict KafkaEventLog::Impl::Judge(ErrorPtr& e, std::string_view what,
                                                        std::optional<Error>& error) {
  if (!e) return Verdict::kOk;
  error = Error{Errc::kUnavailable, std::string(what) + ": " + rd_kafka_error_string(e.get())};
  if (rd_kafka_error_txn_requires_abort(e.get())) return Verdict::kAbort;
  return Verdict::kFatal;  // retriable ones are retried by the caller before judging
}

Status KafkaEventLog::Impl::RunTransaction(std::span<Writer* const> group) {
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
      rd_kafka_topic_partition_list_add(offsets.get(), p.tp.topic.c_str(), p.tp.partition)->offset =
          p.next_offset;
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
CgmdPtr KafkaEventLog::Impl::GroupMetadata(const std::string& group) {
  GroupMetadataSource member;
  {
    std::lock_guard lock(members_mu_);
    auto it = members_.find(group);
    if (it == members_.end()) return CgmdPtr(rd_kafka_consumer_group_metadata_new(group.c_str()));
    member = it->second;
  }
  return CgmdPtr(member());
}

void KafkaEventLog::Impl::BindGroupMember(const std::string& group, GroupMetadataSource member) {
  std::lock_guard lock(members_mu_);
  if (member) {
    members_[group] = std::move(member);
  } else {
    members_.erase(group);
  }
}

// One produce call, through the array form (the variadic macros use C casts).
rd_kafka_resp_err_t KafkaEventLog::Impl::Produce(const OutgoingRecord& r,
                                                 rd_kafka_headers_t* headers, DeliverySlot* slot) {
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

void KafkaEventLog::Impl::WaitDeliveries(
    const std::vector<std::shared_ptr<DeliveryGroup>>& deliveries) {
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

}  // namespace clawvisor
