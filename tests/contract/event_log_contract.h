#pragma once

// The EventLog contract suite: what every EventLog implementation (LocalEventLog, KafkaEventLog)
// must do, written against the EventLog interface only (design D1: one suite, both logs).
//
// How to run it against an implementation, in exactly one .cc file of a test binary:
//
//   class MyLogUnderTest : public clawvisor::contract::EventLogUnderTest { ... };
//   CLAWVISOR_EVENT_LOG_CONTRACT(MyLog, [](const clawvisor::contract::EventLogContractSpec& spec)
//       -> std::unique_ptr<clawvisor::contract::EventLogUnderTest> { ... });
//
// The factory is called once per test. What the suite assumes, so that Kafka can satisfy it:
//   - The two topics named by CommandsTopic()/EventsTopic() exist with spec.partitions
//     partitions and are empty at the first Open(); their offsets start at 0. A target on a
//     shared broker may give every test its own topic and group names (spec.test_name is unique).
//   - Open() may be called again after the suite destroyed the previous EventLog: it must reopen
//     the same log (a restart) and everything acknowledged must still be there.
//   - Offsets are consecutive within one Append to one partition and start at 0 in a fresh
//     partition, but a log may skip offsets between requests (Kafka's transaction markers take
//     offsets), so the suite only requires them to increase across requests.
//   - Visibility may lag an acknowledged write (Kafka's markers are written asynchronously), so
//     the suite observes new records through Poll with a generous timeout, never by sleeping.
//   - OffsetForTime is only asked about non-decreasing timestamps (Kafka's index is exact then).
//
// Thread-safety: the suite calls the log from several threads at once, as the interface allows.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "events/event_log.h"
#include "events/result.h"

