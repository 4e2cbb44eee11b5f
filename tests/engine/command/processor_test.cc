#include "engine/command/processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "adapters/rocksdb/local_event_log.h"
#include "engine/command/seal_fields.h"
#include "engine/partitioner.h"
#include "events/codec.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/forwarding_event_log.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_values.h"

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

  // Appends as the command service does: sensitive fields sealed under the command id.
  void Submit(const v1::Command& command) {
    v1::Command c = command;
    c.set_schema_version(kSchemaVersion);
    ASSERT_TRUE(SealCommandSecrets(c, sealer_).has_value());
    SubmitRaw(c);
  }
  void SubmitRaw(const v1::Command& c) {
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
    c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
    c.mutable_actor()->set_role(v1::ROLE_OWNER);
    c.mutable_create_instance()->set_instance_id(instance);
    c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
    c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
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
  // No lookup hash of the email in the event: it would outlive an erasure.
  EXPECT_TRUE(reg.account_registered().email_lookup_hash().empty());
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
  auto outcome = ticket->Wait(std::chrono::microseconds::zero());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(outcome->accepted());
  EXPECT_EQ(outcome->event_types_size(), 2);
  EXPECT_EQ(
      metrics_.GetCounter("clawvisor_processor_commands_total", "", {{"outcome", "duplicate"}})
          .value(),
      2u);
}

// A command id reused for a different request is told so, and nothing is appended; the same
// request again still gets its recorded outcome.
TEST_F(ProcessorTest, ReusedCommandIdForADifferentRequestIsRefused) {
  auto p = NewProcessor();
  Submit(Register("acc_1", "c1"));
  Drain(*p);
  const size_t before = AllEvents().size();
  v1::Command other = Register("acc_1", "c1");
  other.mutable_register_account()->set_email("someone-else@example.com");
  auto ticket = board_.Watch("acc_1", "c1");
  Submit(other);
  Drain(*p);
  EXPECT_EQ(AllEvents().size(), before);
  auto outcome = ticket->Wait(std::chrono::microseconds::zero());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->accepted());
  EXPECT_EQ(outcome->rejection_reason(), v1::REJECTION_IDEMPOTENCY_KEY_REUSED);
  auto same = board_.Watch("acc_1", "c1");
  Submit(Register("acc_1", "c1"));
  Drain(*p);
  auto recorded = same->Wait(std::chrono::microseconds::zero());
  ASSERT_TRUE(recorded.has_value());
  EXPECT_TRUE(recorded->accepted());
  EXPECT_FALSE(recorded->request_hash().empty());
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
  auto outcome = ticket->Wait(std::chrono::microseconds::zero());
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

// The log as Kafka can show it just after a commit: the consumed position is committed, but
// the events the transaction wrote are not readable yet (their partition's commit marker is
// still on its way), until SettledEndOffset has waited for them. It models the markers by call,
// not by time, so it cannot tell whether SettledEndOffset is asked after CommittedOffset (the
// order Rebuild needs); the comment in Rebuild carries that.
class LateMarkersLog final : public testing::ForwardingEventLog {
 public:
  using ForwardingEventLog::ForwardingEventLog;
  Result<AppendResult> Transact(const Transaction& txn) override {
    auto result = inner().Transact(txn);
    if (!result) return result;
    for (size_t i = 0; i < txn.records.size(); ++i) {
      const Key key{txn.records[i].topic, txn.records[i].partition};
      auto [it, inserted] = hidden_from_.try_emplace(key, result->offsets[i]);
      if (!inserted) it->second = std::min(it->second, result->offsets[i]);
    }
    return result;
  }
  Result<std::vector<Record>> Read(const TopicPartition& tp, int64_t from_offset,
                                   size_t max_records) override {
    auto records = inner().Read(tp, from_offset, max_records);
    if (records) std::erase_if(*records, [&](const Record& r) { return Hidden(tp, r.offset); });
    return records;
  }
  Result<std::vector<Record>> Poll(std::span<const Position> positions, size_t max_records,
                                   std::chrono::milliseconds timeout) override {
    auto records = inner().Poll(positions, max_records, timeout);
    if (records) {
      std::erase_if(*records, [&](const Record& r) {
        return Hidden({r.topic, r.partition}, r.offset);
      });
    }
    return records;
  }
  Result<int64_t> EndOffset(const TopicPartition& tp) override {
    auto end = inner().EndOffset(tp);
    if (auto it = hidden_from_.find({tp.topic, tp.partition}); end && it != hidden_from_.end()) {
      return std::min(*end, it->second);
    }
    return end;
  }
  Result<int64_t> SettledEndOffset(const TopicPartition& tp) override {
    hidden_from_.erase({tp.topic, tp.partition});  // the markers arrived
    return inner().SettledEndOffset(tp);
  }

