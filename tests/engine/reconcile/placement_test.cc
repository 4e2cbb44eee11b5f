// Placement (engine/host_registry.h): the registry's decisions, and the saga that reconcilers
// on several hosts drive through it, against the real Decide() and fake drivers.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>

#include "engine/domain/decider.h"
#include "engine/domain/host_registry.h"
#include "engine/reconcile/reconciler.h"
#include "tests/support/fake_instance_secrets.h"
#include "tests/support/fake_vm_driver.h"
#include "tests/support/loopback_commands.h"
#include "tests/support/test_values.h"

namespace clawvisor {
namespace {

using namespace std::chrono_literals;
using testing::FakeVmDriver;
using testing::LoopbackCommands;

constexpr TimestampUs kNow = 1'700'000'000'000'000;
const std::string kRegistry(kHostRegistryAccountId);

v1::InstanceSpec Spec(uint32_t vcpus, uint32_t memory_mib, uint32_t disk_mib) {
  v1::InstanceSpec s;
  s.set_vcpus(vcpus);
  s.set_memory_mib(memory_mib);
  s.set_disk_mib(disk_mib);
  return s;
}

v1::Actor HostActor(const std::string& host) {
  v1::Actor a;
  a.set_kind(v1::Actor::KIND_RECONCILER);
  a.set_id(host);
  return a;
}

// The registry decided and evolved as the processor does (Decide + Evolve on one state).
class HostRegistryTest : public ::testing::Test {
 protected:
  HostRegistryTest() { registry_.account_id = kRegistry; }

  Decision Do(v1::Command c, const v1::Actor& actor, const std::string& account = kRegistry) {
    c.set_command_id("c-" + std::to_string(++seq_));
    c.set_account_id(account);
    *c.mutable_actor() = actor;
    auto d = Decide(registry_, c, kNow);
    if (d) {
      for (auto e : *d) {
        e.set_account_id(account);
        Evolve(registry_, e);
      }
    }
    return d;
  }
  Decision Register(const std::string& host, v1::InstanceSpec capacity) {
    v1::Command c;
    c.mutable_register_host()->set_host_id(host);
    *c.mutable_register_host()->mutable_capacity() = capacity;
    return Do(c, HostActor(host));
  }
  Decision Place(const std::string& incarnation, v1::InstanceSpec spec,
                 const std::string& by = "host-a") {
    v1::Command c;
    auto* p = c.mutable_place_instance();
    p->set_incarnation_id(incarnation);
    p->set_instance_account_id("acc-1");
    p->set_instance_id("ins-" + incarnation);
    p->set_revision(1);
    *p->mutable_spec() = spec;
    return Do(c, HostActor(by));
  }
  Decision Release(const std::string& incarnation, const std::string& by) {
    v1::Command c;
    c.mutable_release_placement()->set_incarnation_id(incarnation);
    return Do(c, HostActor(by));
  }
  // Where the registry put an incarnation ("" queued, "-" nowhere).
  std::string HostOf(const std::string& incarnation) const {
    auto it = registry_.host_registry.placements.find(incarnation);
    return it == registry_.host_registry.placements.end() ? "-" : it->second.host_id;
  }

