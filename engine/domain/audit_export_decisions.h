#pragma once

// Internal to engine/domain: the audit-export decisions (a request by the owner, a completion by
// the export worker).
// Each decision decides one command against the account state; the caller (Decide in
// engine/domain/decider.cc) has checked the command id, the permission table, the host-registry
// routing and that the account exists, is not erased and (where it matters) not disabled. The
// Evolve* function folds the family's events back into the state (called by Evolve).
//
// Thread-safety: pure functions.

#include "clawvisor/v1/commands.pb.h"
#include "engine/domain/account_state.h"
#include "engine/domain/decision.h"

namespace clawvisor::decide {

Decision RequestAuditExport(const AccountState& state, const v1::Command& command,
                            TimestampUs now_us);
Decision CompleteAuditExport(const AccountState& state, const v1::Command& command);

// Folds an audit-export event into `state`; false if the event is not one.
bool EvolveAuditExport(AccountState& state, const v1::Envelope& event);

}  // namespace clawvisor::decide
