#pragma once

// Internal to engine/domain: the audit-export decisions (a request by the owner, a completion by
// the export worker).
// Each function decides one command against the account state; the caller (Decide in
// engine/domain/decider.cc) has checked the command id, the permission table, the host-registry
// routing and that the account exists, is not erased and (where it matters) not disabled.
//
// Thread-safety: pure functions.

#include "clawvisor/v1/commands.pb.h"
#include "engine/domain/account_state.h"
#include "engine/domain/decision.h"

namespace clawvisor::decide {

Decision RequestAuditExport(const AccountState& state, const v1::Command& command,
                            TimestampUs now_us);
Decision CompleteAuditExport(const AccountState& state, const v1::Command& command);

}  // namespace clawvisor::decide