namespace clawvisor::contract {

struct EventLogContractSpec {
  int32_t partitions = 4;  // of each of the two topics
  std::string test_name;   // "Suite.Test/Target", unique per test
};

// One log under test. Created by the factory for one test and destroyed after it; it owns
// whatever must outlive the EventLog instances it opens (a data directory, broker topics).
class EventLogUnderTest {
 public:
  virtual ~EventLogUnderTest() = default;
  virtual std::string CommandsTopic() const { return std::string(kCommandsTopic); }
  virtual std::string EventsTopic() const { return std::string(kEventsTopic); }
  // The consumer-group name the suite should use for `base`.
  virtual std::string Group(std::string_view base) const { return std::string(base); }
  // First call: the fresh log. Later calls: the same log after a restart.
  virtual Result<std::unique_ptr<EventLog>> Open() = 0;
};

using EventLogFactory =
    std::function<std::unique_ptr<EventLogUnderTest>(const EventLogContractSpec& spec)>;

struct EventLogContractParam {
  std::string name;  // shows in test names: only [A-Za-z0-9_]
  EventLogFactory factory;
};

// Instantiates every contract test for one implementation; use at namespace scope. `prefix`
// names the instantiation (an identifier). gtest pastes the suite name into identifiers, so the
// macro brings it into scope unqualified first.
#define CLAWVISOR_EVENT_LOG_CONTRACT(prefix, factory)                                       \
  using EventLogContractTest = ::clawvisor::contract::EventLogContractTest;                 \
  INSTANTIATE_TEST_SUITE_P(                                                                 \
      prefix, EventLogContractTest,                                                         \
      ::testing::Values(::clawvisor::contract::EventLogContractParam{#prefix, (factory)}),  \
      [](const ::testing::TestParamInfo<::clawvisor::contract::EventLogContractParam>& i) { \
        return i.param.name;                                                                \
      })

// Long enough for a broker under load; only reached when a test is about to fail.
inline constexpr std::chrono::milliseconds kPatience{30000};

class EventLogContractTest : public ::testing::TestWithParam<EventLogContractParam> {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    spec_.test_name = std::string(info->test_suite_name()) + "." + info->name();
    target_ = GetParam().factory(spec_);
    ASSERT_NE(target_, nullptr);
    commands_ = target_->CommandsTopic();
    events_ = target_->EventsTopic();
    auto log = target_->Open();
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }

  void TearDown() override {
    log_.reset();
    target_.reset();
  }

  // Simulates a restart: the old instance is gone before the new one opens.
  void Reopen() {
    log_.reset();
    auto log = target_->Open();
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }

  EventLog& log() { return *log_; }

  static OutgoingRecord Rec(std::string topic, int32_t partition, std::string value,
                            std::string key = "acct", int64_t timestamp_ms = 0,
                            std::vector<Header> headers = {}) {
    return OutgoingRecord{std::move(topic), partition,          std::move(key),
                          std::move(value), std::move(headers), timestamp_ms};
  }

  std::vector<int64_t> AppendOk(std::vector<OutgoingRecord> records) {
    auto r = log().Append(records);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    if (!r) return {};
    EXPECT_EQ(r->offsets.size(), records.size());
    return r->offsets;
  }

  // Waits (through Poll) until `count` records from `from` are visible and returns them.
  std::vector<Record> WaitFor(const TopicPartition& tp, int64_t from, size_t count) {
    std::vector<Record> out;
    int64_t next = from;
    while (out.size() < count) {
      const Position pos{tp, next};
      auto got = log().Poll(std::span<const Position>(&pos, 1), count - out.size(), kPatience);
      EXPECT_TRUE(got.has_value()) << got.error().ToString();
      if (!got || got->empty()) {
        ADD_FAILURE() << "only " << out.size() << " of " << count << " records of " << tp.topic
                      << "/" << tp.partition << " from " << from << " became visible";
        break;
      }
      for (Record& r : *got) {
        next = r.offset + 1;
        out.push_back(std::move(r));
      }
    }
    return out;
  }

  // Every record of a partition, read with Read until it returns nothing.
  std::vector<Record> ReadAll(const TopicPartition& tp) {
    std::vector<Record> out;
    int64_t next = 0;
    for (;;) {
      auto got = log().Read(tp, next, 100);
      EXPECT_TRUE(got.has_value()) << got.error().ToString();
      if (!got || got->empty()) return out;
      for (Record& r : *got) {
        EXPECT_GE(r.offset, next);
        next = r.offset + 1;
        out.push_back(std::move(r));
      }
    }
  }

  static std::vector<std::string> Values(const std::vector<Record>& records) {
    std::vector<std::string> out;
    for (const Record& r : records) out.push_back(r.value);
    return out;
  }

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  EventLogContractSpec spec_;
  std::unique_ptr<EventLogUnderTest> target_;
  std::unique_ptr<EventLog> log_;
  std::string commands_;
  std::string events_;
};

// Both topics exist with the requested partition count; unknown topics are an error.
TEST_P(EventLogContractTest, PartitionCountOfTopics) {
  EXPECT_EQ(log().PartitionCount(commands_), spec_.partitions);
  EXPECT_EQ(log().PartitionCount(events_), spec_.partitions);
  EXPECT_FALSE(log().PartitionCount("clawvisor.no-such-topic").has_value());
}

// A fresh partition numbers records from 0, consecutively within one Append, increasing after.
TEST_P(EventLogContractTest, AppendAssignsOffsetsFromZeroPerPartition) {
  EXPECT_EQ(AppendOk({Rec(events_, 0, "a"), Rec(events_, 0, "b"), Rec(events_, 0, "c")}),
            (std::vector<int64_t>{0, 1, 2}));
  const auto more = AppendOk({Rec(events_, 0, "d"), Rec(events_, 0, "e")});
  ASSERT_EQ(more.size(), 2u);
  EXPECT_GT(more[0], 2);
  EXPECT_EQ(more[1], more[0] + 1);
  // One request across partitions: each partition counts on its own.
  EXPECT_EQ(AppendOk({Rec(events_, 1, "x"), Rec(events_, 2, "y"), Rec(events_, 1, "z")}),
            (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(Values(WaitFor({events_, 1}, 0, 2)), (std::vector<std::string>{"x", "z"}));
}

// Key, value (any bytes), headers (order and duplicates) and timestamp come back intact.
TEST_P(EventLogContractTest, ReadBackPreservesEveryField) {
  const int64_t ts = NowMs() - 5000;
  const std::string binary("v\0\xff\x01 end", 8);
  std::vector<Header> headers{{"ce_type", "clawvisor.v1.AccountRegistered"},
                              {"dup", "1"},
                              {"dup", "2"},
                              {"content-type", "application/protobuf"}};
  const int64_t before = NowMs();
  AppendOk(
      {Rec(commands_, 3, binary, "acct-42", ts, headers), Rec(commands_, 3, "stamped", "acct-43")});
  const int64_t after = NowMs();
  const auto records = WaitFor({commands_, 3}, 0, 2);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].topic, commands_);
  EXPECT_EQ(records[0].partition, 3);
  EXPECT_EQ(records[0].offset, 0);
  EXPECT_EQ(records[0].key, "acct-42");
  EXPECT_EQ(records[0].value, binary);
  EXPECT_EQ(records[0].headers, headers);
  EXPECT_EQ(records[0].timestamp_ms, ts);
  EXPECT_EQ(records[1].offset, 1);
  EXPECT_EQ(records[1].key, "acct-43");
  EXPECT_TRUE(records[1].headers.empty());
  // Timestamp 0 asks for the log's clock: a plausible wall-clock time (sanity, not timing).
  EXPECT_GE(records[1].timestamp_ms, before - 60000);
  EXPECT_LE(records[1].timestamp_ms, after + 60000);

  auto read = log().Read({commands_, 3}, 0, 10);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].value, binary);
  EXPECT_EQ((*read)[0].headers, headers);
}

