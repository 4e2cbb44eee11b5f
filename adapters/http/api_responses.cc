#include "adapters/http/api_responses.h"

#include <google/protobuf/util/json_util.h>

#include "adapters/http/request_parsing.h"
#include "engine/domain/decider.h"
#include "engine/domain/limits.h"
#include "engine/domain/totp.h"
#include "engine/logging.h"

namespace clawvisor {
namespace {

namespace pbu = google::protobuf::util;

constexpr std::string_view kComponent = "http";
// The issuer authenticator apps show beside a TOTP code.
constexpr std::string_view kTotpIssuer = "clawvisor";

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string ErrorObject(std::string_view code, std::string_view message) {
  return "{\"code\":" + JsonString(code) + ",\"message\":" + JsonString(message) + "}";
}

// A field path quoted from protobuf's error message, kept only if it looks like one (it comes
// from the client's keys, so it is bounded and restricted before it is echoed).
std::string SafeFieldPath(std::string_view path) {
  if (path.empty() || path.size() > 128) return "";
  for (char c : path) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.';
    if (!ok) return "";
  }
  return std::string(path);
}

// protobuf reports "(parent.path) name: what" or "(field.path): what" or "name: what". Only the
// part before the first ':' is looked at: what follows may quote the submitted value.
std::string FieldPathOf(std::string_view message) {
  const size_t colon = message.find(':');
  if (colon == std::string_view::npos) return "";
  std::string_view head = message.substr(0, colon);
  std::string path;
  if (!head.empty() && head.front() == '(') {
    const size_t close = head.find(')');
    if (close == std::string_view::npos) return "";
    path = std::string(head.substr(1, close - 1));
    head.remove_prefix(close + 1);
  }
  while (!head.empty() && head.front() == ' ') head.remove_prefix(1);
  if (!head.empty()) {
    if (!path.empty()) path += '.';
    path += head;
  }
  return SafeFieldPath(path);
}

// Adds `members` (",\"name\":value..." without the leading comma) to the JSON object `json`.
void AppendMembers(std::string& json, std::string_view members) {
  if (json.size() < 2 || json.back() != '}') return;
  json.pop_back();
  json += (json.size() == 1 ? "" : ",");
  json += members;
  json += '}';
}

// What a submission generated, shown once: only in the answer to the submission decided (a
// retry of the command id shows a note instead).
void AppendGeneratedValues(std::string& json, const v1::CommandOutcome& outcome,
                           const v1::Command& command, const GeneratedValues& values,
                           ApiResponse& r) {
  if (!values.gateway_token.empty() && json.size() >= 2 && json.back() == '}') {
    if (outcome.generated_values_decided()) {
      AppendMembers(json, "\"gateway_token\":" + JsonString(values.gateway_token));
    } else {
      AppendMembers(json, "\"gateway_token\":null,\"gateway_token_note\":" +
                              JsonString("the token is shown only in the response that created "
                                         "it; rotate it if it was lost"));
    }
    r.headers.emplace_back("Cache-Control", "no-store");
  }
  if (!values.console_link.empty() && json.size() >= 2 && json.back() == '}') {
    if (outcome.generated_values_decided() && outcome.accepted()) {
      AppendMembers(json, "\"console_link\":" + JsonString(values.console_link) +
                              ",\"console_link_expires_in_s\":" +
                              std::to_string(kConsoleLinkLifetimeUs / 1'000'000));
    } else {
      AppendMembers(json, "\"console_link\":null");
    }
    r.headers.emplace_back("Cache-Control", "no-store");
  }
  if (!values.webhook_token.empty() && json.size() >= 2 && json.back() == '}') {
    if (outcome.generated_values_decided() && outcome.accepted()) {
      AppendMembers(json, "\"webhook_path\":" + JsonString("/hooks/" + values.webhook_token + "/"));
    } else {
      AppendMembers(json, "\"webhook_path\":null");
    }
    r.headers.emplace_back("Cache-Control", "no-store");
  }
  if (values.totp && json.size() >= 2 && json.back() == '}') {
    if (outcome.generated_values_decided()) {
      std::string members =
          "\"totp_secret\":" + JsonString(values.totp->secret) + ",\"otpauth_uri\":" +
          JsonString(OtpauthUri(kTotpIssuer, command.account_id(), values.totp->secret)) +
          ",\"recovery_codes\":[";
      for (size_t i = 0; i < values.totp->recovery_codes.size(); ++i) {
        members += (i ? "," : "") + JsonString(values.totp->recovery_codes[i]);
      }
      AppendMembers(json, members + "]");
    } else {
      AppendMembers(json, "\"totp_secret\":null,\"totp_note\":" +
                              JsonString("the secret is shown only in the response that enrolled "
                                         "it; enroll again if it was lost"));
    }
    r.headers.emplace_back("Cache-Control", "no-store");
  }
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  AppendJsonEscaped(out, text);
  out += '"';
  return out;
}

ApiResponse ErrorResponse(unsigned status, std::string_view code, std::string_view message) {
  ApiResponse r;
  r.status = status;
  r.body = "{\"error\":" + ErrorObject(code, message) + "}";
  return r;
}

ApiResponse InternalError() { return ErrorResponse(500, "internal", "internal error"); }

ApiResponse Forbidden() {
  return ErrorResponse(403, "permission_denied", "the caller may not do this on this account");
}

std::optional<std::string> ToJson(const google::protobuf::Message& message) {
  pbu::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!pbu::MessageToJsonString(message, &out, options).ok()) return std::nullopt;
  return out;
}

