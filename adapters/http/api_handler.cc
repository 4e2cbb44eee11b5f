#include "adapters/http/api_handler.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <exception>
#include <limits>
#include <optional>

#include "adapters/http/ids.h"
#include "adapters/http/json_check.h"
#include "adapters/http/request_parsing.h"
#include "engine/domain/access.h"
#include "engine/domain/decider.h"
#include "engine/logging.h"
#include "engine/domain/totp.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

namespace pbu = google::protobuf::util;

constexpr std::string_view kComponent = "http";
// The issuer authenticator apps show beside a TOTP code.
constexpr std::string_view kTotpIssuer = "clawvisor";
constexpr uint32_t kDefaultAuditLimit = 100;
constexpr uint32_t kMaxAuditLimit = 1000;
constexpr size_t kMaxCursorBytes = 512;
constexpr std::string_view kIdRule = "1..64 characters of [A-Za-z0-9._:-]";
constexpr std::string_view kCommandIdRule = "1..128 characters of [A-Za-z0-9._:-]";

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  AppendJsonEscaped(out, text);
  out += '"';
  return out;
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

ApiResponse MapJsonParseError(std::string_view message) {
  const std::string field = FieldPathOf(message);
  if (Contains(message, "Cannot find field")) {
    return ApiHandler::Error(400, "unknown_field",
                             field.empty()
                                 ? "the body has a field that Command does not define"
                                 : "unknown field '" + field + "' (see the Command schema)");
  }
  if (Contains(message, "oneof field") && Contains(message, "already set")) {
    return ApiHandler::Error(400, "wrong_payload", "the body sets more than one command payload");
  }
  // The body is already known to be well-formed JSON, so anything else protobuf refuses is a
  // value that does not fit its field: a string for a number, a negative unsigned, a list for a
  // message, an enum name that does not exist.
  return ApiHandler::Error(400, "wrong_type",
                           field.empty() ? "a field has a value of the wrong type"
                                         : "field '" + field + "' has a value of the wrong type");
}

// RejectionReason -> (HTTP status, error code).
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

std::optional<std::string> ToJson(const google::protobuf::Message& message) {
  pbu::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  if (!pbu::MessageToJsonString(message, &out, options).ok()) return std::nullopt;
  return out;
}

// An outcome as callers see it: without the request fingerprint, a keyed hash over the
// request's secrets that only the engine's idempotency check needs.
v1::CommandOutcome ForCaller(v1::CommandOutcome outcome) {
  outcome.clear_request_hash();
  return outcome;
}

ApiResponse Internal() { return ApiHandler::Error(500, "internal", "internal error"); }

ApiResponse JsonOk(const google::protobuf::Message& message, unsigned status = 200) {
  auto json = ToJson(message);
  if (!json) return Internal();
  ApiResponse r;
  r.status = status;
  r.body = std::move(*json);
  return r;
}