 private:
  using Key = std::pair<std::string, int32_t>;
  bool Hidden(const TopicPartition& tp, int64_t offset) const {
    auto it = hidden_from_.find({tp.topic, tp.partition});
    return it != hidden_from_.end() && offset >= it->second;
  }

  std::map<Key, int64_t> hidden_from_;  // where each partition's unsettled records begin
};

// A processor that takes a partition over just after the previous owner's commit reads the
// events up to their settled end: the decisions of that commit are in its state, and a retried
// command among them is not decided a second time.
TEST_F(ProcessorTest, ARebuildWaitsForTheEventsOfTheCommittedPosition) {
  LateMarkersLog late(*log_);
  ProcessorOptions options;
  options.poll_timeout = std::chrono::milliseconds(10);
  {
    Processor first(late, sealer_, clock_, random_, metrics_, nullptr, options);
    ASSERT_TRUE(first.AssignAll().has_value());
    Submit(Register("acc_1", "r1"));
    Drain(first);
  }
  const size_t decided = AllEvents().size();
  ASSERT_GT(decided, 0u);
  Processor next(late, sealer_, clock_, random_, metrics_, nullptr, options);
  ASSERT_TRUE(next.AssignAll().has_value());
  EXPECT_EQ(next.DecidedCommandCount(), 1u);
  Submit(Register("acc_1", "r1"));  // the web tier's retry
  Drain(next);
  EXPECT_EQ(AllEvents().size(), decided);
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
  ASSERT_TRUE(SealCommandSecrets(misrouted, sealer_).has_value());
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

// The commands topic never holds a secret in the clear: the sensitive fields travel sealed
// under the command id, and a record carrying one in plaintext is refused, not decided.
TEST_F(ProcessorTest, CommandSecretsTravelSealed) {
  auto p = NewProcessor();
  v1::Command sealed = Register("acc_1", "c1");
  sealed.set_schema_version(kSchemaVersion);
  ASSERT_TRUE(SealCommandSecrets(sealed, sealer_).has_value());
  EXPECT_TRUE(sealed.register_account().email().empty());
  ASSERT_EQ(sealed.sealed_fields().count("register_account.email"), 1u);
  EXPECT_EQ(EncodeCommand(sealed).find("canary-acc_1"), std::string::npos);
  SubmitRaw(sealed);
  v1::Command plaintext = Register("acc_2", "c2");
  plaintext.set_schema_version(kSchemaVersion);
  SubmitRaw(plaintext);
  Drain(*p);
  EXPECT_TRUE(p->Snapshot("acc_1")->registered);  // opened and decided
  auto events = AllEvents();
  const auto rejected = std::find_if(events.begin(), events.end(),
                                     [](const auto& e) { return e.account_id() == "acc_2"; });
  ASSERT_NE(rejected, events.end());
  ASSERT_TRUE(rejected->has_command_rejected());
  EXPECT_EQ(rejected->command_rejected().reason(), v1::REJECTION_INVALID_ARGUMENT);
  // A sealed field moved to another command does not open there.
  v1::Command moved = Register("acc_3", "c3");
  moved.set_schema_version(kSchemaVersion);
  moved.mutable_register_account()->clear_email();
  (*moved.mutable_sealed_fields())["register_account.email"] =
      sealed.sealed_fields().at("register_account.email");
  SubmitRaw(moved);
  Drain(*p);
  auto snapshot = p->Snapshot("acc_3");
  EXPECT_FALSE(snapshot.has_value() && snapshot->registered);
}

// A value cut to fit an event is cut on a character boundary, so the event reads back (an
// unreadable event would stop every later start).
TEST_F(ProcessorTest, TruncatedStringsStayValidUtf8) {
  auto p = NewProcessor();
  Submit(Register("acc_1", "c1"));
  Submit(Create("acc_1", "c2", "ins_1"));
  v1::Command obs;
  obs.set_command_id("o1");
  obs.set_account_id("acc_1");
  obs.mutable_actor()->set_kind(v1::Actor::KIND_RECONCILER);
  obs.mutable_actor()->set_id("host-1");
  auto* o = obs.mutable_record_observation();
  o->set_host_id("host-1");
  o->set_instance_id("ins_1");
  o->set_revision(1);
  o->set_state(v1::VM_STATE_FAILED);
  o->set_reason(std::string(255, 'a') + "\xC3\xA9tail");  // "é" straddles byte 256
  Submit(obs);
  Drain(*p);
  auto events = AllEvents();  // each one decodes, or AllEvents fails
  ASSERT_EQ(events.size(), 4u);
  ASSERT_TRUE(events[3].has_instance_failed());
  EXPECT_EQ(events[3].instance_failed().reason(), std::string(255, 'a'));
  OpenLog();
  EXPECT_TRUE(NewProcessor()->Snapshot("acc_1").has_value());  // and the log restarts
}

// Every field marked sensitive is one the command sealer handles (a top-level string of a
// payload), so none can be skipped silently.
TEST(CommandSchemaTest, SensitiveFieldsAreSealable) {
  const auto* command = v1::Command::descriptor();
  const auto* payload = command->FindOneofByName("payload");
  int marked = 0;
  for (int i = 0; i < payload->field_count(); ++i) {
    const auto* message = payload->field(i)->message_type();
    for (int f = 0; f < message->field_count(); ++f) {
      const auto* field = message->field(f);
      if (!field->options().GetExtension(v1::sensitive)) continue;
      ++marked;
      EXPECT_EQ(field->type(), google::protobuf::FieldDescriptor::TYPE_STRING)
          << field->full_name();
      EXPECT_FALSE(field->is_repeated()) << field->full_name();
    }
  }
  EXPECT_GE(marked, 10);
  // And no sensitive field hides deeper: none of the nested message types has one.
  const auto* file = command->file();
  for (int m = 0; m < file->message_type_count(); ++m) {
    const auto* message = file->message_type(m);
    bool is_payload = false;
    for (int i = 0; i < payload->field_count(); ++i) {
      if (payload->field(i)->message_type() == message) is_payload = true;
    }
    if (is_payload) continue;
    for (int f = 0; f < message->field_count(); ++f) {
      EXPECT_FALSE(message->field(f)->options().GetExtension(v1::sensitive))
          << message->field(f)->full_name() << " is sensitive but not in a payload";
    }
  }
}

// When the account's key is gone, the processor refuses the command rather than write plaintext.
TEST_F(ProcessorTest, UnsealableFieldIsRefusedNotWritten) {
  auto p = NewProcessor();
  v1::Command reg = Register("acc_1", "c1");
  reg.set_schema_version(kSchemaVersion);
  ASSERT_TRUE(SealCommandSecrets(reg, sealer_).has_value());
  ASSERT_TRUE(sealer_.DestroyAccountKeys("acc_1").has_value());
  SubmitRaw(reg);
  Drain(*p);
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 1u);  // the whole decision became one refusal
  EXPECT_TRUE(events[0].has_command_rejected());
  EXPECT_EQ(events[0].command_rejected().reason(), v1::REJECTION_INVALID_STATE);
  for (const auto& e : events) {
    EXPECT_EQ(e.SerializeAsString().find("canary-acc_1"), std::string::npos);
  }
}

