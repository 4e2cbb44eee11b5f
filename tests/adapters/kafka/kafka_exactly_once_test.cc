// Exactly-once on a real broker: two processors (separate processes, one consumer group) decide
// a stream of commands; one of them is killed with SIGKILL in the middle of its transactions,
// again and again, while the other takes its partitions over. A read_committed reader must then
// see exactly one decision per command id (none lost, none decided twice), and the projections
// built live must equal a fresh replay of the log.
//
// The processor processes are this test binary re-executed on the disabled test
// `DISABLED_ProcessorChild.Run`, which runs a Processor in a KafkaGroupProcessor until killed.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/kafka/kafka_admin.h"
#include "adapters/kafka/kafka_event_log.h"
#include "adapters/kafka/kafka_group_processor.h"
#include "engine/clock.h"
#include "engine/command/processor.h"
#include "engine/command/seal_fields.h"
#include "engine/metrics.h"
#include "engine/partitioner.h"
#include "engine/random.h"
#include "events/codec.h"
#include "projections/memory_kv_store.h"
#include "projections/projector.h"
#include "tests/support/command_records.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

constexpr int32_t kPartitions = 6;
constexpr const char* kBootstrapEnv = "CLAWVISOR_TEST_KAFKA_BOOTSTRAP";
constexpr const char* kTxnIdEnv = "CLAWVISOR_TEST_TRANSACTIONAL_ID";

// The child: one processor in the group, until SIGKILL or SIGTERM.
TEST(DISABLED_ProcessorChild, Run) {
  const char* bootstrap = std::getenv(kBootstrapEnv);
  const char* txn_id = std::getenv(kTxnIdEnv);
  ASSERT_NE(bootstrap, nullptr);
  ASSERT_NE(txn_id, nullptr);
  KafkaEventLogOptions log_options;
  log_options.bootstrap_servers = bootstrap;
  log_options.transactional_id = txn_id;
  auto log = KafkaEventLog::Open(log_options);
  ASSERT_TRUE(log.has_value()) << log.error().ToString();
  testing::FakeSealer sealer;
  SystemClock clock;
  SeededRandom random(static_cast<uint64_t>(::getpid()));
  MetricsRegistry metrics;
  ProcessorOptions options;
  options.max_batch = 20;  // many small transactions: more of them are cut by the kills
  Processor processor(**log, sealer, clock, random, metrics, nullptr, options);
  KafkaGroupOptions group;
  group.bootstrap_servers = bootstrap;
  auto member = KafkaGroupProcessor::Create(processor, **log, group);
  ASSERT_TRUE(member.has_value()) << member.error().ToString();
  std::stop_source never;
  (*member)->Run(never.get_token());
}

class ProcessorProcess {
 public:
  ProcessorProcess(std::string bootstrap, std::string txn_id, std::filesystem::path log_file)
      : log_file_(std::move(log_file)) {
    const int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::setenv(kBootstrapEnv, bootstrap.c_str(), 1);
      ::setenv(kTxnIdEnv, txn_id.c_str(), 1);
      const char* argv[] = {"/proc/self/exe", "--gtest_filter=DISABLED_ProcessorChild.Run",
                            "--gtest_also_run_disabled_tests", nullptr};
      ::execv("/proc/self/exe", const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::close(fd);
  }
  ~ProcessorProcess() { Kill(); }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGSTOP / SIGCONT: a processor that stalls (a long pause, a frozen VM) and then resumes,
  // still believing it owns its partitions.
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }
  bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  // Whether the child owns partitions and committed at least one batch since starting.
  bool Deciding() const {
    std::ifstream in(log_file_);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    return text.find("partition assigned") != std::string::npos;
  }

 private:
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
};

// The processors' logs stay in the build tree for a post-mortem.
std::filesystem::path LogDir() {
  const auto dir = std::filesystem::path(CLAWVISOR_BUILD_DIR) / "kafka-exactly-once-logs";
  std::filesystem::create_directories(dir);
  return dir;
}

