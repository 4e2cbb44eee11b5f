#pragma once

// SignIn: the routes whose account is not in the path but found from what the caller knows —
// a login (POST /v1/sessions: the email; the password is checked by the command service) and a
// password reset (POST /v1/password-resets: the email; .../complete: the reset token). It finds
// the account, draws a login's session token, throttles failed sign-ins per source address, and
// gives every failure the one answer that does not tell which part failed (no account
// enumeration). The rest of the command path (permission, submission) is CommandHandler's.
//
// Thread-safety: Prepare and Answer may be called concurrently; the throttle is internally
// synchronised and the LoginDirectory and SessionResolver are safe for concurrent use by contract.

#include <memory>
#include <optional>
#include <string>

#include "adapters/http/api_responses.h"
#include "adapters/http/authenticator.h"
#include "adapters/http/login_throttle.h"
#include "adapters/http/router.h"
#include "engine/clock.h"
#include "engine/command/password_service.h"

namespace clawvisor {

// What a sign-in carries from its preparation to its answer.
struct SignInState {
  std::string session_token;  // a login's new token, returned once and never stored
  std::string session_id;
};

class SignIn {
 public:
  // `logins` and `sessions` may be null (no password sign-in on this server: 503).
  SignIn(LoginDirectory* logins, SessionResolver* sessions, Clock& clock);

  // REQUIRES: `route.kind` is RouteKind::kSignIn and the body carries the route's payload.
  // Sets the command's account id (and a login's session token hash); an answer when the
  // request ends here.
  std::optional<ApiResponse> Prepare(const RouteSpec& route, v1::Command& command,
                                     const v1::Actor& actor, SignInState& state);

  // The answer to a decided sign-in command, or nullopt for CommandAnswer's.
  std::optional<ApiResponse> Answer(const RouteSpec& route, const v1::CommandOutcome& outcome,
                                    const SignInState& state, const v1::Actor& actor);

 private:
  std::optional<ApiResponse> PrepareLogin(v1::Command& command, const v1::Actor& actor,
                                          SignInState& state);

  LoginDirectory* logins_;
  SessionResolver* sessions_;
  std::unique_ptr<LoginThrottle> login_throttle_;  // per source address; with logins only
};

}  // namespace clawvisor
