#pragma once

// The pure core of the engine: Decide() turns a command and the current state into events (or a
// rejection); Evolve() folds an event into the state. Neither reads a clock, a file or a random
// source: time comes in as `now_us`, so tests replay decisions exactly (design D5).
//
// Decide() returns events with only `aggregate_type`, `aggregate_id` and the payload set; the
// processor stamps the rest of the envelope (ids, versions, time, actor) and seals every
// `Sealed` field the decision left pending (plaintext in `ciphertext`, no `key_id`).
//
// Invariant: for any state S built by Evolve from a log, and any command C,
//   Evolve(S, Decide(S, C)) is what the processor appends and applies — replay equals live.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "engine/domain/account_state.h"
#include "engine/domain/decision.h"

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

// The id of the session whose token has `token_hash` (hex): "ses_" + its first 24 digits.
std::string SessionIdFor(std::string_view token_hash);

Decision Decide(const AccountState& state, const v1::Command& command, TimestampUs now_us,
                const DecideOptions& options = {});

// Applies one stamped event. Events that do not change decision state are accepted and ignored.
void Evolve(AccountState& state, const v1::Envelope& event);

// Checks of identifiers shared by every entry point (API, processor): 1..128 characters of
// [A-Za-z0-9._:-] for command ids; 1..64 for account and instance ids, which also may not be
// "." or "..".
bool IsValidCommandId(std::string_view id);
bool IsValidResourceId(std::string_view id);

// The last four characters of a credential, as events and views keep them ("" if the value is
// too short to show any).
std::string CredentialLast4(std::string_view value);

// The most members (owners, admins, viewers) one account may have.
inline constexpr size_t kMaxMembersPerAccount = 100;
// Audit exports requested and not completed yet, per account (RequestAuditExport).
inline constexpr std::ptrdiff_t kMaxPendingAuditExports = 2;

// The user id of an account's `sequence`-th invited member: "usr_" + the account id's suffix +
// "_m" + the sequence number (the owner is "usr_" + the suffix).
std::string InvitedUserId(std::string_view account_id, uint64_t sequence);

// The role a user actor holds in the account of `state`; nullopt for a non-member or a service.
std::optional<v1::Role> MemberRole(const AccountState& state, const v1::Actor& actor);

}  // namespace clawvisor