  AccountState registry_;
  int seq_ = 0;
};

TEST_F(HostRegistryTest, PlacesOnTheHostWithMostFreeMemory) {
  ASSERT_TRUE(Register("host-a", Spec(8, 4096, 10000)));
  ASSERT_TRUE(Register("host-b", Spec(8, 8192, 10000)));
  auto first = Place("i1", Spec(1, 2048, 1024));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE((*first)[0].has_instance_scheduled());
  EXPECT_EQ((*first)[0].aggregate_type(), v1::AGGREGATE_TYPE_HOST);
  EXPECT_EQ((*first)[0].aggregate_id(), "host-b");
  ASSERT_TRUE(Place("i2", Spec(1, 2048, 1024)));
  EXPECT_EQ(HostOf("i2"), "host-b");  // 6144 free on b against 4096 on a
  ASSERT_TRUE(Place("i3", Spec(1, 2048, 1024)));
  EXPECT_EQ(HostOf("i3"), "host-a");  // 4096 each: the one with fewer instances
  const HostState& b = registry_.host_registry.hosts.at("host-b");
  EXPECT_EQ(b.used_memory_mib, 4096u);
  EXPECT_EQ(b.used_vcpus, 2u);
  EXPECT_EQ(b.placed, 2u);
}

TEST_F(HostRegistryTest, QueuesWhenNoHostHasRoomAndSchedulesWhenRoomReturns) {
  ASSERT_TRUE(Register("host-a", Spec(2, 1024, 4096)));
  ASSERT_TRUE(Place("i1", Spec(2, 512, 1024)));
  EXPECT_EQ(HostOf("i1"), "host-a");
  auto waiting = Place("i2", Spec(1, 512, 1024));  // memory left, but no vCPU
  ASSERT_TRUE(waiting);
  EXPECT_TRUE((*waiting)[0].has_instance_queued());
  EXPECT_EQ(HostOf("i2"), "");
  ASSERT_TRUE(Place("i3", Spec(1, 512, 1024)));
  EXPECT_EQ(HostOf("i3"), "");

  // Giving i1's room back schedules the queue in order, as far as the room goes.
  auto released = Release("i1", "host-a");
  ASSERT_TRUE(released);
  ASSERT_EQ(released->size(), 3u);
  EXPECT_TRUE((*released)[0].has_placement_released());
  EXPECT_EQ((*released)[1].instance_scheduled().incarnation_id(), "i2");
  EXPECT_EQ((*released)[2].instance_scheduled().incarnation_id(), "i3");
  EXPECT_EQ(HostOf("i1"), "-");
  EXPECT_EQ(registry_.host_registry.hosts.at("host-a").used_vcpus, 2u);

  // A new host takes what still waits.
  ASSERT_TRUE(Place("i4", Spec(4, 512, 1024)));
  EXPECT_EQ(HostOf("i4"), "");
  auto registered = Register("host-b", Spec(4, 4096, 4096));
  ASSERT_TRUE(registered);
  ASSERT_EQ(registered->size(), 2u);
  EXPECT_EQ((*registered)[1].aggregate_id(), "host-b");
  EXPECT_EQ(HostOf("i4"), "host-b");
}

TEST_F(HostRegistryTest, AHostThatShrinksKeepsWhatItHasAndTakesNothingNew) {
  ASSERT_TRUE(Register("host-a", Spec(4, 4096, 4096)));
  ASSERT_TRUE(Place("i1", Spec(1, 1024, 1024)));
  v1::Command drain;
  drain.mutable_register_host()->set_host_id("host-a");
  v1::Actor op;
  op.set_kind(v1::Actor::KIND_OPERATOR);
  op.set_id("op-1");
  ASSERT_TRUE(Do(drain, op));  // an operator drains it: capacity 0
  EXPECT_EQ(HostOf("i1"), "host-a");
  ASSERT_TRUE(Place("i2", Spec(1, 128, 64)));
  EXPECT_EQ(HostOf("i2"), "");
}

TEST_F(HostRegistryTest, RefusesWhatWouldBreakTheBooks) {
  ASSERT_TRUE(Register("host-a", Spec(4, 4096, 4096)));
  ASSERT_TRUE(Place("i1", Spec(1, 1024, 1024)));
  // The same incarnation twice would hold room twice.
  auto again = Place("i1", Spec(1, 1024, 1024), "host-b");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, v1::REJECTION_INVALID_STATE);
  EXPECT_EQ(registry_.host_registry.hosts.at("host-a").placed, 1u);
  // Only the host holding the room gives it back.
  auto stranger = Release("i1", "host-b");
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().reason, v1::REJECTION_PERMISSION_DENIED);
  auto unknown = Release("nope", "host-a");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().reason, v1::REJECTION_INSTANCE_NOT_FOUND);
  // A host registers only itself.
  v1::Command other;
  other.mutable_register_host()->set_host_id("host-z");
  auto impostor = Do(other, HostActor("host-a"));
  ASSERT_FALSE(impostor);
  EXPECT_EQ(impostor.error().reason, v1::REJECTION_PERMISSION_DENIED);
  // Bad input.
  EXPECT_FALSE(Place("i9", Spec(0, 1024, 1024)));
  EXPECT_FALSE(Place("bad id", Spec(1, 1024, 1024)));
  EXPECT_FALSE(Register("host-a", Spec(kMaxHostVcpus + 1, 1, 1)));
  // Users, the web tier and timers have no say over hosts.
  v1::Command reg;
  reg.mutable_register_host()->set_host_id("host-x");
  const v1::Actor web = WebTierOwner();
  auto denied = Do(reg, web);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().reason, v1::REJECTION_PERMISSION_DENIED);
}

