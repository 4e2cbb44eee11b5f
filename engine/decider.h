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

#include <expected>
#include <string>
#include <vector>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "engine/account_state.h"

namespace clawvisor {

struct Rejection {
  v1::RejectionReason reason = v1::REJECTION_INVALID_ARGUMENT;
  std::string message;  // for people; never contains a secret or a payload value
};

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
};

using Decision = std::expected<std::vector<v1::Envelope>, Rejection>;

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

}  // namespace clawvisor