// A ReadModel or CommandService error that is not about the request's content.
ApiResponse FromPortError(const Error& error, std::string_view not_found_code,
                          std::string_view route) {
  switch (error.code) {
    case Errc::kNotFound:
      return ApiHandler::Error(404, not_found_code, "not found");
    case Errc::kUnavailable:
    case Errc::kTimeout: {
      ApiResponse r =
          ApiHandler::Error(503, "unavailable", "the service is unavailable; retry later");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    default:
      Log(LogLevel::kError, kComponent, "request failed",
          {{"route", route}, {"error", error.ToString()}});
      return Internal();
  }
}

bool IsPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// The payload a route requires, or kPayloadNotSet for "any account-scoped payload".
v1::Command::PayloadCase RequiredPayload(RouteId route) {
  switch (route) {
    case RouteId::kRegisterAccount:
      return v1::Command::kRegisterAccount;
    case RouteId::kLogin:
      return v1::Command::kLogin;
    case RouteId::kCreateInstance:
      return v1::Command::kCreateInstance;
    case RouteId::kStartInstance:
      return v1::Command::kStartInstance;
    case RouteId::kStopInstance:
      return v1::Command::kStopInstance;
    case RouteId::kPauseInstance:
      return v1::Command::kPauseInstance;
    case RouteId::kResumeInstance:
      return v1::Command::kResumeInstance;
    case RouteId::kDeleteInstance:
      return v1::Command::kDeleteInstance;
    case RouteId::kSetCredential:
      return v1::Command::kSetCredential;
    case RouteId::kRemoveCredential:
      return v1::Command::kRemoveCredential;
    case RouteId::kRotateGatewayToken:
      return v1::Command::kRotateGatewayToken;
    case RouteId::kEraseAccount:
      return v1::Command::kRequestAccountErasure;
    case RouteId::kRequestPasswordReset:
      return v1::Command::kRequestPasswordReset;
    case RouteId::kCompletePasswordReset:
      return v1::Command::kCompletePasswordReset;
    case RouteId::kEnrollTotp:
      return v1::Command::kEnrollTotp;
    case RouteId::kConfirmTotp:
      return v1::Command::kConfirmTotp;
    case RouteId::kDisableTotp:
      return v1::Command::kDisableTotp;
    default:
      return v1::Command::PAYLOAD_NOT_SET;
  }
}

std::string_view PayloadName(v1::Command::PayloadCase payload) {
  const auto* field = v1::Command::descriptor()->FindFieldByNumber(static_cast<int>(payload));
  return field ? std::string_view(field->name()) : std::string_view("none");
}

// The instance id field of an instance action payload, created if absent.
std::string* MutableActionInstanceId(v1::Command& command, RouteId route) {
  switch (route) {
    case RouteId::kStartInstance:
      return command.mutable_start_instance()->mutable_instance_id();
    case RouteId::kStopInstance:
      return command.mutable_stop_instance()->mutable_instance_id();
    case RouteId::kPauseInstance:
      return command.mutable_pause_instance()->mutable_instance_id();
    case RouteId::kResumeInstance:
      return command.mutable_resume_instance()->mutable_instance_id();
    case RouteId::kDeleteInstance:
      return command.mutable_delete_instance()->mutable_instance_id();
    case RouteId::kSetCredential:
      return command.mutable_set_credential()->mutable_instance_id();
    case RouteId::kRemoveCredential:
      return command.mutable_remove_credential()->mutable_instance_id();
    case RouteId::kRotateGatewayToken:
      return command.mutable_rotate_gateway_token()->mutable_instance_id();
    default:
      return nullptr;
  }
}

// Routes whose payload is optional in the body: the path says everything.
bool PayloadMayBeOmitted(RouteId route) {
  switch (route) {
    case RouteId::kStartInstance:
    case RouteId::kStopInstance:
    case RouteId::kPauseInstance:
    case RouteId::kResumeInstance:
    case RouteId::kDeleteInstance:
    case RouteId::kRemoveCredential:
    case RouteId::kRotateGatewayToken:
    case RouteId::kEraseAccount:
    case RouteId::kEnrollTotp:
      return true;
    default:
      return false;
  }
}

// The server-generated secret of a command (CreateInstance / RotateGatewayToken), if it has one.
std::string* MutableGeneratedToken(v1::Command& command) {
  switch (command.payload_case()) {
    case v1::Command::kCreateInstance:
      return command.mutable_create_instance()->mutable_gateway_token();
    case v1::Command::kRotateGatewayToken:
      return command.mutable_rotate_gateway_token()->mutable_gateway_token();
    default:
      return nullptr;
  }
}

// 32 random bytes, base64url without padding (43 characters).
std::string NewGatewayToken(RandomSource& random) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::array<std::byte, 33> bytes{};  // 33 = 44 characters; the 44th is dropped (43 = 256 bits)
  random.Fill(bytes);
  std::string token;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t v = (std::to_integer<uint32_t>(bytes[i]) << 16) |
                       (std::to_integer<uint32_t>(bytes[i + 1]) << 8) |
                       std::to_integer<uint32_t>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) token += kAlphabet[(v >> shift) & 63];
  }
  token.resize(43);
  return token;
}

// What a TOTP enrolment draws: the 160-bit secret (base32) and ten recovery codes.
struct TotpEnrolment {
  std::string secret;
  std::vector<std::string> recovery_codes;
};

TotpEnrolment NewTotpEnrolment(RandomSource& random) {
  TotpEnrolment out;
  std::array<uint8_t, kTotpSecretBytes> secret{};
  random.Fill(std::as_writable_bytes(std::span(secret)));
  out.secret = Base32Encode(secret);
  for (size_t i = 0; i < kRecoveryCodeCount; ++i) {
    std::array<uint8_t, kRecoveryCodeBytes> code{};
    random.Fill(std::as_writable_bytes(std::span(code)));
    out.recovery_codes.push_back(FormatRecoveryCode(code));
  }
  return out;
}

std::optional<Query> QueryOf(RouteId route) {
  switch (route) {
    case RouteId::kGetAccount:
      return Query::kGetAccount;
    case RouteId::kListMembers:
      return Query::kListMembers;
    case RouteId::kListInstances:
      return Query::kListInstances;
    case RouteId::kGetInstance:
      return Query::kGetInstance;
    case RouteId::kListAudit:
      return Query::kListAudit;
    case RouteId::kGetCommand:
      return Query::kGetCommand;
    case RouteId::kDataExport:
      return Query::kDataExport;
    case RouteId::kListAuditExports:
      return Query::kListAuditExports;
    case RouteId::kGetAuditExport:
      return Query::kGetAuditExport;
    case RouteId::kDownloadAuditExport:
      return Query::kDownloadAuditExport;
    default:
      return std::nullopt;
  }
}

// The path of a payload field marked (service_owned) that the client set, if any.
std::optional<std::string> SetServiceOwnedField(const v1::Command& command) {
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  const auto* which = command.GetReflection()->GetOneofFieldDescriptor(command, oneof);
  if (which == nullptr) return std::nullopt;
  const auto& payload = command.GetReflection()->GetMessage(command, which);
  const auto* descriptor = payload.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    if (!field->options().GetExtension(v1::service_owned)) continue;
    const bool set = field->is_repeated() ? payload.GetReflection()->FieldSize(payload, field) > 0
                                          : payload.GetReflection()->HasField(payload, field);
    if (set) {
      return which->name() + "." + field->name();
    }
  }
  return std::nullopt;
}

