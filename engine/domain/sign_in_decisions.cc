#include "engine/domain/sign_in_decisions.h"

#include <algorithm>
#include <set>

#include "engine/domain/decision_helpers.h"
#include "engine/domain/ids.h"
#include "engine/domain/password_policy.h"
#include "engine/domain/totp.h"

namespace clawvisor::decide {
namespace {

// A failed sign-in: counted, and past the free failures sign-in is locked for a doubling delay,
// then until an operator unlocks it.
Decision LoginFailure(const AccountState& state, std::string_view reason, TimestampUs now_us,
                      const DecideOptions& options) {
  const uint32_t failures = state.login_failures + 1;
  Events out;
  auto failed = AccountEvent(state);
  auto* f = failed.mutable_login_failed();
  f->set_user_id(state.owner_user_id);
  f->set_reason(std::string(reason));
  f->set_consecutive_failures(failures);
  out.push_back(std::move(failed));
  if (failures > options.login_free_failures) {
    TimestampUs until = kLockedForever;
    if (failures < options.login_lockout_failures) {
      const uint32_t doublings = std::min<uint32_t>(failures - options.login_free_failures - 1, 20);
      until = now_us + (options.login_base_delay_us << doublings);
    }
    auto throttled = AccountEvent(state);
    auto* p = throttled.mutable_login_throttled();
    p->set_user_id(state.owner_user_id);
    p->set_locked_until_us(until);
    p->set_consecutive_failures(failures);
    out.push_back(std::move(throttled));
  }
  return out;
}

enum class SecondFactor { kNone, kMissing, kWrong, kTotp, kRecoveryCode };

// What the command service found (engine/totp_service.h): the step whose code matched, or the
// keyed hash of a recovery code. A step at or before the last accepted one is a replay; a
// recovery code counts only if it is one of the unused ones.
SecondFactor CheckSecondFactor(const AccountState& state, uint64_t time_step,
                               const std::string& recovery_code_hash) {
  if (time_step == 0 && recovery_code_hash.empty()) return SecondFactor::kMissing;
  if (time_step != 0) {
    return time_step > state.totp_last_step ? SecondFactor::kTotp : SecondFactor::kWrong;
  }
  const std::string raw = HashBytes(recovery_code_hash);
  if (!raw.empty() && state.recovery_code_hashes.contains(raw)) return SecondFactor::kRecoveryCode;
  return SecondFactor::kWrong;
}

// TOTP belongs to the account's primary user (the one with the password); the local development
// caller acts as that user.
bool IsPrimaryUser(const AccountState& state, const v1::Actor& actor) {
  return actor.kind() == v1::Actor::KIND_SERVICE || actor.id() == state.owner_user_id;
}

}  // namespace

// Only the account's primary user (who registered it) has a password in this build; the local
// development caller acts as that user.
Decision ChangePassword(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.change_password();
  const v1::Actor& actor = command.actor();
  const bool is_primary_user =
      actor.kind() == v1::Actor::KIND_SERVICE || actor.id() == state.owner_user_id;
  if (!is_primary_user) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (!cmd.current_password().empty() || !cmd.new_password().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "passwords must reach the processor verified and hashed by the command service");
  }
  if (!state.has_password || !cmd.current_password_verified()) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the current password is not correct");
  }
  if (!IsArgon2idPhc(cmd.new_password_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "new_password_hash is not an Argon2id PHC string");
  }
  Events out;
  auto changed = AccountEvent(state);
  changed.mutable_password_changed()->set_user_id(state.owner_user_id);
  changed.mutable_password_changed()->set_reason("changed");
  PendingSeal(changed.mutable_password_changed()->mutable_password_hash(), cmd.new_password_hash());
  out.push_back(std::move(changed));
  auto revoked = AccountEvent(state);
  revoked.mutable_all_sessions_revoked()->set_reason("password_changed");
  out.push_back(std::move(revoked));
  return out;
}

