// vm_bench: the reconciler's figures beside a peer measured in the same run.
//
//  1. StartInstance → observed healthy: a StartInstance command through `serve`'s own stack
//     (EmbeddedNode: command service, processor, projections, in-process reconciler, real QEMU)
//     until the projection shows VM_STATE_RUNNING, beside a raw loop that launches the same QEMU
//     command line (QemuMicrovmDriver::CommandLine) and polls the guest's /healthz.
//  2. Reconcile decisions per second for 10,000 instances with an in-memory driver, beside the
//     floor: the same driver calls (Inspect + CheckHealth per instance) in a bare loop.
//  3. The reconciler's memory per managed instance (heap in use, mallinfo2), beside the size of
//     its ManagedInstance record.
//  4. Placement decisions per second: PlaceInstance for 10,000 instances on 100 hosts, then
//     ReleasePlacement of each (the host registry's Decide + Evolve), beside the account
//     decider's CreateInstance decision for the same instances.
//
// Step 1 goes through placement: the in-process reconciler registers its host and takes each
// instance through the registry before it boots it.
//
// Usage: vm_bench [--boots N] [--guest-dir DIR]   (default 3 boots; the image of
//        ops/guest/build.sh in ~/.cache/clawvisor/guest)

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "adapters/cli/embedded_node.h"
#include "adapters/http/ids.h"
#include "adapters/qemu/qemu_microvm_driver.h"
#include "engine/domain/decider.h"
#include "engine/domain/host_registry.h"
#include "engine/reconcile/reconciler.h"
#include "tests/support/test_values.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

bool Healthy(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
    (void)::send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
    char buf[64] = {};
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
    ok = n > 12 && std::string(buf).find(" 200 ") != std::string::npos;
  }
  ::close(fd);
  return ok;
}

// ---------------------------------------------------------------- 1. start → healthy

double RawBoot(qemu::QemuMicrovmDriver& driver, const std::string& dir, int i) {
  VmSpec spec;
  spec.key = VmKey{"bench", "raw" + std::to_string(i)};
  spec.revision = 1;
  spec.memory_mib = 256;
  spec.disk_bytes = 64ull << 20;
  if (!driver.Create(spec)) return -1;
  const std::string vm = driver.DirOf(spec.key);
  const std::string config = vm + "/raw-config.json";
  FILE* f = std::fopen(config.c_str(), "w");
  std::fputs("{\n  \"gateway_token\": \"bench\",\n  \"credentials\": []\n}\n", f);
  std::fclose(f);
  const uint16_t port = static_cast<uint16_t>(30000 + (::getpid() % 1000) * 10 + i);
  auto argv = driver.CommandLine(spec, vm, port, config);
  (void)dir;
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  while (!Healthy(port)) {
    if (Clock::now() - t0 > 120s) break;
    std::this_thread::sleep_for(20ms);
  }
  const double took = Seconds(Clock::now() - t0);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  (void)driver.Destroy(spec.key);
  return took;
}

double CommandBoot(EmbeddedNode& node, const std::string& account, int i) {
  const std::string id = "b" + std::to_string(i);
  v1::Command create;
  *create.mutable_actor() = WebTierOwner();
  create.set_command_id("mk-" + id);
  create.set_account_id(account);
  create.mutable_create_instance()->set_instance_id(id);
  create.mutable_create_instance()->set_name(id);
  create.mutable_create_instance()->mutable_spec()->set_memory_mib(256);
  create.mutable_create_instance()->mutable_spec()->set_disk_mib(64);
  create.mutable_create_instance()->set_gateway_token("benchGatewayToken_0123456789abcdef" +
                                                      std::to_string(i));
  if (auto o = node.commands().Submit(create, 10s); !o || !o->accepted()) {
    std::fprintf(stderr, "vm_bench: create refused: %s\n", o ? o->message().c_str() : "error");
    return -1;
  }
  v1::Command start;
  *start.mutable_actor() = WebTierOwner();
  start.set_command_id("go-" + id);
  start.set_account_id(account);
  start.mutable_start_instance()->set_instance_id(id);
  const auto t0 = Clock::now();
  (void)node.commands().Submit(start, 10s);
  while (Clock::now() - t0 < 120s) {
    auto view = node.projector().GetInstance(account, id);
    if (view && *view && (*view)->observed_state() == v1::VM_STATE_RUNNING) break;
    std::this_thread::sleep_for(20ms);
  }
  const double took = Seconds(Clock::now() - t0);
  v1::Command del;
  *del.mutable_actor() = WebTierOwner();
  del.set_command_id("rm-" + id);
  del.set_account_id(account);
  del.mutable_delete_instance()->set_instance_id(id);
  (void)node.commands().Submit(del, 10s);
  return took;
}

