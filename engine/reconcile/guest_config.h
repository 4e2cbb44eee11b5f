#pragma once

// The configuration a microVM's guest reads at boot (fw_cfg `opt/clawvisor/config`): who it is,
// its gateway token and its credentials in plaintext, and (tests only) switches that make the
// test image misbehave. The production image (Node.js + OpenClaw) and the test image read the
// same document.
//
// The JSON is written one key per line (and one credential per line) so that the busybox test
// image can read it with sed; any JSON parser reads it too. It holds secrets: it goes to the
// driver and from there to the guest only, never to a log, an argument or an event.

#include <cstdint>
#include <string>

#include "engine/reconcile/instance_secrets.h"

namespace clawvisor {

// Test switches of the test image (ops/guest/init). Production leaves them all off.
struct GuestTestSwitches {
  bool fail_health = false;                // /healthz and /readyz answer 503
  bool fill_disk = false;                  // write zeros to the data disk until it is full
  bool clear_disk = false;                 // at boot, delete what fill_disk wrote, and trim
  std::string write_marker{};              // at boot, write this to /data/marker (no , or ")
  uint32_t crash_once_after_requests = 0;  // panic the guest once, at this gateway request

  bool Any() const {
    return fail_health || fill_disk || clear_disk || !write_marker.empty() ||
           crash_once_after_requests != 0;
  }
};

struct GuestIdentity {
  std::string account_id;
  std::string instance_id;
  uint64_t revision = 0;
  std::string host_id;
};

std::string GuestConfigJson(const GuestIdentity& who, const InstanceSecretValues& secrets,
                            const GuestTestSwitches& test = {});

}  // namespace clawvisor