// A retried create draws a new gateway token: it is the same request (recorded outcome, nothing
// appended), but only the first submission's fingerprint matches the decided submission, so
// only the first may show its token.
TEST_F(ProcessorTest, RetriedCreateIsTheSameRequestButNotTheSameSubmission) {
  auto p = NewProcessor();
  Submit(Register("acc_1", "c1"));
  v1::Command first = Create("acc_1", "mk", "ins_1");
  v1::Command retry = first;
  retry.mutable_create_instance()->set_gateway_token("another-token-0123456789-abcdefghij");
  retry.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  auto first_print = CommandFingerprint(first, sealer_);
  auto retry_print = CommandFingerprint(retry, sealer_);
  ASSERT_TRUE(first_print && retry_print);
  EXPECT_NE(*first_print, *retry_print);
  EXPECT_EQ(RequestPart(*first_print), RequestPart(*retry_print));
  Submit(first);
  Drain(*p);
  const size_t before = AllEvents().size();
  auto ticket = board_.Watch("acc_1", "mk");
  Submit(retry);
  Drain(*p);
  EXPECT_EQ(AllEvents().size(), before);
  auto outcome = ticket->Wait(std::chrono::microseconds::zero());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(outcome->accepted());
  EXPECT_TRUE(SameRequest(*outcome, *retry_print));
  EXPECT_TRUE(SameSubmission(*outcome, *first_print));
  EXPECT_FALSE(SameSubmission(*outcome, *retry_print));
  // A different request under the same id is still told so.
  v1::Command other = first;
  other.mutable_create_instance()->set_name("other");
  auto other_print = CommandFingerprint(other, sealer_);
  ASSERT_TRUE(other_print.has_value());
  EXPECT_FALSE(SameRequest(*outcome, *other_print));
}

