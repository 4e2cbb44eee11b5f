// LocalEventLog specifics beyond the EventLog contract: exact offsets, group commit, recovery,
// topic metadata, the time index with out-of-order timestamps, fairness of Poll.

#include "adapters/rocksdb/local_event_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

constexpr std::string_view kTopic = "t";

class LocalEventLogTest : public ::testing::Test {
 protected:
  LocalEventLogOptions Options(int32_t partitions = 2) {
    LocalEventLogOptions options;
    options.path = dir_.Sub("log");
    options.topics = {{std::string(kTopic), partitions}};
    return options;
  }

  std::unique_ptr<LocalEventLog> OpenOk(const LocalEventLogOptions& options) {
    auto log = LocalEventLog::Open(options);
    EXPECT_TRUE(log.has_value()) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }

  static OutgoingRecord Rec(int32_t partition, std::string value, int64_t ts = 0) {
    return OutgoingRecord{std::string(kTopic), partition, "k", std::move(value), {}, ts};
  }

  static std::vector<int64_t> AppendOk(EventLog& log, std::vector<OutgoingRecord> records) {
    auto r = log.Append(records);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? r->offsets : std::vector<int64_t>{};
  }

  testing::TempDir dir_;
};

// On the embedded log offsets are consecutive across requests, transactions included.
TEST_F(LocalEventLogTest, OffsetsAreConsecutiveAcrossRequests) {
  auto log = OpenOk(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(AppendOk(*log, {Rec(0, "a"), Rec(0, "b")}), (std::vector<int64_t>{0, 1}));
  Transaction txn{"g", {Position{{std::string(kTopic), 1}, 7}}, {Rec(0, "c")}};
  auto r = log->Transact(txn);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->offsets, (std::vector<int64_t>{2}));
  EXPECT_EQ(AppendOk(*log, {Rec(0, "d")}), (std::vector<int64_t>{3}));
  EXPECT_EQ(log->EndOffset({std::string(kTopic), 0}), 4);
  EXPECT_EQ(log->CommittedOffset("g", {std::string(kTopic), 1}), 7);
  // Reading past the end is empty, not an error.
  auto past = log->Read({std::string(kTopic), 0}, 100, 10);
  ASSERT_TRUE(past.has_value());
  EXPECT_TRUE(past->empty());
}

// Followers queued behind a leader are written by the next leader in ONE batch.
TEST_F(LocalEventLogTest, GroupCommitMergesQueuedWriters) {
  constexpr int kFollowers = 15;
  std::atomic<bool> first{true};
  LocalEventLog* raw = nullptr;
  auto options = Options();
  // The first leader waits, before writing, until every follower is queued behind it.
  options.before_write_for_testing = [&] {
    if (first.exchange(false)) {
      while (raw->QueuedWritersForTesting() < kFollowers + 1) std::this_thread::yield();
    }
  };
  auto log = OpenOk(options);
  ASSERT_NE(log, nullptr);
  raw = log.get();

  std::thread leader([&] { AppendOk(*log, {Rec(0, "leader")}); });
  while (log->QueuedWritersForTesting() < 1) std::this_thread::yield();
  std::vector<std::thread> followers;
  for (int i = 0; i < kFollowers; ++i) {
    followers.emplace_back([&, i] {
      AppendOk(*log, {Rec(i % 2, "f" + std::to_string(i) + "a"),
                      Rec(i % 2, "f" + std::to_string(i) + "b")});
    });
  }
  leader.join();
  for (std::thread& t : followers) t.join();

  const LocalEventLogStats stats = log->Stats();
  EXPECT_EQ(stats.write_batches, 2u);
  EXPECT_EQ(stats.requests, kFollowers + 1u);
  EXPECT_EQ(stats.records, 2u * kFollowers + 1u);
  EXPECT_EQ(*log->EndOffset({std::string(kTopic), 0}) + *log->EndOffset({std::string(kTopic), 1}),
            2 * kFollowers + 1);
  // Each follower's two records are adjacent and in order.
  for (int32_t p = 0; p < 2; ++p) {
    auto records = log->Read({std::string(kTopic), p}, 0, 100);
    ASSERT_TRUE(records.has_value());
    for (size_t k = 0; k < records->size(); ++k) {
      const std::string& v = (*records)[k].value;
      if (v.ends_with("a")) {
        ASSERT_LT(k + 1, records->size());
        EXPECT_EQ((*records)[k + 1].value, v.substr(0, v.size() - 1) + "b");
      }
    }
  }
}

