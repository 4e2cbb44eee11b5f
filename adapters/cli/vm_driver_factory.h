#pragma once

// The one place that names a concrete VmDriver (engine/reconcile/vm_driver.h): the driver's
// flags, the options they make, and the driver those options open. The composition roots hold
// only the VmDriver port, so a new driver (say Firecracker, in adapters/firecracker/) is its
// adapter folder plus this file: its options as another alternative of VmDriverOptions, its
// flags and help lines here, and its branch in OpenVmDriver.
//
// It lives in adapters/cli, not beside a driver: it must know every driver, and only the
// composition root may depend on all the adapters (adapters/qemu knows nothing of another).
// Thread-safety: plain functions.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "adapters/cli/flags.h"
#include "adapters/qemu/qemu_microvm_driver.h"
#include "engine/reconcile/vm_driver.h"
#include "events/result.h"

namespace clawvisor::cli {

// The settings of the driver a host runs; today QEMU's microvm machine only.
using VmDriverOptions = std::variant<qemu::QemuOptions>;

// The driver's lines of the VM flags' --help text, and its flags: --vm-dir, --guest-dir,
// --guest-kernel, --guest-rootfs, --accel.
std::string_view VmDriverFlagsHelp();
std::vector<FlagSpec> VmDriverFlagSpecs();
// --vm-dir: where the host's VM directories live (default DATA_DIR/vms), whatever the driver.
std::filesystem::path VmDirFlag(const Flags& flags, const std::filesystem::path& data_dir);
// Reads the driver's flags (defaults: the test image built by ops/guest/build.sh in
// ~/.cache/clawvisor/guest); kInvalidArgument with the message the user sees.
Result<VmDriverOptions> ParseVmDriverFlags(const Flags& flags,
                                           const std::filesystem::path& data_dir);
// Makes `boot` the image a VM without one of its own boots (the catalog's default, #15).
void UseDefaultGuestImage(VmDriverOptions& options, const GuestBoot& boot);
// Gives the driver's VMs a network helper (this binary's `vm-network`) that hands their
// connections to the egress gateway at `egress_socket` (design D9).
void UseEgressGateway(VmDriverOptions& options, const std::string& egress_socket);
// Opens the driver the options describe (checks its binary and image, settles its accelerator).
Result<std::unique_ptr<VmDriver>> OpenVmDriver(const VmDriverOptions& options);

}  // namespace clawvisor::cli
