#pragma once

// QemuMicrovmDriver: VmDriver over QEMU's `microvm` machine, controlled through QMP (design D7).
//
// Per VM, a private directory (0700) under `vm_dir`, named by a hash of its key:
//   meta          account, instance, revision, disk format (what List() and re-adoption read)
//   disk.img      the data disk: ext4 of the quota's size in a sparse qcow2 file encrypted in
//                 the LUKS format, decrypted by QEMU, virtio-blk (adapters/qemu/encrypted_disk.h)
//   qmp.sock      the QMP socket           serial.log   the guest console
//   qemu.pid      QEMU's pid (re-adoption) qemu.log     QEMU's own stderr
//   port          the loopback port forwarded to the guest's 18789 (health probe)
//   want-running  present from Start to Stop: a dead QEMU with it is "exited", not "stopped"
//   net.sock      with a network helper: QEMU's end of the guest's frames (-netdev stream)
//   network.pid   the helper's pid          network.log  its log
//   egress-*.sock the helper's listeners for the guest's connections to the egress gateway
//
// QEMU runs detached (its own session, no inherited environment), so a reconciler that dies
// or restarts leaves its VMs running; a new driver finds them through `qemu.pid` (checked
// against /proc/PID/cmdline) and `qmp.sock`.
//
// Isolation: user-mode networking with no route out and no host services, and one forward from
// 127.0.0.1:PORT to the guest's 18789. Without a network helper that is QEMU's own
// `-netdev user,restrict=on`; with one (`network_helper`, design D9) QEMU passes the guest's
// frames over net.sock to `clawvisor vm-network`, a process per VM that runs the same libslirp
// stack restricted, forwards the port and hands the guest's connections to 10.0.2.100 to the
// host's egress gateway: the VM's one way out, and QEMU's sandbox still denies spawning.
// `-sandbox on` (seccomp) with every deny option QEMU offers when the host allows it. The
// configuration (secrets) goes in through `-fw_cfg name=opt/clawvisor/config,file=/dev/fd/3` and
// the volume key through `-object secret,file=/dev/fd/4`: pipes QEMU reads at start
// (child_process.h). Never argv, env, logs or a file.
//
// Acceleration: KVM when a probe boots the kernel to a panic under KVM within
// `kvm_probe_timeout` (a host may expose /dev/kvm whose vCPUs hang), else TCG.
//
// Thread-safety: safe for concurrent use; calls for one key must not overlap (the reconciler
// never overlaps them).

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "engine/reconcile/vm_driver.h"

namespace clawvisor::qemu {

enum class Accel { kAuto, kKvm, kTcg };

struct QemuOptions {
  std::string vm_dir;                       // where VM directories live
  std::string qemu = "qemu-system-x86_64";  // the binary (PATH lookup)
  std::string kernel;                       // the guest kernel (vmlinuz)
  std::string initrd;                       // the test image's initramfs, and/or
  std::string rootfs;                       // production: a read-only root disk (vdb)
  TcgClock tcg_clock = TcgClock::kPit;      // its kernel's clock under TCG
  std::string mkfs = "mkfs.ext4";
  std::string qemu_img = "qemu-img";  // makes the encrypted data disks
  Accel accel = Accel::kAuto;
  std::chrono::milliseconds kvm_probe_timeout{8000};
  bool sandbox = true;  // -sandbox on,... when the host's QEMU supports it
  std::chrono::milliseconds qmp_timeout{3000};
  std::chrono::milliseconds start_timeout{15000};  // until QEMU answers on QMP
  std::chrono::milliseconds health_timeout{1000};
  // The VM's network stack: empty, QEMU's own (no way out at all); else this binary (the
  // clawvisor executable), run as `vm-network` beside each VM, handing the guest's connections
  // to the egress gateway's `egress_socket` (empty: a helper without a way out).
  std::string network_helper;
  std::string egress_socket;
};

class QemuMicrovmDriver final : public VmDriver {
 public:
  // Checks the options (binary, kernel, image) and settles the accelerator.
  static Result<std::unique_ptr<QemuMicrovmDriver>> Open(QemuOptions options);

  Status Create(const VmSpec& spec, std::string_view volume_key) override;
  Status Start(const VmSpec& spec, const std::string& config, std::string_view volume_key) override;
  Status Stop(const VmKey& key) override;
  Status Pause(const VmKey& key) override;
  Status Resume(const VmKey& key) override;
  Status Destroy(const VmKey& key) override;
  Result<std::optional<VmStatus>> Inspect(const VmKey& key) override;
  Result<std::vector<VmStatus>> List() override;
  HealthReport CheckHealth(const VmKey& key, const HealthProbe& probe) override;

  Accel accel() const { return accel_; }
  bool sandboxed() const { return sandbox_; }
  // The VM's directory (tests read serial.log; nothing there holds a secret once started).
  std::string DirOf(const VmKey& key) const;
  // The QEMU pid of a running VM (tests kill it), or 0.
  int PidOf(const VmKey& key) const;
  // The loopback port forwarded to the guest's gateway, or 0.
  uint16_t PortOf(const VmKey& key) const;
  // The command line Start() runs for `spec`, with the config file at `config_path` and the
  // volume key's at `key_path`.
  std::vector<std::string> CommandLine(const VmSpec& spec, const std::string& dir, uint16_t port,
                                       const std::string& config_path,
                                       const std::string& key_path) const;

 private:
  explicit QemuMicrovmDriver(QemuOptions options);
  struct Meta {
    VmKey key;
    uint64_t revision = 0;
    std::string disk_format;  // "qcow2-luks"; empty: a raw disk of an older build
  };
  std::optional<Meta> ReadMeta(const std::string& dir) const;
  Result<std::optional<VmStatus>> InspectDir(const std::string& dir);
  // Whether `pid` is a live process whose command line names `marker` (a file in the VM's
  // directory), reaping it if it is this process's exited child.
  bool Alive(int pid, const std::string& marker);
  bool QemuAlive(int pid, const std::string& dir) { return Alive(pid, dir + "/qmp.sock"); }
  Status Kill(const std::string& dir);
  // The network helper of a VM whose QEMU runs (options_.network_helper set).
  Status StartNetwork(const VmKey& key, const std::string& dir, uint16_t port);
  bool NetworkAlive(const std::string& dir);
  void StopNetwork(const std::string& dir);

  QemuOptions options_;
  Accel accel_ = Accel::kTcg;
  bool sandbox_ = false;
  uint64_t host_tsc_khz_ = 0;  // under TCG: the guests' TSC rate (TcgClock::kTsc)
  std::mutex mu_;
  std::set<int> children_;  // pids this process spawned (reaped here, so no zombie lingers)
};

// Probes KVM: boots `kernel` without an initrd under KVM and waits for the guest's panic (QEMU
// exits with -no-reboot). A hang or an error within `timeout` means TCG.
Accel ProbeAccel(const std::string& qemu, const std::string& kernel,
                 std::chrono::milliseconds timeout);
// Whether this QEMU accepts `-sandbox on` with every deny option.
bool ProbeSandbox(const std::string& qemu);

}  // namespace clawvisor::qemu