TEST_F(HostRegistryTest, TheRegistryTakesHostCommandsOnlyAndOnlyIt) {
  v1::Command account;
  account.mutable_register_account()->set_email("x@example.com");
  auto refused = Do(account, WebTierOwner());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, v1::REJECTION_INVALID_ARGUMENT);
  EXPECT_FALSE(registry_.registered);

  AccountState customer;
  customer.account_id = "acc-1";
  v1::Command reg;
  reg.set_command_id("r1");
  reg.set_account_id("acc-1");
  *reg.mutable_actor() = HostActor("host-a");
  reg.mutable_register_host()->set_host_id("host-a");
  auto misrouted = Decide(customer, reg, kNow);
  ASSERT_FALSE(misrouted);
  EXPECT_EQ(misrouted.error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

// Whatever order hosts register, instances arrive and rooms are given back in, no host is ever
// given more than it offered, and every incarnation holds room at most once.
TEST_F(HostRegistryTest, NeverOvercommitsUnderARandomWorkload) {
  std::mt19937 rng(20261121);
  std::vector<std::string> held;  // incarnations with room or queued
  int next = 0;
  for (int step = 0; step < 2000; ++step) {
    const int what = static_cast<int>(rng() % 10);
    if (what == 0) {
      const std::string host = "host-" + std::to_string(rng() % 4);
      ASSERT_TRUE(Register(host, Spec(1 + rng() % 8, 512 * (1 + rng() % 8), 4096)));
    } else if (what < 6 || held.empty()) {
      const std::string inc = "inc-" + std::to_string(next++);
      ASSERT_TRUE(Place(inc, Spec(1 + rng() % 2, 256 * (1 + rng() % 4), 512)));
      held.push_back(inc);
    } else {
      const size_t pick = rng() % held.size();
      const std::string inc = held[pick];
      const std::string host = HostOf(inc);
      ASSERT_TRUE(Release(inc, host.empty() ? "host-0" : host));
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    std::map<std::string, uint64_t> vcpus, memory;
    for (const auto& [inc, p] : registry_.host_registry.placements) {
      if (p.host_id.empty()) continue;
      vcpus[p.host_id] += p.spec.vcpus();
      memory[p.host_id] += p.spec.memory_mib();
    }
    for (const auto& [id, host] : registry_.host_registry.hosts) {
      // A shrunk host may be over until its instances go; it is never given more.
      EXPECT_EQ(vcpus[id], host.used_vcpus);
      EXPECT_EQ(memory[id], host.used_memory_mib);
    }
  }
  EXPECT_GT(next, 500);
}

// A host records the registry's choice in the instance's account: once, for the current
// revision, and then only that host speaks for the instance.
TEST(RecordPlacementTest, PlacesOnceForTheCurrentRevision) {
  AccountState account;
  account.account_id = "acc-1";
  auto apply = [&](v1::Command c, const v1::Actor& actor) {
    static int seq = 0;
    c.set_command_id("c-" + std::to_string(++seq));
    c.set_account_id("acc-1");
    *c.mutable_actor() = actor;
    auto d = Decide(account, c, kNow);
    if (d) {
      for (auto e : *d) {
        e.set_account_id("acc-1");
        Evolve(account, e);
      }
    }
    return d;
  };
  const v1::Actor web = WebTierOwner();
  v1::Command reg;
  reg.mutable_register_account()->set_email("o@example.com");
  ASSERT_TRUE(apply(reg, web));
  v1::Command create;
  create.mutable_create_instance()->set_instance_id("ins-1");
  create.mutable_create_instance()->set_name("agent");
  create.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  create.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  ASSERT_TRUE(apply(create, web));

  auto place = [](uint64_t revision, const std::string& host) {
    v1::Command c;
    c.mutable_record_placement()->set_instance_id("ins-1");
    c.mutable_record_placement()->set_revision(revision);
    c.mutable_record_placement()->set_host_id(host);
    return c;
  };
  auto stale = apply(place(7, "host-a"), HostActor("host-a"));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().reason, v1::REJECTION_INVALID_STATE);
  auto impostor = apply(place(1, "host-b"), HostActor("host-a"));
  ASSERT_FALSE(impostor);
  EXPECT_EQ(impostor.error().reason, v1::REJECTION_PERMISSION_DENIED);
  auto placed = apply(place(1, "host-a"), HostActor("host-a"));
  ASSERT_TRUE(placed);
  ASSERT_EQ(placed->size(), 1u);
  EXPECT_EQ((*placed)[0].instance_placed().host_id(), "host-a");
  EXPECT_EQ((*placed)[0].instance_placed().revision(), 1u);
  EXPECT_EQ(account.instances.at("ins-1").host_id, "host-a");
  EXPECT_FALSE(apply(place(1, "host-b"), HostActor("host-b")));

  v1::Command observed;
  auto* obs = observed.mutable_record_observation();
  obs->set_instance_id("ins-1");
  obs->set_revision(1);
  obs->set_host_id("host-b");
  obs->set_state(v1::VM_STATE_RUNNING);
  auto elsewhere = apply(observed, HostActor("host-b"));
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().reason, v1::REJECTION_INVALID_STATE);
  // A reconciler reports for its own host only, and names it.
  auto other_host = apply(observed, HostActor("host-a"));
  ASSERT_FALSE(other_host);
  EXPECT_EQ(other_host.error().reason, v1::REJECTION_PERMISSION_DENIED);
  obs->clear_host_id();
  auto anonymous = apply(observed, HostActor("host-a"));
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().reason, v1::REJECTION_PERMISSION_DENIED);
  obs->set_host_id("host-a");
  EXPECT_TRUE(apply(observed, HostActor("host-a")));
}

