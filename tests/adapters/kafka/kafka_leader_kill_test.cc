// Durability on a real three-broker cluster (replication factor 3, min.insync.replicas 2,
// acks=all): while commands stream in and a processor decides them, the leader of a partition
// is killed with SIGKILL five times (each time restarted on its storage before the next kill).
// Afterwards every acknowledged command has exactly one decision in the events topic, as a
// read_committed reader sees it: none lost, none decided twice.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/kafka/kafka_admin.h"
#include "adapters/kafka/kafka_event_log.h"
#include "engine/clock.h"
#include "engine/command/processor.h"
#include "engine/command/seal_fields.h"
#include "engine/metrics.h"
#include "engine/partitioner.h"
#include "engine/random.h"
#include "events/codec.h"
#include "tests/support/command_records.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

constexpr int32_t kPartitions = 3;
constexpr int kKills = 5;

// The broker id leading `topic`/`partition` now (node ids are 1..3, as kafka.sh numbers them),
// or -1 while there is none.
int32_t LeaderOf(const std::string& bootstrap, const std::string& topic, int32_t partition) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) return -1;
  int32_t leader = -1;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int t = 0; t < md->topic_cnt; ++t) {
      for (int p = 0; p < md->topics[t].partition_cnt; ++p) {
        if (md->topics[t].partitions[p].id == partition) {
          leader = md->topics[t].partitions[p].leader;
        }
      }
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return leader;
}

