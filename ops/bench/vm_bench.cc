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
//  5. With --openclaw-image DIR (ops/guest/build-openclaw.sh's output): step 1 for the real
//     OpenClaw gateway (one boot; RUNNING is its /readyz), beside the raw launch's /healthz and
//     /readyz, and the guest's memory (QEMU's RSS once ready).
//
// Usage: vm_bench [--boots N] [--guest-dir DIR] [--openclaw-image DIR] [--only-openclaw]
//        (default 3 boots; the image of ops/guest/build.sh in ~/.cache/clawvisor/guest)

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

// Whether the guest's gateway answers `path` with 200.
bool Answers(uint16_t port, const char* path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = std::string("GET ") + path + " HTTP/1.0\r\n\r\n";
    (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[64] = {};
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
    ok = n > 12 && std::string(buf).find(" 200 ") != std::string::npos;
  }
  ::close(fd);
  return ok;
}

// ---------------------------------------------------------------- 1. start → healthy

// What one boot bench boots: the busybox test image, or a registered production image.
struct BootSubject {
  std::string label;
  VmSpec shape;       // vcpus, memory, disk, and the image's files
  std::string image;  // the registered name ("" for the driver's own test image)
  std::chrono::seconds limit{120};
  const char* ready_path = "/healthz";  // what the reconciler's health check asks
};

// The QEMU process's resident memory (the guest's RAM it has touched, plus QEMU), in MiB.
double RssMib(pid_t pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %lf kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib / 1024;
}

struct RawFigures {
  double healthz = -1;  // launch -> /healthz 200
  double ready = -1;    // launch -> the subject's ready path 200
  double rss_mib = 0;   // QEMU's RSS once ready
};

