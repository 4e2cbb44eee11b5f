// The exporter over a real LocalEventLog: order, filtering by account and time, and that a
// ranged export seeks through the time index instead of reading the partition from the start.

#include "projections/audit_export.h"

#include <gtest/gtest.h>

#include "adapters/rocksdb/local_event_log.h"
#include "events/codec.h"
#include "tests/support/audit_events.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/forwarding_event_log.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

// Counts the records the exporter reads, whatever call it reads them with.
class CountingEventLog final : public testing::ForwardingEventLog {
 public:
  using ForwardingEventLog::ForwardingEventLog;
  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from_offset,
                                   size_t max_records) override {
    auto r = inner().Read(tp, from_offset, max_records);
    if (r) read_ += r->size();
    return r;
  }
  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max_records,
                                   std::chrono::milliseconds timeout) override {
    auto r = inner().Poll(positions, max_records, timeout);
    if (r) read_ += r->size();
    return r;
  }
  uint64_t read() const { return read_; }

 private:
  uint64_t read_ = 0;
};

class StringSink final : public ByteSink {
 public:
  Status Write(std::string_view bytes) override {
    out += bytes;
    ++writes;
    return {};
  }
  std::string out;
  int writes = 0;
};

size_t CountRows(const std::string& csv) {
  size_t n = 0;
  for (size_t at = csv.find("\r\n"); at != std::string::npos; at = csv.find("\r\n", at + 2)) ++n;
  return n - 1;  // the header
}

constexpr int64_t kStartUs = 1'763'700'000'000'000;  // 2025-11-21
constexpr int64_t kStepUs = 1'000'000;               // one event per second
constexpr int kEvents = 20'000;

// One partition shared by two accounts, events one second apart alternating between them.
class AuditExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalEventLogOptions options;
    options.path = dir_.Sub("log");
    options.sync = false;
    options.topics = {{std::string(kEventsTopic), 1}};
    auto log = LocalEventLog::Open(options);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
    std::vector<OutgoingRecord> batch;
    for (int i = 0; i < kEvents; ++i) {
      v1::Envelope e;
      const std::string account = i % 2 == 0 ? "acct_a" : "acct_b";
      e.set_event_id("evt-" + std::to_string(i));
      e.set_account_id(account);
      e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
      e.set_aggregate_id(account);
      e.set_occurred_at_us(kStartUs + kStepUs * i);
      e.set_schema_version(kSchemaVersion);
      e.mutable_credits_granted()->set_credits(i);
      OutgoingRecord r;
      r.topic = std::string(kEventsTopic);
      r.key = account;
      r.value = EncodeEnvelope(e);
      r.timestamp_ms = e.occurred_at_us() / 1000;
      batch.push_back(std::move(r));
      if (batch.size() == 1000) {
        ASSERT_TRUE(log_->Append(batch).has_value());
        batch.clear();
      }
    }
  }

  Result<AuditExportStats> Export(const AuditExportRange& range, StringSink& sink,
                                  CountingEventLog& counting) {
    AuditExportOptions options;
    options.batch_records = 256;
    options.flush_bytes = 4096;
    return ExportAuditCsv(counting, &sealer_, range, sink, options);
  }

  testing::TempDir dir_;
  testing::FakeSealer sealer_;
  std::unique_ptr<LocalEventLog> log_;
};

TEST_F(AuditExportTest, WholeTrailOfOneAccountInOrder) {
  CountingEventLog counting(*log_);
  StringSink sink;
  auto stats = Export({"acct_a"}, sink, counting);
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->rows, static_cast<uint64_t>(kEvents / 2));
  EXPECT_EQ(CountRows(sink.out), static_cast<size_t>(kEvents / 2));
  EXPECT_EQ(stats->bytes, sink.out.size());
  EXPECT_GT(sink.writes, 10);  // streamed in pieces, not built whole
  EXPECT_EQ(sink.out.find("acct_b"), std::string::npos);
  // In log order: evt-0, evt-2, evt-4, ...
  EXPECT_LT(sink.out.find(",evt-0,"), sink.out.find(",evt-2,"));
  EXPECT_LT(sink.out.find(",evt-19996,"), sink.out.find(",evt-19998,"));
}

// The test the issue asks for: a range near the end of a long partition reads only the records
// from the time index's offset on, not the partition from its start.
TEST_F(AuditExportTest, RangedExportSeeksInsteadOfScanning) {
  const int first = kEvents - 1000;
  AuditExportRange range{"acct_a", kStartUs + kStepUs * first, kStartUs + kStepUs * (first + 500)};
  CountingEventLog counting(*log_);
  StringSink sink;
  auto stats = Export(range, sink, counting);
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->rows, 250u);
  EXPECT_EQ(CountRows(sink.out), 250u);
  EXPECT_EQ(stats->first_offset, first);
  // 500 records in range, plus at most the clock-step allowance (300 records at one per second)
  // and one read batch past `until`: never the 19,000 before `since`.
  EXPECT_LE(counting.read(), 500u + 300u + 256u);
  EXPECT_EQ(counting.read(), stats->records_read);
  EXPECT_NE(sink.out.find(",evt-" + std::to_string(first) + ","), std::string::npos);
  EXPECT_EQ(sink.out.find(",evt-" + std::to_string(first - 2) + ","), std::string::npos);
  EXPECT_EQ(sink.out.find(",evt-" + std::to_string(first + 500) + ","), std::string::npos);
}

TEST_F(AuditExportTest, EndOffsetBoundsTheRead) {
  AuditExportRange range{"acct_b"};
  range.end_offset = 100;
  CountingEventLog counting(*log_);
  StringSink sink;
  auto stats = Export(range, sink, counting);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->rows, 50u);
  EXPECT_EQ(counting.read(), 100u);
}

TEST_F(AuditExportTest, EmptyRangeAndUnknownAccountGiveOnlyTheHeader) {
  CountingEventLog counting(*log_);
  StringSink sink;
  auto stats = Export({"acct_nobody"}, sink, counting);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->rows, 0u);
  EXPECT_EQ(sink.out,
            "time,event_id,account,actor_kind,actor_id,actor_role,source_ip,user_agent,"
            "action,target_type,target_id,outcome,details\r\n");
  StringSink later;
  CountingEventLog counting2(*log_);
  auto none = Export({"acct_a", kStartUs + kStepUs * kEvents * 2}, later, counting2);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->rows, 0u);
  EXPECT_EQ(counting2.read(), 0u);
}

TEST_F(AuditExportTest, RefusesAnInvertedRangeAndFailsOnACorruptRecord) {
  CountingEventLog counting(*log_);
  StringSink sink;
  auto bad = Export({"acct_a", 10, 5}, sink, counting);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);

  OutgoingRecord garbage{std::string(kEventsTopic), 0,  "acct_a",
                         "\xff\xff not protobuf",   {}, (kStartUs + kStepUs * kEvents) / 1000};
  ASSERT_TRUE(log_->Append({&garbage, 1}).has_value());
  auto corrupt = Export({"acct_a"}, sink, counting);
  ASSERT_FALSE(corrupt.has_value());
  EXPECT_EQ(corrupt.error().code, Errc::kCorruption);
}

}  // namespace
}  // namespace clawvisor
