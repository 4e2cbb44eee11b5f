#include "engine/reconcile/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/fake_instance_secrets.h"
#include "tests/support/fake_vm_driver.h"
#include "tests/support/loopback_commands.h"

namespace clawvisor {
namespace {

using namespace std::chrono_literals;
using testing::FakeInstanceSecrets;
using testing::FakeVmDriver;
using testing::LoopbackCommands;

constexpr uint64_t kMiB = 1024 * 1024;

ReconcilerOptions TestOptions() {
  ReconcilerOptions o;
  o.host_id = "host-a";
  o.adopt_unplaced = true;
  o.health_interval = 1s;
  o.boot_grace = 10s;
  o.failures_before_restart = 3;
  o.max_restarts = 2;
  o.backoff_base = 1s;
  o.backoff_max = 60s;
  o.max_retries = 3;
  o.idle_pause_after = 0us;  // the timer tests turn it on
  return o;
}

// The reconciler against a fake driver, the real Decide() (LoopbackCommands) and a simulated
// clock: every wait is a clock advance, nothing sleeps.
class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Make();
    Register("acc-1", v1::PLAN_STANDARD);
    Deliver();
    ASSERT_TRUE(r_->Start().has_value());
  }

  void Make() {
    r_ = std::make_unique<Reconciler>(driver_, commands_, secrets_, clock_, metrics_, options_);
  }

  size_t Deliver() {
    return commands_.Deliver([this](const v1::Envelope& e) { r_->Apply(e); });
  }

  // Delivers events and runs due keys until nothing moves.
  void Pump() {
    for (int i = 0; i < 100; ++i) {
      const size_t delivered = Deliver();
      const size_t ran = r_->RunDue();
      if (delivered == 0 && ran == 0) return;
    }
    FAIL() << "the reconciler did not settle";
  }

  // Moves the clock forward in `step`s for `total`, pumping after each.
  void Run(std::chrono::microseconds total, std::chrono::microseconds step = 1s) {
    for (std::chrono::microseconds t{0}; t < total; t += step) {
      clock_.Advance(step);
      Pump();
    }
  }

  void Register(const std::string& account, v1::Plan plan) {
    v1::Command c;
    c.mutable_register_account()->set_email("owner@example.com");
    c.mutable_register_account()->set_plan(plan);
    ASSERT_TRUE(commands_.Send(c, account).accepted());
  }

  VmKey Create(const std::string& id, const std::string& account = "acc-1",
               uint32_t disk_mib = 64) {
    v1::Command c;
    c.mutable_create_instance()->set_instance_id(id);
    c.mutable_create_instance()->set_name("agent " + id);
    c.mutable_create_instance()->mutable_spec()->set_disk_mib(disk_mib);
    c.mutable_create_instance()->set_gateway_token("tokenFromTheApi_0123456789abcdef");
    c.mutable_create_instance()->set_volume_key("volumeKeyFromTheApi_0123456789abcdef");
    EXPECT_TRUE(commands_.Send(c, account).accepted());
    return VmKey{account, id};
  }

  void Start(const VmKey& key) {
    v1::Command c;
    c.mutable_start_instance()->set_instance_id(key.instance_id);
    EXPECT_TRUE(commands_.Send(c, key.account_id).accepted());
  }

  // Creates and starts an instance and runs until the events record it running.
  VmKey CreateRunning(const std::string& id) {
    VmKey key = Create(id);
    Start(key);
    Pump();
    Run(2s);
    EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
    return key;
  }

  FakeVmDriver::Vm VmOf(const VmKey& key) {
    const auto* vm = driver_.Find(key);
    if (vm == nullptr) {
      ADD_FAILURE() << "no VM for " << key.ToString();
      return {};
    }
    return *vm;
  }

  v1::VmState Observed(const VmKey& key) {
    return commands_.Account(key.account_id).instances.at(key.instance_id).observed;
  }
  DesiredState Desired(const VmKey& key) {
    return commands_.Account(key.account_id).instances.at(key.instance_id).desired;
  }

  int CountEvents(v1::Envelope::PayloadCase type) {
    const auto& h = commands_.history();
    return static_cast<int>(std::count_if(
        h.begin(), h.end(), [type](const auto& e) { return e.payload_case() == type; }));
  }
  // The last event of a type (an empty envelope, and a failure, when there is none).
  v1::Envelope LastEvent(v1::Envelope::PayloadCase type) {
    const auto& h = commands_.history();
    for (auto it = h.rbegin(); it != h.rend(); ++it) {
      if (it->payload_case() == type) return *it;
    }
    ADD_FAILURE() << "no event of type " << static_cast<int>(type);
    return {};
  }

  ManualClock clock_;
  FakeVmDriver driver_;
  LoopbackCommands commands_{clock_};
  FakeInstanceSecrets secrets_;
  MetricsRegistry metrics_;
  ReconcilerOptions options_ = TestOptions();
  std::unique_ptr<Reconciler> r_;
};