RawFigures RawBoot(qemu::QemuMicrovmDriver& driver, const BootSubject& subject, int i) {
  VmSpec spec = subject.shape;
  spec.key = VmKey{"bench", "raw" + std::to_string(i)};
  spec.revision = 1;
  RawFigures out;
  const std::string volume_key = "bench-raw-volume-key";
  if (!driver.Create(spec, volume_key)) return out;
  const std::string vm = driver.DirOf(spec.key);
  const std::string key_file = vm + "/raw-volume.key";
  if (FILE* k = std::fopen(key_file.c_str(), "w")) {
    std::fputs(volume_key.c_str(), k);
    std::fclose(k);
  }
  const std::string config = vm + "/raw-config.json";
  FILE* f = std::fopen(config.c_str(), "w");
  std::fputs(
      "{\n  \"gateway_port\": 18789,\n  \"gateway_token\": \"bench-raw-token\",\n"
      "  \"credentials\": []\n}\n",
      f);
  std::fclose(f);
  const uint16_t port = static_cast<uint16_t>(30000 + (::getpid() % 1000) * 10 + i);
  auto argv = driver.CommandLine(spec, vm, port, config, key_file);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return out;
  while (Clock::now() - t0 < subject.limit) {
    if (out.healthz < 0 && Answers(port, "/healthz")) out.healthz = Seconds(Clock::now() - t0);
    if (out.healthz >= 0 && Answers(port, subject.ready_path)) {
      out.ready = Seconds(Clock::now() - t0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  out.rss_mib = RssMib(pid);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ::unlink(key_file.c_str());
  ::unlink(config.c_str());
  (void)driver.Destroy(spec.key);
  return out;
}

struct CommandFigures {
  double running = -1;  // StartInstance -> VM_STATE_RUNNING in the projection
  double rss_mib = 0;   // QEMU's RSS then
};

CommandFigures CommandBoot(EmbeddedNode& node, qemu::QemuMicrovmDriver& driver,
                           const std::string& account, const BootSubject& subject, int i) {
  const std::string id = "b" + std::to_string(i);
  v1::Command create;
  *create.mutable_actor() = WebTierOwner();
  create.set_command_id("mk-" + id);
  create.set_account_id(account);
  create.mutable_create_instance()->set_instance_id(id);
  create.mutable_create_instance()->set_name(id);
  create.mutable_create_instance()->set_image(subject.image);
  create.mutable_create_instance()->mutable_spec()->set_vcpus(subject.shape.vcpus);
  create.mutable_create_instance()->mutable_spec()->set_memory_mib(subject.shape.memory_mib);
  create.mutable_create_instance()->mutable_spec()->set_disk_mib(
      static_cast<uint32_t>(subject.shape.disk_bytes >> 20));
  create.mutable_create_instance()->set_gateway_token("benchGatewayToken_0123456789abcdef" +
                                                      std::to_string(i));
  create.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  CommandFigures out;
  if (auto o = node.commands().Submit(create, 10s); !o || !o->accepted()) {
    std::fprintf(stderr, "vm_bench: create refused: %s\n", o ? o->message().c_str() : "error");
    return out;
  }
  v1::Command start;
  *start.mutable_actor() = WebTierOwner();
  start.set_command_id("go-" + id);
  start.set_account_id(account);
  start.mutable_start_instance()->set_instance_id(id);
  const auto t0 = Clock::now();
  (void)node.commands().Submit(start, 10s);
  while (Clock::now() - t0 < subject.limit) {
    auto view = node.projector().GetInstance(account, id);
    if (view && *view && (*view)->observed_state() == v1::VM_STATE_RUNNING) {
      out.running = Seconds(Clock::now() - t0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  out.rss_mib = RssMib(driver.PidOf(VmKey{account, id}));
  v1::Command del;
  *del.mutable_actor() = WebTierOwner();
  del.set_command_id("rm-" + id);
  del.set_account_id(account);
  del.mutable_delete_instance()->set_instance_id(id);
  (void)node.commands().Submit(del, 10s);
  return out;
}

// `openclaw_dir` empty: the busybox test image in `guest`; else the production image there.
void BenchBoots(const std::string& guest, const std::string& openclaw_dir, int boots) {
  const fs::path data = fs::temp_directory_path() / ("cvbench-" + std::to_string(::getpid()));
  EmbeddedNodeOptions options;
  options.data_dir = data;
  options.partitions = 4;
  qemu::QemuOptions qemu_options;
  qemu_options.vm_dir = "/tmp/cvb-" + std::to_string(::getpid());
  qemu_options.kernel = guest + "/kernel";
  qemu_options.initrd = guest + "/initramfs.cpio.gz";
  EmbeddedNodeOptions::Vms vms;
  BootSubject subject;
  subject.label = "busybox test image";
  subject.shape.vcpus = 1;
  subject.shape.memory_mib = 256;
  subject.shape.disk_bytes = 64ull << 20;
  if (!openclaw_dir.empty()) {
    FILE* f = std::fopen((openclaw_dir + "/image.conf").c_str(), "r");
    std::string text;
    if (f != nullptr) {
      char buf[4096];
      size_t n = 0;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
      std::fclose(f);
    }
    auto image = ParseGuestImageConf("oc", openclaw_dir, text);
    if (!image) {
      std::fprintf(stderr, "vm_bench: %s\n", image.error().ToString().c_str());
      return;
    }
    subject.label = "OpenClaw " + image->openclaw_version;
    subject.image = "oc";
    subject.shape.vcpus = 2;
    subject.shape.memory_mib = std::max<uint32_t>(2048, image->min_memory_mib);
    subject.shape.disk_bytes = 1024ull << 20;
    subject.shape.boot = image->boot;
    subject.limit = 45min;
    subject.ready_path = image->health_path ? "/readyz" : "/healthz";
    qemu_options.kernel = image->boot.kernel;
    qemu_options.initrd = image->boot.initrd;
    qemu_options.rootfs = image->boot.rootfs;
    qemu_options.tcg_clock = image->boot.tcg_clock;
    auto catalog = std::make_shared<GuestImageCatalog>();
    (void)catalog->Add(*image);
    (void)catalog->SetDefault("oc");
    options.processor.decide.guest_images = catalog->Versions();
    options.processor.decide.default_image = "oc";
    vms.images = catalog;
  }
  vms.driver = qemu_options;
  v1::InstanceSpec capacity;
  capacity.set_vcpus(64);
  capacity.set_memory_mib(65536);
  capacity.set_disk_mib(1 << 20);
  vms.reconciler.capacity = capacity;
  vms.reconciler.health_interval = 50ms;
  vms.reconciler.idle_pause_after = 0us;
  vms.reconciler.images = vms.images.get();
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

  auto& driver = dynamic_cast<qemu::QemuMicrovmDriver&>(*(*node)->vm_driver());
  // The raw loop needs QEMU's command line, from a driver of the same options but a directory of
  // its own: in the node's, the reconciler would remove the raw VM as one no instance wants.
  qemu::QemuOptions raw_options = qemu_options;
  raw_options.vm_dir += "-raw";
  auto raw_driver = qemu::QemuMicrovmDriver::Open(raw_options);
  if (!raw_driver) {
    std::fprintf(stderr, "vm_bench: %s\n", raw_driver.error().ToString().c_str());
    return;
  }
  // Both sides boot from the page cache: else the first boot (the engine's) alone would read the
  // image from disk (1.1 GB of root filesystem for OpenClaw) and its figure would carry that.
  for (const std::string* file :
       {&qemu_options.kernel, &qemu_options.initrd, &qemu_options.rootfs}) {
    if (FILE* f = file->empty() ? nullptr : std::fopen(file->c_str(), "rb")) {
      static char chunk[1 << 20];
      while (std::fread(chunk, 1, sizeof chunk, f) == sizeof chunk) {
      }
      std::fclose(f);
    }
  }
  std::vector<double> via_commands, raw_healthz, raw_ready, command_rss, raw_rss;
  for (int i = 0; i < boots; ++i) {
    const CommandFigures c = CommandBoot(**node, driver, account, subject, i);
    via_commands.push_back(c.running);
    command_rss.push_back(c.rss_mib);
    const RawFigures r = RawBoot(**raw_driver, subject, i);
    raw_healthz.push_back(r.healthz);
    raw_ready.push_back(r.ready);
    raw_rss.push_back(r.rss_mib);
  }
  const bool kvm = driver.accel() == qemu::Accel::kKvm;
  (*node)->Stop();
  node->reset();
  fs::remove_all(data);
  fs::remove_all(qemu_options.vm_dir);
  fs::remove_all(raw_options.vm_dir);
  std::printf(
      "\n1. StartInstance -> observed healthy: %s (%s, %u vCPU, %u MiB, %d boots, "
      "median; -1: not within %lld s)\n",
      subject.label.c_str(), kvm ? "KVM" : "TCG", subject.shape.vcpus, subject.shape.memory_mib,
      boots, static_cast<long long>(subject.limit.count()));
  std::printf("   %-48s %8.2f s\n", "clawvisor: command -> RUNNING in projection",
              Median(via_commands));
  std::printf("   %-48s %8.2f s\n", "raw: same QEMU command line -> /healthz 200",
              Median(raw_healthz));
  if (std::string(subject.ready_path) != "/healthz") {
    std::printf(
        "   %-48s %8.2f s\n",
        (std::string("raw: same QEMU command line -> ") + subject.ready_path + " 200").c_str(),
        Median(raw_ready));
  }
  std::printf("   %-48s %8.2f s\n", "reconciler + command path overhead (vs ready)",
              Median(via_commands) - Median(raw_ready));
  std::printf("   %-48s %8.0f MiB\n", "guest memory: QEMU RSS when RUNNING (clawvisor)",
              Median(command_rss));
  std::printf("   %-48s %8.0f MiB\n", "guest memory: QEMU RSS when ready (raw)", Median(raw_rss));
}

// ---------------------------------------------------------------- 2 and 3. fake driver

class MemoryDriver final : public VmDriver {
 public:
  Status Create(const VmSpec& spec, std::string_view) override {
    vms_[spec.key] =
        VmStatus{spec.key, spec.revision, VmRunState::kStopped, 4 << 20, spec.disk_bytes, 0, ""};
    return {};
  }
  Status Start(const VmSpec& spec, const std::string&, std::string_view) override {
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
    p->set_volume_key(kTestVolumeKey);
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
  std::string openclaw;
  bool only_openclaw = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: vm_bench [--boots N] [--guest-dir DIR] [--openclaw-image DIR]\n"
          "                [--only-openclaw]\n");
      return 0;
    }
    if (i + 1 >= argc && flag != "--only-openclaw") {
      std::fprintf(stderr, "vm_bench: %s needs a value\n", flag.c_str());
      return 64;
    }
    if (flag == "--boots") {
      boots = std::atoi(argv[++i]);
    } else if (flag == "--guest-dir") {
      guest = argv[++i];
    } else if (flag == "--openclaw-image") {
      openclaw = argv[++i];
    } else if (flag == "--only-openclaw") {
      only_openclaw = true;
    } else {
      std::fprintf(stderr, "vm_bench: unknown flag %s (see --help)\n", flag.c_str());
      return 64;
    }
  }
  std::printf("vm_bench: reconciler figures beside peers measured in the same run\n");
  if (!only_openclaw) {
    clawvisor::BenchDecisions(10'000);
    clawvisor::BenchPlacement(10'000);
    if (boots > 0) clawvisor::BenchBoots(guest, "", boots);
  }
  if (!openclaw.empty()) clawvisor::BenchBoots(guest, openclaw, 1);
  return 0;
}
