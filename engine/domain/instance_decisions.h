#pragma once

// Internal to engine/domain: the instance aggregate's decisions (create, start / stop / pause /
// resume / delete, the gateway token, credentials, placement and observations).
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

Decision CreateInstance(const AccountState& state, const v1::CreateInstance& cmd,
                        const DecideOptions& options);

// Start / stop / pause / resume / delete of the instance `instance_id`, by the payload case.
Decision RequestTransition(const AccountState& state, const std::string& instance_id,
                           const v1::Command& command);

Decision RotateGatewayToken(const AccountState& state, const v1::RotateGatewayToken& cmd);
// The console's single-use links (design D9): issued to a member, exchanged once by the front
// door before they expire.
Decision IssueConsoleLink(const AccountState& state, const v1::Command& command,
                          TimestampUs now_us);
// Another registered guest image for the instance (its data disk kept).
Decision UpgradeInstance(const AccountState& state, const v1::UpgradeInstance& cmd,
                         const DecideOptions& options);
// The instance's webhook path (design D9): opened or replaced, and closed, by the owner.
Decision RotateWebhookPath(const AccountState& state, const v1::RotateWebhookPath& cmd);
Decision DisableWebhookPath(const AccountState& state, const v1::DisableWebhookPath& cmd);
Decision RedeemConsoleLink(const AccountState& state, const v1::Command& command,
                           TimestampUs now_us);

Decision SetCredential(const AccountState& state, const v1::SetCredential& cmd,
                       const DecideOptions& options);
Decision RemoveCredential(const AccountState& state, const v1::RemoveCredential& cmd);

Decision RecordPlacement(const AccountState& state, const v1::Command& command);
Decision RecordObservation(const AccountState& state, const v1::Command& command);

// Folds an event of the instance aggregate into `instance` (Evolve has already set its id and
// version); false if the event is not of that aggregate.
bool EvolveInstance(InstanceState& instance, const v1::Envelope& event);

}  // namespace clawvisor::decide
