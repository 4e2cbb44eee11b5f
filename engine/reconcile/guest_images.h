#pragma once

// The guest images a host can boot (#15): each a registered name (what CreateInstance and
// UpgradeInstance name, and what an instance records), the OpenClaw version it runs, its files,
// and how its gateway's health is judged (a real OpenClaw takes tens of seconds to become
// healthy, far longer under TCG; the busybox test image a second). Operators register images with
// `--guest-images NAME=DIR,...`; each DIR holds an `image.conf` that ops/guest's build scripts
// write:
//
//   # key=value, one per line; '#' starts a comment
//   openclaw_version=2026.9.6
//   kernel=kernel                 (relative to DIR, or absolute)
//   initrd=initramfs.cpio.gz      (the test image is only this; the production image's
//   rootfs=rootfs.img              initramfs mounts this read-only root: one or both)
//   tcg_clock=tsc                 (pit, the default, or tsc: TcgClock in vm_driver.h)
//   boot_grace_s=900              (failures tolerated while a fresh VM boots)
//   health_interval_s=5
//   health_timeout_ms=3000
//   health_path=/readyz           (readiness where the image has it; default /healthz)
//   min_memory_mib=2048           (the image's floor: a smaller VM gets this much)
//
// Thread-safety: a catalog is immutable once built; share it freely.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "engine/reconcile/vm_driver.h"
#include "events/result.h"

namespace clawvisor {

struct GuestImage {
  std::string name;
  std::string openclaw_version;
  GuestBoot boot;  // boot.image == name
  // Unset: the reconciler's own (--boot-grace-ms, --health-interval-ms, /healthz in 1 s).
  std::optional<std::chrono::microseconds> boot_grace;
  std::optional<std::chrono::microseconds> health_interval;
  std::optional<std::string> health_path;
  std::optional<std::chrono::milliseconds> health_timeout;
  uint32_t min_memory_mib = 0;
};

// A registered name: 1..64 of [a-z0-9._-], starting with a letter or digit.
bool IsValidGuestImageName(std::string_view name);

// Parses `text` (an image.conf) of the image `name` kept in `dir`; relative file names are
// taken from `dir`. kInvalidArgument naming the line for anything it does not understand.
Result<GuestImage> ParseGuestImageConf(std::string_view name, std::string_view dir,
                                       std::string_view text);

class GuestImageCatalog {
 public:
  // kInvalidArgument for a bad or duplicate name.
  Status Add(GuestImage image);
  // kNotFound unless `name` was added.
  Status SetDefault(std::string_view name);

  // The image of that name; "" means the default. nullptr when there is none.
  const GuestImage* Find(std::string_view name) const;
  const std::string& default_name() const { return default_; }
  bool empty() const { return images_.empty(); }
  // Name -> OpenClaw version, for the decider (DecideOptions::guest_images).
  std::map<std::string, std::string, std::less<>> Versions() const;

 private:
  std::map<std::string, GuestImage, std::less<>> images_;
  std::string default_;
};

}  // namespace clawvisor