// Reconcilers on several hosts, each with its own driver, sharing one event feed and the real
// decisions: the saga from InstanceCreated to a VM on exactly one host, and back.
class PlacementSagaTest : public ::testing::Test {
 protected:
  struct Host {
    std::string id;
    FakeVmDriver driver;
    MetricsRegistry metrics;
    std::unique_ptr<Reconciler> reconciler;
  };

  void SetUp() override {
    v1::Command reg;
    reg.mutable_register_account()->set_email("owner@example.com");
    reg.mutable_register_account()->set_plan(v1::PLAN_STANDARD);
    ASSERT_TRUE(commands_.Send(reg).accepted());
  }

  static ReconcilerOptions HostOptions(const std::string& id, v1::InstanceSpec capacity) {
    ReconcilerOptions o;
    o.host_id = id;
    o.capacity = capacity;
    o.health_interval = 1s;
    o.idle_pause_after = 0us;
    return o;
  }

  Host& AddHost(const std::string& id, v1::InstanceSpec capacity) {
    auto host = std::make_unique<Host>();
    host->id = id;
    const ReconcilerOptions o = HostOptions(id, capacity);
    host->reconciler =
        std::make_unique<Reconciler>(host->driver, commands_, secrets_, clock_, host->metrics, o);
    // A host that joins late first reads the log so far, as the service does.
    for (const auto& e : commands_.history()) host->reconciler->Apply(e);
    EXPECT_TRUE(host->reconciler->Start().has_value());
    hosts_.push_back(std::move(host));
    return *hosts_.back();
  }