// A start request boots the VM with its secrets in the config, and RUNNING is recorded only
// once the guest answers its health check.
TEST_F(ReconcilerTest, StartBootsAndRecordsRunningWhenHealthy) {
  const VmKey key = Create("ins-1");
  Start(key);
  Pump();
  const FakeVmDriver::Vm vm = VmOf(key);
  EXPECT_EQ(vm.state, VmRunState::kRunning);
  EXPECT_EQ(vm.spec.disk_bytes, 64 * kMiB);
  EXPECT_NE(vm.config.find("\"gateway_token\": \"gw-ins-1-1\""), std::string::npos);
  EXPECT_NE(vm.config.find("sk-canary-4242"), std::string::npos);
  EXPECT_EQ(Observed(key), v1::VM_STATE_PENDING);  // not healthy yet: not reported

  Run(1s);
  EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
  const v1::Envelope started = LastEvent(v1::Envelope::kInstanceStarted);
  EXPECT_EQ(started.instance_started().host_id(), "host-a");
  EXPECT_EQ(started.actor().kind(), v1::Actor::KIND_RECONCILER);
  // Steady state: probing again reports nothing new.
  Run(5s);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceStarted), 1);
  EXPECT_EQ(VmOf(key).boots, 1);
}

// Several events for one instance wake it once: the queue merges duplicates.
TEST_F(ReconcilerTest, DuplicateWakeupsAreMerged) {
  const VmKey key = Create("ins-1");
  Start(key);
  v1::Command stop;
  stop.mutable_stop_instance()->set_instance_id("ins-1");
  commands_.Send(stop);
  Start(key);
  Deliver();
  EXPECT_EQ(r_->QueueSize(), 1u);
  EXPECT_EQ(r_->RunDue(), 1u);
  EXPECT_EQ(driver_.CountCalls("Inspect"), 1);
}

// The kill switch: a stop request is reconciled before every other queued instance.
TEST_F(ReconcilerTest, StopRequestActsBeforeAnythingQueued) {
  const VmKey victim = CreateRunning("victim");
  for (int i = 0; i < 5; ++i) Create("other-" + std::to_string(i));
  Deliver();  // five creations queued
  v1::Command stop;
  stop.mutable_stop_instance()->set_instance_id("victim");
  stop.mutable_stop_instance()->set_immediate(true);
  commands_.Send(stop);
  Deliver();
  driver_.ClearCalls();
  r_->RunDue();
  const auto calls = driver_.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0], "Inspect acc-1/victim");
  EXPECT_EQ(calls[1], "Stop acc-1/victim");
  Pump();
  EXPECT_EQ(Observed(victim), v1::VM_STATE_STOPPED);
  EXPECT_EQ(VmOf(victim).state, VmRunState::kStopped);
}

// Pause freezes the VM (recorded PAUSED); resume lets it run and RUNNING is recorded again.
TEST_F(ReconcilerTest, PauseAndResume) {
  const VmKey key = CreateRunning("ins-1");
  v1::Command pause;
  pause.mutable_pause_instance()->set_instance_id("ins-1");
  ASSERT_TRUE(commands_.Send(pause).accepted());
  Pump();
  EXPECT_EQ(VmOf(key).state, VmRunState::kPaused);
  EXPECT_EQ(Observed(key), v1::VM_STATE_PAUSED);
  v1::Command resume;
  resume.mutable_resume_instance()->set_instance_id("ins-1");
  ASSERT_TRUE(commands_.Send(resume).accepted());
  Pump();
  EXPECT_EQ(VmOf(key).state, VmRunState::kRunning);
  Run(1s);
  EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
  EXPECT_EQ(VmOf(key).boots, 1);  // resumed, not rebooted
}

// Delete destroys the VM and its disk, records InstanceDeleted, and forgets the instance.
TEST_F(ReconcilerTest, DeleteDestroysVmAndDisk) {
  const VmKey key = CreateRunning("ins-1");
  v1::Command del;
  del.mutable_delete_instance()->set_instance_id("ins-1");
  ASSERT_TRUE(commands_.Send(del).accepted());
  Pump();
  EXPECT_EQ(driver_.Find(key), nullptr);
  EXPECT_EQ(driver_.CountCalls("Destroy"), 1);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceDeleted), 1);
  EXPECT_EQ(r_->Find(key), nullptr);
  EXPECT_EQ(r_->ManagedCount(), 0u);
}