// Enrolment records the secret (sealed) and the recovery codes' keyed hashes; TOTP is required
// at sign-in only once a code confirmed it (ConfirmTotp). A pending enrolment may be redone.
Decision EnrollTotp(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.enroll_totp();
  if (!IsPrimaryUser(state, command.actor())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (state.totp_enabled) {
    return Reject(v1::REJECTION_INVALID_STATE, "TOTP is already enabled; disable it first");
  }
  if (!cmd.recovery_codes().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "recovery codes must reach the processor hashed by the command service");
  }
  const auto secret = Base32Decode(cmd.secret());
  if (cmd.secret().size() != 32 || !secret || secret->size() != kTotpSecretBytes) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "secret must be 32 base32 characters (160 bits; the API draws it)");
  }
  if (static_cast<size_t>(cmd.recovery_code_hashes_size()) != kRecoveryCodeCount) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "exactly ten recovery code hashes are required");
  }
  auto enrolled = AccountEvent(state);
  auto* p = enrolled.mutable_totp_enrolled();
  std::set<std::string> seen;
  for (const std::string& hex : cmd.recovery_code_hashes()) {
    std::string raw = HashBytes(hex);
    if (raw.empty() || !seen.insert(raw).second) {
      return Reject(v1::REJECTION_INVALID_ARGUMENT,
                    "recovery_code_hashes must be distinct keyed hashes");
    }
    p->add_recovery_code_hashes(std::move(raw));
  }
  PendingSeal(p->mutable_secret(), cmd.secret());
  return Events{std::move(enrolled)};
}

Decision ConfirmTotp(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.confirm_totp();
  if (!IsPrimaryUser(state, command.actor())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (!cmd.code().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a code must reach the processor checked by the command service");
  }
  if (!state.totp_enrolled || state.totp_enabled) {
    return Reject(v1::REJECTION_INVALID_STATE, "no TOTP enrolment is waiting for confirmation");
  }
  if (cmd.totp_time_step() == 0 || cmd.totp_time_step() <= state.totp_last_step) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the code is not correct");
  }
  auto enabled = AccountEvent(state);
  enabled.mutable_totp_enabled()->set_totp_time_step(cmd.totp_time_step());
  return Events{std::move(enabled)};
}

// Turning the second factor off needs both factors again (re-authentication).
Decision DisableTotp(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.disable_totp();
  if (!IsPrimaryUser(state, command.actor())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (!cmd.password().empty() || !cmd.code().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "password and code must reach the processor checked by the command service");
  }
  if (!state.totp_enrolled) return Reject(v1::REJECTION_INVALID_STATE, "TOTP is not enrolled");
  if (!state.has_password || !cmd.password_verified()) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the password or the code is not correct");
  }
  const SecondFactor factor =
      CheckSecondFactor(state, cmd.totp_time_step(), cmd.recovery_code_hash());
  if (factor != SecondFactor::kTotp && factor != SecondFactor::kRecoveryCode) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the password or the code is not correct");
  }
  auto disabled = AccountEvent(state);
  auto* p = disabled.mutable_totp_disabled();
  if (factor == SecondFactor::kTotp) p->set_totp_time_step(cmd.totp_time_step());
  if (factor == SecondFactor::kRecoveryCode) p->set_recovery_code_hash(cmd.recovery_code_hash());
  return Events{std::move(disabled)};
}