void BenchBoots(const std::string& guest, int boots) {
  const fs::path data = fs::temp_directory_path() / ("cvbench-" + std::to_string(::getpid()));
  EmbeddedNodeOptions options;
  options.data_dir = data;
  options.partitions = 4;
  qemu::QemuOptions qemu_options;
  qemu_options.vm_dir = "/tmp/cvb-" + std::to_string(::getpid());
  qemu_options.kernel = guest + "/kernel";
  qemu_options.initrd = guest + "/initramfs.cpio.gz";
  EmbeddedNodeOptions::Vms vms;
  vms.driver = qemu_options;
  v1::InstanceSpec capacity;
  capacity.set_vcpus(64);
  capacity.set_memory_mib(65536);
  capacity.set_disk_mib(1 << 20);
  vms.reconciler.capacity = capacity;
  vms.reconciler.health_interval = 50ms;
  vms.reconciler.idle_pause_after = 0us;
  options.vms = vms;
  auto node = EmbeddedNode::Open(options);
  if (!node || !(*node)->Start()) {
    std::fprintf(stderr, "vm_bench: cannot start the node\n");
    return;
  }
  v1::Command reg;
  *reg.mutable_actor() = WebTierOwner();
  reg.set_command_id("reg-bench");
  reg.mutable_register_account()->set_email("bench@example.com");
  reg.mutable_register_account()->set_plan(v1::PLAN_STANDARD);
  reg.set_account_id(DeriveAccountId(reg.command_id()));
  auto outcome = (*node)->commands().Submit(reg, 10s);
  if (!outcome || !outcome->accepted()) {
    std::fprintf(stderr, "vm_bench: registration refused: %s\n",
                 outcome ? outcome->message().c_str() : outcome.error().ToString().c_str());
    return;
  }
  const std::string account = outcome->account_id();

  // The raw loop needs QEMU's command line: the node's driver is the QEMU one (the options).
  auto& driver = dynamic_cast<qemu::QemuMicrovmDriver&>(*(*node)->vm_driver());
  std::vector<double> via_commands, raw;
  for (int i = 0; i < boots; ++i) {
    via_commands.push_back(CommandBoot(**node, account, i));
    raw.push_back(RawBoot(driver, qemu_options.vm_dir, i));
  }
  const bool kvm = driver.accel() == qemu::Accel::kKvm;
  (*node)->Stop();
  node->reset();
  fs::remove_all(data);
  fs::remove_all(qemu_options.vm_dir);
  std::printf("\n1. StartInstance -> observed healthy (%s, %d boots, median seconds)\n",
              kvm ? "KVM" : "TCG", boots);
  std::printf("   %-44s %8.2f s\n", "clawvisor: command -> RUNNING in projection",
              Median(via_commands));
  std::printf("   %-44s %8.2f s\n", "raw: same QEMU command line -> /healthz 200", Median(raw));
  std::printf("   %-44s %8.2f s\n", "reconciler + command path overhead",
              Median(via_commands) - Median(raw));
}

// ---------------------------------------------------------------- 2 and 3. fake driver

class MemoryDriver final : public VmDriver {
 public:
  Status Create(const VmSpec& spec) override {
    vms_[spec.key] =
        VmStatus{spec.key, spec.revision, VmRunState::kStopped, 4 << 20, spec.disk_bytes, 0, ""};
    return {};
  }
  Status Start(const VmSpec& spec, const std::string&) override {
    vms_[spec.key].state = VmRunState::kRunning;
    return {};
  }
  Status Stop(const VmKey& k) override {
    vms_[k].state = VmRunState::kStopped;
    return {};
  }
  Status Pause(const VmKey& k) override {
    vms_[k].state = VmRunState::kPaused;
    return {};
  }
  Status Resume(const VmKey& k) override {
    vms_[k].state = VmRunState::kRunning;
    return {};
  }
  Status Destroy(const VmKey& k) override {
    vms_.erase(k);
    return {};
  }
  Result<std::optional<VmStatus>> Inspect(const VmKey& k) override {
    auto it = vms_.find(k);
    if (it == vms_.end()) return std::optional<VmStatus>();
    return std::optional<VmStatus>(it->second);
  }
  Result<std::vector<VmStatus>> List() override {
    std::vector<VmStatus> out;
    for (auto& [k, v] : vms_) out.push_back(v);
    return out;
  }
  HealthReport CheckHealth(const VmKey& k, const HealthProbe&) override {
    return {vms_.contains(k) && vms_[k].state == VmRunState::kRunning, ""};
  }

