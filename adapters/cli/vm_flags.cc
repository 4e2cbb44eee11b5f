#include "adapters/cli/vm_flags.h"

#include <cstdlib>

#include "engine/decider.h"

namespace clawvisor::cli {

const std::string_view kVmFlagsHelp =
    R"(  --host ID              this host's id (serve --vms: default "local"); the reconciler manages the
                         instances placed on it, and unplaced ones
  --vm-dir DIR           VM directories, disks and QMP sockets (default DATA_DIR/vms;
                         short: sockets must fit 107 bytes)
  --guest-dir DIR        the test image built by ops/guest/build.sh (kernel,
                         initramfs.cpio.gz; default ~/.cache/clawvisor/guest)
  --guest-kernel F       production image: the guest kernel ...
  --guest-rootfs F       ... and its read-only root filesystem (Node.js + OpenClaw)
  --accel A              auto | kvm | tcg (default auto: KVM if a probe boots, else TCG)
  --health-interval-ms N health probe period (default 5000)
  --boot-grace-ms N      health failures ignored while a fresh VM boots (default 60000)
  --idle-pause-min N     pause a running instance idle this long (default 120; 0 = never)
)";

std::vector<FlagSpec> VmFlagSpecs() {
  return {{"host"},          {"vm-dir"}, {"guest-dir"},          {"guest-kernel"},
          {"guest-rootfs"},  {"accel"},  {"health-interval-ms"}, {"boot-grace-ms"},
          {"idle-pause-min"}};
}

Result<EmbeddedNodeOptions::Vms> ParseVmFlags(const Flags& flags,
                                              const std::filesystem::path& data_dir) {
  EmbeddedNodeOptions::Vms vms;
  vms.reconciler.host_id = flags.GetOr("host", "local");
  if (!IsValidResourceId(vms.reconciler.host_id)) {
    return MakeError(Errc::kInvalidArgument, "--host must be 1..64 of [A-Za-z0-9._:-]");
  }
  vms.reconciler.adopt_unplaced = true;
  vms.qemu.vm_dir = flags.GetOr("vm-dir", (data_dir / "vms").string());
  if (auto kernel = flags.Get("guest-kernel")) {
    auto rootfs = flags.Get("guest-rootfs");
    if (!rootfs) return MakeError(Errc::kInvalidArgument, "--guest-kernel needs --guest-rootfs");
    vms.qemu.kernel = *kernel;
    vms.qemu.rootfs = *rootfs;
  } else {
    const char* home = std::getenv("HOME");
    const std::string guest = flags.GetOr(
        "guest-dir", std::string(home != nullptr ? home : "/root") + "/.cache/clawvisor/guest");
    vms.qemu.kernel = guest + "/kernel";
    vms.qemu.initrd = guest + "/initramfs.cpio.gz";
  }
  const std::string accel = flags.GetOr("accel", "auto");
  if (accel == "auto") {
    vms.qemu.accel = qemu::Accel::kAuto;
  } else if (accel == "kvm") {
    vms.qemu.accel = qemu::Accel::kKvm;
  } else if (accel == "tcg") {
    vms.qemu.accel = qemu::Accel::kTcg;
  } else {
    return MakeError(Errc::kInvalidArgument, "--accel must be auto, kvm or tcg");
  }
  auto health = flags.GetInt("health-interval-ms", 5000, 100, 3'600'000);
  if (!health) return std::unexpected(health.error());
  auto grace = flags.GetInt("boot-grace-ms", 60'000, 0, 3'600'000);
  if (!grace) return std::unexpected(grace.error());
  auto idle = flags.GetInt("idle-pause-min", 120, 0, 525'600);
  if (!idle) return std::unexpected(idle.error());
  vms.reconciler.health_interval = std::chrono::milliseconds(*health);
  vms.reconciler.boot_grace = std::chrono::milliseconds(*grace);
  vms.reconciler.idle_pause_after = std::chrono::minutes(*idle);
  return vms;
}

}  // namespace clawvisor::cli