// Records of one partition never show up in another, and the topics are separate.
TEST_P(EventLogContractTest, PartitionsAreIndependent) {
  AppendOk({Rec(events_, 0, "p0-a"), Rec(events_, 1, "p1-a"), Rec(events_, 0, "p0-b")});
  AppendOk({Rec(commands_, 0, "cmd")});
  EXPECT_EQ(Values(WaitFor({events_, 0}, 0, 2)), (std::vector<std::string>{"p0-a", "p0-b"}));
  EXPECT_EQ(Values(WaitFor({events_, 1}, 0, 1)), (std::vector<std::string>{"p1-a"}));
  EXPECT_EQ(Values(WaitFor({commands_, 0}, 0, 1)), (std::vector<std::string>{"cmd"}));
  EXPECT_EQ(ReadAll({events_, 0}).size(), 2u);
  EXPECT_TRUE(ReadAll({events_, 2}).empty());
  EXPECT_EQ(log().EndOffset({events_, 2}), 0);
}

// Read starts anywhere, stops at max_records, and returns nothing at the end.
TEST_P(EventLogContractTest, ReadFromMiddleHonoursMaxAndEnd) {
  std::vector<OutgoingRecord> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Rec(events_, 2, "r" + std::to_string(i)));
  AppendOk(batch);
  WaitFor({events_, 2}, 0, 10);

  auto middle = log().Read({events_, 2}, 4, 3);
  ASSERT_TRUE(middle.has_value()) << middle.error().ToString();
  EXPECT_EQ(Values(*middle), (std::vector<std::string>{"r4", "r5", "r6"}));
  EXPECT_EQ((*middle)[0].offset, 4);

  auto tail = log().Read({events_, 2}, 8, 100);
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(Values(*tail), (std::vector<std::string>{"r8", "r9"}));

  auto end = log().EndOffset({events_, 2});
  ASSERT_TRUE(end.has_value());
  auto past = log().Read({events_, 2}, *end, 100);
  ASSERT_TRUE(past.has_value()) << past.error().ToString();
  EXPECT_TRUE(past->empty());

  auto none = log().Read({events_, 2}, 0, 0);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
}