TEST(KafkaLeaderKill, EveryAcknowledgedCommandHasExactlyOneDecision) {
  testing::TempDir dir;
  testing::KafkaCluster cluster(dir.path() / "kafka", 3);
  ASSERT_TRUE(cluster.ok());
  {
    auto admin = KafkaAdmin::Connect(cluster.bootstrap(), std::chrono::seconds(60));
    ASSERT_TRUE(admin.has_value()) << admin.error().ToString();
    for (const KafkaTopicSpec& spec :
         ClawvisorTopics({kPartitions, 3, 2, std::chrono::hours(24)})) {
      ASSERT_TRUE((*admin)->Create(spec).has_value()) << spec.name;
    }
  }
  KafkaEventLogOptions options;
  options.bootstrap_servers = cluster.bootstrap();
  options.request_timeout = std::chrono::seconds(60);  // elections take seconds here

  // One processor deciding every partition; it retries through the elections.
  auto processor_log = KafkaEventLog::Open(options);
  ASSERT_TRUE(processor_log.has_value()) << processor_log.error().ToString();
  testing::FakeSealer sealer;
  SystemClock clock;
  SeededRandom random(7);
  MetricsRegistry metrics;
  Processor processor(**processor_log, sealer, clock, random, metrics, nullptr, {});
  std::jthread deciding([&](std::stop_token stop) {
    while (!stop.stop_requested() && !processor.AssignAll().has_value()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    processor.Run(stop);
  });

  // The web tier: appends commands; "acknowledged" means Append returned success. A failed
  // append is retried with the same command id (it may have landed: the processor's
  // idempotency makes the retry harmless), and counts once acknowledged.
  auto producer_log = KafkaEventLog::Open(options);
  ASSERT_TRUE(producer_log.has_value());
  std::mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<int> failed_appends{0};
  constexpr int kStreamers = 4;
  // jthreads: stopped and joined on every way out of the test, an ASSERT's early return too.
  std::vector<std::jthread> streamers;
  for (int t = 0; t < kStreamers; ++t) {
    streamers.emplace_back([&, t](std::stop_token stop) {
      for (int i = t; !stop.stop_requested(); i += kStreamers) {
        const std::string account = "acc_" + std::to_string(i);
        const std::string command_id = "reg-" + std::to_string(i);
        auto r = testing::CommandRecord(testing::RegisterCommand(account, command_id), sealer,
                                        kPartitions);
        ASSERT_TRUE(r.has_value());
        bool appended = false;
        while (
            !stop.stop_requested() &&
            !(appended =
                  (*producer_log)->Append(std::span<const OutgoingRecord>(&*r, 1)).has_value())) {
          ++failed_appends;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (!appended) return;
        std::lock_guard lock(mu);
        acknowledged.insert(account + "/" + command_id);
      }
    });
  }
  auto acknowledged_count = [&] {
    std::lock_guard lock(mu);
    return acknowledged.size();
  };

  // Kill the leader of a partition of the events topic (each kill another partition), let the
  // cluster elect a new one while commands keep coming, restart the node, wait for it.
  std::set<int32_t> killed_nodes;
  std::vector<size_t> acknowledged_while_down;
  for (int kill = 0; kill < kKills; ++kill) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const int32_t partition = kill % kPartitions;
    int32_t leader = -1;
    for (int attempt = 0; attempt < 50 && leader < 1; ++attempt) {
      leader = LeaderOf(cluster.bootstrap(), std::string(kEventsTopic), partition);
      if (leader < 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_GE(leader, 1) << "no leader for events partition " << partition;
    ASSERT_LE(leader, 3);
    cluster.Kill(leader);
    killed_nodes.insert(leader);
    const size_t before = acknowledged_count();
    // Commands go on meanwhile, acknowledged by the two remaining replicas: the node stays down
    // for at least 8 s, and until 20 commands were acknowledged without it (at most 60 s: a
    // loaded machine elects slowly).
    const auto down_since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - down_since < std::chrono::seconds(8) ||
           (acknowledged_count() - before < 20 &&
            std::chrono::steady_clock::now() - down_since < std::chrono::seconds(60))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    acknowledged_while_down.push_back(acknowledged_count() - before);
    std::cout << "kill " << kill + 1 << ": node " << leader << " (leader of events partition "
              << partition << "), down "
              << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                  down_since)
                     .count()
              << " s, " << acknowledged_while_down.back() << " commands acknowledged meanwhile"
              << std::endl;
    cluster.Restart(leader);
    cluster.WaitAllBrokers();
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (auto& t : streamers) t.request_stop();
  streamers.clear();  // joins

  std::set<std::string> expected;
  {
    std::lock_guard lock(mu);
    expected = acknowledged;
  }
  // The stream did go on while a broker was down (not only between the kills).
  EXPECT_GT(std::count_if(acknowledged_while_down.begin(), acknowledged_while_down.end(),
                          [](size_t n) { return n > 0; }),
            kKills / 2);
  // Every acknowledged command must get exactly one decision.
  auto reader_log = KafkaEventLog::Open(options);
  ASSERT_TRUE(reader_log.has_value());
  // command -> its decisions' times (a decision may append several events, all at one time)
  std::map<std::string, std::set<int64_t>> decisions;
  std::map<std::string, std::vector<std::string>> where;  // command -> "partition@offset"s
  std::vector<int64_t> next(kPartitions, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  auto all_decided = [&] {
    for (const auto& id : expected) {
      if (!decisions.contains(id)) return false;
    }
    return true;
  };
  while (!all_decided() && std::chrono::steady_clock::now() < deadline) {
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto records =
          (*reader_log)->Read({std::string(kEventsTopic), p}, next[static_cast<size_t>(p)], 1000);
      if (!records) break;  // an election in progress: try again
      for (const Record& r : *records) {
        auto e = DecodeEnvelope(r.value);
        ASSERT_TRUE(e.has_value());
        const std::string id = e->account_id() + "/" + e->command_id();
        decisions[id].insert(e->occurred_at_us());
        where[id].push_back(std::to_string(p) + "@" + std::to_string(r.offset));
        next[static_cast<size_t>(p)] = r.offset + 1;
      }
    }
    if (!all_decided()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  deciding.request_stop();
  deciding.join();

  // One line per kind of failure, with the first few commands and where their events sit.
  std::vector<std::string> never_decided;
  for (const std::string& id : expected) {
    if (!decisions.contains(id)) never_decided.push_back(id);
  }
  // Retries of an append that failed yet landed are the only commands beyond the acknowledged
  // ones; each of them too must be decided once.
  std::vector<std::string> decided_twice;
  for (const auto& [id, times] : decisions) {
    if (times.size() == 1) continue;
    std::string events;
    for (const auto& at : where[id]) events += " " + at;
    decided_twice.push_back(id + " (" + std::to_string(times.size()) + " decisions, events at" +
                            events + ")");
  }
  auto first_few = [](const std::vector<std::string>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size() && i < 10; ++i) out += "\n  " + ids[i];
    return out;
  };
  EXPECT_TRUE(never_decided.empty())
      << never_decided.size() << " of " << expected.size()
      << " acknowledged commands were never decided, e.g." << first_few(never_decided);
  EXPECT_TRUE(decided_twice.empty())
      << decided_twice.size()
      << " commands were decided more than once:" << first_few(decided_twice);
  std::cout << "leader kills: " << kKills << " (nodes " << killed_nodes.size()
            << " distinct), acknowledged commands: " << expected.size()
            << ", acknowledged while the killed node was down:";
  for (size_t n : acknowledged_while_down) std::cout << " " << n;
  std::cout << ", failed appends retried: " << failed_appends.load()
            << ", decisions: " << decisions.size() << "\n";
}

}  // namespace
}  // namespace clawvisor
