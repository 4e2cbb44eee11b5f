#pragma once

// The flags that configure a host's microVMs and reconciler, shared by `serve --vms` and
// `reconcile`. Paths and numbers only: nothing here is secret.

#include <filesystem>
#include <string_view>
#include <vector>

#include "adapters/cli/flags.h"
#include "adapters/cli/node_parts.h"

namespace clawvisor::cli {

// The VM flags' lines of a --help text.
std::string_view VmFlagsHelp();
std::vector<FlagSpec> VmFlagSpecs();
// Reads the VM flags (defaults: host "local", the test image built by ops/guest/build.sh in
// ~/.cache/clawvisor/guest, VMs under DATA_DIR/vms); the driver's are vm_driver_factory.h's.
// `front_door_default`: where the front door listens without --front-door-listen ("": off).
Result<VmHostOptions> ParseVmFlags(const Flags& flags, const std::filesystem::path& data_dir,
                                   std::string_view front_door_default = "");

}  // namespace clawvisor::cli
