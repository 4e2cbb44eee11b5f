// KafkaEventLog's reads: pooled read_committed consumers that never join a group (Read, Poll),
// and the offset queries (see kafka_event_log.h for the contract, kafka_event_log_impl.h for the
// split).

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/kafka/kafka_event_log_impl.h"
#include "engine/logging.h"

namespace clawvisor {

using namespace kafka_detail;

// ---- the consumer pool

// Borrows a reader; `want` prefers one whose resume positions equal it. Read and Poll keep
// separate pools: Read re-assigns on every call, Poll consumers keep streaming.
Result<std::unique_ptr<KafkaEventLog::Impl::Consumer>> KafkaEventLog::Impl::Borrow(
    std::span<const Position> want, bool for_poll) {
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

void KafkaEventLog::Impl::Return(std::unique_ptr<Consumer> c, bool for_poll) {
  std::lock_guard lock(pool_mu_);
  (for_poll ? poll_consumers_ : read_consumers_).push_back(std::move(c));
}

Status KafkaEventLog::Impl::AssignAt(Consumer& c, std::span<const Position> positions) {
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

Record KafkaEventLog::Impl::ToRecord(const rd_kafka_message_t* m) {
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

Status KafkaEventLog::Impl::CheckPositions(std::span<const Position> positions) {
  for (const Position& p : positions) {
    if (auto ok = CheckPartition(p.tp); !ok) return ok;
    if (p.next_offset < 0) return MakeError(Errc::kInvalidArgument, "negative offset");
  }
  return {};
}

// ---- Read and Poll

Result<std::vector<Record>> KafkaEventLog::Impl::Read(const TopicPartition& tp, int64_t from,
                                                      size_t max) {
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
Status KafkaEventLog::Impl::ReadUntilEnd(Consumer& c, const Position& pos, int64_t end, size_t max,
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

Result<std::vector<Record>> KafkaEventLog::Impl::Poll(std::span<const Position> positions,
                                                      size_t max,
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
          100, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1));
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

// ---- offsets

// Retries `call` while it fails with an error that a metadata refresh cures (a new topic's
// leader not known yet, a leader that moved), until request_timeout.
template <typename Call>
rd_kafka_resp_err_t KafkaEventLog::Impl::RetryTransient(Call call) {
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

// The LSO is the first offset of the oldest undecided transaction in the partition (else the
// high watermark). Once it reaches the high watermark read at the start, every transaction
// that had written there by then is decided and its commit marker is in the partition.
Result<int64_t> KafkaEventLog::Impl::SettledEndOffset(const TopicPartition& tp) {
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

Result<int64_t> KafkaEventLog::Impl::LatestOffset(const TopicPartition& tp, rd_kafka_t* handle) {
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

Result<int64_t> KafkaEventLog::Impl::OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) {
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

Result<int64_t> KafkaEventLog::Impl::CommittedOffset(std::string_view group,
                                                     const TopicPartition& tp) {
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

// A read_uncommitted handle for the high watermark, made on first use: only a processor's
// rebuild asks for it, so the web tier's and the projector's logs never open it.
Result<rd_kafka_t*> KafkaEventLog::Impl::UncommittedHandle() {
  std::lock_guard lock(uncommitted_mu_);
  if (uncommitted_meta_ == nullptr) {
    auto rk = NewConsumer("clawvisor-meta-" + RandomSuffix(), false, Isolation::kReadUncommitted);
    if (!rk) return std::unexpected(rk.error());
    uncommitted_meta_ = *rk;
  }
  return uncommitted_meta_;
}

}  // namespace clawvisor
