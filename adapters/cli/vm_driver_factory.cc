#include "adapters/cli/vm_driver_factory.h"

#include <cstdlib>
#include <filesystem>
#include <string>

namespace clawvisor::cli {
namespace {

constexpr std::string_view kQemuFlagsHelp =
    R"(  --vm-dir DIR           VM directories, disks and QMP sockets (default DATA_DIR/vms;
                         short: sockets must fit 107 bytes)
  --guest-dir DIR        the test image built by ops/guest/build.sh (kernel,
                         initramfs.cpio.gz; default ~/.cache/clawvisor/guest)
  --guest-kernel F       production image: the guest kernel ...
  --guest-rootfs F       ... its read-only root filesystem (Node.js + OpenClaw) ...
  --guest-initrd F       ... and the initramfs that mounts it (ops/guest/build-openclaw.sh);
                         --guest-images registers images with their health settings
  --accel A              auto | kvm | tcg (default auto: KVM if a probe boots, else TCG)
)";

Result<qemu::QemuOptions> ParseQemuFlags(const Flags& flags,
                                         const std::filesystem::path& data_dir) {
  qemu::QemuOptions options;
  options.vm_dir = VmDirFlag(flags, data_dir).string();
  if (auto kernel = flags.Get("guest-kernel")) {
    auto rootfs = flags.Get("guest-rootfs");
    if (!rootfs) return MakeError(Errc::kInvalidArgument, "--guest-kernel needs --guest-rootfs");
    options.kernel = *kernel;
    options.rootfs = *rootfs;
    options.initrd = flags.GetOr("guest-initrd", "");
  } else {
    if (flags.Get("guest-initrd")) {
      return MakeError(Errc::kInvalidArgument, "--guest-initrd needs --guest-kernel");
    }
    const char* home = std::getenv("HOME");
    const std::string guest = flags.GetOr(
        "guest-dir", std::string(home != nullptr ? home : "/root") + "/.cache/clawvisor/guest");
    options.kernel = guest + "/kernel";
    options.initrd = guest + "/initramfs.cpio.gz";
  }
  const std::string accel = flags.GetOr("accel", "auto");
  if (accel == "auto") {
    options.accel = qemu::Accel::kAuto;
  } else if (accel == "kvm") {
    options.accel = qemu::Accel::kKvm;
  } else if (accel == "tcg") {
    options.accel = qemu::Accel::kTcg;
  } else {
    return MakeError(Errc::kInvalidArgument, "--accel must be auto, kvm or tcg");
  }
  return options;
}

}  // namespace

std::string_view VmDriverFlagsHelp() { return kQemuFlagsHelp; }

std::vector<FlagSpec> VmDriverFlagSpecs() {
  return {{"vm-dir"},       {"guest-dir"},    {"guest-kernel"},
          {"guest-rootfs"}, {"guest-initrd"}, {"accel"}};
}

std::filesystem::path VmDirFlag(const Flags& flags, const std::filesystem::path& data_dir) {
  return flags.GetOr("vm-dir", (data_dir / "vms").string());
}

Result<VmDriverOptions> ParseVmDriverFlags(const Flags& flags,
                                           const std::filesystem::path& data_dir) {
  auto parsed = ParseQemuFlags(flags, data_dir);
  if (!parsed) return std::unexpected(parsed.error());
  return VmDriverOptions(std::move(*parsed));
}

void UseDefaultGuestImage(VmDriverOptions& options, const GuestBoot& boot) {
  std::visit(
      [&](qemu::QemuOptions& qemu_options) {
        qemu_options.kernel = boot.kernel;
        qemu_options.initrd = boot.initrd;
        qemu_options.rootfs = boot.rootfs;
        qemu_options.tcg_clock = boot.tcg_clock;
      },
      options);
}

void UseEgressGateway(VmDriverOptions& options, const std::string& egress_socket) {
  std::visit(
      [&](qemu::QemuOptions& qemu_options) {
        std::error_code ec;
        qemu_options.network_helper = std::filesystem::read_symlink("/proc/self/exe", ec).string();
        qemu_options.egress_socket = egress_socket;
      },
      options);
}

Result<std::unique_ptr<VmDriver>> OpenVmDriver(const VmDriverOptions& options) {
  return std::visit(
      [](const qemu::QemuOptions& qemu_options) -> Result<std::unique_ptr<VmDriver>> {
        auto driver = qemu::QemuMicrovmDriver::Open(qemu_options);
        if (!driver) return std::unexpected(driver.error());
        return std::unique_ptr<VmDriver>(std::move(*driver));
      },
      options);
}

}  // namespace clawvisor::cli