  void Pump() {
    for (int i = 0; i < 200; ++i) {
      const size_t delivered = commands_.Deliver([this](const v1::Envelope& e) {
        for (auto& h : hosts_) h->reconciler->Apply(e);
      });
      size_t ran = 0;
      for (auto& h : hosts_) ran += h->reconciler->RunDue();
      if (delivered == 0 && ran == 0) return;
    }
    FAIL() << "the hosts did not settle";
  }
  void Run(std::chrono::microseconds total) {
    for (std::chrono::microseconds t{0}; t < total; t += 1s) {
      clock_.Advance(1s);
      Pump();
    }
  }
  VmKey CreateAndStart(const std::string& id, uint32_t memory_mib) {
    v1::Command c;
    c.mutable_create_instance()->set_instance_id(id);
    c.mutable_create_instance()->set_name(id);
    *c.mutable_create_instance()->mutable_spec() = Spec(1, memory_mib, 64);
    c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
    c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
    EXPECT_TRUE(commands_.Send(c).accepted());
    v1::Command s;
    s.mutable_start_instance()->set_instance_id(id);
    EXPECT_TRUE(commands_.Send(s).accepted());
    return VmKey{"acc-1", id};
  }
  void Delete(const VmKey& key) {
    v1::Command d;
    d.mutable_delete_instance()->set_instance_id(key.instance_id);
    EXPECT_TRUE(commands_.Send(d).accepted());
  }
  // The hosts whose driver runs a VM of the instance.
  std::vector<std::string> RunningOn(const VmKey& key) {
    std::vector<std::string> out;
    for (auto& h : hosts_) {
      const auto* vm = h->driver.Find(key);
      if (vm != nullptr && vm->state == VmRunState::kRunning) out.push_back(h->id);
    }
    return out;
  }
  std::string PlacedOn(const VmKey& key) {
    return commands_.Account("acc-1").instances.at(key.instance_id).host_id;
  }
  int Count(v1::Envelope::PayloadCase type) {
    const auto& h = commands_.history();
    return static_cast<int>(std::count_if(
        h.begin(), h.end(), [type](const auto& e) { return e.payload_case() == type; }));
  }
  const HostRegistry& Registry() { return commands_.Account(kRegistry).host_registry; }

  ManualClock clock_{kNow};
  LoopbackCommands commands_{clock_};
  testing::FakeInstanceSecrets secrets_;
  std::vector<std::unique_ptr<Host>> hosts_;
};

