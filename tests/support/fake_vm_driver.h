#pragma once

// A VmDriver for unit tests of the reconciler: VMs are entries in a map, health and disk usage
// are knobs, and failures can be injected per call. It records every call in order so a test
// can check what the reconciler did and in which order. Not a VM: QemuMicrovmDriver is tested
// against real QEMU in tests/integration.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/reconcile/vm_driver.h"

namespace clawvisor::testing {

class FakeVmDriver final : public VmDriver {
 public:
  struct Vm {
    VmSpec spec;
    VmRunState state = VmRunState::kStopped;
    uint64_t disk_used = 0;
    bool healthy = true;
    std::string config;
    std::string volume_key;  // what Create encrypted the disk with; Start must bring the same
    int boots = 0;
    std::string booted_image;  // spec.boot.image at the last Start
    HealthProbe last_probe;    // what the last CheckHealth asked
    // The disk's use once the guest answers its first health check (it trims at boot).
    std::optional<uint64_t> trim_at_boot_to;
  };

  Status Create(const VmSpec& spec, std::string_view volume_key) override;
  Status Start(const VmSpec& spec, const std::string& config, std::string_view volume_key) override;
  Status Stop(const VmKey& key) override;
  Status Pause(const VmKey& key) override;
  Status Resume(const VmKey& key) override;
  Status Destroy(const VmKey& key) override;
  Result<std::optional<VmStatus>> Inspect(const VmKey& key) override;
  Result<std::vector<VmStatus>> List() override;
  HealthReport CheckHealth(const VmKey& key, const HealthProbe& probe) override;

  // Knobs.
  void SetHealthy(const VmKey& key, bool healthy);
  void SetDiskUsed(const VmKey& key, uint64_t bytes);
  void TrimAtNextBoot(const VmKey& key, uint64_t bytes);
  void Kill(const VmKey& key);                     // the VM process dies
  void FailNext(std::string call, int times = 1);  // e.g. "Start"
  void Put(Vm vm);                                 // a VM left from before (re-adoption)

  // Observations.
  const Vm* Find(const VmKey& key) const;
  std::vector<std::string> calls() const;  // "Start acc/ins", in order
  int CountCalls(std::string_view call) const;
  void ClearCalls();

 private:
  Status Call(std::string_view call, const VmKey& key);
  mutable std::mutex mu_;
  std::map<VmKey, Vm> vms_;
  std::vector<std::string> calls_;
  std::map<std::string, int> failures_;
};

}  // namespace clawvisor::testing