 private:
  std::map<VmKey, VmStatus> vms_;
};

class AcceptAll final : public CommandService {
 public:
  Result<v1::CommandOutcome> Submit(const v1::Command& c, std::chrono::milliseconds) override {
    v1::CommandOutcome o;
    o.set_command_id(c.command_id());
    o.set_accepted(true);
    return o;
  }
  Result<std::optional<v1::CommandOutcome>> Lookup(std::string_view, std::string_view) override {
    return std::optional<v1::CommandOutcome>();
  }
};

class PlainSecrets final : public InstanceSecrets {
 public:
  Result<InstanceSecretValues> Open(std::string_view, std::string_view) override {
    InstanceSecretValues v;
    v.gateway_token = "0123456789abcdef0123456789abcdef";
    return v;
  }
};

void BenchDecisions(int n) {
  ManualClock clock;
  MemoryDriver driver;
  AcceptAll commands;
  PlainSecrets secrets;
  MetricsRegistry metrics;
  ReconcilerOptions options;
  options.adopt_unplaced = true;
  options.health_interval = 1s;
  options.idle_pause_after = 0us;

  const size_t heap_before = mallinfo2().uordblks;
  auto reconciler =
      std::make_unique<Reconciler>(driver, commands, secrets, clock, metrics, options);
  for (int i = 0; i < n; ++i) {
    v1::Envelope created;
    created.set_account_id("acc-" + std::to_string(i % 1000));
    created.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
    created.set_aggregate_id("ins-" + std::to_string(i));
    created.set_occurred_at_us(clock.NowUs());
    created.mutable_instance_created()->set_revision(1);
    created.mutable_instance_created()->mutable_spec()->set_disk_mib(1024);
    reconciler->Apply(created);
    v1::Envelope start = created;
    start.mutable_instance_start_requested();
    reconciler->Apply(start);
  }
  (void)reconciler->Start();
  const size_t heap_after = mallinfo2().uordblks;

  auto round = [&](const char* what) {
    const auto t0 = Clock::now();
    const size_t done = reconciler->RunDue();
    const double s = Seconds(Clock::now() - t0);
    std::printf("   %-44s %10.0f /s  (%zu reconciles)\n", what, static_cast<double>(done) / s,
                done);
  };
  std::printf("\n2. Reconcile decisions, %d instances, in-memory driver, one thread\n", n);
  round("round 1: boot every instance");
  clock.Advance(1s);
  round("round 2: health probe, report RUNNING");
  clock.Advance(1s);
  round("round 3: steady state (probe, nothing to do)");
  // The floor: the same driver calls with no reconciler around them.
  std::vector<VmKey> keys;
  for (int i = 0; i < n; ++i)
    keys.push_back({"acc-" + std::to_string(i % 1000), "ins-" + std::to_string(i)});
  const auto t0 = Clock::now();
  size_t healthy = 0;
  for (const auto& k : keys) {
    auto s = driver.Inspect(k);
    if (s && *s && driver.CheckHealth(k, HealthProbe{}).healthy) ++healthy;
  }
  const double floor_s = Seconds(Clock::now() - t0);
  std::printf("   %-44s %10.0f /s  (%zu healthy)\n", "peer: bare Inspect + CheckHealth loop",
              static_cast<double>(n) / floor_s, healthy);

  std::printf("\n3. Reconciler memory per managed instance (%d instances)\n", n);
  std::printf("   %-44s %10.0f bytes\n", "heap in use per instance (mallinfo2)",
              static_cast<double>(heap_after - heap_before) / n);
  std::printf("   %-44s %10zu bytes\n", "peer: sizeof(ManagedInstance)", sizeof(ManagedInstance));
}