// EndOffset is 0 for a fresh partition and lies past every record appended.
TEST_P(EventLogContractTest, EndOffsetFollowsAppends) {
  EXPECT_EQ(log().EndOffset({events_, 3}), 0);
  const auto offsets = AppendOk({Rec(events_, 3, "a"), Rec(events_, 3, "b")});
  ASSERT_EQ(offsets.size(), 2u);
  WaitFor({events_, 3}, 0, 2);
  auto end = log().EndOffset({events_, 3});
  ASSERT_TRUE(end.has_value());
  EXPECT_GT(*end, offsets[1]);
  EXPECT_EQ(log().EndOffset({events_, 0}), 0);
}

// Poll returns what is already there without waiting for the timeout to pass.
TEST_P(EventLogContractTest, PollReturnsAvailableRecords) {
  AppendOk({Rec(events_, 0, "a"), Rec(events_, 0, "b")});
  const Position pos{{events_, 0}, 0};
  auto got = log().Poll(std::span<const Position>(&pos, 1), 10, kPatience);
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  ASSERT_FALSE(got->empty());
  EXPECT_EQ((*got)[0].value, "a");
}

// A Poll waiting on an empty partition wakes when another thread appends.
TEST_P(EventLogContractTest, PollWakesOnAppendFromAnotherThread) {
  const Position pos{{commands_, 1}, 0};
  Result<std::vector<Record>> got = std::vector<Record>{};
  std::thread poller([&] { got = log().Poll(std::span<const Position>(&pos, 1), 10, kPatience); });
  AppendOk({Rec(commands_, 1, "wake")});
  poller.join();
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].value, "wake");
}

// A Poll with nothing to return gives back an empty result when its timeout passes.
TEST_P(EventLogContractTest, PollTimesOutEmpty) {
  const Position pos{{commands_, 2}, 0};
  auto got = log().Poll(std::span<const Position>(&pos, 1), 10, std::chrono::milliseconds(50));
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  EXPECT_TRUE(got->empty());
}

// Poll over several partitions returns at most max_records and, polled on, every record once.
TEST_P(EventLogContractTest, PollAcrossPartitionsHonoursMax) {
  std::vector<OutgoingRecord> batch;
  for (int i = 0; i < 10; ++i) {
    batch.push_back(Rec(events_, 0, "a" + std::to_string(i)));
    batch.push_back(Rec(events_, 1, "b" + std::to_string(i)));
  }
  AppendOk(batch);
  std::vector<Position> positions{{{events_, 0}, 0}, {{events_, 1}, 0}};
  std::multiset<std::string> seen;
  while (seen.size() < 20) {
    auto got = log().Poll(positions, 5, kPatience);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    ASSERT_FALSE(got->empty()) << "records went missing after " << seen.size();
    ASSERT_LE(got->size(), 5u);
    for (const Record& r : *got) {
      seen.insert(r.value);
      for (Position& p : positions) {
        if (p.tp.partition == r.partition) p.next_offset = std::max(p.next_offset, r.offset + 1);
      }
    }
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 20u);
}

// A group that never committed stands at 0.
TEST_P(EventLogContractTest, CommittedOffsetIsZeroForUnknownGroup) {
  EXPECT_EQ(log().CommittedOffset(target_->Group("never-committed"), {commands_, 0}), 0);
}

