#pragma once

// The pure core of the engine: Decide() turns a command and the current state into events (or a
// rejection); Evolve() folds an event into the state. Neither reads a clock, a file or a random
// source: time comes in as `now_us`, so tests replay decisions exactly (design D5).
//
// Decide() returns events with only `aggregate_type`, `aggregate_id` and the payload set; the
// processor stamps the rest of the envelope (ids, versions, time, actor) and seals every
// `Sealed` field the decision left pending (plaintext in `ciphertext`, no `key_id`).
//
// The identifiers (engine/domain/ids.h) and the limits (engine/domain/limits.h) are included
// here for the callers that need the decider and them; one that needs only those includes them.
// The decisions themselves live per aggregate in engine/domain/*_decisions.cc.
//
// Thread-safety: pure functions; concurrent calls on distinct states are safe.
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
#include "engine/domain/ids.h"
#include "engine/domain/limits.h"

namespace clawvisor {

Decision Decide(const AccountState& state, const v1::Command& command, TimestampUs now_us,
                const DecideOptions& options = {});

// Applies one stamped event. Events that do not change decision state are accepted and ignored.
void Evolve(AccountState& state, const v1::Envelope& event);

// The role a user actor holds in the account of `state`; nullopt for a non-member or a service.
std::optional<v1::Role> MemberRole(const AccountState& state, const v1::Actor& actor);

}  // namespace clawvisor
