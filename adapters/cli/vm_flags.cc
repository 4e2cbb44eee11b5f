#include "adapters/cli/vm_flags.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "adapters/cli/egress_flags.h"
#include "adapters/cli/front_door_flags.h"
#include "adapters/cli/guest_image_flags.h"
#include "adapters/cli/vm_driver_factory.h"
#include "engine/domain/decider.h"
#include "engine/domain/host_registry.h"

namespace clawvisor::cli {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

// What a host offers by default: 4 vCPUs per hardware thread (agents are mostly idle), 80 % of
// its memory and 90 % of the file system that holds the VM directories; the rest is the host's.
v1::InstanceSpec DefaultCapacity(const std::filesystem::path& vm_dir) {
  v1::InstanceSpec capacity;
  capacity.set_vcpus(std::max(1u, std::thread::hardware_concurrency()) * 4);
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) {
    const uint64_t mib = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) / kMiB;
    capacity.set_memory_mib(
        static_cast<uint32_t>(std::min<uint64_t>(mib * 8 / 10, kMaxHostMemoryMib)));
  }
  std::filesystem::path existing = vm_dir;
  std::error_code ec;
  while (!existing.empty() && !std::filesystem::exists(existing, ec))
    existing = existing.parent_path();
  struct statvfs fs {};
  if (!existing.empty() && statvfs(existing.c_str(), &fs) == 0) {
    const uint64_t mib = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize / kMiB;
    capacity.set_disk_mib(static_cast<uint32_t>(std::min<uint64_t>(mib * 9 / 10, kMaxHostDiskMib)));
  }
  return capacity;
}

}  // namespace

constexpr std::string_view kHostFlagsHelp =
    R"(  --host ID              this host's id (serve --vms: default "local"); it registers with the
                         host registry and runs the instances placed on it
  --capacity-vcpus N     vCPUs this host offers instances (default 4 per hardware thread)
  --capacity-memory-mib N  memory it offers (default 80 % of the machine's)
  --capacity-disk-mib N  disk it offers (default 90 % of the file system under --vm-dir)
)";
constexpr std::string_view kReconcilerFlagsHelp =
    R"(  --health-interval-ms N health probe period (default 5000)
  --boot-grace-ms N      health failures ignored while a fresh VM boots (default 60000)
  --idle-pause-min N     pause a running instance idle this long (default 120; 0 = never)
)";

std::string_view VmFlagsHelp() {
  // Built on first use (another file's constant is not ready during static initialization).
  static const std::string help =
      std::string(kHostFlagsHelp) + std::string(VmDriverFlagsHelp()) +
      std::string(GuestImageFlagsHelp()) + std::string(EgressFlagsHelp()) +
      std::string(FrontDoorFlagsHelp()) + std::string(kReconcilerFlagsHelp);
  return help;
}

std::vector<FlagSpec> VmFlagSpecs() {
  std::vector<FlagSpec> specs = {
      {"host"}, {"capacity-vcpus"}, {"capacity-memory-mib"}, {"capacity-disk-mib"}};
  for (auto& spec : VmDriverFlagSpecs()) specs.push_back(spec);
  for (auto& spec : GuestImageFlagSpecs()) specs.push_back(spec);
  for (auto& spec : EgressFlagSpecs()) specs.push_back(spec);
  for (auto& spec : FrontDoorFlagSpecs()) specs.push_back(spec);
  specs.insert(specs.end(), {{"health-interval-ms"}, {"boot-grace-ms"}, {"idle-pause-min"}});
  return specs;
}

Result<VmHostOptions> ParseVmFlags(const Flags& flags, const std::filesystem::path& data_dir,
                                   std::string_view front_door_default) {
  VmHostOptions vms;
  vms.reconciler.host_id = flags.GetOr("host", "local");
  if (!IsValidResourceId(vms.reconciler.host_id)) {
    return MakeError(Errc::kInvalidArgument, "--host must be 1..64 of [A-Za-z0-9._:-]");
  }
  v1::InstanceSpec capacity = DefaultCapacity(VmDirFlag(flags, data_dir));
  auto vcpus = flags.GetInt("capacity-vcpus", capacity.vcpus(), 0, kMaxHostVcpus);
  if (!vcpus) return std::unexpected(vcpus.error());
  auto memory = flags.GetInt("capacity-memory-mib", capacity.memory_mib(), 0, kMaxHostMemoryMib);
  if (!memory) return std::unexpected(memory.error());
  auto disk = flags.GetInt("capacity-disk-mib", capacity.disk_mib(), 0, kMaxHostDiskMib);
  if (!disk) return std::unexpected(disk.error());
  capacity.set_vcpus(static_cast<uint32_t>(*vcpus));
  capacity.set_memory_mib(static_cast<uint32_t>(*memory));
  capacity.set_disk_mib(static_cast<uint32_t>(*disk));
  vms.reconciler.capacity = capacity;
  auto driver = ParseVmDriverFlags(flags, data_dir);
  if (!driver) return std::unexpected(driver.error());
  vms.driver = std::move(*driver);
  auto images = ParseGuestImageFlags(flags);
  if (!images) return std::unexpected(images.error());
  vms.images = std::move(*images);
  if (vms.images) {
    vms.reconciler.images = vms.images.get();
    if (!flags.Has("guest-dir") && !flags.Has("guest-kernel")) {
      UseDefaultGuestImage(vms.driver, vms.images->Find("")->boot);
    }
  }
  // On by default: a VM's only way out is the host's egress gateway (design D9).
  auto egress = ParseEgressFlags(flags, (data_dir / "egress.sock").string());
  if (!egress) return std::unexpected(egress.error());
  if (*egress) {
    // The VMs' network then runs in helpers that hand their connections to the gateway.
    UseEgressGateway(vms.driver, (*egress)->gateway.socket_path);
    vms.egress = std::move(*egress);
  }
  auto front_door = ParseFrontDoorFlags(flags, front_door_default);
  if (!front_door) return std::unexpected(front_door.error());
  vms.front_door = std::move(*front_door);
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