// K failed health checks restart the VM; after max_restarts restarts it is stopped and the
// reason recorded. Failures while it boots (within boot_grace, never healthy) do not count.
TEST_F(ReconcilerTest, FailingHealthRestartsThenStops) {
  const VmKey key = CreateRunning("ins-1");
  driver_.SetHealthy(key, false);
  Run(3s);  // three failures
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceHealthCheckFailed), 3);
  EXPECT_EQ(VmOf(key).boots, 2);  // restarted once
  const v1::Envelope failed = LastEvent(v1::Envelope::kInstanceHealthCheckFailed);
  EXPECT_EQ(failed.instance_health_check_failed().consecutive_failures(), 3u);
  EXPECT_EQ(failed.instance_health_check_failed().detail(), "HTTP 503");

  // The rebooted guest is still unhealthy: nothing counts during its boot grace...
  driver_.SetHealthy(key, false);
  Run(9s);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceHealthCheckFailed), 3);
  // ...then three more failures, a second restart, and the third round stops it.
  Run(30s);
  EXPECT_EQ(VmOf(key).boots, 3);
  EXPECT_EQ(VmOf(key).state, VmRunState::kStopped);
  EXPECT_EQ(Observed(key), v1::VM_STATE_STOPPED);
  const v1::Envelope stopped = LastEvent(v1::Envelope::kInstanceStopped);
  EXPECT_NE(stopped.instance_stopped().reason().find("health check failing after 2 restarts"),
            std::string::npos);
  // It stays stopped until someone asks again.
  Run(60s, 5s);
  EXPECT_EQ(VmOf(key).boots, 3);
  Start(key);
  Run(2s);
  EXPECT_EQ(VmOf(key).boots, 4);
}

// A data disk filled past the stop mark stops the instance and records InstanceQuotaExceeded.
TEST_F(ReconcilerTest, DiskOverQuotaStopsInstance) {
  const VmKey key = CreateRunning("ins-1");
  driver_.SetDiskUsed(key, 54 * kMiB);  // 64 MiB quota, 85 % stop mark = 54.4 MiB
  Run(2s);
  EXPECT_EQ(VmOf(key).state, VmRunState::kRunning);
  driver_.SetDiskUsed(key, 60 * kMiB);
  Run(1s);
  EXPECT_EQ(VmOf(key).state, VmRunState::kStopped);
  const v1::Envelope quota = LastEvent(v1::Envelope::kInstanceQuotaExceeded);
  EXPECT_EQ(quota.instance_quota_exceeded().resource(), "disk");
  EXPECT_EQ(quota.instance_quota_exceeded().used(), 60 * kMiB);
  EXPECT_EQ(Observed(key), v1::VM_STATE_STOPPED);
  Run(10s);
  EXPECT_EQ(VmOf(key).boots, 1);  // not restarted behind the user's back

  // Started again, the guest trims at boot what was deleted: the space its disk file held
  // before it first answered a health check does not stop it again.
  driver_.TrimAtNextBoot(key, 20 * kMiB);
  Start(key);
  Pump();
  Run(5s, 100ms);
  EXPECT_EQ(VmOf(key).boots, 2);
  EXPECT_EQ(VmOf(key).state, VmRunState::kRunning);
  EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceQuotaExceeded), 1);
}

// The reconciler hands the driver the instance's volume key, to create the encrypted disk with
// and to open it at every boot; the guest's configuration never holds it.
TEST_F(ReconcilerTest, TheVolumeKeyGoesToTheDriverNotTheGuest) {
  const VmKey key = CreateRunning("ins-1");
  EXPECT_EQ(VmOf(key).volume_key, "vk-ins-1");
  EXPECT_EQ(VmOf(key).config.find("vk-ins-1"), std::string::npos);
}

// A VM process that dies is recorded (InstanceFailed) and booted again; RUNNING follows.
TEST_F(ReconcilerTest, CrashedVmIsRecordedAndRestarted) {
  const VmKey key = CreateRunning("ins-1");
  driver_.Kill(key);
  Run(1s);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceFailed), 1);
  EXPECT_NE(LastEvent(v1::Envelope::kInstanceFailed).instance_failed().reason().find("exited"),
            std::string::npos);
  EXPECT_EQ(VmOf(key).boots, 2);
  Run(2s);
  EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceStarted), 2);
}

// Errors requeue with exponential backoff; after max_retries the instance is recorded FAILED.
TEST_F(ReconcilerTest, ErrorsBackOffThenFail) {
  const VmKey key = Create("ins-1");
  driver_.FailNext("Start", 100);
  Start(key);
  Pump();
  EXPECT_EQ(driver_.CountCalls("Start"), 1);
  clock_.Advance(999ms);
  Pump();
  EXPECT_EQ(driver_.CountCalls("Start"), 1);  // 1 s backoff not over
  clock_.Advance(1ms);
  Pump();
  EXPECT_EQ(driver_.CountCalls("Start"), 2);
  clock_.Advance(2s);
  Pump();
  EXPECT_EQ(driver_.CountCalls("Start"), 3);
  clock_.Advance(4s);
  Pump();
  EXPECT_EQ(driver_.CountCalls("Start"), 4);
  EXPECT_EQ(Observed(key), v1::VM_STATE_FAILED);
  EXPECT_NE(LastEvent(v1::Envelope::kInstanceFailed)
                .instance_failed()
                .reason()
                .find("gave up after 4 attempts"),
            std::string::npos);
  Run(120s, 10s);
  EXPECT_EQ(driver_.CountCalls("Start"), 4);  // left alone until a new request
}