// Transact publishes its records and its group's position together.
TEST_P(EventLogContractTest, TransactMakesRecordsAndOffsetsVisibleTogether) {
  const std::string group = target_->Group("processor");
  AppendOk({Rec(commands_, 0, "cmd-1"), Rec(commands_, 0, "cmd-2")});
  WaitFor({commands_, 0}, 0, 2);

  // An observer that sees the transaction's output must also see its commit.
  Result<int64_t> committed_seen = int64_t{-1};
  std::thread observer([&] {
    if (WaitFor({events_, 0}, 0, 1).size() == 1) {
      committed_seen = log().CommittedOffset(group, {commands_, 0});
    }
  });
  Transaction txn;
  txn.consumer_group = group;
  txn.consumed = {Position{{commands_, 0}, 2}};
  txn.records = {Rec(events_, 0, "evt-1"), Rec(events_, 0, "evt-2"), Rec(events_, 1, "evt-3")};
  auto result = log().Transact(txn);
  observer.join();
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_EQ(result->offsets, (std::vector<int64_t>{0, 1, 0}));
  ASSERT_TRUE(committed_seen.has_value()) << committed_seen.error().ToString();
  EXPECT_EQ(*committed_seen, 2);
  EXPECT_EQ(Values(WaitFor({events_, 0}, 0, 2)), (std::vector<std::string>{"evt-1", "evt-2"}));
  EXPECT_EQ(Values(WaitFor({events_, 1}, 0, 1)), (std::vector<std::string>{"evt-3"}));
  EXPECT_EQ(log().CommittedOffset(group, {commands_, 0}), 2);
  EXPECT_EQ(log().CommittedOffset(group, {commands_, 1}), 0);
  EXPECT_EQ(log().CommittedOffset(target_->Group("other"), {commands_, 0}), 0);

  // A later step moves the position on.
  Transaction next;
  next.consumer_group = group;
  next.consumed = {Position{{commands_, 0}, 5}};
  next.records = {Rec(events_, 0, "evt-4")};
  ASSERT_TRUE(log().Transact(next).has_value());
  EXPECT_EQ(Values(WaitFor({events_, 0}, 2, 1)), (std::vector<std::string>{"evt-4"}));
  EXPECT_EQ(log().CommittedOffset(group, {commands_, 0}), 5);
}

// Once CommittedOffset shows a transaction, its records are readable at once below each of its
// partitions' settled end: a reader rebuilding state to match the committed position misses none.
// (On a Kafka broker the markers usually land within milliseconds, so this passes there even
// without the wait; KafkaEventLogSettled shows the wait against a transaction left open.)
TEST_P(EventLogContractTest, SettledEndOffsetCoversWhatIsCommitted) {
  const std::string group = target_->Group("processor");
  EXPECT_EQ(log().SettledEndOffset({events_, 0}), 0);
  AppendOk({Rec(commands_, 0, "cmd-1"), Rec(commands_, 0, "cmd-2")});
  Transaction txn;
  txn.consumer_group = group;
  txn.consumed = {Position{{commands_, 0}, 2}};
  txn.records = {Rec(events_, 0, "evt-1"), Rec(events_, 1, "evt-2"), Rec(events_, 0, "evt-3")};
  auto result = log().Transact(txn);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();

  ASSERT_EQ(log().CommittedOffset(group, {commands_, 0}), 2);
  auto settled0 = log().SettledEndOffset({events_, 0});
  auto settled1 = log().SettledEndOffset({events_, 1});
  ASSERT_TRUE(settled0.has_value()) << settled0.error().ToString();
  ASSERT_TRUE(settled1.has_value()) << settled1.error().ToString();
  EXPECT_GT(*settled0, result->offsets[2]);
  EXPECT_GT(*settled1, result->offsets[1]);
  // No waiting: ReadAll stops at the first empty read.
  EXPECT_EQ(Values(ReadAll({events_, 0})), (std::vector<std::string>{"evt-1", "evt-3"}));
  EXPECT_EQ(Values(ReadAll({events_, 1})), (std::vector<std::string>{"evt-2"}));
  auto end = log().EndOffset({events_, 0});
  ASSERT_TRUE(end.has_value()) << end.error().ToString();
  EXPECT_EQ(log().SettledEndOffset({events_, 0}), *end);
}

// A refused Transact leaves neither records nor a new position behind.
TEST_P(EventLogContractTest, RefusedTransactLeavesNothing) {
  const std::string group = target_->Group("processor");
  Transaction txn;
  txn.consumer_group = group;
  txn.consumed = {Position{{commands_, 0}, 1}};
  txn.records = {Rec(events_, 0, "ok"), Rec(events_, spec_.partitions, "bad partition")};
  EXPECT_FALSE(log().Transact(txn).has_value());
  EXPECT_EQ(log().CommittedOffset(group, {commands_, 0}), 0);
  EXPECT_EQ(log().EndOffset({events_, 0}), 0);
  EXPECT_TRUE(ReadAll({events_, 0}).empty());
}