// Decides `command` on `state` and folds the events in, as the processor does.
bool DecideAndApply(AccountState& state, v1::Command& command, int64_t n) {
  command.set_command_id("c-" + std::to_string(n));
  auto decision = Decide(state, command, 1'700'000'000'000'000);
  if (!decision) return false;
  for (auto& e : *decision) {
    e.set_account_id(state.account_id);
    e.set_event_id("e-" + std::to_string(n));
    Evolve(state, e);
  }
  return true;
}

void BenchPlacement(int n) {
  constexpr int kHosts = 100;
  AccountState registry;
  registry.account_id = std::string(kHostRegistryAccountId);
  v1::Actor host;
  host.set_kind(v1::Actor::KIND_RECONCILER);
  int64_t seq = 0;
  for (int h = 0; h < kHosts; ++h) {
    v1::Command c;
    c.set_account_id(registry.account_id);
    host.set_id("host-" + std::to_string(h));
    *c.mutable_actor() = host;
    c.mutable_register_host()->set_host_id(host.id());
    c.mutable_register_host()->mutable_capacity()->set_vcpus(256);
    c.mutable_register_host()->mutable_capacity()->set_memory_mib(262144);
    c.mutable_register_host()->mutable_capacity()->set_disk_mib(1 << 22);
    (void)DecideAndApply(registry, c, ++seq);
  }
  std::printf("\n4. Placement decisions, %d instances on %d hosts, one thread\n", n, kHosts);
  host.set_id("host-0");
  auto t0 = Clock::now();
  int placed = 0;
  for (int i = 0; i < n; ++i) {
    v1::Command c;
    c.set_account_id(registry.account_id);
    *c.mutable_actor() = host;
    auto* p = c.mutable_place_instance();
    p->set_incarnation_id("inc-" + std::to_string(i));
    p->set_instance_account_id("acc-" + std::to_string(i % 1000));
    p->set_instance_id("ins-" + std::to_string(i));
    p->set_revision(1);
    p->mutable_spec()->set_vcpus(1);
    p->mutable_spec()->set_memory_mib(512);
    p->mutable_spec()->set_disk_mib(1024);
    placed += DecideAndApply(registry, c, ++seq) ? 1 : 0;
  }
  double s = Seconds(Clock::now() - t0);
  std::printf("   %-44s %10.0f /s  (%d placed)\n", "PlaceInstance (choose a host, reserve)",
              placed / s, placed);
  t0 = Clock::now();
  int released = 0;
  for (int i = 0; i < n; ++i) {
    v1::Command c;
    c.set_account_id(registry.account_id);
    const auto& placement = registry.host_registry.placements.at("inc-" + std::to_string(i));
    host.set_id(placement.host_id);
    *c.mutable_actor() = host;
    c.mutable_release_placement()->set_incarnation_id("inc-" + std::to_string(i));
    released += DecideAndApply(registry, c, ++seq) ? 1 : 0;
  }
  s = Seconds(Clock::now() - t0);
  std::printf("   %-44s %10.0f /s  (%d released)\n", "ReleasePlacement (give back, scan queue)",
              released / s, released);

  // The peer: the account decider's own decision for the same instances (1000 accounts).
  std::map<std::string, AccountState> accounts;
  const v1::Actor web = WebTierOwner();
  for (int a = 0; a < 1000; ++a) {
    AccountState& account = accounts["acc-" + std::to_string(a)];
    account.account_id = "acc-" + std::to_string(a);
    v1::Command reg;
    reg.set_account_id(account.account_id);
    *reg.mutable_actor() = web;
    reg.mutable_register_account()->set_email("o@example.com");
    (void)DecideAndApply(account, reg, ++seq);
  }
  t0 = Clock::now();
  int created = 0;
  for (int i = 0; i < n; ++i) {
    AccountState& account = accounts["acc-" + std::to_string(i % 1000)];
    v1::Command c;
    c.set_account_id(account.account_id);
    *c.mutable_actor() = web;
    auto* p = c.mutable_create_instance();
    p->set_instance_id("ins-" + std::to_string(i));
    p->set_name("agent");
    p->set_gateway_token("tokenFromTheApi_0123456789abcdef");
    created += DecideAndApply(account, c, ++seq) ? 1 : 0;
  }
  s = Seconds(Clock::now() - t0);
  std::printf("   %-44s %10.0f /s  (%d created)\n", "peer: CreateInstance (account decider)",
              created / s, created);
}

}  // namespace
}  // namespace clawvisor

int main(int argc, char** argv) {
  int boots = 3;
  const char* home = std::getenv("HOME");
  std::string guest = std::string(home != nullptr ? home : "/root") + "/.cache/clawvisor/guest";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--boots") boots = std::atoi(argv[i + 1]);
    if (flag == "--guest-dir") guest = argv[i + 1];
  }
  std::printf("vm_bench: reconciler figures beside peers measured in the same run\n");
  clawvisor::BenchDecisions(10'000);
  clawvisor::BenchPlacement(10'000);
  if (boots > 0) clawvisor::BenchBoots(guest, boots);
  return 0;
}
