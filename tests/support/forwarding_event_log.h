#pragma once

// An EventLog that passes every call to another one: the base of test decorators that change
// or observe a few calls (override those) and leave the rest to the real log.

#include "events/event_log.h"

namespace clawvisor::testing {

class ForwardingEventLog : public EventLog {
 public:
  explicit ForwardingEventLog(EventLog& inner) : inner_(inner) {}

  Result<int32_t> PartitionCount(std::string_view topic) override {
    return inner_.PartitionCount(topic);
  }
  Result<AppendResult> Append(std::span<const OutgoingRecord> records) override {
    return inner_.Append(records);
  }
  Result<AppendResult> Transact(const Transaction& txn) override { return inner_.Transact(txn); }
  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from_offset,
                                   size_t max_records) override {
    return inner_.Read(tp, from_offset, max_records);
  }
  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max_records,
                                   std::chrono::milliseconds timeout) override {
    return inner_.Poll(positions, max_records, timeout);
  }
  Result<int64_t> EndOffset(const TopicPartition& tp) override { return inner_.EndOffset(tp); }
  Result<int64_t> SettledEndOffset(const TopicPartition& tp) override {
    return inner_.SettledEndOffset(tp);
  }
  Result<int64_t> OffsetForTime(const TopicPartition& tp, int64_t timestamp_ms) override {
    return inner_.OffsetForTime(tp, timestamp_ms);
  }
  Result<int64_t> CommittedOffset(std::string_view group, const TopicPartition& tp) override {
    return inner_.CommittedOffset(group, tp);
  }

 protected:
  EventLog& inner() { return inner_; }

 private:
  EventLog& inner_;
};

}  // namespace clawvisor::testing