// The password was verified by the command service; the processor records the outcome. A
// failure is a refusal (CommandRejected, in the audit trail) with one message whatever failed.
Decision Login(const AccountState& state, const v1::Login& cmd, TimestampUs now_us,
               const DecideOptions& options) {
  if (!cmd.password().empty() || !cmd.email().empty() || !cmd.totp_code().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a login must reach the processor verified by the command service");
  }
  if (!state.has_password) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "email or password is not correct");
  }
  if (!cmd.session_token_hash().empty() && !IsLowerHex64(cmd.session_token_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "session_token_hash is not a token hash");
  }
  // While locked, even the right password does not sign in (the attempt is recorded).
  if (now_us < state.login_locked_until_us) {
    auto throttled = AccountEvent(state);
    auto* p = throttled.mutable_login_throttled();
    p->set_user_id(state.owner_user_id);
    p->set_locked_until_us(state.login_locked_until_us);
    p->set_consecutive_failures(state.login_failures);
    return Events{std::move(throttled)};
  }
  if (!cmd.password_verified()) return LoginFailure(state, "bad_password", now_us, options);
  // The password was right; with TOTP on, a second factor is due too.
  SecondFactor factor = SecondFactor::kNone;
  if (state.totp_enabled) {
    factor = CheckSecondFactor(state, cmd.totp_time_step(), cmd.recovery_code_hash());
    if (factor == SecondFactor::kMissing) {
      // Not counted as a failure: the web tier now asks for the code (the password was right,
      // and every wrong password is counted).
      return Reject(v1::REJECTION_SECOND_FACTOR_REQUIRED, "a TOTP or recovery code is required");
    }
    if (factor == SecondFactor::kWrong) return LoginFailure(state, "bad_totp", now_us, options);
  }
  Events out;
  auto succeeded = AccountEvent(state);
  auto* s = succeeded.mutable_login_succeeded();
  s->set_user_id(state.owner_user_id);
  if (factor == SecondFactor::kTotp) {
    s->set_used_totp(true);
    s->set_totp_time_step(cmd.totp_time_step());
  } else if (factor == SecondFactor::kRecoveryCode) {
    s->set_used_recovery_code(true);
    s->set_recovery_code_hash(cmd.recovery_code_hash());
  }
  out.push_back(std::move(succeeded));
  if (!cmd.session_token_hash().empty()) {
    // A new token at every login: the API made it, only its hash is recorded.
    auto started = AccountEvent(state);
    auto* p = started.mutable_session_started();
    p->set_session_id(SessionIdFor(cmd.session_token_hash()));
    p->set_token_hash(cmd.session_token_hash());
    p->set_user_id(state.owner_user_id);
    p->set_idle_expires_at_us(now_us + options.session_idle_timeout_us);
    p->set_absolute_expires_at_us(now_us + options.session_absolute_timeout_us);
    out.push_back(std::move(started));
  }
  if (!cmd.rehashed_password_hash().empty()) {
    if (!IsArgon2idPhc(cmd.rehashed_password_hash())) {
      return Reject(v1::REJECTION_INVALID_ARGUMENT,
                    "rehashed_password_hash is not an Argon2id PHC string");
    }
    auto rehashed = AccountEvent(state);
    auto* p = rehashed.mutable_password_changed();
    p->set_user_id(state.owner_user_id);
    p->set_reason("rehashed");
    PendingSeal(p->mutable_password_hash(), cmd.rehashed_password_hash());
    out.push_back(std::move(rehashed));
  }
  return out;
}

// The API drew the token and the command service hashed it; only the hash is recorded. An
// unknown email never gets here (the API sends the same request to an account id nobody has,
// and it is refused as ACCOUNT_NOT_FOUND: the answer and the work are the same).
Decision RequestPasswordReset(const AccountState& state, const v1::RequestPasswordReset& cmd,
                              TimestampUs now_us, const DecideOptions& options) {
  if (!cmd.email().empty() || !cmd.token().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a reset request must reach the processor hashed by the command service");
  }
  const std::string raw = HashBytes(cmd.token_hash());
  if (raw.empty()) return Reject(v1::REJECTION_INVALID_ARGUMENT, "token_hash is not a token hash");
  auto requested = AccountEvent(state);
  auto* p = requested.mutable_password_reset_requested();
  p->set_token_hash(raw);
  p->set_expires_at_us(now_us + options.password_reset_validity_us);
  return Events{std::move(requested)};
}

// A valid token (known, unused, unexpired) sets the new password and ends every session.
Decision CompletePasswordReset(const AccountState& state, const v1::CompletePasswordReset& cmd,
                               TimestampUs now_us) {
  if (!cmd.token().empty() || !cmd.new_password().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a reset must reach the processor hashed by the command service");
  }
  if (!IsArgon2idPhc(cmd.new_password_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "new_password_hash is not an Argon2id PHC string");
  }
  const std::string raw = HashBytes(cmd.token_hash());
  auto it = raw.empty() ? state.reset_tokens.end() : state.reset_tokens.find(raw);
  // Unknown, used and expired tokens get one answer.
  if (it == state.reset_tokens.end() || now_us >= it->second) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the reset token is not valid");
  }
  Events out;
  auto completed = AccountEvent(state);
  auto* p = completed.mutable_password_reset_completed();
  p->set_token_hash(raw);
  PendingSeal(p->mutable_password_hash(), cmd.new_password_hash());
  out.push_back(std::move(completed));
  auto revoked = AccountEvent(state);
  revoked.mutable_all_sessions_revoked()->set_reason("password_reset");
  out.push_back(std::move(revoked));
  return out;
}

