#pragma once

// Internal to engine/domain: the account aggregate's decisions (registration, members and
// roles, an operator's disable / enable, erasure).
// Each decision decides one command against the account state; the caller (Decide in
// engine/domain/decider.cc) has checked the command id, the permission table, the host-registry
// routing and that the account exists, is not erased and (where it matters) not disabled. The
// Evolve* function folds the family's events back into the state (called by Evolve).
//
// Thread-safety: pure functions.

#include "clawvisor/v1/commands.pb.h"
#include "engine/domain/account_state.h"
#include "engine/domain/decision.h"
#include "engine/domain/limits.h"

namespace clawvisor::decide {

Decision RegisterAccount(const AccountState& state, const v1::RegisterAccount& cmd,
                         TimestampUs now_us, const DecideOptions& options);

Decision InviteMember(const AccountState& state, const v1::InviteMember& cmd);
Decision GrantRole(const AccountState& state, const v1::GrantRole& cmd);
Decision RevokeRole(const AccountState& state, const v1::RevokeRole& cmd);

Decision DisableAccount(const AccountState& state, const v1::DisableAccount& cmd);
Decision EnableAccount(const AccountState& state);

Decision RequestAccountErasure(const AccountState& state);

// Folds an event of the account's own family (registration, trial, plan, members, disable,
// erasure) into `state`; false if the event is not of that family.
bool EvolveAccount(AccountState& state, const v1::Envelope& event);

}  // namespace clawvisor::decide
