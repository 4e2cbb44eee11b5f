#pragma once

// The limits the decisions enforce: quotas per instance and per account, the sizes of
// credentials, and the timings of sign-in (sessions, lockout, reset tokens). DecideOptions
// gathers the ones a deployment (or a test) may change; the constants are fixed.
//
// Thread-safety: plain values.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "engine/clock.h"

namespace clawvisor {

// Limits on what an instance may ask for (quotas per instance).
struct InstanceLimits {
  uint32_t max_vcpus = 8;
  uint32_t max_memory_mib = 16384;
  uint32_t min_memory_mib = 128;
  uint32_t max_disk_mib = 102400;
  uint32_t min_disk_mib = 64;
  uint32_t max_instances_per_account = 20;
  uint32_t max_credentials_per_instance = 32;
};

// Credential values: API keys and bot tokens.
inline constexpr size_t kMinCredentialBytes = 8;
inline constexpr size_t kMaxCredentialBytes = 4096;

struct DecideOptions {
  InstanceLimits limits;
  // The guest images the operator registered (--guest-images): name -> the OpenClaw version it
  // runs. Empty: none registered; instances get the host's default image and cannot be
  // upgraded. `default_image` is what a CreateInstance without an image gets.
  std::map<std::string, std::string, std::less<>> guest_images;
  std::string default_image;
  int64_t trial_length_us = 14LL * 24 * 3600 * 1'000'000;
  // A session unused this long is over (OWASP ASVS: 30 min for ordinary applications) ...
  int64_t session_idle_timeout_us = 30LL * 60 * 1'000'000;
  // ... and every session is over this long after its login, used or not.
  int64_t session_absolute_timeout_us = 12LL * 3600 * 1'000'000;
  // Failed logins per account (NIST SP 800-63B 5.2.2): this many are free; each further one
  // locks sign-in for a delay that doubles from login_base_delay_us; at login_lockout_failures
  // consecutive failures sign-in stays locked until an operator unlocks it (well below NIST's
  // cap of 100).
  uint32_t login_free_failures = 4;
  uint32_t login_lockout_failures = 10;
  int64_t login_base_delay_us = 1'000'000;
  // A password-reset token works once, within this long of its request.
  int64_t password_reset_validity_us = 3600LL * 1'000'000;
};

// "Locked until an operator unlocks it."
inline constexpr TimestampUs kLockedForever = INT64_MAX;

// The most members (owners, admins, viewers) one account may have.
inline constexpr size_t kMaxMembersPerAccount = 100;

// A console link is valid this long, once; an instance holds at most this many unused ones.
inline constexpr TimestampUs kConsoleLinkLifetimeUs = 5 * 60 * 1'000'000LL;
inline constexpr size_t kMaxConsoleLinksPerInstance = 16;
// Audit exports requested and not completed yet, per account (RequestAuditExport).
inline constexpr std::ptrdiff_t kMaxPendingAuditExports = 2;

}  // namespace clawvisor
