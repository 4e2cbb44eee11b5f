#pragma once

// CommandHandler: the POST routes of /v1. It turns a request body into a v1::Command, binds it
// to its route (RouteSpec: the payload, the account id, the path ids written into the payload),
// consults the permission table, draws the values the service generates
// (engine/command/generated_values.h), submits it to the CommandService and answers the outcome
// (api_responses.h). Sign-in routes find their account through SignIn.
//
// Validation order, so that bad input never reaches the CommandService:
//   Content-Type (415) -> UTF-8 (400 invalid_utf8) -> strict JSON (400 invalid_json)
//   -> protobuf mapping (400 unknown_field / wrong_type / wrong_payload)
//   -> fields the API owns (400 field_not_allowed) -> command id (400; the command service
//   checks it too, but answers 422 and cannot derive an id from a malformed one)
//   -> payload vs route (400 wrong_payload / path_mismatch / invalid_id)
//   -> permission table (403) -> generated values (400 field_not_allowed) -> Submit.
// The command service stamps issued_at_us and schema_version; the API only refuses a client's.
//
// Thread-safety: Handle may be called concurrently; the handler holds no mutable state, and its
// ports are safe for concurrent use by contract.

#include <chrono>
#include <optional>

#include "adapters/http/api_responses.h"
#include "adapters/http/router.h"
#include "adapters/http/sign_in.h"
#include "engine/command/command_service.h"
#include "engine/random.h"
#include "projections/read_model.h"

namespace clawvisor {

class CommandHandler {
 public:
  CommandHandler(CommandService& commands, ReadModel& reads, RandomSource& random, SignIn& sign_in,
                 std::chrono::milliseconds command_wait)
      : commands_(commands),
        reads_(reads),
        random_(random),
        sign_in_(sign_in),
        command_wait_(command_wait) {}

  // REQUIRES: `route.kind` is kCommand or kSignIn.
  ApiResponse Handle(const RouteSpec& route, const PathIds& ids, const ApiRequest& request,
                     const v1::Actor& actor);

 private:
  // Sets the command's account id and path ids as the route says; an answer if it may not go on.
  std::optional<ApiResponse> BindToRoute(const RouteSpec& route, const PathIds& ids,
                                         v1::Command& command, const v1::Actor& actor,
                                         SignInState& sign_in);

  CommandService& commands_;
  ReadModel& reads_;
  RandomSource& random_;  // draws gateway tokens, reset tokens, TOTP secrets
  SignIn& sign_in_;
  std::chrono::milliseconds command_wait_;
};

}  // namespace clawvisor
