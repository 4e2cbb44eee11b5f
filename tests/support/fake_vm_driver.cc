#include "tests/support/fake_vm_driver.h"

namespace clawvisor::testing {

Status FakeVmDriver::Call(std::string_view call, const VmKey& key) {
  calls_.push_back(std::string(call) + " " + key.ToString());
  auto it = failures_.find(std::string(call));
  if (it != failures_.end() && it->second > 0) {
    --it->second;
    return MakeError(Errc::kUnavailable, std::string(call) + " failed (injected)");
  }
  return {};
}

Status FakeVmDriver::Create(const VmSpec& spec, std::string_view volume_key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Create", spec.key); !ok) return ok;
  if (volume_key.empty()) return MakeError(Errc::kInvalidArgument, "no volume key");
  auto it = vms_.find(spec.key);
  if (it != vms_.end()) {
    if (it->second.spec.revision != spec.revision) {
      return MakeError(Errc::kAlreadyExists, "a VM of another revision holds the key");
    }
    return {};
  }
  Vm vm;
  vm.spec = spec;
  vm.volume_key = std::string(volume_key);
  vm.disk_used = 1024 * 1024;  // a fresh filesystem's metadata
  vms_.emplace(spec.key, std::move(vm));
  return {};
}

Status FakeVmDriver::Start(const VmSpec& spec, const std::string& config,
                           std::string_view volume_key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Start", spec.key); !ok) return ok;
  auto it = vms_.find(spec.key);
  if (it == vms_.end()) return MakeError(Errc::kNotFound, "no such VM");
  if (volume_key != it->second.volume_key) {
    return MakeError(Errc::kPermissionDenied, "the volume key does not open the data disk");
  }
  if (it->second.state == VmRunState::kRunning || it->second.state == VmRunState::kPaused) {
    return {};
  }
  it->second.state = VmRunState::kRunning;
  it->second.config = config;
  it->second.booted_image = spec.boot.image;
  it->second.spec.boot = spec.boot;
  ++it->second.boots;
  return {};
}

Status FakeVmDriver::Stop(const VmKey& key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Stop", key); !ok) return ok;
  auto it = vms_.find(key);
  if (it != vms_.end()) it->second.state = VmRunState::kStopped;
  return {};
}

Status FakeVmDriver::Pause(const VmKey& key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Pause", key); !ok) return ok;
  auto it = vms_.find(key);
  if (it == vms_.end() || it->second.state == VmRunState::kStopped) {
    return MakeError(Errc::kFailedPrecondition, "VM not running");
  }
  it->second.state = VmRunState::kPaused;
  return {};
}

Status FakeVmDriver::Resume(const VmKey& key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Resume", key); !ok) return ok;
  auto it = vms_.find(key);
  if (it == vms_.end() || it->second.state == VmRunState::kStopped) {
    return MakeError(Errc::kFailedPrecondition, "VM not running");
  }
  it->second.state = VmRunState::kRunning;
  return {};
}

Status FakeVmDriver::Destroy(const VmKey& key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Destroy", key); !ok) return ok;
  vms_.erase(key);
  return {};
}

Result<std::optional<VmStatus>> FakeVmDriver::Inspect(const VmKey& key) {
  std::lock_guard lock(mu_);
  if (auto ok = Call("Inspect", key); !ok) return std::unexpected(ok.error());
  auto it = vms_.find(key);
  if (it == vms_.end()) return std::optional<VmStatus>();
  const Vm& vm = it->second;
  return std::optional<VmStatus>(VmStatus{key, vm.spec.revision, vm.state, vm.disk_used,
                                          vm.spec.disk_bytes, 0, vm.booted_image});
}

Result<std::vector<VmStatus>> FakeVmDriver::List() {
  std::lock_guard lock(mu_);
  std::vector<VmStatus> out;
  for (const auto& [key, vm] : vms_) {
    out.push_back(VmStatus{key, vm.spec.revision, vm.state, vm.disk_used, vm.spec.disk_bytes, 0,
                           vm.booted_image});
  }
  return out;
}

HealthReport FakeVmDriver::CheckHealth(const VmKey& key, const HealthProbe& probe) {
  std::lock_guard lock(mu_);
  calls_.push_back("CheckHealth " + key.ToString());
  auto it = vms_.find(key);
  if (it != vms_.end()) it->second.last_probe = probe;
  if (it == vms_.end() || it->second.state != VmRunState::kRunning) {
    return {false, "connection refused"};
  }
  if (!it->second.healthy) return {false, "HTTP 503"};
  // A guest that answers has booted, mounted its disk and trimmed it.
  if (it->second.trim_at_boot_to) {
    it->second.disk_used = *it->second.trim_at_boot_to;
    it->second.trim_at_boot_to.reset();
  }
  return {true, ""};
}

void FakeVmDriver::SetHealthy(const VmKey& key, bool healthy) {
  std::lock_guard lock(mu_);
  vms_.at(key).healthy = healthy;
}
void FakeVmDriver::SetDiskUsed(const VmKey& key, uint64_t bytes) {
  std::lock_guard lock(mu_);
  vms_.at(key).disk_used = bytes;
}
void FakeVmDriver::TrimAtNextBoot(const VmKey& key, uint64_t bytes) {
  std::lock_guard lock(mu_);
  vms_.at(key).trim_at_boot_to = bytes;
}
void FakeVmDriver::Kill(const VmKey& key) {
  std::lock_guard lock(mu_);
  vms_.at(key).state = VmRunState::kExited;
}
void FakeVmDriver::FailNext(std::string call, int times) {
  std::lock_guard lock(mu_);
  failures_[std::move(call)] = times;
}
void FakeVmDriver::Put(Vm vm) {
  std::lock_guard lock(mu_);
  VmKey key = vm.spec.key;
  vms_[key] = std::move(vm);
}
const FakeVmDriver::Vm* FakeVmDriver::Find(const VmKey& key) const {
  std::lock_guard lock(mu_);
  auto it = vms_.find(key);
  return it == vms_.end() ? nullptr : &it->second;
}
std::vector<std::string> FakeVmDriver::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}
int FakeVmDriver::CountCalls(std::string_view call) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& c : calls_) {
    if (c.starts_with(call) && c.size() > call.size() && c[call.size()] == ' ') ++n;
  }
  return n;
}
void FakeVmDriver::ClearCalls() {
  std::lock_guard lock(mu_);
  calls_.clear();
}

}  // namespace clawvisor::testing
