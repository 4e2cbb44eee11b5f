#include "engine/processor.h"

#include <gtest/gtest.h>

#include "adapters/rocksdb/local_event_log.h"
#include "engine/partitioner.h"
#include "events/codec.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

constexpr int32_t kPartitions = 4;

// The processor against a real LocalEventLog (RocksDB), a simulated clock and a test sealer.
class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenLog(); }

  void OpenLog() {
    log_.reset();
    LocalEventLogOptions options;
    options.path = dir_.Sub("log");
    options.topics = {{std::string(kCommandsTopic), kPartitions},
                      {std::string(kEventsTopic), kPartitions}};
    auto log = LocalEventLog::Open(options);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
  }

  std::unique_ptr<Processor> NewProcessor() {
    ProcessorOptions options;
    options.poll_timeout = std::chrono::milliseconds(10);
    auto p =
        std::make_unique<Processor>(*log_, sealer_, clock_, random_, metrics_, &board_, options);
    EXPECT_TRUE(p->AssignAll().has_value());
    return p;
  }

  void Submit(const v1::Command& command) {
    v1::Command c = command;
    c.set_schema_version(kSchemaVersion);
    OutgoingRecord r;
    r.topic = std::string(kCommandsTopic);
    r.partition = PartitionFor(c.account_id(), kPartitions);
    r.key = c.account_id();
    r.value = EncodeCommand(c);
    ASSERT_TRUE(log_->Append(std::span(&r, 1)).has_value());
  }

  static v1::Command Register(const std::string& account, const std::string& cid) {
    v1::Command c;
    c.set_command_id(cid);
    c.set_account_id(account);
    c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
    c.mutable_actor()->set_source_ip("127.0.0.1");
    c.mutable_register_account()->set_email("canary-" + account + "@example.com");
    return c;
  }
  static v1::Command Create(const std::string& account, const std::string& cid,
                            const std::string& instance) {
    v1::Command c;
    c.set_command_id(cid);
    c.set_account_id(account);
    c.mutable_create_instance()->set_instance_id(instance);
    c.mutable_create_instance()->set_name("bot");
    return c;
  }

  // Processes until the commands topic is drained.
  void Drain(Processor& p) {
    for (int i = 0; i < 100; ++i) {
      auto n = p.ProcessOnce();
      ASSERT_TRUE(n.has_value()) << n.error().ToString();
      if (*n == 0) return;
    }
  }

  std::vector<v1::Envelope> AllEvents() {
    std::vector<v1::Envelope> out;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto records = log_->Read({std::string(kEventsTopic), p}, 0, 100000);
      EXPECT_TRUE(records.has_value());
      for (const auto& r : *records) out.push_back(*DecodeEnvelope(r.value));
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<LocalEventLog> log_;
  testing::FakeSealer sealer_;
  ManualClock clock_;
  SeededRandom random_{42};
  MetricsRegistry metrics_;
  OutcomeBoard board_;
};

// Decided events carry a full envelope: id, account, aggregate and version, time from the
// injected clock, actor, command id and schema version; and the email is sealed.
TEST_F(ProcessorTest, StampsEnvelopesAndSealsPendingFields) {
  auto p = NewProcessor();
  Submit(Register("acc_1", "c1"));
  Submit(Create("acc_1", "c2", "ins_1"));
  Drain(*p);
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 3u);  // registered, trial started, instance created
  const auto& reg = events[0];
  EXPECT_EQ(reg.account_id(), "acc_1");
  EXPECT_EQ(reg.aggregate_type(), v1::AGGREGATE_TYPE_ACCOUNT);
  EXPECT_EQ(reg.aggregate_version(), 1u);
  EXPECT_EQ(events[1].aggregate_version(), 2u);
  EXPECT_EQ(events[2].aggregate_type(), v1::AGGREGATE_TYPE_INSTANCE);
  EXPECT_EQ(events[2].aggregate_version(), 1u);
  EXPECT_EQ(reg.occurred_at_us(), clock_.NowUs());
  EXPECT_EQ(reg.command_id(), "c1");
  EXPECT_EQ(reg.actor().source_ip(), "127.0.0.1");
  EXPECT_EQ(reg.schema_version(), kSchemaVersion);
  EXPECT_EQ(reg.event_id().size(), 36u);
  EXPECT_FALSE(reg.account_registered().email().key_id().empty());
  EXPECT_EQ(reg.SerializeAsString().find("canary-acc_1@example.com"), std::string::npos);
  auto opened = sealer_.Open({"acc_1", reg.event_id(), "account_registered.email"},
                             reg.account_registered().email());
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, "canary-acc_1@example.com");
}