ApiResponse LoginRefused() {
  return ApiHandler::Error(401, "unauthenticated", "email or password is not correct");
}

ApiResponse ResetRefused() {
  return ApiHandler::Error(401, "unauthenticated", "the reset token is not valid");
}

// The one answer to a password-reset request, whether the email has an account or not: the
// token (for the web tier to mail), or null on a retry of the command id.
ApiResponse ResetRequestAnswer(const std::string& command_id, const std::string* token) {
  ApiResponse r;
  r.body = "{\"command_id\":" + JsonString(command_id) +
           ",\"reset_token\":" + (token != nullptr ? JsonString(*token) : std::string("null")) +
           ",\"expires_in_seconds\":" +
           std::to_string(DecideOptions{}.password_reset_validity_us / 1'000'000) + "}";
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

ApiResponse Forbidden() {
  return ApiHandler::Error(403, "permission_denied", "the caller may not do this on this account");
}

}  // namespace

// Path parameters, percent-decoded and validated.
struct ApiHandler::PathIds {
  std::string account_id;
  std::string instance_id;
  std::string command_id;
  std::string credential_name;
  std::string export_id;
};

ApiHandler::ApiHandler(CommandService& commands, ReadModel& reads, MetricsRegistry& metrics,
                       Authenticator& authenticator, Clock& clock, std::function<bool()> ready,
                       std::chrono::milliseconds command_wait, LoginDirectory* logins,
                       SessionResolver* sessions)
    : commands_(commands),
      reads_(reads),
      metrics_(metrics),
      authenticator_(authenticator),
      clock_(clock),
      ready_(std::move(ready)),
      command_wait_(command_wait),
      logins_(logins),
      sessions_(sessions),
      login_throttle_(logins != nullptr ? std::make_unique<LoginThrottle>(clock) : nullptr) {}

ApiResponse ApiHandler::Error(unsigned status, std::string_view code, std::string_view message) {
  ApiResponse r;
  r.status = status;
  r.body = "{\"error\":" + ErrorObject(code, message) + "}";
  return r;
}

void ApiHandler::RecordMetrics(MetricsRegistry& metrics, std::string_view route, unsigned status,
                               double seconds) {
  const std::string route_label(route);
  metrics
      .GetCounter("clawvisor_http_requests_total", "HTTP requests by route template and status",
                  {{"route", route_label}, {"code", std::to_string(status)}})
      .Inc();
  metrics
      .GetHistogram("clawvisor_http_request_duration_seconds",
                    "HTTP request handling time by route template", {{"route", route_label}})
      .Observe(seconds);
}

bool ApiHandler::RunsInline(std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return method == "GET" && (path == "/healthz" || path == "/readyz" || path == "/metrics");
}

ApiResponse ApiHandler::Handle(const ApiRequest& request) {
  const std::string_view target = request.info.target;
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  const RouteMatch match = MatchRoute(request.info.method, path);
  ApiResponse response;
  if (match.allow.empty()) {
    response = Error(404, "not_found", "no route matches this path");
  } else if (match.route == nullptr) {
    response = Error(405, "method_not_allowed", "this path accepts " + match.allow);
    response.headers.emplace_back("Allow", match.allow);
  } else {
    try {
      response = Dispatch(match, query, request);
    } catch (const std::exception& e) {
      // Ports report failures as Result; an exception here is a bug or memory exhaustion.
      Log(LogLevel::kError, kComponent, "handler threw",
          {{"route", match.path_template}, {"what", e.what()}});
      response = Internal();
    }
  }
  response.route = match.path_template;
  return response;
}