// An operator lifts a login lockout (the failure count starts again).
Decision UnlockLogin(const AccountState& state, const v1::UnlockLogin& cmd) {
  if (cmd.user_id() != state.owner_user_id) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "no user with a password by that id");
  }
  auto unlocked = AccountEvent(state);
  unlocked.mutable_login_unlocked()->set_user_id(cmd.user_id());
  return Events{std::move(unlocked)};
}

// A user ends one of its own sessions; the local development caller may end any.
Decision Logout(const AccountState& state, const v1::Command& command) {
  const std::string& session_id = command.logout().session_id();
  auto it = state.sessions.find(session_id);
  const bool own =
      it != state.sessions.end() && (command.actor().kind() == v1::Actor::KIND_SERVICE ||
                                     it->second.user_id == command.actor().id());
  if (!own) return Reject(v1::REJECTION_INVALID_ARGUMENT, "no such session of this user");
  auto revoked = AccountEvent(state);
  revoked.mutable_session_revoked()->set_session_id(session_id);
  revoked.mutable_session_revoked()->set_reason("logout");
  return Events{std::move(revoked)};
}

bool EvolveSignIn(AccountState& state, const v1::Envelope& event) {
  switch (event.payload_case()) {
    case v1::Envelope::kPasswordChanged: {
      state.has_password = true;
      ++state.password_changes;
      state.reset_tokens.clear();  // a reset link mailed before the change is void
      break;
    }
    case v1::Envelope::kPasswordResetRequested: {
      const auto& p = event.password_reset_requested();
      std::erase_if(state.reset_tokens,
                    [&](const auto& kv) { return kv.second <= event.occurred_at_us(); });
      state.reset_tokens[p.token_hash()] = p.expires_at_us();
      break;
    }
    case v1::Envelope::kPasswordResetCompleted:
      state.has_password = true;
      ++state.password_changes;
      state.reset_tokens.clear();  // single use, and every other outstanding token dies too
      break;
    case v1::Envelope::kSessionStarted: {
      const auto& p = event.session_started();
      std::erase_if(state.sessions, [&](const auto& kv) {
        return kv.second.absolute_expires_at_us <= event.occurred_at_us();
      });
      state.sessions[p.session_id()] = SessionState{p.user_id(), p.absolute_expires_at_us()};
      break;
    }
    case v1::Envelope::kLoginFailed:
      state.login_failures = event.login_failed().consecutive_failures();
      break;
    case v1::Envelope::kLoginThrottled:
      state.login_locked_until_us = event.login_throttled().locked_until_us();
      break;
    case v1::Envelope::kTotpEnrolled: {
      const auto& p = event.totp_enrolled();
      state.totp_enrolled = true;
      state.totp_enabled = false;
      state.recovery_code_hashes = {p.recovery_code_hashes().begin(),
                                    p.recovery_code_hashes().end()};
      break;
    }
    case v1::Envelope::kTotpEnabled:
      state.totp_enabled = true;
      state.totp_last_step = std::max(state.totp_last_step, event.totp_enabled().totp_time_step());
      break;
    case v1::Envelope::kTotpDisabled:
      state.totp_enrolled = false;
      state.totp_enabled = false;
      state.recovery_code_hashes.clear();
      state.totp_last_step = std::max(state.totp_last_step, event.totp_disabled().totp_time_step());
      break;
    case v1::Envelope::kLoginSucceeded: {
      const auto& p = event.login_succeeded();
      state.totp_last_step = std::max(state.totp_last_step, p.totp_time_step());
      if (p.used_recovery_code())
        state.recovery_code_hashes.erase(HashBytes(p.recovery_code_hash()));
      state.login_failures = 0;
      state.login_locked_until_us = 0;
      break;
    }
    case v1::Envelope::kLoginUnlocked:
      state.login_failures = 0;
      state.login_locked_until_us = 0;
      break;
    case v1::Envelope::kSessionRevoked:
      state.sessions.erase(event.session_revoked().session_id());
      break;
    case v1::Envelope::kAllSessionsRevoked:
      state.sessions.clear();
      break;
    default:
      return false;
  }
  return true;
}

}  // namespace clawvisor::decide