// 8 threads appending at once: every record exactly once, each request contiguous and in order,
// each thread's requests in the order it made them.
TEST_P(EventLogContractTest, ConcurrentAppendersKeepEachRequestContiguous) {
  constexpr int kThreads = 8;
  constexpr int kRequests = 20;
  constexpr int kPerRequest = 3;
  std::vector<std::vector<std::vector<int64_t>>> offsets(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        std::vector<OutgoingRecord> batch;
        for (int j = 0; j < kPerRequest; ++j) {
          batch.push_back(
              Rec(events_, t % 2,
                  std::to_string(t) + ":" + std::to_string(i) + ":" + std::to_string(j)));
        }
        auto r = log().Append(batch);
        if (r) offsets[static_cast<size_t>(t)].push_back(r->offsets);
      }
    });
  }
  for (std::thread& th : threads) th.join();

  constexpr size_t kPerPartition = kThreads / 2 * kRequests * kPerRequest;
  std::map<std::string, int64_t> offset_of;  // value -> offset
  for (int32_t p = 0; p < 2; ++p) {
    const auto records = WaitFor({events_, p}, 0, kPerPartition);
    ASSERT_EQ(records.size(), kPerPartition);
    for (size_t k = 0; k < records.size(); ++k) {
      ASSERT_TRUE(offset_of.emplace(records[k].value, records[k].offset).second)
          << "duplicate " << records[k].value;
      // A request's records are adjacent in the partition (no other request in between).
      const std::string& v = records[k].value;
      if (v.ends_with(":0")) {
        ASSERT_LE(k + kPerRequest, records.size());
        const std::string stem = v.substr(0, v.size() - 1);
        for (int j = 1; j < kPerRequest; ++j) {
          EXPECT_EQ(records[k + static_cast<size_t>(j)].value, stem + std::to_string(j));
        }
      }
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(offsets[static_cast<size_t>(t)].size(), static_cast<size_t>(kRequests))
        << "thread " << t << " had failed appends";
    int64_t last = -1;
    for (int i = 0; i < kRequests; ++i) {
      for (int j = 0; j < kPerRequest; ++j) {
        const std::string v = std::to_string(t) + ":" + std::to_string(i) + ":" + std::to_string(j);
        const int64_t off =
            offsets[static_cast<size_t>(t)][static_cast<size_t>(i)][static_cast<size_t>(j)];
        EXPECT_EQ(offset_of[v], off) << v;
        EXPECT_GT(off, last) << v;
        last = off;
      }
    }
  }
}

// After a restart every record, end offset and committed position is as it was, and appends
// continue after the old end.
TEST_P(EventLogContractTest, ReopenKeepsEverything) {
  const std::string group = target_->Group("processor");
  AppendOk({Rec(commands_, 0, "c0", "k", 1000, {{"h", "v"}}), Rec(commands_, 1, "c1")});
  Transaction txn;
  txn.consumer_group = group;
  txn.consumed = {Position{{commands_, 0}, 1}, Position{{commands_, 1}, 1}};
  txn.records = {Rec(events_, 2, "e0"), Rec(events_, 2, "e1")};
  ASSERT_TRUE(log().Transact(txn).has_value());
  WaitFor({events_, 2}, 0, 2);
  std::map<std::pair<std::string, int32_t>, int64_t> ends;
  for (const std::string& topic : {commands_, events_}) {
    for (int32_t p = 0; p < spec_.partitions; ++p) ends[{topic, p}] = *log().EndOffset({topic, p});
  }

  ASSERT_NO_FATAL_FAILURE(Reopen());

  for (const auto& [tp, end] : ends) {
    EXPECT_EQ(log().EndOffset({tp.first, tp.second}), end) << tp.first << "/" << tp.second;
  }
  const auto c0 = ReadAll({commands_, 0});
  ASSERT_EQ(c0.size(), 1u);
  EXPECT_EQ(c0[0].value, "c0");
  EXPECT_EQ(c0[0].timestamp_ms, 1000);
  EXPECT_EQ(c0[0].headers, (std::vector<Header>{{"h", "v"}}));
  EXPECT_EQ(Values(ReadAll({events_, 2})), (std::vector<std::string>{"e0", "e1"}));
  EXPECT_EQ(log().CommittedOffset(group, {commands_, 0}), 1);
  EXPECT_EQ(log().CommittedOffset(group, {commands_, 1}), 1);
  EXPECT_EQ(log().PartitionCount(events_), spec_.partitions);

  const auto next = AppendOk({Rec(events_, 2, "e2")});
  ASSERT_EQ(next.size(), 1u);
  EXPECT_GE(next[0], (ends[{events_, 2}]));
  EXPECT_EQ(Values(WaitFor({events_, 2}, next[0], 1)), (std::vector<std::string>{"e2"}));
}