// A command service that is down is an error like any other: retried, nothing lost.
TEST_F(ReconcilerTest, ReportRetriedWhenCommandServiceFails) {
  const VmKey key = Create("ins-1");
  Start(key);
  Pump();
  commands_.FailSubmits(1);
  Run(1s);
  EXPECT_EQ(Observed(key), v1::VM_STATE_PENDING);
  Run(2s);
  EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
}

// A VM of an older revision of the same id is destroyed, never adopted.
TEST_F(ReconcilerTest, OldRevisionVmIsDestroyed) {
  FakeVmDriver::Vm old;
  old.spec.key = VmKey{"acc-1", "ins-1"};
  old.spec.revision = 7;
  old.state = VmRunState::kRunning;
  driver_.Put(old);
  const VmKey key = Create("ins-1");  // revision 1
  Start(key);
  Pump();
  EXPECT_EQ(driver_.CountCalls("Destroy"), 1);
  ASSERT_NE(driver_.Find(key), nullptr);
  EXPECT_EQ(VmOf(key).spec.revision, 1u);
  EXPECT_EQ(VmOf(key).boots, 1);
}

// A restarted reconciler adopts the running VMs it finds (no reboot) and removes orphans.
TEST_F(ReconcilerTest, RestartAdoptsRunningVmsAndRemovesOrphans) {
  const VmKey a = CreateRunning("ins-a");
  const VmKey b = CreateRunning("ins-b");
  FakeVmDriver::Vm orphan;
  orphan.spec.key = VmKey{"acc-9", "gone"};
  orphan.spec.revision = 1;
  orphan.state = VmRunState::kRunning;
  driver_.Put(orphan);
  driver_.ClearCalls();

  // A new reconciler replays the same events (its event feed starts from the beginning).
  Make();
  for (const auto& e : commands_.history()) r_->Apply(e);
  ASSERT_TRUE(r_->Start().has_value());
  Run(3s);
  EXPECT_EQ(driver_.CountCalls("Start"), 0);
  EXPECT_EQ(driver_.CountCalls("Stop"), 0);
  EXPECT_EQ(VmOf(a).boots, 1);
  EXPECT_EQ(VmOf(b).boots, 1);
  EXPECT_EQ(driver_.Find(VmKey{"acc-9", "gone"}), nullptr);
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceStarted), 2);  // nothing re-reported
}

// Instances placed on another host are not this reconciler's business.
TEST_F(ReconcilerTest, IgnoresInstancesPlacedElsewhere) {
  const VmKey key = Create("ins-1");
  v1::Envelope placed;
  placed.set_account_id("acc-1");
  placed.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
  placed.set_aggregate_id("ins-1");
  placed.mutable_instance_placed()->set_host_id("host-b");
  commands_.Inject(placed);
  Start(key);
  Run(3s);
  EXPECT_EQ(driver_.Find(key), nullptr);
  EXPECT_EQ(r_->ManagedCount(), 0u);
}

// A rotated gateway token or a changed credential reboots the VM with the new configuration.
TEST_F(ReconcilerTest, ConfigChangeRebootsWithNewSecrets) {
  const VmKey key = CreateRunning("ins-1");
  secrets_.generation = 2;
  v1::Envelope rotated;
  rotated.set_account_id("acc-1");
  rotated.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
  rotated.set_aggregate_id("ins-1");
  rotated.mutable_gateway_token_rotated();
  commands_.Inject(rotated);
  Run(1s);
  EXPECT_EQ(VmOf(key).boots, 2);
  EXPECT_NE(VmOf(key).config.find("gw-ins-1-2"), std::string::npos);
}

// ---------------------------------------------------------------- lifecycle timers

// No activity for the idle time: paused (reason "idle"); activity afterwards resumes it.
TEST_F(ReconcilerTest, IdleInstanceIsPausedAndResumedOnActivity) {
  options_.idle_pause_after = std::chrono::minutes(30);
  Make();
  for (const auto& e : commands_.history()) r_->Apply(e);
  ASSERT_TRUE(r_->Start().has_value());
  const VmKey key = CreateRunning("ins-1");
  Run(std::chrono::minutes(29), std::chrono::minutes(1));
  EXPECT_EQ(VmOf(key).state, VmRunState::kRunning);
  Run(std::chrono::minutes(2), std::chrono::minutes(1));
  EXPECT_EQ(VmOf(key).state, VmRunState::kPaused);
  EXPECT_EQ(Observed(key), v1::VM_STATE_PAUSED);
  const v1::Envelope pause = LastEvent(v1::Envelope::kInstancePauseRequested);
  EXPECT_EQ(pause.instance_pause_requested().reason(), "idle");
  EXPECT_EQ(pause.actor().kind(), v1::Actor::KIND_SYSTEM);

  // Activity (as a host reports it) wakes it.
  v1::Command activity;
  activity.mutable_actor()->set_kind(v1::Actor::KIND_RECONCILER);
  activity.mutable_actor()->set_id("host-a");
  auto* obs = activity.mutable_record_observation();
  obs->set_host_id("host-a");
  obs->set_instance_id("ins-1");
  obs->set_revision(1);
  obs->set_last_activity_us(clock_.NowUs());
  ASSERT_TRUE(commands_.Send(activity).accepted());
  Run(2s);
  EXPECT_EQ(VmOf(key).state, VmRunState::kRunning);
  EXPECT_EQ(Observed(key), v1::VM_STATE_RUNNING);
  EXPECT_EQ(VmOf(key).boots, 1);
}