TEST_F(PlacementSagaTest, EachInstanceRunsOnExactlyOneHostWithinItsCapacity) {
  AddHost("host-a", Spec(4, 1024, 1000));
  AddHost("host-b", Spec(4, 1024, 1000));
  Pump();
  EXPECT_EQ(Count(v1::Envelope::kHostRegistered), 2);
  std::vector<VmKey> keys;
  for (int i = 0; i < 4; ++i) keys.push_back(CreateAndStart("ins-" + std::to_string(i), 512));
  Run(3s);
  std::map<std::string, int> per_host;
  for (const VmKey& key : keys) {
    const auto running = RunningOn(key);
    ASSERT_EQ(running.size(), 1u) << key.ToString();
    EXPECT_EQ(PlacedOn(key), running[0]);
    ++per_host[running[0]];
  }
  EXPECT_EQ(per_host["host-a"], 2);  // spread: two of 512 MiB on each 1024 MiB host
  EXPECT_EQ(per_host["host-b"], 2);
  EXPECT_EQ(Count(v1::Envelope::kInstancePlaced), 4);
  EXPECT_EQ(Count(v1::Envelope::kInstanceScheduled), 4);
  // Every started event names the host the instance was placed on.
  for (const auto& e : commands_.history()) {
    if (e.has_instance_started()) {
      EXPECT_EQ(e.instance_started().host_id(), PlacedOn(VmKey{"acc-1", e.aggregate_id()}));
    }
  }

  // Full: the fifth waits, and takes the room a deleted instance gives back once its VM is gone.
  const VmKey fifth = CreateAndStart("ins-4", 512);
  Run(3s);
  EXPECT_TRUE(RunningOn(fifth).empty());
  EXPECT_EQ(Count(v1::Envelope::kInstanceQueued), 1);
  EXPECT_EQ(PlacedOn(fifth), "");
  const std::string freed = PlacedOn(keys[1]);
  Delete(keys[1]);
  Run(3s);
  EXPECT_TRUE(RunningOn(keys[1]).empty());
  EXPECT_EQ(RunningOn(fifth), std::vector<std::string>{freed});
  EXPECT_EQ(PlacedOn(fifth), freed);
  for (const auto& [id, host] : Registry().hosts) {
    EXPECT_LE(host.used_memory_mib, host.capacity.memory_mib()) << id;
    EXPECT_EQ(host.placed, 2u) << id;
  }
}

TEST_F(PlacementSagaTest, ARecreatedInstanceIsPlacedAnewAndTheOldRoomReturns) {
  Host& a = AddHost("host-a", Spec(4, 1024, 1000));
  const VmKey key = CreateAndStart("ins-1", 512);
  Run(3s);
  ASSERT_EQ(RunningOn(key), std::vector<std::string>{"host-a"});
  Delete(key);
  Run(3s);
  EXPECT_EQ(a.driver.Find(key), nullptr);
  EXPECT_EQ(Registry().hosts.at("host-a").placed, 0u);
  EXPECT_EQ(Count(v1::Envelope::kPlacementReleased), 1);

  CreateAndStart("ins-1", 512);  // revision 2 of the same id
  Run(3s);
  ASSERT_EQ(RunningOn(key), std::vector<std::string>{"host-a"});
  EXPECT_EQ(a.driver.Find(key)->spec.revision, 2u);
  EXPECT_EQ(Registry().hosts.at("host-a").placed, 1u);
  EXPECT_EQ(Count(v1::Envelope::kInstancePlaced), 2);
}

// Instances created before any host exists wait; the first host to register takes them. A
// host that restarts (a fresh reconciler replaying the log) places nothing twice.
TEST_F(PlacementSagaTest, InstancesWaitForAHostAndARestartPlacesNothingTwice) {
  Host& a = AddHost("host-a", Spec(4, 256, 1000));  // too small for these
  const VmKey one = CreateAndStart("ins-1", 512);
  const VmKey two = CreateAndStart("ins-2", 512);
  Run(3s);
  EXPECT_EQ(Count(v1::Envelope::kInstanceQueued), 2);
  EXPECT_EQ(a.driver.CountCalls("Create"), 0);

  Host& b = AddHost("host-b", Spec(4, 2048, 1000));
  Run(3s);
  EXPECT_EQ(RunningOn(one), std::vector<std::string>{"host-b"});
  EXPECT_EQ(RunningOn(two), std::vector<std::string>{"host-b"});
  const size_t events_before = commands_.history().size();
  const int boots = b.driver.Find(one)->boots;

  // host-b's reconciler restarts: it replays the log, adopts its VMs and asks for nothing new.
  b.reconciler = std::make_unique<Reconciler>(b.driver, commands_, secrets_, clock_, b.metrics,
                                              HostOptions("host-b", Spec(4, 2048, 1000)));
  for (const auto& e : commands_.history()) b.reconciler->Apply(e);
  ASSERT_TRUE(b.reconciler->Start().has_value());
  Run(3s);
  EXPECT_EQ(b.driver.Find(one)->boots, boots);
  EXPECT_EQ(Count(v1::Envelope::kInstancePlaced), 2);
  EXPECT_EQ(Count(v1::Envelope::kInstanceScheduled), 2);
  // Only the restart's own registration was added.
  EXPECT_EQ(commands_.history().size(), events_before + 1);
  EXPECT_EQ(Registry().hosts.at("host-b").placed, 2u);
}