// OffsetForTime finds the first record at or after a time, or the end offset.
TEST_P(EventLogContractTest, OffsetForTimeFindsFirstRecordAtOrAfter) {
  EXPECT_EQ(log().OffsetForTime({events_, 1}, NowMs()), 0);  // empty partition
  const int64_t base = NowMs() - 60000;
  const auto offsets =
      AppendOk({Rec(events_, 1, "t0", "k", base), Rec(events_, 1, "t10", "k", base + 10),
                Rec(events_, 1, "t10b", "k", base + 10), Rec(events_, 1, "t30", "k", base + 30)});
  ASSERT_EQ(offsets.size(), 4u);
  WaitFor({events_, 1}, 0, 4);
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base - 1000), offsets[0]);
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base), offsets[0]);
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base + 1), offsets[1]);
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base + 10), offsets[1]);
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base + 11), offsets[3]);
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base + 30), offsets[3]);
  auto end = log().EndOffset({events_, 1});
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(log().OffsetForTime({events_, 1}, base + 31), *end);
}

// Bad partitions, negative offsets and unknown topics are errors, never crashes or writes.
TEST_P(EventLogContractTest, InvalidArgumentsAreRefused) {
  const int32_t n = spec_.partitions;
  EXPECT_FALSE(log().Read({events_, -1}, 0, 10).has_value());
  EXPECT_FALSE(log().Read({events_, n}, 0, 10).has_value());
  EXPECT_FALSE(log().Read({events_, 0}, -1, 10).has_value());
  EXPECT_FALSE(log().Read({"clawvisor.no-such-topic", 0}, 0, 10).has_value());
  EXPECT_FALSE(log().EndOffset({events_, n}).has_value());
  EXPECT_FALSE(log().SettledEndOffset({events_, n}).has_value());
  EXPECT_FALSE(log().OffsetForTime({events_, n}, 0).has_value());
  EXPECT_FALSE(log().CommittedOffset(target_->Group("g"), {events_, n}).has_value());
  const Position bad{{events_, n}, 0};
  EXPECT_FALSE(
      log().Poll(std::span<const Position>(&bad, 1), 10, std::chrono::milliseconds(0)).has_value());
  const Position negative{{events_, 0}, -5};
  EXPECT_FALSE(log()
                   .Poll(std::span<const Position>(&negative, 1), 10, std::chrono::milliseconds(0))
                   .has_value());

  const std::vector<OutgoingRecord> bad_append{Rec(events_, 0, "ok"), Rec(events_, n, "bad")};
  EXPECT_FALSE(log().Append(bad_append).has_value());
  const std::vector<OutgoingRecord> unknown{Rec("clawvisor.no-such-topic", 0, "x")};
  EXPECT_FALSE(log().Append(unknown).has_value());
  // The refused requests appended nothing, not even their valid records.
  EXPECT_EQ(log().EndOffset({events_, 0}), 0);
  EXPECT_EQ(AppendOk({Rec(events_, 0, "first")}), (std::vector<int64_t>{0}));
}

}  // namespace clawvisor::contract