ApiResponse ApiHandler::Dispatch(const RouteMatch& match, std::string_view query,
                                 const ApiRequest& request) {
  const RouteId route = match.route->id;
  switch (route) {
    case RouteId::kHealthz: {
      ApiResponse r;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "ok\n";
      return r;
    }
    case RouteId::kReadyz: {
      ApiResponse r;
      r.content_type = "text/plain; charset=utf-8";
      const bool ready = ready_ ? ready_() : true;
      r.status = ready ? 200 : 503;
      r.body = ready ? "ready\n" : "not ready\n";
      return r;
    }
    case RouteId::kMetrics: {
      ApiResponse r;
      r.content_type = std::string(kPrometheusContentType);
      r.body = metrics_.RenderPrometheus();
      return r;
    }
    default:
      break;
  }

  auto actor = authenticator_.Authenticate(request.info);
  if (!actor) {
    if (actor.error().code == Errc::kPermissionDenied) {
      return Error(403, "permission_denied", "the caller may not use this API");
    }
    return Error(401, "unauthenticated", "authentication required");
  }

  PathIds ids;
  if (!match.account_id.empty()) {
    auto decoded = PercentDecode(match.account_id);
    if (!decoded || !IsValidPathId(*decoded)) {
      return Error(400, "invalid_id", "account_id in the path must be " + std::string(kIdRule));
    }
    ids.account_id = std::move(*decoded);
  }
  if (!match.instance_id.empty()) {
    auto decoded = PercentDecode(match.instance_id);
    if (!decoded || !IsValidPathId(*decoded)) {
      return Error(400, "invalid_id", "instance_id in the path must be " + std::string(kIdRule));
    }
    ids.instance_id = std::move(*decoded);
  }
  if (!match.command_id.empty()) {
    auto decoded = PercentDecode(match.command_id);
    if (!decoded || !IsValidCommandId(*decoded)) {
      return Error(400, "invalid_id",
                   "command_id in the path must be " + std::string(kCommandIdRule));
    }
    ids.command_id = std::move(*decoded);
  }
  if (!match.credential_name.empty()) {
    auto decoded = PercentDecode(match.credential_name);
    if (!decoded || !IsValidPathId(*decoded)) {
      return Error(400, "invalid_id",
                   "credential_name in the path must be " + std::string(kIdRule));
    }
    ids.credential_name = std::move(*decoded);
  }

  if (!match.export_id.empty()) {
    auto decoded = PercentDecode(match.export_id);
    if (!decoded || !IsValidPathId(*decoded)) {
      return Error(400, "invalid_id", "export_id in the path must be " + std::string(kIdRule));
    }
    ids.export_id = std::move(*decoded);
  }
  if (match.route->method == "POST") {
    if (!query.empty()) {
      return Error(400, "invalid_query", "this route takes no query parameters");
    }
    return HandleCommand(route, ids, request, *actor);
  }
  const std::optional<Query> q = QueryOf(route);
  if (!q) return Internal();  // every GET route past the operational ones is a query
  auto caller = CallerOf(*actor, ids.account_id);
  if (!caller) return FromPortError(caller.error(), "account_not_found", "access");
  if (!MayQuery(*caller, *q)) return Forbidden();
  return HandleQuery(route, ids, query);
}

Result<Principals> ApiHandler::CallerOf(const v1::Actor& actor, const std::string& account_id) {
  std::optional<v1::Role> role;
  if (actor.kind() == v1::Actor::KIND_USER && !account_id.empty()) {
    auto members = reads_.ListMembers(account_id);
    if (!members) return std::unexpected(members.error());
    for (const auto& member : members->members()) {
      if (member.user_id() == actor.id()) role = member.role();
    }
  }
  return PrincipalsOf(actor, role);
}