// Partitions are read independently: a host that has read the registry's events but not yet the
// account's InstanceCreated must not take "unknown" for "unwanted" and give the room back.
TEST_F(PlacementSagaTest, AHostBehindOnTheLogKeepsTheRoomOfInstancesItHasNotSeenCreated) {
  AddHost("host-a", Spec(4, 256, 1000));
  const VmKey key = CreateAndStart("ins-1", 512);  // too big: queued
  Run(3s);
  ASSERT_EQ(Count(v1::Envelope::kInstanceQueued), 1);

  // host-c has read only the registry's partition so far.
  auto late = std::make_unique<Host>();
  late->id = "host-c";
  late->reconciler =
      std::make_unique<Reconciler>(late->driver, commands_, secrets_, clock_, late->metrics,
                                   HostOptions("host-c", Spec(0, 0, 0)));
  for (const auto& e : commands_.history()) {
    if (e.account_id() == kRegistry) late->reconciler->Apply(e);
  }
  ASSERT_TRUE(late->reconciler->Start().has_value());
  clock_.Advance(1s);
  late->reconciler->RunDue();
  EXPECT_EQ(Count(v1::Envelope::kPlacementReleased), 0);
  EXPECT_EQ(Registry().placements.size(), 1u);
  for (const auto& c : commands_.submitted()) EXPECT_FALSE(c.has_release_placement());

  // A host with room arrives: the waiting instance runs there.
  AddHost("host-b", Spec(4, 1024, 1000));
  Run(3s);
  EXPECT_EQ(RunningOn(key), std::vector<std::string>{"host-b"});
}

// An instance that ran on a host before the registry counted room (an upgrade) has its room
// recorded on that host, not a second placement.
TEST_F(PlacementSagaTest, AnInstanceRunningBeforePlacementExistedIsCountedWhereItRuns) {
  const VmKey key = CreateAndStart("ins-1", 512);
  v1::Command report;  // what a host of the previous release recorded
  report.set_command_id("obs-legacy");
  report.set_account_id("acc-1");
  report.mutable_actor()->set_kind(v1::Actor::KIND_RECONCILER);
  report.mutable_actor()->set_id("host-a");
  auto* obs = report.mutable_record_observation();
  obs->set_instance_id("ins-1");
  obs->set_revision(1);
  obs->set_host_id("host-a");
  obs->set_state(v1::VM_STATE_RUNNING);
  ASSERT_TRUE(commands_.Submit(report, 0ms)->accepted());
  ASSERT_EQ(PlacedOn(key), "host-a");

  AddHost("host-b", Spec(4, 4096, 1000));  // more room, but the instance is on host-a
  AddHost("host-a", Spec(4, 256, 1000));   // less than the instance uses: recorded all the same
  Run(3s);
  EXPECT_EQ(Registry().hosts.at("host-a").placed, 1u);
  EXPECT_EQ(Registry().hosts.at("host-a").used_memory_mib, 512u);
  EXPECT_EQ(Registry().hosts.at("host-b").placed, 0u);
  EXPECT_EQ(RunningOn(key), std::vector<std::string>{"host-a"});
  EXPECT_EQ(Count(v1::Envelope::kInstancePlaced), 0);
}

}  // namespace
}  // namespace clawvisor