// A trial account's instances are deleted when the trial ends (and not a moment before).
TEST_F(ReconcilerTest, TrialEndDeletesInstances) {
  Register("acc-t", v1::PLAN_TRIAL);  // 14-day trial from now
  const VmKey key = Create("ins-t", "acc-t");
  Start(key);
  Pump();
  Run(std::chrono::hours(24 * 14 - 1), std::chrono::hours(1));
  ASSERT_NE(driver_.Find(key), nullptr);
  Run(std::chrono::hours(2), std::chrono::hours(1));
  EXPECT_EQ(driver_.Find(key), nullptr);
  const v1::Envelope del = LastEvent(v1::Envelope::kInstanceDeleteRequested);
  EXPECT_EQ(del.instance_delete_requested().reason(), "trial_ended");
  EXPECT_EQ(CountEvents(v1::Envelope::kInstanceDeleted), 1);
}

// A cancelled subscription stops its instances at once and deletes them 30 days later.
TEST_F(ReconcilerTest, CancelledSubscriptionStopsThenDeletesAfter30Days) {
  const VmKey key = CreateRunning("ins-1");
  v1::Envelope cancelled;
  cancelled.set_account_id("acc-1");
  cancelled.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  cancelled.set_aggregate_id("acc-1");
  cancelled.mutable_subscription_cancelled();  // no date: the reconciler's 30 days apply
  commands_.Inject(cancelled);
  Pump();
  EXPECT_EQ(VmOf(key).state, VmRunState::kStopped);
  EXPECT_EQ(Desired(key), DesiredState::kStopped);
  EXPECT_EQ(LastEvent(v1::Envelope::kInstanceStopRequested).instance_stop_requested().reason(),
            "subscription_cancelled");
  Run(std::chrono::hours(24 * 30 - 1), std::chrono::hours(1));
  ASSERT_NE(driver_.Find(key), nullptr);  // the disk is kept for 30 days
  Run(std::chrono::hours(2), std::chrono::hours(1));
  EXPECT_EQ(driver_.Find(key), nullptr);
  EXPECT_EQ(LastEvent(v1::Envelope::kInstanceDeleteRequested).instance_delete_requested().reason(),
            "subscription_cancelled");
}

// An instance nobody touched for a month is deleted, even a stopped one; a request resets it.
TEST_F(ReconcilerTest, InactiveInstanceDeletedAfterAMonth) {
  const VmKey key = Create("ins-1");
  Start(key);
  Pump();
  v1::Command stop;
  stop.mutable_stop_instance()->set_instance_id("ins-1");
  Run(std::chrono::hours(24 * 20), std::chrono::hours(6));
  commands_.Send(stop);  // a request: activity
  Run(std::chrono::hours(24 * 29), std::chrono::hours(6));
  ASSERT_NE(driver_.Find(key), nullptr);
  Run(std::chrono::hours(24 * 2), std::chrono::hours(6));
  EXPECT_EQ(driver_.Find(key), nullptr);
  EXPECT_EQ(LastEvent(v1::Envelope::kInstanceDeleteRequested).instance_delete_requested().reason(),
            "inactive");
}

// The work queue: urgent first, then by due time; duplicates merged to the earliest.
TEST(WorkQueueTest, UrgentFirstThenDueTimeAndMerged) {
  WorkQueue<std::string> q;
  q.Add("a", 10);
  q.Add("b", 5);
  q.Add("a", 3);
  q.Add("c", 100, /*urgent=*/true);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.PopDue(0), "c");
  EXPECT_EQ(q.PopDue(0), std::nullopt);
  EXPECT_EQ(q.PopDue(4), "a");
  EXPECT_EQ(q.NextDue(), 5);
  EXPECT_EQ(q.PopDue(5), "b");
  EXPECT_EQ(q.size(), 0u);
}

// The guest configuration carries the identity and secrets, one key per line, JSON-escaped.
TEST(GuestConfigTest, OneKeyPerLineAndEscaped) {
  InstanceSecretValues s;
  s.gateway_token = "tok";
  s.credentials.push_back({"a\"b", v1::CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN, "v\n1"});
  const std::string json = GuestConfigJson({"acc", "ins", 3, "h"}, s, {.fail_health = true});
  EXPECT_NE(json.find("\n  \"gateway_token\": \"tok\",\n"), std::string::npos);
  EXPECT_NE(json.find("\"name\": \"a\\\"b\""), std::string::npos);
  EXPECT_NE(json.find("\"value\": \"v\\u000a1\""), std::string::npos);
  EXPECT_NE(json.find("\n    \"fail_health\": true,\n"), std::string::npos);
  EXPECT_NE(json.find("\"revision\": 3,"), std::string::npos);
}

}  // namespace
}  // namespace clawvisor