// Erasure destroys the account's data keys once its events are committed; a processor that
// starts on a log holding an AccountErased destroys them again (a crash between the commit and
// the destruction leaves no key behind).
TEST_F(ProcessorTest, ErasureDestroysTheAccountsKeys) {
  auto p = NewProcessor();
  Submit(Register("acc_1", "c1"));
  Submit(Create("acc_1", "c2", "ins_1"));
  Submit(Register("acc_2", "c1"));
  Drain(*p);
  v1::Command erase;
  erase.set_command_id("erase");
  erase.set_account_id("acc_1");
  erase.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);  // the local owner (engine/access.h)
  erase.mutable_actor()->set_role(v1::ROLE_OWNER);
  erase.mutable_request_account_erasure();
  Submit(erase);
  Drain(*p);
  auto events = AllEvents();
  auto find = [&](const std::string& account) {
    for (const auto& e : events) {
      if (e.has_account_registered() && e.account_id() == account) return e;
    }
    return v1::Envelope{};
  };
  const v1::Envelope erased = find("acc_1");
  const v1::Envelope kept = find("acc_2");
  auto open = [](Sealer& sealer, const v1::Envelope& e) {
    return sealer.Open({e.account_id(), e.event_id(), "account_registered.email"},
                       e.account_registered().email());
  };
  EXPECT_EQ(open(sealer_, erased).error().code, Errc::kNotFound);
  EXPECT_TRUE(open(sealer_, kept).has_value());  // other accounts are untouched

  // A fresh sealer still holding acc_1's key stands for a crash before the destruction.
  testing::FakeSealer survivor;
  auto restarted = std::make_unique<Processor>(*log_, survivor, clock_, random_, metrics_, &board_,
                                               ProcessorOptions{});
  ASSERT_TRUE(restarted->AssignAll().has_value());
  ASSERT_TRUE(restarted->ProcessOnce().has_value());
  EXPECT_EQ(survivor.Open({"acc_1", "any", "f"}, v1::Sealed{}).error().code, Errc::kNotFound);
  // Commands for the erased account are refused as erased.
  auto ticket = board_.Watch("acc_1", "after");
  v1::Command after;
  after.set_command_id("after");
  after.set_account_id("acc_1");
  after.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  after.mutable_actor()->set_role(v1::ROLE_OWNER);
  after.mutable_start_instance()->set_instance_id("ins_1");
  const size_t before = AllEvents().size();
  Submit(after);
  Drain(*p);
  auto outcome = ticket->Wait(std::chrono::microseconds::zero());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->rejection_reason(), v1::REJECTION_ACCOUNT_ERASED);
  // Answered, not recorded: an erased account's trail never grows again.
  EXPECT_EQ(AllEvents().size(), before);
}

}  // namespace
}  // namespace clawvisor
