#pragma once

// The HTTP API's requests and responses, and the ONE place that turns what the engine says into
// HTTP: errors, command outcomes, rejection reasons, port errors (ReadModel, CommandService,
// LoginDirectory), protobuf's JSON parse errors, and the fixed answers of sign-in. Handlers
// decide what happened; this file decides how it is said, so a status code or an error body is
// written here once.
//
// Error bodies are {"error":{"code":"...","message":"..."}}; messages name fields and byte
// offsets, never a submitted value (bodies may carry passwords, emails, credentials).
//
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>

#include "adapters/http/authenticator.h"
#include "adapters/http/router.h"
#include "clawvisor/v1/commands.pb.h"
#include "engine/command/generated_values.h"
#include "events/result.h"

namespace clawvisor {

struct ApiRequest {
  RequestInfo info;  // method, target, caller: what the Authenticator sees
  std::string content_type;
  std::string body;
};

struct ApiResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the body is this file's content instead (streamed by the transport, not loaded).
  std::string body_file;
  std::vector<std::pair<std::string, std::string>> headers;  // Location, Allow, Retry-After
  // The route template for metrics; points into the static route table.
  std::string_view route = kUnmatchedRoute;
};

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4";

// A JSON string literal of `text`, quotes included.
std::string JsonString(std::string_view text);

// {"error":{"code":...,"message":...}} with the given status.
ApiResponse ErrorResponse(unsigned status, std::string_view code, std::string_view message);
ApiResponse InternalError();  // 500 internal
ApiResponse Forbidden();      // 403 permission_denied: the permission table refused the caller

// `message` as JSON (snake_case names, every field printed), or nullopt if it does not print.
std::optional<std::string> ToJson(const google::protobuf::Message& message);
// `message` as a JSON body with `status`; 500 if it does not print.
ApiResponse JsonOk(const google::protobuf::Message& message, unsigned status = 200);

// An outcome as callers see it: without the request fingerprint, a keyed hash over the
// request's secrets that only the engine's idempotency check needs.
v1::CommandOutcome ForCaller(v1::CommandOutcome outcome);

// protobuf's refusal of a well-formed JSON body -> 400 unknown_field / wrong_payload / wrong_type.
ApiResponse MapJsonParseError(std::string_view message);

// RejectionReason -> (HTTP status, error code).
std::pair<unsigned, std::string> RejectionStatus(v1::RejectionReason reason);

// A ReadModel or CommandService error that is not about the request's content: 404 with
// `not_found_code`, 503 with Retry-After, else 500 (logged with `route`).
ApiResponse FromPortError(const Error& error, std::string_view not_found_code,
                          std::string_view route);

// CommandService::Submit's error for `command`: 202 pending (timeout), 422, 503, 410, else 500.
// A password-reset request that timed out was appended and gets its decided answer.
ApiResponse FromSubmitError(const Error& error, const v1::Command& command,
                            const GeneratedValues& values);

// A decided command's answer: the outcome (200, or the route's success status and Location),
// with the values this submission generated when it is the one decided; or, rejected, the
// outcome with an `error` member, at the rejection reason's status.
ApiResponse CommandAnswer(const v1::CommandOutcome& outcome, const RouteSpec& route,
                          const v1::Command& command, const GeneratedValues& values);

// Sign-in's fixed answers: one for every failure, so that no answer tells which part failed.
ApiResponse LoginRefused();
ApiResponse ResetRefused();
ApiResponse SecondFactorRequired();
ApiResponse SignInUnavailable();  // no LoginDirectory on this server
ApiResponse LoginThrottled(int64_t wait_us);
// The one answer to a password-reset request, whether the email has an account or not: the
// token (for the web tier to mail), or null on a retry of the command id.
ApiResponse ResetRequestAnswer(const std::string& command_id, const std::string* token);
// An accepted login: the session (only when `user_id` is known) and the outcome's event types.
ApiResponse LoginAnswer(const v1::CommandOutcome& outcome, const std::string& user_id,
                        const std::string& session_id, const std::string& session_token);

}  // namespace clawvisor