// History: this test once found a registration decided twice after a handover. Two causes were
// fixed: a rebuild read could stop at a stale end-of-partition event queued in a pooled reader
// (so the new owner missed decided commands), and offsets went with a bare group id, which left
// a stalled owner (a zombie) unfenced. The SIGSTOP step below is the zombie case.
TEST(KafkaExactlyOnce, ProcessorKilledMidTransactionDecidesEachCommandOnce) {
  testing::TempDir dir;
  testing::KafkaCluster cluster(dir.path() / "kafka", 1);
  ASSERT_TRUE(cluster.ok());
  {
    auto admin = KafkaAdmin::Connect(cluster.bootstrap(), std::chrono::seconds(30));
    ASSERT_TRUE(admin.has_value()) << admin.error().ToString();
    for (const KafkaTopicSpec& spec :
         ClawvisorTopics({kPartitions, 1, 1, std::chrono::hours(24)})) {
      ASSERT_TRUE((*admin)->Create(spec).has_value()) << spec.name;
    }
  }
  KafkaEventLogOptions options;
  options.bootstrap_servers = cluster.bootstrap();
  auto log = KafkaEventLog::Open(options);
  ASSERT_TRUE(log.has_value()) << log.error().ToString();

  // The live projections, fed while the processors decide and die.
  auto projection_log = KafkaEventLog::Open(options);
  ASSERT_TRUE(projection_log.has_value());
  MetricsRegistry metrics;
  testing::FakeSealer sealer;
  MemoryKvStore live_store;
  ManualClock projector_clock;
  Projector live(live_store, &sealer, metrics, nullptr, projector_clock);
  std::jthread projector([&](std::stop_token stop) { live.Run(**projection_log, stop); });

  auto b = std::make_unique<ProcessorProcess>(cluster.bootstrap(), "proc-b", LogDir() / "b.log");
  int a_generation = 0;
  auto start_a = [&] {
    ++a_generation;
    return std::make_unique<ProcessorProcess>(
        cluster.bootstrap(), "proc-a-" + std::to_string(a_generation),
        LogDir() / ("a" + std::to_string(a_generation) + ".log"));
  };
  auto a = start_a();

  // The command stream: registrations, then instances of registered accounts (whose outcome
  // depends on the state the new owner rebuilt), and exact repeats (idempotency).
  std::set<std::string> submitted;
  std::atomic<bool> streaming{true};
  std::atomic<int> sent{0};
  std::thread streamer([&] {
    for (int i = 0; streaming.load(); ++i) {
      std::vector<OutgoingRecord> batch;
      std::vector<v1::Command> commands;
      const std::string account = "acc_" + std::to_string(i);
      commands.push_back(testing::RegisterCommand(account, "reg-" + std::to_string(i)));
      if (i >= 1) {
        const std::string prev = "acc_" + std::to_string(i - 1);
        commands.push_back(testing::CreateInstanceCommand(prev, "inst-" + std::to_string(i - 1),
                                                          "i" + std::to_string(i)));
        commands.push_back(testing::RegisterCommand(prev, "reg-" + std::to_string(i - 1)));
      }
      for (v1::Command& c : commands) {
        auto record = testing::CommandRecord(std::move(c), sealer, kPartitions);
        ASSERT_TRUE(record.has_value());
        batch.push_back(std::move(*record));
      }
      // Acknowledged means appended; retried until it is (a failed append may still land: the
      // processor's idempotency makes the retry harmless).
      while (!(*log)->Append(batch).has_value()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      sent += static_cast<int>(batch.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
  });

  // Kill A three times while it decides; B takes over; a new A joins again each time.
  constexpr int kKills = 3;
  for (int kill = 0; kill < kKills; ++kill) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (!a->Deciding() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(a->Deciding()) << "processor A never got partitions";
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // in the middle of its work
    ASSERT_TRUE(a->alive());
    a->Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    a = start_a();
  }
  // A zombie: A stalls mid-work for longer than the session timeout (6 s) and the transaction
  // timeout (10 s), so the group gives its partitions to B, which rebuilds them and decides on;
  // then A resumes, still deciding for the partitions it held. Its transactions must be fenced
  // (the group's generation moved on), or B's decisions would be made a second time.
  {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (!a->Deciding() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(a->Deciding()) << "processor A never got partitions";
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    a->Pause();
    std::this_thread::sleep_for(std::chrono::seconds(18));
    a->Resume();
    std::this_thread::sleep_for(std::chrono::seconds(6));
    ASSERT_TRUE(a->alive());
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  streaming = false;
  streamer.join();
  ASSERT_TRUE(b->alive()) << "processor B died";

  // Collect every submitted command id, then wait until each has a decision.
  std::set<std::string> expected;
  for (int32_t p = 0; p < kPartitions; ++p) {
    int64_t next = 0;
    for (;;) {
      auto records = (*log)->Read({std::string(kCommandsTopic), p}, next, 1000);
      ASSERT_TRUE(records.has_value()) << records.error().ToString();
      if (records->empty()) break;
      for (const Record& r : *records) {
        auto c = DecodeCommand(r.value);
        ASSERT_TRUE(c.has_value());
        expected.insert(c->account_id() + "/" + c->command_id());
        next = r.offset + 1;
      }
    }
  }
  std::map<std::string, std::set<int64_t>> decisions;  // command -> distinct decision times
  std::map<std::string, int> first_events;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  std::vector<int64_t> next(kPartitions, 0);
  while (decisions.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto records =
          (*log)->Read({std::string(kEventsTopic), p}, next[static_cast<size_t>(p)], 1000);
      ASSERT_TRUE(records.has_value()) << records.error().ToString();
      for (const Record& r : *records) {
        auto e = DecodeEnvelope(r.value);
        ASSERT_TRUE(e.has_value());
        decisions[e->account_id() + "/" + e->command_id()].insert(e->occurred_at_us());
        next[static_cast<size_t>(p)] = r.offset + 1;
      }
    }
    if (decisions.size() < expected.size()) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  EXPECT_EQ(decisions.size(), expected.size()) << "commands without a decision";
  for (const std::string& id : expected) {
    auto it = decisions.find(id);
    ASSERT_NE(it, decisions.end()) << id << " was never decided";
    EXPECT_EQ(it->second.size(), 1u) << id << " was decided " << it->second.size() << " times";
  }
  EXPECT_GT(sent.load(), 100);

  // The projections built live equal a fresh replay of the log.
  std::string live_print;
  const auto caught = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    bool done = true;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto at = live.NextOffset(p);
      ASSERT_TRUE(at.has_value());
      if (*at < next[static_cast<size_t>(p)]) done = false;
    }
    if (done || std::chrono::steady_clock::now() > caught) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  projector = {};
  auto live_fp = live.Fingerprint();
  ASSERT_TRUE(live_fp.has_value());
  MemoryKvStore replay_store;
  ManualClock replay_clock;
  Projector replay(replay_store, &sealer, metrics, nullptr, replay_clock);
  ASSERT_TRUE(replay.CatchUp(**log, nullptr).has_value());
  auto replay_fp = replay.Fingerprint();
  ASSERT_TRUE(replay_fp.has_value());
  EXPECT_EQ(*live_fp, *replay_fp);
}

}  // namespace
}  // namespace clawvisor