namespace clawvisor {
namespace {

// A stop/pause/delete reason is recorded only for the engine's own timers (KIND_SYSTEM) and
// only from the closed set; anyone else's request is the user's.
TEST(DecideReasonTest, OnlySystemActorsNameAReason) {
  AccountState state;
  state.account_id = "acc-1";
  state.registered = true;
  state.instances["ins-1"].instance_id = "ins-1";
  state.instances["ins-1"].desired = DesiredState::kRunning;
  v1::Command c;
  c.set_command_id("c-1");
  c.set_account_id("acc-1");
  c.mutable_delete_instance()->set_instance_id("ins-1");
  c.mutable_delete_instance()->set_reason("trial_ended");
  c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  c.mutable_actor()->set_role(v1::ROLE_OWNER);
  auto by_user = Decide(state, c, 0);
  ASSERT_TRUE(by_user.has_value());
  EXPECT_EQ((*by_user)[0].instance_delete_requested().reason(), "user");
  c.mutable_actor()->set_kind(v1::Actor::KIND_SYSTEM);
  auto by_timer = Decide(state, c, 0);
  ASSERT_TRUE(by_timer.has_value());
  EXPECT_EQ((*by_timer)[0].instance_delete_requested().reason(), "trial_ended");
  c.mutable_delete_instance()->set_reason("because");
  auto unknown = Decide(state, c, 0);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace clawvisor

namespace clawvisor {
namespace {

// What the host's doors see (design D9, #14): two bots run side by side on the simulated clock;
// one makes egress and front-door traffic, the other makes none. The busy one is never paused;
// the idle one is paused after the idle time and woken by a front-door request. Traffic is
// reported at most once per instance per minute, and the egress summary counts each connection
// exactly once.
class ReconcilerTrafficTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    options_.idle_pause_after = std::chrono::minutes(30);
    options_.traffic = &traffic_;
    options_.directory = &directory_;
    ReconcilerTest::SetUp();
  }
  int Reports(const VmKey& key) {
    int n = 0;
    for (const auto& e : commands_.history()) {
      if (e.aggregate_id() == key.instance_id &&
          (e.payload_case() == v1::Envelope::kInstanceActivityObserved)) {
        ++n;
      }
    }
    return n;
  }
  std::string ConsoleId(const VmKey& key) {
    for (const auto& e : commands_.history()) {
      if (e.payload_case() == v1::Envelope::kInstanceCreated &&
          e.aggregate_id() == key.instance_id) {
        return e.event_id();
      }
    }
    ADD_FAILURE() << "no InstanceCreated for " << key.ToString();
    return "";
  }
  InstanceTraffic traffic_;
  InstanceDirectory directory_;
};

TEST_F(ReconcilerTrafficTest, ABusyBotIsNotPausedAnIdleOneIsAndARequestWakesIt) {
  const VmKey busy = CreateRunning("busy");
  const VmKey idle = CreateRunning("idle");
  const int busy_reports_before = Reports(busy);

  // 40 minutes: the busy bot opens a connection to its LLM provider every 10 s and gets a
  // front-door request every 30 s.
  uint64_t connections = 0;
  for (int second = 0; second < 40 * 60; second += 10) {
    traffic_.RecordEgress(busy, "api.openai.com", EgressTally{1, 0, 1000, 4000}, clock_.NowUs());
    ++connections;
    if (second % 30 == 0) traffic_.RecordActivity(busy, clock_.NowUs());
    Run(10s, 10s);
  }
  EXPECT_EQ(VmOf(busy).state, VmRunState::kRunning);
  EXPECT_EQ(Desired(busy), DesiredState::kRunning);
  EXPECT_EQ(VmOf(idle).state, VmRunState::kPaused);
  EXPECT_EQ(LastEvent(v1::Envelope::kInstancePauseRequested).aggregate_id(), "idle");

  // At most one report a minute (40 minutes: 40 or 41 reports), and the summaries add up.
  const int reports = Reports(busy) - busy_reports_before;
  EXPECT_GE(reports, 39);
  EXPECT_LE(reports, 41);
  uint64_t summed = 0, received = 0;
  TimestampUs last_end = 0;
  for (const auto& e : commands_.history()) {
    if (e.payload_case() != v1::Envelope::kInstanceEgressSummarized) continue;
    EXPECT_EQ(e.aggregate_id(), "busy");
    const auto& s = e.instance_egress_summarized();
    EXPECT_LE(s.period_start_us(), s.period_end_us());
    EXPECT_GE(s.period_start_us(), last_end);  // periods do not overlap
    last_end = s.period_end_us();
    ASSERT_EQ(s.hosts_size(), 1);
    EXPECT_EQ(s.hosts(0).host(), "api.openai.com");
    summed += s.hosts(0).connections();
    received += s.hosts(0).bytes_received();
  }
  Run(2min, 10s);  // the last tally goes out
  for (const auto& e : commands_.history()) {
    if (e.payload_case() == v1::Envelope::kInstanceEgressSummarized &&
        e.instance_egress_summarized().period_end_us() > last_end) {
      summed += e.instance_egress_summarized().hosts(0).connections();
      received += e.instance_egress_summarized().hosts(0).bytes_received();
    }
  }
  EXPECT_EQ(summed, connections);
  EXPECT_EQ(received, connections * 4000);

  // The directory shows both, by console id: the busy one ready with its port, the idle one
  // asleep but wakeable.
  auto busy_entry = directory_.Find(ConsoleId(busy));
  ASSERT_TRUE(busy_entry.has_value());
  EXPECT_TRUE(busy_entry->ready);
  EXPECT_EQ(busy_entry->key, busy);
  auto idle_entry = directory_.Find(ConsoleId(idle));
  ASSERT_TRUE(idle_entry.has_value());
  EXPECT_FALSE(idle_entry->ready);
  EXPECT_TRUE(idle_entry->wakes_on_request);

  // A front-door request wakes the idle one at once (not at the next minute's report).
  traffic_.RequestWake(idle, clock_.NowUs());
  Run(3s);
  EXPECT_EQ(VmOf(idle).state, VmRunState::kRunning);
  EXPECT_EQ(Desired(idle), DesiredState::kRunning);
  EXPECT_TRUE(directory_.Find(ConsoleId(idle))->ready);
  EXPECT_EQ(VmOf(idle).boots, 1);  // resumed, not rebooted
}

// A webhook path's keyed hash reaches the directory with the event (not at the next pass), a
// rotation replaces it, closing the path removes it; a paused instance keeps its path.
TEST_F(ReconcilerTrafficTest, WebhookPathsFollowTheEventsIntoTheDirectory) {
  const VmKey key = CreateRunning("hooked");
  const std::string console_id = ConsoleId(key);
  EXPECT_FALSE(directory_.FindByWebhookHash(std::string(64, 'a')).has_value());
  auto rotate = [&](char fill) {
    v1::Command c;
    c.mutable_rotate_webhook_path()->set_instance_id(key.instance_id);
    c.mutable_rotate_webhook_path()->set_token_hash(std::string(64, fill));
    EXPECT_TRUE(commands_.Send(c, key.account_id).accepted());
    Deliver();
  };
  rotate('a');
  EXPECT_EQ(directory_.FindByWebhookHash(std::string(64, 'a')), console_id);
  rotate('b');
  EXPECT_FALSE(directory_.FindByWebhookHash(std::string(64, 'a')).has_value());
  EXPECT_EQ(directory_.FindByWebhookHash(std::string(64, 'b')), console_id);
  EXPECT_FALSE(directory_.FindByWebhookHash("").has_value());

  v1::Command pause;
  pause.mutable_pause_instance()->set_instance_id(key.instance_id);
  ASSERT_TRUE(commands_.Send(pause, key.account_id).accepted());
  Pump();
  Run(3s);
  EXPECT_EQ(directory_.FindByWebhookHash(std::string(64, 'b')), console_id);

  v1::Command close;
  close.mutable_disable_webhook_path()->set_instance_id(key.instance_id);
  ASSERT_TRUE(commands_.Send(close, key.account_id).accepted());
  Deliver();
  EXPECT_FALSE(directory_.FindByWebhookHash(std::string(64, 'b')).has_value());
  Run(3s);
  EXPECT_FALSE(directory_.FindByWebhookHash(std::string(64, 'b')).has_value());
}

// Guest images (#15): an instance boots the catalog's default with that image's health settings;
// UpgradeInstance reboots it onto another image (the same disk: no Destroy, no second Create),
// and the image is recorded once the new one is healthy; an unknown image is refused.
class ReconcilerImagesTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    GuestImage v1_image;
    v1_image.name = "openclaw-1";
    v1_image.openclaw_version = "2026.9.6";
    v1_image.boot = {"", "/images/1/kernel", "", "/images/1/rootfs.img"};
    v1_image.health_path = "/readyz";
    v1_image.health_timeout = std::chrono::milliseconds(3000);
    v1_image.min_memory_mib = 2048;
    GuestImage v2_image = v1_image;
    v2_image.name = "openclaw-2";
    v2_image.openclaw_version = "2026.10.1";
    v2_image.boot.rootfs = "/images/2/rootfs.img";
    ASSERT_TRUE(catalog_.Add(v1_image).has_value());
    ASSERT_TRUE(catalog_.Add(v2_image).has_value());
    ASSERT_TRUE(catalog_.SetDefault("openclaw-1").has_value());
    options_.images = &catalog_;
    DecideOptions decide;
    decide.guest_images = catalog_.Versions();
    decide.default_image = catalog_.default_name();
    commands_.SetDecideOptions(decide);
    ReconcilerTest::SetUp();
  }
  GuestImageCatalog catalog_;
};

TEST_F(ReconcilerImagesTest, UpgradeRebootsOntoTheNewImageWithTheDiskKept) {
  const VmKey key = CreateRunning("bot");
  EXPECT_EQ(VmOf(key).booted_image, "openclaw-1");
  EXPECT_EQ(VmOf(key).spec.boot.rootfs, "/images/1/rootfs.img");
  EXPECT_EQ(VmOf(key).spec.memory_mib, 2048u);  // the image's floor
  EXPECT_EQ(VmOf(key).last_probe.path, "/readyz");
  EXPECT_EQ(commands_.Account("acc-1").instances.at("bot").running_image, "openclaw-1");

  v1::Command unknown;
  unknown.mutable_upgrade_instance()->set_instance_id("bot");
  unknown.mutable_upgrade_instance()->set_image("openclaw-9");
  EXPECT_FALSE(commands_.Send(unknown).accepted());
  v1::Command upgrade;
  upgrade.mutable_upgrade_instance()->set_instance_id("bot");
  upgrade.mutable_upgrade_instance()->set_image("openclaw-2");
  ASSERT_TRUE(commands_.Send(upgrade).accepted());
  Pump();
  Run(5s);
  EXPECT_EQ(VmOf(key).booted_image, "openclaw-2");
  EXPECT_EQ(VmOf(key).spec.boot.rootfs, "/images/2/rootfs.img");
  EXPECT_EQ(VmOf(key).boots, 2);
  EXPECT_EQ(driver_.CountCalls("Destroy"), 0);
  EXPECT_EQ(commands_.Account("acc-1").instances.at("bot").running_image, "openclaw-2");
  const auto started = LastEvent(v1::Envelope::kInstanceStarted);
  EXPECT_EQ(started.instance_started().image(), "openclaw-2");
  const auto asked = LastEvent(v1::Envelope::kInstanceUpgradeRequested);
  EXPECT_EQ(asked.instance_upgrade_requested().openclaw_version(), "2026.10.1");
  EXPECT_EQ(asked.instance_upgrade_requested().previous_image(), "openclaw-1");
  // Settled: no further reboots.
  Run(30s);
  EXPECT_EQ(VmOf(key).boots, 2);
  // The same image again is refused.
  upgrade.set_command_id("");
  EXPECT_FALSE(commands_.Send(upgrade).accepted());
}

// A report whose outcome is lost is sent again as the same command: its traffic counts once.
TEST_F(ReconcilerTrafficTest, AReportRetriedAfterATimeoutCountsItsTrafficOnce) {
  const VmKey key = CreateRunning("ins-1");
  traffic_.RecordEgress(key, "api.telegram.org", EgressTally{3, 1, 300, 900}, clock_.NowUs());
  commands_.LoseOutcomes(1);  // decided, but the caller hears a timeout
  Run(2min, 10s);
  int summaries = 0;
  for (const auto& e : commands_.history()) {
    if (e.payload_case() == v1::Envelope::kInstanceEgressSummarized) {
      ++summaries;
      EXPECT_EQ(e.instance_egress_summarized().hosts(0).connections(), 3u);
      EXPECT_EQ(e.instance_egress_summarized().hosts(0).refused(), 1u);
    }
  }
  EXPECT_EQ(summaries, 1);
  // It was sent twice, under one id.
  std::map<std::string, int> sent;
  for (const auto& c : commands_.submitted()) {
    if (c.command_id().starts_with("traffic-")) ++sent[c.command_id()];
  }
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent.begin()->second, 2);
}

// A guest that names many hosts does not grow the audit trail: the rest are "(other)".
TEST(InstanceTrafficTest, HostsBeyondTheCapAreSummedAsOther) {
  InstanceTraffic traffic;
  const VmKey key{"a", "i"};
  for (size_t i = 0; i < InstanceTraffic::kMaxHosts + 10; ++i) {
    traffic.RecordEgress(key, "h" + std::to_string(i) + ".example", EgressTally{1, 0, 1, 1}, 100);
  }
  auto tally = traffic.Take(key);
  ASSERT_TRUE(tally.has_value());
  EXPECT_EQ(tally->egress.size(), InstanceTraffic::kMaxHosts + 1);
  EXPECT_EQ(tally->egress.at(std::string(InstanceTraffic::kOtherHosts)).connections, 10u);
  EXPECT_FALSE(traffic.Take(key).has_value());
  // Refusals alone are not activity.
  traffic.RecordEgress(key, "x.example", EgressTally{0, 5, 0, 0}, 200);
  EXPECT_EQ(traffic.Take(key)->last_activity_us, 0);
}

}  // namespace
}  // namespace clawvisor