ApiResponse JsonOk(const google::protobuf::Message& message, unsigned status) {
  auto json = ToJson(message);
  if (!json) return InternalError();
  ApiResponse r;
  r.status = status;
  r.body = std::move(*json);
  return r;
}

v1::CommandOutcome ForCaller(v1::CommandOutcome outcome) {
  outcome.clear_request_hash();
  return outcome;
}

ApiResponse MapJsonParseError(std::string_view message) {
  const std::string field = FieldPathOf(message);
  if (Contains(message, "Cannot find field")) {
    return ErrorResponse(400, "unknown_field",
                         field.empty() ? "the body has a field that Command does not define"
                                       : "unknown field '" + field + "' (see the Command schema)");
  }
  if (Contains(message, "oneof field") && Contains(message, "already set")) {
    return ErrorResponse(400, "wrong_payload", "the body sets more than one command payload");
  }
  // The body is already known to be well-formed JSON, so anything else protobuf refuses is a
  // value that does not fit its field: a string for a number, a negative unsigned, a list for a
  // message, an enum name that does not exist.
  return ErrorResponse(400, "wrong_type",
                       field.empty() ? "a field has a value of the wrong type"
                                     : "field '" + field + "' has a value of the wrong type");
}

std::pair<unsigned, std::string> RejectionStatus(v1::RejectionReason reason) {
  unsigned status = 422;
  switch (reason) {
    case v1::REJECTION_INVALID_ARGUMENT:
      status = 422;
      break;
    case v1::REJECTION_ACCOUNT_EXISTS:
    case v1::REJECTION_INSTANCE_EXISTS:
    case v1::REJECTION_INVALID_STATE:
    case v1::REJECTION_LAST_OWNER:
    case v1::REJECTION_IDEMPOTENCY_KEY_REUSED:
      status = 409;
      break;
    case v1::REJECTION_ACCOUNT_NOT_FOUND:
    case v1::REJECTION_INSTANCE_NOT_FOUND:
    case v1::REJECTION_CREDENTIAL_NOT_FOUND:
      status = 404;
      break;
    case v1::REJECTION_PERMISSION_DENIED:
    case v1::REJECTION_ACCOUNT_DISABLED:
      status = 403;
      break;
    case v1::REJECTION_UNAUTHENTICATED:
    case v1::REJECTION_SECOND_FACTOR_REQUIRED:
      status = 401;
      break;
    case v1::REJECTION_THROTTLED:
      status = 429;
      break;
    case v1::REJECTION_QUOTA_EXCEEDED:
    case v1::REJECTION_NO_CAPACITY:
      status = 422;
      break;
    case v1::REJECTION_ACCOUNT_ERASED:
      status = 410;
      break;
    default:
      status = 422;
      break;
  }
  std::string code = "rejected";
  const std::string& name = v1::RejectionReason_Name(reason);
  constexpr std::string_view kPrefix = "REJECTION_";
  if (reason != v1::REJECTION_REASON_UNSPECIFIED && name.starts_with(kPrefix)) {
    code.clear();
    for (char c : std::string_view(name).substr(kPrefix.size())) {
      code += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  return {status, code};
}

ApiResponse FromPortError(const Error& error, std::string_view not_found_code,
                          std::string_view route) {
  switch (error.code) {
    case Errc::kNotFound:
      return ErrorResponse(404, not_found_code, "not found");
    case Errc::kUnavailable:
    case Errc::kTimeout: {
      ApiResponse r = ErrorResponse(503, "unavailable", "the service is unavailable; retry later");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    default:
      Log(LogLevel::kError, kComponent, "request failed",
          {{"route", route}, {"error", error.ToString()}});
      return InternalError();
  }
}

ApiResponse FromSubmitError(const Error& error, const v1::Command& command,
                            const GeneratedValues& values) {
  switch (error.code) {
    case Errc::kTimeout: {
      if (command.payload_case() == v1::Command::kRequestPasswordReset) {
        // Appended, so it will be decided and the token will work: the same answer as decided.
        return ResetRequestAnswer(command.command_id(), &values.reset_token);
      }
      ApiResponse r;
      r.status = 202;
      r.body = "{\"command_id\":" + JsonString(command.command_id()) +
               ",\"account_id\":" + JsonString(command.account_id()) + ",\"status\":\"pending\"}";
      r.headers.emplace_back(
          "Location", "/v1/accounts/" + command.account_id() + "/commands/" + command.command_id());
      return r;
    }
    case Errc::kInvalidArgument:
      // The command service refused the request's content (a password the policy refuses);
      // its messages never quote a submitted value.
      return ErrorResponse(422, "invalid_argument", error.message);
    case Errc::kUnavailable: {
      ApiResponse r = ErrorResponse(
          503, "unavailable", "the command log is unavailable; retry with the same command_id");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case Errc::kFailedPrecondition:
      // Its secrets could not be sealed: the account's data key was destroyed by an erasure.
      return ErrorResponse(410, "account_erased", "the account was erased");
    default:
      Log(LogLevel::kError, kComponent, "submit failed",
          {{"account_id", command.account_id()},
           {"command_id", command.command_id()},
           {"error", error.ToString()}});
      return InternalError();
  }
}

ApiResponse CommandAnswer(const v1::CommandOutcome& outcome, const RouteSpec& route,
                          const v1::Command& command, const GeneratedValues& values) {
  auto json = ToJson(ForCaller(outcome));
  if (!json) return InternalError();
  ApiResponse r;
  if (outcome.accepted()) {
    AppendGeneratedValues(*json, outcome, command, values, r);
    r.body = std::move(*json);
    r.status = route.success_status;
    if (route.created == Created::kAccount) {
      r.headers.emplace_back("Location", "/v1/accounts/" + command.account_id());
    } else if (route.created == Created::kInstance) {
      r.headers.emplace_back("Location", "/v1/accounts/" + command.account_id() + "/instances/" +
                                             command.create_instance().instance_id());
    }
    return r;
  }
  const auto [status, code] = RejectionStatus(outcome.rejection_reason());
  r.status = status;
  // The outcome with an `error` member added: clients that only read `error` and clients that
  // read the outcome both find what they expect.
  const std::string message =
      outcome.message().empty() ? "the command was rejected" : outcome.message();
  AppendMembers(*json, "\"error\":" + ErrorObject(code, message));
  r.body = std::move(*json);
  return r;
}

ApiResponse LoginRefused() {
  return ErrorResponse(401, "unauthenticated", "email or password is not correct");
}

ApiResponse ResetRefused() {
  return ErrorResponse(401, "unauthenticated", "the reset token is not valid");
}

ApiResponse SecondFactorRequired() {
  return ErrorResponse(401, "totp_required", "a TOTP code or a recovery code is required");
}

ApiResponse SignInUnavailable() {
  return ErrorResponse(503, "unavailable", "password sign-in is not configured on this server");
}

ApiResponse LoginThrottled(int64_t wait_us) {
  ApiResponse r = ErrorResponse(429, "throttled", "too many failed sign-ins from this address");
  r.headers.emplace_back("Retry-After", std::to_string((wait_us + 999'999) / 1'000'000));
  return r;
}

ApiResponse ResetRequestAnswer(const std::string& command_id, const std::string* token) {
  ApiResponse r;
  r.body = "{\"command_id\":" + JsonString(command_id) +
           ",\"reset_token\":" + (token != nullptr ? JsonString(*token) : std::string("null")) +
           ",\"expires_in_seconds\":" +
           std::to_string(DecideOptions{}.password_reset_validity_us / 1'000'000) + "}";
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

ApiResponse LoginAnswer(const v1::CommandOutcome& outcome, const std::string& user_id,
                        const std::string& session_id, const std::string& session_token) {
  ApiResponse r;
  r.body = "{\"account_id\":" + JsonString(outcome.account_id()) +
           ",\"command_id\":" + JsonString(outcome.command_id());
  if (!user_id.empty()) {
    r.body += ",\"user_id\":" + JsonString(user_id) + ",\"session_id\":" + JsonString(session_id) +
              ",\"session_token\":" + JsonString(session_token);
  }
  r.body += ",\"event_types\":[";
  for (int i = 0; i < outcome.event_types_size(); ++i) {
    r.body += (i ? "," : "") + JsonString(outcome.event_types(i));
  }
  r.body += "]}";
  return r;
}

}  // namespace clawvisor
