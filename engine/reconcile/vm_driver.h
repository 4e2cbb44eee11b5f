#pragma once

// VmDriver: the port through which a host's reconciler measures and changes its microVMs
// (design D6, D7). The default adapter is QemuMicrovmDriver (adapters/qemu/); unit tests use
// a fake.
//
// A VM is named by its key (account id + instance id: instance ids are unique per account
// only) and carries the revision it was created for, so a VM left from an older incarnation of
// the same id is recognized and destroyed rather than adopted.
//
//   Create ──▶ (stopped: directory + data disk) ──Start──▶ running ──Pause──▶ paused
//                    ▲                                 │  ▲                   │
//                    └──────────── Stop ───────────────┘  └────── Resume ─────┘
//   any ── Destroy ──▶ (absent: VM ended, directory and disk removed)
//   running/paused ── the VM process dies ──▶ exited (Inspect says so; Start runs it again)
//
// Every call is idempotent where its end state already holds (Stop of a stopped VM, Destroy of
// an absent one succeed). Calls for one key are never made concurrently by the reconciler;
// calls for different keys may be.
// Thread-safety: implementations are safe for concurrent use.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace clawvisor {

struct VmKey {
  std::string account_id;
  std::string instance_id;
  friend auto operator<=>(const VmKey&, const VmKey&) = default;
  std::string ToString() const { return account_id + "/" + instance_id; }
};

// How a guest's kernel keeps time under TCG (software emulation; KVM needs neither).
enum class TcgClock {
  // The PIT as the tick and a preset delay loop (`lpj=4000000 nolapic_timer`): on some hosts
  // the emulated microvm cannot calibrate the TSC and its LAPIC timer never fires. The busybox
  // test image boots with it everywhere.
  kPit,
  // The TSC as the clock, its rate given (`tsc_early_khz=<the host's> tsc=reliable`: TCG's
  // guest TSC runs at the host's rate), the LAPIC timer as the tick. Node.js needs it: with the
  // PIT tick its timers never fire, and left to calibrate against the PIT under TCG the kernel
  // fails now and then ("Unable to calibrate against PIT", no clocksource: the boot hangs).
  kTsc,
};

// The guest image a VM boots (engine/reconcile/guest_images.h): its registered name, recorded
// with the VM so that one booted from another image is recognized (an upgrade), and its files.
// No kernel: the driver's own default image.
struct GuestBoot {
  std::string image;
  std::string kernel;
  // One or both: an initramfs (the whole test image; the production image's, which loads the
  // virtio modules and mounts the root disk), a read-only root filesystem (the production
  // image, attached as /dev/vdb after the data disk).
  std::string initrd;
  std::string rootfs;
  TcgClock tcg_clock = TcgClock::kPit;
};

struct VmSpec {
  VmKey key;
  uint64_t revision = 0;
  uint32_t vcpus = 1;
  uint32_t memory_mib = 512;
  uint64_t disk_bytes = 0;  // the data disk's fixed size: the instance's disk quota
  GuestBoot boot;
};

// How a VM's gateway is asked whether it is healthy: `GET path` answering 200 within `timeout`.
struct HealthProbe {
  std::string path = "/healthz";
  std::chrono::milliseconds timeout{1000};
};

enum class VmRunState {
  kStopped,  // created (directory and disk exist), no VM process
  kRunning,
  kPaused,
  kExited,  // the VM process ended without being asked to (crash, kill, guest panic)
};

std::string_view VmRunStateName(VmRunState state);

struct VmStatus {
  VmKey key;
  uint64_t revision = 0;
  VmRunState state = VmRunState::kStopped;
  uint64_t disk_used_bytes = 0;  // bytes the data disk occupies on the host
  uint64_t disk_size_bytes = 0;
  uint16_t gateway_port = 0;  // 127.0.0.1:PORT reaches the guest's gateway (0: not forwarded)
  std::string image;          // the GuestBoot::image it last booted ("" if none was named)
};

struct HealthReport {
  bool healthy = false;
  std::string detail;  // why not, for people ("connection refused", "HTTP 503")
};

class VmDriver {
 public:
  virtual ~VmDriver() = default;

  // Makes the VM's directory and its data disk of `spec.disk_bytes`, encrypted under
  // `volume_key` (its passphrase: InstanceSecretValues::volume_key; the adapter hands it to its
  // tools and to the VM without arguments, environment or logs). kInvalidArgument without one.
  // Idempotent for the same revision; kAlreadyExists if a VM of another revision holds the key
  // (Destroy it first).
  virtual Status Create(const VmSpec& spec, std::string_view volume_key) = 0;
  // Boots the VM with `config` (JSON, holding secrets: the adapter passes it to the guest
  // without arguments, environment or logs), its data disk opened with `volume_key`.
  // Idempotent: a running VM is left as it is.
  virtual Status Start(const VmSpec& spec, const std::string& config,
                       std::string_view volume_key) = 0;
  // Ends the VM process; the disk stays.
  virtual Status Stop(const VmKey& key) = 0;
  // Freezes the vCPUs (QMP `stop`) / lets them run again (QMP `cont`).
  virtual Status Pause(const VmKey& key) = 0;
  virtual Status Resume(const VmKey& key) = 0;
  // Ends the VM and removes its directory and disk; what the disk held becomes unreadable even
  // to its volume key first (the adapter destroys the disk's own key material).
  virtual Status Destroy(const VmKey& key) = 0;
  // The VM's state, or nullopt when the driver holds nothing for the key.
  virtual Result<std::optional<VmStatus>> Inspect(const VmKey& key) = 0;
  // Every VM the driver holds (running or not): what re-adoption and orphan removal start from.
  virtual Result<std::vector<VmStatus>> List() = 0;
  // Asks the guest's gateway for `probe.path` (/healthz, or /readyz where the image has one).
  virtual HealthReport CheckHealth(const VmKey& key, const HealthProbe& probe) = 0;
};

}  // namespace clawvisor