// Many threads at once with sync on: all records land, offsets dense, groups form.
TEST_F(LocalEventLogTest, GroupCommitUnderManyThreads) {
  constexpr int kThreads = 16;
  constexpr int kRequests = 40;
  auto log = OpenOk(Options(1));
  ASSERT_NE(log, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const std::vector<OutgoingRecord> batch{
            Rec(0, std::to_string(t) + "/" + std::to_string(i))};
        if (!log->Append(batch)) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  constexpr int64_t kTotal = kThreads * kRequests;
  EXPECT_EQ(log->EndOffset({std::string(kTopic), 0}), kTotal);
  auto records = log->Read({std::string(kTopic), 0}, 0, kTotal + 10);
  ASSERT_TRUE(records.has_value());
  std::set<std::string> values;
  for (int64_t i = 0; i < kTotal; ++i) {
    EXPECT_EQ((*records)[static_cast<size_t>(i)].offset, i);
    values.insert((*records)[static_cast<size_t>(i)].value);
  }
  EXPECT_EQ(values.size(), static_cast<size_t>(kTotal));
  const LocalEventLogStats stats = log->Stats();
  EXPECT_EQ(stats.requests, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(stats.records, static_cast<uint64_t>(kTotal));
  EXPECT_LE(stats.write_batches, stats.requests);
  std::cout << "average group size: "
            << static_cast<double>(stats.requests) / static_cast<double>(stats.write_batches)
            << "\n";
}

// Reopening recovers each partition's end and running maximum timestamp.
TEST_F(LocalEventLogTest, RecoversEndsAndTimeIndexAfterReopen) {
  {
    auto log = OpenOk(Options());
    ASSERT_NE(log, nullptr);
    AppendOk(*log, {Rec(0, "a", 100), Rec(0, "b", 200), Rec(1, "c", 50)});
  }
  auto log = OpenOk(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->EndOffset({std::string(kTopic), 0}), 2);
  EXPECT_EQ(log->EndOffset({std::string(kTopic), 1}), 1);
  // A lower timestamp after the restart must not enter the index: the first record >= 150 is
  // still offset 1 (ts 200), not the new offset 2 (ts 150).
  EXPECT_EQ(AppendOk(*log, {Rec(0, "d", 150)}), (std::vector<int64_t>{2}));
  EXPECT_EQ(log->OffsetForTime({std::string(kTopic), 0}, 150), 1);
  EXPECT_EQ(log->OffsetForTime({std::string(kTopic), 0}, 201), 3);
}

// OffsetForTime is exact with out-of-order timestamps: the first offset whose ts >= t.
TEST_F(LocalEventLogTest, OffsetForTimeWithOutOfOrderTimestamps) {
  auto log = OpenOk(Options());
  ASSERT_NE(log, nullptr);
  AppendOk(*log, {Rec(0, "a", 100), Rec(0, "b", 50), Rec(0, "c", 300), Rec(0, "d", 200)});
  const TopicPartition tp{std::string(kTopic), 0};
  EXPECT_EQ(log->OffsetForTime(tp, 0), 0);
  EXPECT_EQ(log->OffsetForTime(tp, -5), 0);
  EXPECT_EQ(log->OffsetForTime(tp, 60), 0);
  EXPECT_EQ(log->OffsetForTime(tp, 100), 0);
  EXPECT_EQ(log->OffsetForTime(tp, 101), 2);
  EXPECT_EQ(log->OffsetForTime(tp, 150), 2);
  EXPECT_EQ(log->OffsetForTime(tp, 300), 2);
  EXPECT_EQ(log->OffsetForTime(tp, 301), 4);
  EXPECT_EQ(log->OffsetForTime({std::string(kTopic), 1}, 10), 0);
}

// A topic's partition count is fixed at creation; a different count is refused clearly.
TEST_F(LocalEventLogTest, ReopenWithDifferentPartitionCountIsRefused) {
  { ASSERT_NE(OpenOk(Options(4)), nullptr); }
  auto log = LocalEventLog::Open(Options(8));
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(log.error().message.find("has 4 partitions"), std::string::npos) << log.error().message;
  EXPECT_NE(log.error().message.find("with 8"), std::string::npos) << log.error().message;
  // Without topics, or with the same count, it opens; new topics are added.
  auto options = Options(4);
  options.topics.push_back({"other", 3});
  auto reopened = OpenOk(options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->PartitionCount(kTopic), 4);
  EXPECT_EQ(reopened->PartitionCount("other"), 3);
  reopened.reset();
  options.topics.clear();
  auto bare = OpenOk(options);
  ASSERT_NE(bare, nullptr);
  EXPECT_EQ(bare->PartitionCount("other"), 3);
}

// Bad options are refused before anything is created.
TEST_F(LocalEventLogTest, InvalidOptionsAreRefused) {
  auto options = Options();
  options.topics = {{"bad|name", 1}};
  EXPECT_EQ(LocalEventLog::Open(options).error().code, Errc::kInvalidArgument);
  options.topics = {{"ok", 0}};
  EXPECT_EQ(LocalEventLog::Open(options).error().code, Errc::kInvalidArgument);
  options.topics = {{"ok", 1}, {"ok", 2}};
  EXPECT_EQ(LocalEventLog::Open(options).error().code, Errc::kInvalidArgument);
}

// A database already open elsewhere is reported as unavailable, not a crash.
TEST_F(LocalEventLogTest, SecondOpenOfSamePathIsUnavailable) {
  auto log = OpenOk(Options());
  ASSERT_NE(log, nullptr);
  auto second = LocalEventLog::Open(Options());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::kUnavailable) << second.error().ToString();
}

// Argument errors carry the right codes.
TEST_F(LocalEventLogTest, ArgumentErrorCodes) {
  auto log = OpenOk(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Read({"nope", 0}, 0, 1).error().code, Errc::kNotFound);
  EXPECT_EQ(log->Read({std::string(kTopic), 2}, 0, 1).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(log->Read({std::string(kTopic), 0}, -1, 1).error().code, Errc::kInvalidArgument);
  const std::vector<OutgoingRecord> negative_ts{Rec(0, "x", -3)};
  EXPECT_EQ(log->Append(negative_ts).error().code, Errc::kInvalidArgument);
  Transaction no_group{"", {Position{{std::string(kTopic), 0}, 1}}, {}};
  EXPECT_EQ(log->Transact(no_group).error().code, Errc::kInvalidArgument);
  Transaction negative{"g", {Position{{std::string(kTopic), 0}, -1}}, {}};
  EXPECT_EQ(log->Transact(negative).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(log->Stats().write_batches, 0u);
}

// Poll shares max_records between partitions instead of draining the first one.
TEST_F(LocalEventLogTest, PollIsFairAcrossPartitions) {
  auto log = OpenOk(Options());
  ASSERT_NE(log, nullptr);
  std::vector<OutgoingRecord> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back(Rec(0, "a"));
    batch.push_back(Rec(1, "b"));
  }
  AppendOk(*log, batch);
  const std::vector<Position> positions{{{std::string(kTopic), 0}, 0},
                                        {{std::string(kTopic), 1}, 0}};
  auto got = log->Poll(positions, 10, std::chrono::milliseconds(0));
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 10u);
  int from0 = 0;
  for (const Record& r : *got) from0 += r.partition == 0 ? 1 : 0;
  EXPECT_EQ(from0, 5);
  // With fewer records allowed than partitions, successive polls rotate between them.
  std::set<int32_t> served;
  for (int i = 0; i < 2; ++i) {
    auto one = log->Poll(positions, 1, std::chrono::milliseconds(0));
    ASSERT_TRUE(one.has_value());
    ASSERT_EQ(one->size(), 1u);
    served.insert((*one)[0].partition);
  }
  EXPECT_EQ(served.size(), 2u);
}

// With sync off the log behaves the same (used by benchmarks for the upper bound).
TEST_F(LocalEventLogTest, UnsyncedLogWorks) {
  auto options = Options();
  options.sync = false;
  auto log = OpenOk(options);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(AppendOk(*log, {Rec(0, "a")}), (std::vector<int64_t>{0}));
  EXPECT_EQ(log->Stats().write_batches, 1u);
}

}  // namespace
}  // namespace clawvisor