ApiResponse ApiHandler::HandleCommand(RouteId route, const PathIds& ids, const ApiRequest& request,
                                      const v1::Actor& actor) {
  if (!IsJsonContentType(request.content_type)) {
    return Error(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  const std::string& body = request.body;
  if (auto bad = FindInvalidUtf8(body)) {
    return Error(400, "invalid_utf8",
                 "the body is not valid UTF-8 (at byte " + std::to_string(*bad) + ")");
  }
  if (auto syntax = CheckJsonObject(body)) return Error(400, "invalid_json", syntax->message);

  v1::Command command;
  pbu::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  if (const auto status = pbu::JsonStringToMessage(body, &command, parse_options); !status.ok()) {
    return MapJsonParseError(status.message().as_string());
  }

  // Fields the API owns: the caller's identity comes from authentication, times and versions
  // from this process. Refusing them (rather than silently overwriting) tells a client that
  // believes it can set them that it cannot.
  if (command.has_actor()) {
    return Error(400, "field_not_allowed",
                 "actor is set by the API from the authenticated caller; omit it");
  }
  if (!command.sealed_fields().empty()) {
    return Error(400, "field_not_allowed", "sealed_fields is set by the API; omit it");
  }
  if (command.issued_at_us() != 0) {
    return Error(400, "field_not_allowed", "issued_at_us is set by the API; omit it");
  }
  if (command.schema_version() != 0) {
    return Error(400, "field_not_allowed", "schema_version is set by the API; omit it");
  }
  if (!command.request_fingerprint().empty()) {
    return Error(400, "field_not_allowed", "request_fingerprint is set by the API; omit it");
  }
  if (auto owned = SetServiceOwnedField(command)) {
    return Error(400, "field_not_allowed", *owned + " is set by the service; omit it");
  }
  if (command.command_id().empty()) {
    return Error(400, "missing_command_id", "command_id is required");
  }
  if (!IsValidCommandId(command.command_id())) {
    return Error(400, "invalid_command_id", "command_id must be " + std::string(kCommandIdRule));
  }
  if (!command.correlation_id().empty() && !IsValidCommandId(command.correlation_id())) {
    return Error(400, "invalid_correlation_id",
                 "correlation_id must be " + std::string(kCommandIdRule));
  }

  std::string session_token;  // a login's new token, returned once and never stored
  std::string session_id;
  const v1::Command::PayloadCase required = RequiredPayload(route);
  const v1::Command::PayloadCase sent = command.payload_case();

  if (route == RouteId::kRegisterAccount) {
    if (sent != required) {
      return Error(
          400, "wrong_payload",
          "this route takes a register_account payload, not " + std::string(PayloadName(sent)));
    }
    if (!command.account_id().empty()) {
      return Error(400, "field_not_allowed",
                   "account_id is derived from command_id on this route; omit it");
    }
    command.set_account_id(DeriveAccountId(command.command_id()));
  } else if (route == RouteId::kLogin) {
    if (sent != required) {
      return Error(400, "wrong_payload",
                   "this route takes a login payload, not " + std::string(PayloadName(sent)));
    }
    if (!command.account_id().empty()) {
      return Error(400, "field_not_allowed", "account_id is found from the email; omit it");
    }
    if (!MayCommand(PrincipalsOf(actor, std::nullopt), v1::Command::kLogin)) return Forbidden();
    if (logins_ == nullptr) {
      return Error(503, "unavailable", "password sign-in is not configured on this server");
    }
    // Per source address, before any work: an address that failed too often waits.
    if (login_throttle_ != nullptr) {
      if (auto wait = login_throttle_->Wait(actor.source_ip()); wait > 0) {
        ApiResponse r = Error(429, "throttled", "too many failed sign-ins from this address");
        r.headers.emplace_back("Retry-After", std::to_string((wait + 999'999) / 1'000'000));
        return r;
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
    session_token = std::move(token->first);
    session_id = SessionIdFor(token->second);
    command.mutable_login()->set_session_token_hash(token->second);
  } else if (route == RouteId::kRequestPasswordReset || route == RouteId::kCompletePasswordReset) {
    if (sent != required) {
      return Error(400, "wrong_payload",
                   "this route takes a " + std::string(PayloadName(required)) + " payload, not " +
                       std::string(PayloadName(sent)));
    }
    if (!command.account_id().empty()) {
      return Error(400, "field_not_allowed",
                   "account_id is found from the email or the token; omit it");
    }
    // Only the web tier, acting on its own (never a user session): the token goes back to it.
    if (!MayCommand(PrincipalsOf(actor, std::nullopt), required)) return Forbidden();
    if (logins_ == nullptr) {
      return Error(503, "unavailable", "password sign-in is not configured on this server");
    }
    if (route == RouteId::kRequestPasswordReset) {
      // The email's account, or an account id nobody has: the same work and the same answer.
      auto account = logins_->ResetAccountFor(command.request_password_reset().email());
      if (!account) return FromPortError(account.error(), "unauthenticated", "password-reset");
      command.set_account_id(*account);
    } else {
      auto account = logins_->FindAccountByResetToken(command.complete_password_reset().token());
      if (!account) return FromPortError(account.error(), "unauthenticated", "password-reset");
      if (!account->has_value()) return ResetRefused();
      command.set_account_id(**account);
    }
  } else {
    if (!command.account_id().empty() && command.account_id() != ids.account_id) {
      return Error(400, "path_mismatch", "account_id in the body differs from the path");
    }
    command.set_account_id(ids.account_id);
    if (route == RouteId::kSubmitCommand) {
      if (sent == v1::Command::PAYLOAD_NOT_SET) {
        return Error(400, "wrong_payload", "the body must set one command payload");
      }
      if (sent == v1::Command::kRegisterAccount) {
        return Error(400, "wrong_payload", "register_account is submitted with POST /v1/accounts");
      }
    } else if (sent != required &&
               !(sent == v1::Command::PAYLOAD_NOT_SET && PayloadMayBeOmitted(route))) {
      return Error(400, "wrong_payload",
                   "this route takes a " + std::string(PayloadName(required)) + " payload, not " +
                       std::string(PayloadName(sent)));
    }
    if (std::string* instance_id = MutableActionInstanceId(command, route)) {
      if (!instance_id->empty() && *instance_id != ids.instance_id) {
        return Error(400, "path_mismatch", "instance_id in the body differs from the path");
      }
      *instance_id = ids.instance_id;
    }
    if (route == RouteId::kRemoveCredential) {
      auto* remove = command.mutable_remove_credential();
      if (!remove->name().empty() && remove->name() != ids.credential_name) {
        return Error(400, "path_mismatch", "name in the body differs from the path");
      }
      remove->set_name(ids.credential_name);
    }
    if (route == RouteId::kEraseAccount) command.mutable_request_account_erasure();
    if (route == RouteId::kEnrollTotp) command.mutable_enroll_totp();
    if (command.payload_case() == v1::Command::kCreateInstance) {
      auto* create = command.mutable_create_instance();
      if (create->instance_id().empty()) {
        create->set_instance_id(DeriveInstanceId(command.account_id(), command.command_id()));
      } else if (!IsValidPathId(create->instance_id())) {
        return Error(400, "invalid_id",
                     "create_instance.instance_id must be " + std::string(kIdRule));
      }
    }
  }

  // The table, before anything is appended (the processor checks again, authoritatively, with
  // the role the account's own events give; this check reads the members projection).
  auto caller = CallerOf(actor, route == RouteId::kRegisterAccount ? "" : command.account_id());
  if (!caller) return FromPortError(caller.error(), "account_not_found", "access");
  if (!MayCommand(*caller, command.payload_case())) return Forbidden();

  // A gateway token is drawn here, never by the client, and shown once: in this response, if
  // this very submission is the one decided (a retry of the command id shows none).
  std::string generated_token;
  if (std::string* token = MutableGeneratedToken(command)) {
    if (!token->empty()) {
      return Error(400, "field_not_allowed", "gateway_token is generated by the API; omit it");
    }
    *token = generated_token = NewGatewayToken(random_);
  }
  // A password-reset token likewise: drawn here, returned once to the service caller.
  std::string reset_token;
  if (command.payload_case() == v1::Command::kRequestPasswordReset) {
    auto* reset = command.mutable_request_password_reset();
    if (!reset->token().empty()) {
      return Error(400, "field_not_allowed", "token is generated by the API; omit it");
    }
    reset->set_token(reset_token = NewGatewayToken(random_));
  }
  // A TOTP secret and its recovery codes likewise: drawn here, shown once.
  std::optional<TotpEnrolment> enrolment;
  if (command.payload_case() == v1::Command::kEnrollTotp) {
    auto* enroll = command.mutable_enroll_totp();
    if (!enroll->secret().empty() || !enroll->recovery_codes().empty()) {
      return Error(400, "field_not_allowed",
                   "secret and recovery_codes are generated by the API; omit them");
    }
    enrolment = NewTotpEnrolment(random_);
    enroll->set_secret(enrolment->secret);
    std::string joined;
    for (const auto& code : enrolment->recovery_codes) joined += (joined.empty() ? "" : " ") + code;
    enroll->set_recovery_codes(std::move(joined));
  }

  *command.mutable_actor() = actor;
  command.set_issued_at_us(clock_.NowUs());
  command.set_schema_version(kSchemaVersion);

  const std::string location_of_outcome =
      "/v1/accounts/" + command.account_id() + "/commands/" + command.command_id();
  auto outcome = commands_.Submit(command, command_wait_);
  if (!outcome) {
    const Errc code = outcome.error().code;
    if (code == Errc::kTimeout && command.payload_case() == v1::Command::kRequestPasswordReset) {
      // Appended, so it will be decided and the token will work: the same answer as decided.
      return ResetRequestAnswer(command.command_id(), &reset_token);
    }
    if (code == Errc::kTimeout) {
      ApiResponse r;
      r.status = 202;
      r.body = "{\"command_id\":" + JsonString(command.command_id()) +
               ",\"account_id\":" + JsonString(command.account_id()) + ",\"status\":\"pending\"}";
      r.headers.emplace_back("Location", location_of_outcome);
      return r;
    }
    if (code == Errc::kInvalidArgument) {
      // The command service refused the request's content (a password the policy refuses);
      // its messages never quote a submitted value.
      return Error(422, "invalid_argument", outcome.error().message);
    }
    if (code == Errc::kUnavailable) {
      ApiResponse r = Error(503, "unavailable",
                            "the command log is unavailable; retry with the same command_id");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    if (code == Errc::kFailedPrecondition) {
      // Its secrets could not be sealed: the account's data key was destroyed by an erasure.
      return Error(410, "account_erased", "the account was erased");
    }
    Log(LogLevel::kError, kComponent, "submit failed",
        {{"account_id", command.account_id()},
         {"command_id", command.command_id()},
         {"error", outcome.error().ToString()}});
    return Internal();
  }

  if (command.payload_case() == v1::Command::kRequestPasswordReset) {
    // Accepted (the email's account) or refused (ACCOUNT_NOT_FOUND, the decoy; or an erased
    // account): one answer.
    return ResetRequestAnswer(command.command_id(),
                              outcome->generated_values_decided() ? &reset_token : nullptr);
  }
  if (route == RouteId::kCompletePasswordReset && !outcome->accepted() &&
      outcome->rejection_reason() == v1::REJECTION_UNAUTHENTICATED) {
    return ResetRefused();
  }
  if (route == RouteId::kLogin && !outcome->accepted() &&
      outcome->rejection_reason() == v1::REJECTION_SECOND_FACTOR_REQUIRED) {
    // The password was right (wrong ones are counted, and answered below like an unknown email).
    return Error(401, "totp_required", "a TOTP code or a recovery code is required");
  }
  if (route == RouteId::kLogin) {
    // A failed or throttled login is recorded (accepted) but is no sign-in. Every failure gets
    // the same answer as an unknown email, and counts against the source address.
    const bool signed_in = outcome->accepted() &&
                           std::find(outcome->event_types().begin(), outcome->event_types().end(),
                                     "login_succeeded") != outcome->event_types().end();
    if (!signed_in) {
      if (login_throttle_ != nullptr) login_throttle_->RecordFailure(actor.source_ip());
      return LoginRefused();
    }
  }
  if (route == RouteId::kLogin && outcome->accepted())
    return LoginAnswer(*outcome, session_token, session_id);
  auto json = ToJson(ForCaller(*outcome));
  if (!json) return Internal();
  ApiResponse r;
  if (outcome->accepted()) {
    if (!generated_token.empty() && json->size() >= 2 && json->back() == '}') {
      json->pop_back();
      if (outcome->generated_values_decided()) {
        *json += ",\"gateway_token\":" + JsonString(generated_token) + "}";
      } else {
        *json += ",\"gateway_token\":null,\"gateway_token_note\":" +
                 JsonString(
                     "the token is shown only in the response that created it; rotate it "
                     "if it was lost") +
                 "}";
      }
      r.headers.emplace_back("Cache-Control", "no-store");
    }
    if (enrolment && json->size() >= 2 && json->back() == '}') {
      json->pop_back();
      if (outcome->generated_values_decided()) {
        *json += ",\"totp_secret\":" + JsonString(enrolment->secret) + ",\"otpauth_uri\":" +
                 JsonString(OtpauthUri(kTotpIssuer, command.account_id(), enrolment->secret)) +
                 ",\"recovery_codes\":[";
        for (size_t i = 0; i < enrolment->recovery_codes.size(); ++i) {
          *json += (i ? "," : "") + JsonString(enrolment->recovery_codes[i]);
        }
        *json += "]}";
      } else {
        *json += ",\"totp_secret\":null,\"totp_note\":" +
                 JsonString(
                     "the secret is shown only in the response that enrolled it; enroll again "
                     "if it was lost") +
                 "}";
      }
      r.headers.emplace_back("Cache-Control", "no-store");
    }
    r.body = std::move(*json);
    if (route == RouteId::kRegisterAccount) {
      r.status = 201;
      r.headers.emplace_back("Location", "/v1/accounts/" + command.account_id());
    } else if (route == RouteId::kCreateInstance) {
      r.status = 201;
      r.headers.emplace_back("Location", "/v1/accounts/" + command.account_id() + "/instances/" +
                                             command.create_instance().instance_id());
    }
    return r;
  }
  if (route == RouteId::kLogin && outcome->rejection_reason() != v1::REJECTION_THROTTLED) {
    return LoginRefused();  // whatever failed, one answer
  }
  const auto [status, code] = RejectionStatus(outcome->rejection_reason());
  r.status = status;
  // The outcome with an `error` member added: clients that only read `error` and clients that
  // read the outcome both find what they expect.
  const std::string message =
      outcome->message().empty() ? "the command was rejected" : outcome->message();
  if (json->size() >= 2 && json->back() == '}') {
    json->pop_back();
    const bool empty_object = json->size() == 1;
    *json += (empty_object ? "" : ",");
    *json += "\"error\":" + ErrorObject(code, message) + "}";
  }
  r.body = std::move(*json);
  return r;
}

ApiResponse ApiHandler::LoginAnswer(const v1::CommandOutcome& outcome,
                                    const std::string& session_token,
                                    const std::string& session_id) {
  // The token is returned only if it is the one recorded: a retried login (same command id) is
  // answered with its recorded outcome, whose session this request's token is not.
  std::string user_id;
  if (sessions_ != nullptr) {
    auto user = sessions_->ResolveUser(session_token);
    if (user) user_id = std::move(*user);
  }
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

ApiResponse ApiHandler::HandleQuery(RouteId route, const PathIds& ids, std::string_view query) {
  if (route == RouteId::kListAudit) return HandleAudit(ids, query);
  if (route == RouteId::kListAuditExports || route == RouteId::kGetAuditExport ||
      route == RouteId::kDownloadAuditExport) {
    return HandleAuditExport(route, ids, query);
  }
  if (!query.empty()) return Error(400, "invalid_query", "this route takes no query parameters");
  const std::string_view label = "query";
  switch (route) {
    case RouteId::kGetAccount: {
      auto account = reads_.GetAccount(ids.account_id);
      if (!account) return FromPortError(account.error(), "account_not_found", label);
      if (!*account) return Error(404, "account_not_found", "no such account");
      return JsonOk(**account);
    }
    case RouteId::kListMembers: {
      auto members = reads_.ListMembers(ids.account_id);
      if (!members) return FromPortError(members.error(), "account_not_found", label);
      return JsonOk(*members);
    }
    case RouteId::kListInstances: {
      auto instances = reads_.ListInstances(ids.account_id);
      if (!instances) return FromPortError(instances.error(), "account_not_found", label);
      return JsonOk(*instances);
    }
    case RouteId::kGetInstance: {
      auto instance = reads_.GetInstance(ids.account_id, ids.instance_id);
      if (!instance) return FromPortError(instance.error(), "instance_not_found", label);
      if (!*instance) return Error(404, "instance_not_found", "no such instance");
      return JsonOk(**instance);
    }
    case RouteId::kDataExport:
      return HandleDataExport(ids);
    case RouteId::kGetCommand: {
      auto outcome = reads_.GetCommandOutcome(ids.account_id, ids.command_id);
      if (!outcome) return FromPortError(outcome.error(), "command_not_found", label);
      if (!*outcome) return Error(404, "command_not_found", "no outcome recorded for this command");
      return JsonOk(ForCaller(**outcome));
    }
    default:
      return Internal();  // every GET route is handled above
  }
}

// Everything held about the account, secrets redacted (the views hold masks only).
ApiResponse ApiHandler::HandleDataExport(const PathIds& ids) {
  constexpr std::string_view label = "data-export";
  v1::DataExport out;
  out.set_account_id(ids.account_id);
  out.set_generated_at_us(clock_.NowUs());
  auto account = reads_.GetAccount(ids.account_id);
  if (!account) return FromPortError(account.error(), "account_not_found", label);
  if (!*account) return Error(404, "account_not_found", "no such account");
  *out.mutable_account() = std::move(**account);
  auto members = reads_.ListMembers(ids.account_id);
  if (!members) return FromPortError(members.error(), "account_not_found", label);
  *out.mutable_members() = std::move(*members->mutable_members());
  auto instances = reads_.ListInstances(ids.account_id);
  if (!instances) return FromPortError(instances.error(), "account_not_found", label);
  *out.mutable_instances() = std::move(*instances->mutable_instances());
  std::string cursor;
  do {
    auto page = reads_.ListAudit(ids.account_id, 0, std::numeric_limits<int64_t>::max(), cursor,
                                 kMaxAuditLimit);
    if (!page) return FromPortError(page.error(), "account_not_found", label);
    for (auto& entry : *page->mutable_entries()) *out.add_audit() = std::move(entry);
    cursor = page->next_cursor();
  } while (!cursor.empty());
  ApiResponse r = JsonOk(out);
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"clawvisor-data-export.json\"");
  return r;
}

ApiResponse ApiHandler::HandleAudit(const PathIds& ids, std::string_view query) {
  auto params = ParseQuery(query);
  if (!params) return Error(400, "invalid_query", "the query string has a malformed %-escape");
  int64_t since_us = 0;
  int64_t until_us = std::numeric_limits<int64_t>::max();
  std::string cursor;
  uint32_t limit = kDefaultAuditLimit;
  bool seen[4] = {false, false, false, false};
  for (const auto& [name, value] : *params) {
    int index = -1;
    if (name == "since") index = 0;
    if (name == "until") index = 1;
    if (name == "cursor") index = 2;
    if (name == "limit") index = 3;
    if (index < 0) {
      return Error(400, "invalid_query",
                   "unknown query parameter; this route takes since, until, cursor and limit");
    }
    if (seen[index]) return Error(400, "invalid_query", "'" + name + "' is given more than once");
    seen[index] = true;
    if (index <= 1) {
      auto t = ParseTimestampUs(value);
      if (!t) {
        return Error(
            400, "invalid_query",
            "'" + name + "' must be an RFC 3339 date-time or an integer count of microseconds");
      }
      (index == 0 ? since_us : until_us) = *t;
    } else if (index == 2) {
      if (value.size() > kMaxCursorBytes || !IsPrintableAscii(value)) {
        return Error(400, "invalid_query", "'cursor' is not a cursor this API returned");
      }
      cursor = value;
    } else {
      uint32_t v = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size() || v < 1 ||
          v > kMaxAuditLimit) {
        return Error(400, "invalid_query", "'limit' must be an integer from 1 to 1000");
      }
      limit = v;
    }
  }
  if (since_us > until_us) return Error(400, "invalid_query", "'since' is after 'until'");
  auto page = reads_.ListAudit(ids.account_id, since_us, until_us, cursor, limit);
  if (!page) return FromPortError(page.error(), "account_not_found", "audit");
  return JsonOk(*page);
}

// Exports hold every member's actions and personal data: the permission table lets only the
// owner reach them.
ApiResponse ApiHandler::HandleAuditExport(RouteId route, const PathIds& ids,
                                          std::string_view query) {
  if (!query.empty()) return Error(400, "invalid_query", "this route takes no query parameters");
  const std::string_view label = "audit_export";
  if (route == RouteId::kListAuditExports) {
    auto list = reads_.ListAuditExports(ids.account_id);
    if (!list) return FromPortError(list.error(), "account_not_found", label);
    return JsonOk(*list);
  }
  auto view = reads_.GetAuditExport(ids.account_id, ids.export_id);
  if (!view) return FromPortError(view.error(), "export_not_found", label);
  if (!*view) return Error(404, "export_not_found", "no such audit export");
  if (route == RouteId::kGetAuditExport) return JsonOk(**view);
  if ((*view)->status() != "completed") {
    ApiResponse r = Error(409, "export_pending", "the export is not written yet; retry later");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  if (export_area_ == nullptr) return Error(404, "export_not_found", "no export area here");
  auto path = export_area_->PathOf(ids.account_id, ids.export_id);
  if (!path) return FromPortError(path.error(), "export_not_found", label);
  ApiResponse r;
  r.content_type = "text/csv; charset=utf-8; header=present";
  r.body_file = std::move(*path);
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"audit-" + ids.export_id + ".csv\"");
  // The digest the completion recorded, so a client can check what it downloaded.
  r.headers.emplace_back("X-Content-SHA256", (*view)->sha256());
  return r;
}

}  // namespace clawvisor
