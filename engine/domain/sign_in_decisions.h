#pragma once

// Internal to engine/domain: the sign-in decisions of an account's primary user (login, TOTP
// enrolment, confirmation and removal, password change and reset, logout, unlock).
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

Decision ChangePassword(const AccountState& state, const v1::Command& command);

Decision Login(const AccountState& state, const v1::Login& cmd, TimestampUs now_us,
               const DecideOptions& options);
Decision Logout(const AccountState& state, const v1::Command& command);
Decision UnlockLogin(const AccountState& state, const v1::UnlockLogin& cmd);

Decision RequestPasswordReset(const AccountState& state, const v1::RequestPasswordReset& cmd,
                              TimestampUs now_us, const DecideOptions& options);
Decision CompletePasswordReset(const AccountState& state, const v1::CompletePasswordReset& cmd,
                               TimestampUs now_us);

Decision EnrollTotp(const AccountState& state, const v1::Command& command);
Decision ConfirmTotp(const AccountState& state, const v1::Command& command);
Decision DisableTotp(const AccountState& state, const v1::Command& command);

// Folds a sign-in event (passwords, resets, sessions, failures, lockout, TOTP) into `state`;
// false if the event is not of that family.
bool EvolveSignIn(AccountState& state, const v1::Envelope& event);

}  // namespace clawvisor::decide
