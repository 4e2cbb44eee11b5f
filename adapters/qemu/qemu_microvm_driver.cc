#include "adapters/qemu/qemu_microvm_driver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "adapters/posix/atomic_file.h"
#include "adapters/qemu/child_process.h"
#include "adapters/qemu/encrypted_disk.h"
#include "adapters/qemu/qmp_client.h"
#include "engine/logging.h"

namespace clawvisor::qemu {
namespace {

// The host's TSC rate in kHz, measured against the monotonic clock over 200 ms. Under TCG the
// guest's TSC is the host's (QEMU reads the host's counter), so a guest told this rate needs no
// calibration against the emulated PIT (TcgClock::kTsc).
// 0 where there is no TSC (the kernel then calibrates it itself).
uint64_t MeasureHostTscKhz() {
#if !defined(__x86_64__)
  return 0;
#else
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint64_t c1 = __rdtsc();
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  return ns > 0 ? (c1 - c0) * 1'000'000 / static_cast<uint64_t>(ns) : 0;
#endif
}

namespace fs = std::filesystem;
using namespace std::chrono_literals;
constexpr std::string_view kComponent = "qemu";
constexpr size_t kMaxSocketPath = 107;  // sun_path, less the terminating NUL

// FNV-1a 64: a stable, short directory name for a key (sockets must fit sun_path).
std::string KeyHash(const VmKey& key) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  mix(key.account_id);
  mix(std::string_view("\0", 1));
  mix(key.instance_id);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Result<uint16_t> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MakeError(Errc::kUnavailable, "socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return MakeError(Errc::kUnavailable, "bind: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

Accel ProbeAccel(const std::string& qemu, const std::string& kernel,
                 std::chrono::milliseconds timeout) {
  if (::access("/dev/kvm", R_OK | W_OK) != 0) return Accel::kTcg;
  auto pid = Spawn({qemu, "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on", "-accel", "kvm",
                    "-m", "128", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
                    "-kernel", kernel, "-append", "console=ttyS0 panic=-1", "-no-reboot"},
                   "");
  if (!pid) return Accel::kTcg;
  auto status = WaitChild(*pid, timeout);
  if (!status) {
    ::kill(*pid, SIGKILL);
    (void)WaitChild(*pid, 5s);
    Log(LogLevel::kWarn, kComponent, "KVM hangs on this host; using TCG",
        {{"timeout_ms", timeout.count()}});
    return Accel::kTcg;
  }
  // The guest panicked for want of a root disk and QEMU exited cleanly (-no-reboot).
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) return Accel::kKvm;
  Log(LogLevel::kWarn, kComponent, "KVM fails on this host; using TCG");
  return Accel::kTcg;
}

bool ProbeSandbox(const std::string& qemu) {
  auto pid =
      Spawn({qemu, "-M", "none", "-nodefaults", "-no-user-config", "-display", "none", "-S",
             "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"},
            "");
  if (!pid) return false;
  auto status = WaitChild(*pid, 700ms);
  if (status) return false;  // refused the option (or died under it)
  ::kill(*pid, SIGKILL);
  (void)WaitChild(*pid, 5s);
  return true;
}

QemuMicrovmDriver::QemuMicrovmDriver(QemuOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<QemuMicrovmDriver>> QemuMicrovmDriver::Open(QemuOptions options) {
  if (options.vm_dir.empty()) return MakeError(Errc::kInvalidArgument, "no VM directory");
  if (options.kernel.empty() || ::access(options.kernel.c_str(), R_OK) != 0) {
    return MakeError(Errc::kInvalidArgument, "guest kernel not readable: '" + options.kernel +
                                                 "' (build the image with ops/guest/build.sh)");
  }
  if (options.initrd.empty() && options.rootfs.empty()) {
    return MakeError(Errc::kInvalidArgument, "guest image names neither an initrd nor a rootfs");
  }
  for (const std::string* image : {&options.initrd, &options.rootfs}) {
    if (!image->empty() && ::access(image->c_str(), R_OK) != 0) {
      return MakeError(Errc::kInvalidArgument, "guest image not readable: '" + *image + "'");
    }
  }
  std::error_code ec;
  fs::create_directories(options.vm_dir, ec);
  if (ec) return MakeError(Errc::kUnavailable, "create " + options.vm_dir + ": " + ec.message());
  ::chmod(options.vm_dir.c_str(), 0700);
  options.vm_dir = fs::canonical(options.vm_dir).string();
  if (options.vm_dir.size() + 1 + 16 + 1 + 8 > kMaxSocketPath) {
    return MakeError(Errc::kInvalidArgument,
                     "VM directory path too long for QMP sockets (at most " +
                         std::to_string(kMaxSocketPath - 26) + " characters)");
  }
  std::unique_ptr<QemuMicrovmDriver> driver(new QemuMicrovmDriver(std::move(options)));
  switch (driver->options_.accel) {
    case Accel::kKvm:
    case Accel::kTcg:
      driver->accel_ = driver->options_.accel;
      break;
    case Accel::kAuto:
      driver->accel_ = ProbeAccel(driver->options_.qemu, driver->options_.kernel,
                                  driver->options_.kvm_probe_timeout);
      break;
  }
  driver->sandbox_ = driver->options_.sandbox && ProbeSandbox(driver->options_.qemu);
  if (driver->accel_ == Accel::kTcg) driver->host_tsc_khz_ = MeasureHostTscKhz();
  Log(LogLevel::kInfo, kComponent, "driver ready",
      {{"accel", driver->accel_ == Accel::kKvm ? "kvm" : "tcg"},
       {"sandbox", driver->sandbox_ ? "on" : "off"},
       {"host_tsc_khz", driver->host_tsc_khz_},
       {"vm_dir", driver->options_.vm_dir}});
  return driver;
}

std::string QemuMicrovmDriver::DirOf(const VmKey& key) const {
  return options_.vm_dir + "/" + KeyHash(key);
}

std::optional<QemuMicrovmDriver::Meta> QemuMicrovmDriver::ReadMeta(const std::string& dir) const {
  std::ifstream in(dir + "/meta");
  if (!in) return std::nullopt;
  Meta meta;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "account") meta.key.account_id = v;
    if (k == "instance") meta.key.instance_id = v;
    if (k == "revision") meta.revision = std::strtoull(v.c_str(), nullptr, 10);
    if (k == "disk") meta.disk_format = v;
  }
  if (meta.key.account_id.empty() || meta.key.instance_id.empty()) return std::nullopt;
  return meta;
}

bool QemuMicrovmDriver::Alive(int pid, const std::string& marker) {
  if (pid <= 0) return false;
  {
    // Reap it if it is a child of this process, whichever driver spawned it (a driver made
    // anew in the same process adopts its predecessor's VMs): an exited child must not linger
    // as a zombie. For any other process waitpid fails with ECHILD and changes nothing.
    std::lock_guard lock(mu_);
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      children_.erase(pid);
      return false;
    }
  }
  if (::kill(pid, 0) != 0) return false;
  // A pid may be reused: it is ours only if its command line names this VM's socket.
  std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  if (cmdline.find(marker) == std::string::npos) return false;
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return !(paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

int QemuMicrovmDriver::PidOf(const VmKey& key) const {
  const std::string text = ReadFile(DirOf(key) + "/qemu.pid");
  return text.empty() ? 0 : std::atoi(text.c_str());
}

uint16_t QemuMicrovmDriver::PortOf(const VmKey& key) const {
  const std::string text = ReadFile(DirOf(key) + "/port");
  return text.empty() ? 0 : static_cast<uint16_t>(std::atoi(text.c_str()));
}

Status QemuMicrovmDriver::Create(const VmSpec& spec, std::string_view volume_key) {
  const std::string dir = DirOf(spec.key);
  if (auto meta = ReadMeta(dir)) {
    if (meta->key != spec.key) {
      return MakeError(Errc::kAlreadyExists,
                       "VM directory hash collision for " + spec.key.ToString());
    }
    if (meta->revision != spec.revision) {
      return MakeError(Errc::kAlreadyExists, "a VM of revision " + std::to_string(meta->revision) +
                                                 " holds " + spec.key.ToString());
    }
    if (fs::exists(dir + "/disk.img")) return {};
  }
  if (spec.disk_bytes < 16 * 1024 * 1024) {
    return MakeError(Errc::kInvalidArgument, "data disk must be at least 16 MiB");
  }
  if (volume_key.empty()) {
    return MakeError(Errc::kInvalidArgument,
                     "no volume key for " + spec.key.ToString() +
                         ": data disks are always encrypted (an instance created before they "
                         "were has none: recreate it)");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError(Errc::kUnavailable, "create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  // The disk first: a crash leaves no meta pointing at half a disk.
  if (auto made = CreateEncryptedDisk({options_.qemu_img, options_.mkfs}, dir + "/disk.img",
                                      spec.disk_bytes, volume_key, dir);
      !made) {
    return made;
  }
  return WriteFileAtomically(
      dir + "/meta", "account=" + spec.key.account_id + "\ninstance=" + spec.key.instance_id +
                         "\nrevision=" + std::to_string(spec.revision) + "\ndisk=qcow2-luks\n");
}

std::vector<std::string> QemuMicrovmDriver::CommandLine(const VmSpec& spec, const std::string& dir,
                                                        uint16_t port,
                                                        const std::string& config_path,
                                                        const std::string& key_path) const {
  // The image the spec names, else the driver's own.
  const bool own = spec.boot.kernel.empty();
  const std::string& kernel = own ? options_.kernel : spec.boot.kernel;
  const std::string& initrd = own ? options_.initrd : spec.boot.initrd;
  const std::string& rootfs = own ? options_.rootfs : spec.boot.rootfs;
  const TcgClock tcg_clock = own ? options_.tcg_clock : spec.boot.tcg_clock;
  std::string append = "console=ttyS0 quiet panic=-1";
  if (accel_ == Accel::kTcg && tcg_clock == TcgClock::kPit) {
    // Under TCG the microvm's PIT cannot calibrate the TSC and the LAPIC timer never fires
    // on some hosts: preset the delay loop and use the PIT as the tick (TcgClock).
    append += " lpj=4000000 nolapic_timer";
  } else if (accel_ == Accel::kTcg && host_tsc_khz_ > 0) {
    append += " tsc_early_khz=" + std::to_string(host_tsc_khz_) + " tsc=reliable";
  }
  if (!rootfs.empty()) append += " root=/dev/vdb ro rootfstype=ext4";
  std::vector<std::string> argv = {
      options_.qemu,
      "-name",
      "clawvisor-" + KeyHash(spec.key),
      "-M",
      "microvm,x-option-roms=off,isa-serial=on,rtc=on",
      "-accel",
      accel_ == Accel::kKvm ? "kvm" : "tcg",
      "-m",
      std::to_string(spec.memory_mib),
      "-smp",
      std::to_string(spec.vcpus),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      // The console log is appended to, so it keeps every boot of the VM.
      "-chardev",
      "file,id=console,path=" + dir + "/serial.log,append=on",
      "-serial",
      "chardev:console",
      "-qmp",
      "unix:" + dir + "/qmp.sock,server=on,wait=off",
      "-pidfile",
      dir + "/qemu.pid",
      "-kernel",
      kernel,
      "-append",
      append,
      "-no-reboot",
      "-netdev",
      options_.network_helper.empty()
          ? "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:" + std::to_string(port) + "-:18789"
          : "stream,id=n0,server=on,addr.type=unix,addr.path=" + dir + "/net.sock",
      "-device",
      "virtio-net-device,netdev=n0",
      "-fw_cfg",
      "name=opt/clawvisor/config,file=" + config_path,
  };
  // The data disk (/dev/vda), decrypted by QEMU with the key file (encrypted_disk.h).
  const auto disk = EncryptedDiskArgs(dir + "/disk.img", key_path, "data");
  argv.insert(argv.end(), disk.begin(), disk.end());
  argv.insert(argv.end(), {"-device", "virtio-blk-device,drive=data"});
  if (accel_ == Accel::kKvm) argv.insert(argv.begin() + 7, {"-cpu", "host"});
  if (!initrd.empty()) argv.insert(argv.end(), {"-initrd", initrd});
  if (!rootfs.empty()) {
    argv.insert(argv.end(), {"-drive", "file=" + rootfs + ",format=raw,if=none,id=root,readonly=on",
                             "-device", "virtio-blk-device,drive=root"});
  }
  // Entropy from the host: without it the guest's kernel may take minutes to seed its random
  // pool, and TLS clients (OpenSSL's getrandom) block until it has (the egress gateway's HTTPS).
  // Added last, so the disks keep their names (/dev/vda data, /dev/vdb root).
  argv.insert(argv.end(), {"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device",
                           "virtio-rng-device,rng=rng0"});
  if (sandbox_) {
    argv.insert(
        argv.end(),
        {"-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"});
  }
  return argv;
}

Status QemuMicrovmDriver::Start(const VmSpec& spec, const std::string& config,
                                std::string_view volume_key) {
  const std::string dir = DirOf(spec.key);
  auto meta = ReadMeta(dir);
  if (!meta || meta->revision != spec.revision) {
    return MakeError(Errc::kFailedPrecondition, "VM " + spec.key.ToString() + " is not created");
  }
  if (meta->disk_format != "qcow2-luks") {
    return MakeError(Errc::kFailedPrecondition,
                     "VM " + spec.key.ToString() +
                         " has an unencrypted data disk from an older build: recreate it");
  }
  if (QemuAlive(PidOf(spec.key), dir)) return {};
  // (config.json and volume.key: secret files an older build handed QEMU; never left now.)
  for (const char* stale : {"/qmp.sock", "/qemu.pid", "/config.json", "/volume.key"}) {
    ::unlink((dir + stale).c_str());
  }
  auto port = FreeLoopbackPort();
  if (!port) return std::unexpected(port.error());
  if (auto ok = WriteFileAtomically(dir + "/port", std::to_string(*port) + "\n"); !ok) return ok;

  if (auto ok = WriteFileAtomically(dir + "/want-running", ""); !ok) return ok;
  // Which image it boots: Inspect reports it, so an upgrade is seen even across a restart.
  if (auto ok = WriteFileAtomically(dir + "/image", spec.boot.image + "\n"); !ok) return ok;

  // The configuration and the volume key are secrets: QEMU reads them from pipes (never an
  // argument, the environment or a file), the configuration as SecretPath(0), the key as 1.
  auto pid = Spawn(CommandLine(spec, dir, *port, SecretPath(0), SecretPath(1)), dir + "/qemu.log",
                   {config, volume_key});
  if (!pid) return std::unexpected(pid.error());
  {
    std::lock_guard lock(mu_);
    children_.insert(*pid);
  }
  // QEMU answers QMP only from its main loop, after the machine (and fw_cfg) is set up.
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (true) {
    bool exited = false;
    {
      std::lock_guard lock(mu_);
      int status = 0;
      if (::waitpid(*pid, &status, WNOHANG) == *pid) {
        children_.erase(*pid);
        exited = true;
      }
    }
    if (exited) {
      ::unlink((dir + "/want-running").c_str());
      return MakeError(Errc::kUnavailable,
                       "QEMU exited at start: " + Tail(ReadFile(dir + "/qemu.log"), 400));
    }
    if (auto qmp = QmpClient::Connect(dir + "/qmp.sock", 500ms); qmp) {
      if (auto status = qmp->Status(options_.qmp_timeout); status) break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(*pid, SIGKILL);
      return MakeError(Errc::kTimeout, "QEMU did not answer on QMP in time");
    }
    std::this_thread::sleep_for(20ms);
  }
  if (!options_.network_helper.empty()) {
    if (auto network = StartNetwork(spec.key, dir, *port); !network) {
      (void)Kill(dir);
      ::unlink((dir + "/want-running").c_str());
      return network;
    }
  }
  Log(LogLevel::kInfo, kComponent, "VM started",
      {{"instance", spec.key.ToString()}, {"pid", *pid}, {"port", *port}});
  return {};
}

Status QemuMicrovmDriver::StartNetwork(const VmKey& key, const std::string& dir, uint16_t port) {
  StopNetwork(dir);
  std::vector<std::string> argv = {options_.network_helper, "vm-network",      "--account",
                                   key.account_id,          "--instance",      key.instance_id,
                                   "--qemu-socket",         dir + "/net.sock", "--forward-port",
                                   std::to_string(port)};
  if (!options_.egress_socket.empty()) {
    argv.insert(argv.end(), {"--egress-socket", options_.egress_socket, "--listen-dir", dir});
  }
  auto pid = Spawn(argv, dir + "/network.log");
  if (!pid) return std::unexpected(pid.error());
  {
    std::lock_guard lock(mu_);
    children_.insert(*pid);
  }
  if (auto written = WriteFileAtomically(dir + "/network.pid", std::to_string(*pid) + "\n");
      !written) {
    ::kill(*pid, SIGKILL);
    return written;
  }
  return {};
}

// The helper's command line names QEMU's socket after this flag (QEMU's own names it after
// "addr.path="), so the marker tells the two apart.
namespace {
std::string NetworkMarker(const std::string& dir) { return "--qemu-socket " + dir + "/net.sock"; }
}  // namespace

bool QemuMicrovmDriver::NetworkAlive(const std::string& dir) {
  const std::string text = ReadFile(dir + "/network.pid");
  return Alive(text.empty() ? 0 : std::atoi(text.c_str()), NetworkMarker(dir));
}

void QemuMicrovmDriver::StopNetwork(const std::string& dir) {
  const std::string text = ReadFile(dir + "/network.pid");
  const int pid = text.empty() ? 0 : std::atoi(text.c_str());
  if (Alive(pid, NetworkMarker(dir))) {
    ::kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (Alive(pid, NetworkMarker(dir)) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    if (Alive(pid, NetworkMarker(dir))) ::kill(pid, SIGKILL);
    (void)WaitChild(pid, 2s);
    std::lock_guard lock(mu_);
    children_.erase(pid);
  }
  ::unlink((dir + "/network.pid").c_str());
}

Status QemuMicrovmDriver::Kill(const std::string& dir) {
  StopNetwork(dir);
  const std::string text = ReadFile(dir + "/qemu.pid");
  const int pid = text.empty() ? 0 : std::atoi(text.c_str());
  if (!QemuAlive(pid, dir)) return {};
  if (auto qmp = QmpClient::Connect(dir + "/qmp.sock", options_.qmp_timeout); qmp) {
    (void)qmp->Execute("quit", options_.qmp_timeout);
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (QemuAlive(pid, dir)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      const auto hard = std::chrono::steady_clock::now() + 5s;
      while (QemuAlive(pid, dir) && std::chrono::steady_clock::now() < hard) {
        std::this_thread::sleep_for(10ms);
      }
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  if (QemuAlive(pid, dir)) return MakeError(Errc::kUnavailable, "QEMU did not exit");
  // An exiting QEMU loses its command line before it becomes a zombie, so Alive() may say
  // "gone" before it could be reaped: reap it now if it is this process's child.
  (void)WaitChild(pid, 2s);
  {
    std::lock_guard lock(mu_);
    children_.erase(pid);
  }
  return {};
}

Status QemuMicrovmDriver::Stop(const VmKey& key) {
  const std::string dir = DirOf(key);
  ::unlink((dir + "/want-running").c_str());
  if (auto ok = Kill(dir); !ok) return ok;
  for (const char* stale : {"/qmp.sock", "/qemu.pid", "/port"}) ::unlink((dir + stale).c_str());
  return {};
}

Status QemuMicrovmDriver::Pause(const VmKey& key) {
  auto qmp = QmpClient::Connect(DirOf(key) + "/qmp.sock", options_.qmp_timeout);
  if (!qmp) return std::unexpected(qmp.error());
  if (auto ok = qmp->Execute("stop", options_.qmp_timeout); !ok) return std::unexpected(ok.error());
  return {};
}

Status QemuMicrovmDriver::Resume(const VmKey& key) {
  auto qmp = QmpClient::Connect(DirOf(key) + "/qmp.sock", options_.qmp_timeout);
  if (!qmp) return std::unexpected(qmp.error());
  if (auto ok = qmp->Execute("cont", options_.qmp_timeout); !ok) return std::unexpected(ok.error());
  return {};
}

Status QemuMicrovmDriver::Destroy(const VmKey& key) {
  const std::string dir = DirOf(key);
  if (auto ok = Kill(dir); !ok) return ok;
  // The key slots first: should the removal stop half way, what is left cannot be opened.
  for (const char* disk : {"/disk.img", "/disk.img.tmp"}) {
    if (auto shredded = ShredEncryptedDisk(dir + disk); !shredded) return shredded;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return MakeError(Errc::kUnavailable, "remove " + dir + ": " + ec.message());
  return {};
}

Result<std::optional<VmStatus>> QemuMicrovmDriver::InspectDir(const std::string& dir) {
  auto meta = ReadMeta(dir);
  if (!meta) return std::optional<VmStatus>();
  VmStatus status;
  status.key = meta->key;
  status.revision = meta->revision;
  struct stat st {};
  if (::stat((dir + "/disk.img").c_str(), &st) == 0) {
    status.disk_used_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    status.disk_size_bytes = static_cast<uint64_t>(st.st_size);  // the file's, not the guest's
  }
  const std::string text = ReadFile(dir + "/qemu.pid");
  const int pid = text.empty() ? 0 : std::atoi(text.c_str());
  if (!QemuAlive(pid, dir)) {
    status.state = fs::exists(dir + "/want-running") ? VmRunState::kExited : VmRunState::kStopped;
    return std::optional<VmStatus>(status);
  }
  auto qmp = QmpClient::Connect(dir + "/qmp.sock", options_.qmp_timeout);
  if (!qmp) return std::unexpected(qmp.error());
  auto run = qmp->Status(options_.qmp_timeout);
  if (!run) return std::unexpected(run.error());
  if (*run == "paused" || *run == "suspended") {
    status.state = VmRunState::kPaused;
  } else if (*run == "shutdown" || *run == "guest-panicked" || *run == "internal-error" ||
             *run == "io-error") {
    status.state = VmRunState::kExited;
  } else {
    status.state = VmRunState::kRunning;
  }
  std::string image = ReadFile(dir + "/image");
  while (!image.empty() && (image.back() == '\n' || image.back() == '\r')) image.pop_back();
  status.image = std::move(image);
  const std::string port = ReadFile(dir + "/port");
  status.gateway_port = port.empty() ? 0 : static_cast<uint16_t>(std::atoi(port.c_str()));
  return std::optional<VmStatus>(status);
}

Result<std::optional<VmStatus>> QemuMicrovmDriver::Inspect(const VmKey& key) {
  auto status = InspectDir(DirOf(key));
  if (status && *status && (*status)->key != key) {
    return MakeError(Errc::kAlreadyExists, "VM directory hash collision for " + key.ToString());
  }
  return status;
}

Result<std::vector<VmStatus>> QemuMicrovmDriver::List() {
  std::vector<VmStatus> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.vm_dir, ec)) {
    if (!entry.is_directory()) continue;
    auto status = InspectDir(entry.path().string());
    if (!status) return std::unexpected(status.error());
    if (*status) out.push_back(std::move(**status));
  }
  if (ec) return MakeError(Errc::kUnavailable, "list " + options_.vm_dir + ": " + ec.message());
  return out;
}

HealthReport QemuMicrovmDriver::CheckHealth(const VmKey& key, const HealthProbe& probe) {
  const uint16_t port = PortOf(key);
  if (port == 0) return {false, "no forwarded port"};
  if (!options_.network_helper.empty()) {
    // A network helper that died (killed, crashed) is started again: QEMU's stream socket takes
    // the new one, and the guest's TCP connections recover from the gap.
    const std::string dir = DirOf(key);
    if (QemuAlive(PidOf(key), dir) && !NetworkAlive(dir)) {
      Log(LogLevel::kWarn, kComponent, "VM network helper gone; starting it again",
          {{"instance", key.ToString()}});
      if (auto started = StartNetwork(key, dir, port); !started) {
        return {false, "network helper: " + started.error().message};
      }
    }
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return {false, "socket failed"};
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const auto deadline = std::chrono::steady_clock::now() +
                        (probe.timeout.count() > 0 ? probe.timeout : options_.health_timeout);
  auto wait_for = [&](short events) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) == 1;
  };
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return {false, "connection refused"};
    if (!wait_for(POLLOUT)) return {false, "connect timed out"};
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return {false, "connection refused"};
  }
  const std::string path = probe.path.empty() ? "/healthz" : probe.path;
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return {false, "send failed"};
  }
  std::string reply;
  char buf[512];
  while (reply.find("\r\n") == std::string::npos && reply.size() < 4096) {
    if (!wait_for(POLLIN)) return {false, "no answer in time"};
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  // user-mode networking accepts the connection itself and closes it if the guest does not
  // answer: an empty reply is "not listening yet".
  if (reply.empty()) return {false, "no answer (guest not listening)"};
  const auto space = reply.find(' ');
  const std::string code = space == std::string::npos ? "" : reply.substr(space + 1, 3);
  if (code == "200") return {true, ""};
  return {false, "HTTP " + (code.empty() ? std::string("garbage") : code)};
}

}  // namespace clawvisor::qemu
