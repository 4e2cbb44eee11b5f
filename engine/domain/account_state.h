#pragma once

// The decision state of one account: everything Decide() needs, built only by Evolve() from the
// account's events. It holds no secret in the clear (sealed values stay sealed; only counts,
// ids, masks and states live here).

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "engine/clock.h"
#include "engine/domain/host_registry.h"

namespace clawvisor {

// What the account asked an instance to be. Transitions (requests are always recorded):
//
//            create                start                pause
//   (none) ─────────▶ stopped ───────────▶ running ───────────▶ paused
//                      ▲  ▲                  │  ▲                 │
//                      │  └──── stop ────────┘  └──── resume ─────┘
//                      └──────────────── stop ────────────────────┘
//   any but deleted ── delete ──▶ deleted   (terminal; a new create gets a new revision)
enum class DesiredState { kStopped, kRunning, kPaused, kDeleted };

std::string_view DesiredStateName(DesiredState state);

struct CredentialInfo {
  v1::CredentialKind kind = v1::CREDENTIAL_KIND_UNSPECIFIED;
  std::string last4;
};

struct ConsoleLinkInfo {
  std::string link_id;
  std::string user_id;
  TimestampUs expires_at_us = 0;
};

struct InstanceState {
  std::string instance_id;
  std::string name;
  v1::InstanceSpec spec;
  uint64_t revision = 0;  // +1 each time an instance of this id is created
  uint64_t version = 0;   // the instance aggregate's event count
  DesiredState desired = DesiredState::kStopped;
  v1::VmState observed = v1::VM_STATE_PENDING;
  std::string host_id;
  bool deleted = false;  // the reconciler confirmed the VM and its disk are gone
  TimestampUs created_at_us = 0;
  TimestampUs last_activity_us = 0;
  std::map<std::string, CredentialInfo> credentials;
  // Console links not yet used nor expired, by token hash (hex).
  std::map<std::string, ConsoleLinkInfo> console_links;
  // The open webhook path, by the keyed hash of its token (both empty: none open).
  std::string webhook_id;
  std::string webhook_token_hash;
  std::string image;          // the guest image asked for (created with or upgraded to)
  std::string running_image;  // the one its VM last reported running
};

struct SessionState {
  std::string user_id;
  TimestampUs absolute_expires_at_us = 0;
};

struct AccountState {
  std::string account_id;
  bool registered = false;
  bool erased = false;
  bool disabled = false;  // by an operator: no sign-in, no instance started
  uint64_t version = 0;   // the account aggregate's event count
  v1::Plan plan = v1::PLAN_UNSPECIFIED;
  std::string owner_user_id;
  TimestampUs trial_ends_at_us = 0;
  std::map<std::string, v1::Role> members;
  bool has_password = false;      // the primary user has a password (a sealed hash in the log)
  uint64_t password_changes = 0;  // PasswordChanged events so far
  uint64_t invitations = 0;       // MemberInvited events so far: the next invited user's sequence
  // TOTP (RFC 6238) of the primary user: enrolled (a sealed secret in the log), enabled once a
  // code confirmed it; the last time step accepted (a code is accepted once: a later sign-in
  // needs a later step); the keyed hashes (raw bytes) of the recovery codes not yet used.
  bool totp_enrolled = false;
  bool totp_enabled = false;
  uint64_t totp_last_step = 0;
  std::set<std::string> recovery_code_hashes;
  // Outstanding password-reset tokens: keyed hash (raw bytes) -> expiry. All die when one is
  // used or the password changes; expired ones are pruned as new ones are requested.
  std::map<std::string, TimestampUs> reset_tokens;
  uint32_t login_failures = 0;            // consecutive failed logins of the primary user
  TimestampUs login_locked_until_us = 0;  // no sign-in before this (kLockedForever: until unlock)
  // Sessions started and not yet revoked; expired ones are pruned as new ones start.
  std::map<std::string, SessionState> sessions;
  std::map<std::string, InstanceState> instances;  // deleted ones stay, to keep their revision
  // Audit exports by export id: true once completed. Kept so a completion is accepted once,
  // and only for an export that was requested.
  std::map<std::string, bool> audit_exports;
  // Only under kHostRegistryAccountId: the hosts and the room they have given out.
  HostRegistry host_registry;

  const InstanceState* FindLiveInstance(const std::string& instance_id) const;
  size_t LiveInstanceCount() const;
};

}  // namespace clawvisor
