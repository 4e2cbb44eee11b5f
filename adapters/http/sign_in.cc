#include "adapters/http/sign_in.h"

#include <algorithm>

#include "engine/domain/access.h"
#include "engine/domain/decider.h"

namespace clawvisor {

SignIn::SignIn(LoginDirectory* logins, SessionResolver* sessions, Clock& clock)
    : logins_(logins),
      sessions_(sessions),
      login_throttle_(logins != nullptr ? std::make_unique<LoginThrottle>(clock) : nullptr) {}

std::optional<ApiResponse> SignIn::Prepare(const RouteSpec& route, v1::Command& command,
                                           const v1::Actor& actor, SignInState& state) {
  const bool login = route.id == RouteId::kLogin;
  if (!command.account_id().empty()) {
    return ErrorResponse(400, "field_not_allowed",
                         login ? "account_id is found from the email; omit it"
                               : "account_id is found from the email or the token; omit it");
  }
  // Only the web tier, acting on its own (never a user session): a reset token goes back to it.
  if (route.permission == Permission::kServiceAlone &&
      !MayCommand(PrincipalsOf(actor, std::nullopt), route.payload)) {
    return Forbidden();
  }
  if (logins_ == nullptr) return SignInUnavailable();
  if (login) return PrepareLogin(command, actor, state);
  if (route.id == RouteId::kRequestPasswordReset) {
    // The email's account, or an account id nobody has: the same work and the same answer.
    auto account = logins_->ResetAccountFor(command.request_password_reset().email());
    if (!account) return FromPortError(account.error(), "unauthenticated", "password-reset");
    command.set_account_id(*account);
    return std::nullopt;
  }
  auto account = logins_->FindAccountByResetToken(command.complete_password_reset().token());
  if (!account) return FromPortError(account.error(), "unauthenticated", "password-reset");
  if (!account->has_value()) return ResetRefused();
  command.set_account_id(**account);
  return std::nullopt;
}

std::optional<ApiResponse> SignIn::PrepareLogin(v1::Command& command, const v1::Actor& actor,
                                                SignInState& state) {
  // Per source address, before any work: an address that failed too often waits.
  if (login_throttle_ != nullptr) {
    if (auto wait = login_throttle_->Wait(actor.source_ip()); wait > 0) {
      return LoginThrottled(wait);
    }
  }
  auto account = logins_->FindAccountByEmail(command.login().email());
  if (!account) return FromPortError(account.error(), "unauthenticated", "login");
  if (!account->has_value()) {
    // The same work and the same answer as a wrong password: no account enumeration.
    logins_->SpendLoginWork(command.login().password());
    if (login_throttle_ != nullptr) login_throttle_->RecordFailure(actor.source_ip());
    return LoginRefused();
  }
  command.set_account_id(**account);
  auto token = logins_->NewSessionToken();
  if (!token) return FromPortError(token.error(), "unauthenticated", "login");
  state.session_token = std::move(token->first);
  state.session_id = SessionIdFor(token->second);
  command.mutable_login()->set_session_token_hash(token->second);
  return std::nullopt;
}

std::optional<ApiResponse> SignIn::Answer(const RouteSpec& route, const v1::CommandOutcome& outcome,
                                          const SignInState& state, const v1::Actor& actor) {
  if (route.id == RouteId::kCompletePasswordReset && !outcome.accepted() &&
      outcome.rejection_reason() == v1::REJECTION_UNAUTHENTICATED) {
    return ResetRefused();
  }
  if (route.id != RouteId::kLogin) return std::nullopt;
  if (!outcome.accepted() && outcome.rejection_reason() == v1::REJECTION_SECOND_FACTOR_REQUIRED) {
    // The password was right (wrong ones are counted, and answered below like an unknown email).
    return SecondFactorRequired();
  }
  // A failed or throttled login is recorded (accepted) but is no sign-in. Every failure gets the
  // same answer as an unknown email, and counts against the source address.
  const bool signed_in =
      outcome.accepted() && std::find(outcome.event_types().begin(), outcome.event_types().end(),
                                      "login_succeeded") != outcome.event_types().end();
  if (!signed_in) {
    if (login_throttle_ != nullptr) login_throttle_->RecordFailure(actor.source_ip());
    return LoginRefused();
  }
  // The token is returned only if it is the one recorded: a retried login (same command id) is
  // answered with its recorded outcome, whose session this request's token is not.
  std::string user_id;
  if (sessions_ != nullptr) {
    auto user = sessions_->ResolveUser(state.session_token);
    if (user) user_id = std::move(*user);
  }
  return LoginAnswer(outcome, user_id, state.session_id, state.session_token);
}

}  // namespace clawvisor