// A repeated command id — in a later batch or in the same batch — appends nothing and answers
// with the recorded outcome.
TEST_F(ProcessorTest, RepeatedCommandIdAppendsNothing) {
  auto p = NewProcessor();
  auto ticket = board_.Watch("acc_1", "c1");
  Submit(Register("acc_1", "c1"));
  Submit(Register("acc_1", "c1"));  // same batch
  Drain(*p);
  const size_t after_first = AllEvents().size();
  Submit(Register("acc_1", "c1"));  // later batch
  Drain(*p);
  EXPECT_EQ(AllEvents().size(), after_first);
  auto outcome = ticket->Wait(std::chrono::steady_clock::now());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(outcome->accepted());
  EXPECT_EQ(outcome->event_types_size(), 2);
  EXPECT_EQ(
      metrics_.GetCounter("clawvisor_processor_commands_total", "", {{"outcome", "duplicate"}})
          .value(),
      2u);
}

// A refused command is recorded as a CommandRejected event with its reason, and its outcome
// says so.
TEST_F(ProcessorTest, RefusalIsAnEvent) {
  auto p = NewProcessor();
  auto ticket = board_.Watch("acc_1", "c9");
  Submit(Create("acc_1", "c9", "ins_1"));  // no such account
  Drain(*p);
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].has_command_rejected());
  EXPECT_EQ(events[0].command_rejected().reason(), v1::REJECTION_ACCOUNT_NOT_FOUND);
  EXPECT_EQ(events[0].command_rejected().command_type(), "create_instance");
  auto outcome = ticket->Wait(std::chrono::steady_clock::now());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->accepted());
  EXPECT_EQ(outcome->aggregate_id(), "ins_1");
}

// After a restart, a new processor holds exactly the state the log says, resumes after the
// last consumed command, and still recognizes every decided command id.
TEST_F(ProcessorTest, RestartRebuildsStateFromTheLog) {
  {
    auto p = NewProcessor();
    for (int a = 0; a < 10; ++a) {
      const std::string acc = "acc_" + std::to_string(a);
      Submit(Register(acc, "r" + std::to_string(a)));
      Submit(Create(acc, "c" + std::to_string(a), "ins_" + std::to_string(a)));
    }
    Drain(*p);
  }
  OpenLog();  // a new process: reopen the log
  auto p = NewProcessor();
  EXPECT_EQ(p->DecidedCommandCount(), 20u);
  auto snapshot = p->Snapshot("acc_3");
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_TRUE(snapshot->registered);
  EXPECT_EQ(snapshot->version, 2u);
  ASSERT_TRUE(snapshot->instances.contains("ins_3"));
  const size_t before = AllEvents().size();
  Submit(Register("acc_3", "r3"));  // a retry after the restart
  Drain(*p);
  EXPECT_EQ(AllEvents().size(), before);
}

// Records that cannot be decided in this partition (garbage, or an account that hashes
// elsewhere) are skipped and counted; the partition keeps moving.
TEST_F(ProcessorTest, SkipsMalformedAndMisroutedRecords) {
  auto p = NewProcessor();
  const int32_t home = PartitionFor("acc_1", kPartitions);
  OutgoingRecord garbage;
  garbage.topic = std::string(kCommandsTopic);
  garbage.partition = home;
  garbage.value = "\xff\xfe not a command";
  ASSERT_TRUE(log_->Append(std::span(&garbage, 1)).has_value());
  v1::Command misrouted = Register("acc_1", "m1");
  misrouted.set_schema_version(kSchemaVersion);
  OutgoingRecord wrong;
  wrong.topic = std::string(kCommandsTopic);
  wrong.partition = (home + 1) % kPartitions;
  wrong.value = EncodeCommand(misrouted);
  ASSERT_TRUE(log_->Append(std::span(&wrong, 1)).has_value());
  Submit(Register("acc_1", "ok"));
  Drain(*p);
  EXPECT_EQ(AllEvents().size(), 2u);
  EXPECT_EQ(
      metrics_.GetCounter("clawvisor_processor_commands_total", "", {{"outcome", "malformed"}})
          .value(),
      2u);
  auto committed =
      log_->CommittedOffset("clawvisor-processor", {std::string(kCommandsTopic), home});
  ASSERT_TRUE(committed.has_value());
  EXPECT_EQ(*committed, 2);
}

// When the account's key is gone, the processor refuses the command rather than write plaintext.
TEST_F(ProcessorTest, UnsealableFieldIsRefusedNotWritten) {
  auto p = NewProcessor();
  ASSERT_TRUE(sealer_.DestroyAccountKeys("acc_1").has_value());
  Submit(Register("acc_1", "c1"));
  Drain(*p);
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 1u);  // the whole decision became one refusal
  EXPECT_TRUE(events[0].has_command_rejected());
  EXPECT_EQ(events[0].command_rejected().reason(), v1::REJECTION_INVALID_STATE);
  for (const auto& e : events) {
    EXPECT_EQ(e.SerializeAsString().find("canary-acc_1"), std::string::npos);
  }
}

}  // namespace
}  // namespace clawvisor
