#include "adapters/http/command_handler.h"

#include <google/protobuf/util/json_util.h>

#include <string>

#include "adapters/http/caller_access.h"
#include "adapters/http/ids.h"
#include "adapters/http/json_check.h"
#include "adapters/http/request_parsing.h"
#include "engine/command/generated_values.h"
#include "engine/domain/access.h"

namespace clawvisor {
namespace {

namespace pb = google::protobuf;

std::string_view PayloadName(v1::Command::PayloadCase payload) {
  const auto* field = v1::Command::descriptor()->FindFieldByNumber(static_cast<int>(payload));
  return field ? std::string_view(field->name()) : std::string_view("none");
}

ApiResponse FieldNotAllowed(std::string_view message) {
  return ErrorResponse(400, "field_not_allowed", message);
}

// The body as a Command, with nothing in it that the API or the service owns.
std::optional<ApiResponse> ParseBody(const ApiRequest& request, v1::Command& command) {
  if (!IsJsonContentType(request.content_type)) {
    return ErrorResponse(415, "unsupported_media_type", "Content-Type must be application/json");
  }
  const std::string& body = request.body;
  if (auto bad = FindInvalidUtf8(body)) {
    return ErrorResponse(400, "invalid_utf8",
                         "the body is not valid UTF-8 (at byte " + std::to_string(*bad) + ")");
  }
  if (auto syntax = CheckJsonObject(body)) {
    return ErrorResponse(400, "invalid_json", syntax->message);
  }
  pb::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  if (const auto status = pb::util::JsonStringToMessage(body, &command, parse_options);
      !status.ok()) {
    return MapJsonParseError(status.message().as_string());
  }
  // Fields the API owns: the caller's identity comes from authentication, times and versions
  // from the command service. Refusing them (rather than silently overwriting) tells a client
  // that believes it can set them that it cannot.
  if (command.has_actor()) {
    return FieldNotAllowed("actor is set by the API from the authenticated caller; omit it");
  }
  if (!command.sealed_fields().empty()) {
    return FieldNotAllowed("sealed_fields is set by the API; omit it");
  }
  if (command.issued_at_us() != 0)
    return FieldNotAllowed("issued_at_us is set by the API; omit it");
  if (command.schema_version() != 0) {
    return FieldNotAllowed("schema_version is set by the API; omit it");
  }
  if (!command.request_fingerprint().empty()) {
    return FieldNotAllowed("request_fingerprint is set by the API; omit it");
  }
  if (auto owned = SetServiceOwnedField(command)) {
    return FieldNotAllowed(*owned + " is set by the service; omit it");
  }
  // Checked here although the command service checks it too: its answer is a 422, and an
  // account or instance id is derived from the command id before the service is reached.
  if (command.command_id().empty()) {
    return ErrorResponse(400, "missing_command_id", "command_id is required");
  }
  if (!IsValidCommandId(command.command_id())) {
    return ErrorResponse(400, "invalid_command_id",
                         "command_id must be " + std::string(kCommandIdRule));
  }
  if (!command.correlation_id().empty() && !IsValidCommandId(command.correlation_id())) {
    return ErrorResponse(400, "invalid_correlation_id",
                         "correlation_id must be " + std::string(kCommandIdRule));
  }
  return std::nullopt;
}

// Whether the body's payload is one the route takes.
std::optional<ApiResponse> CheckPayload(const RouteSpec& route, v1::Command::PayloadCase sent) {
  if (route.payload_rule == PayloadRule::kAny) {
    if (sent == v1::Command::PAYLOAD_NOT_SET) {
      return ErrorResponse(400, "wrong_payload", "the body must set one command payload");
    }
    if (sent == v1::Command::kRegisterAccount) {
      return ErrorResponse(400, "wrong_payload",
                           "register_account is submitted with POST /v1/accounts");
    }
    return std::nullopt;
  }
  const bool omitted_may_be =
      sent == v1::Command::PAYLOAD_NOT_SET && route.payload_rule == PayloadRule::kMayOmit;
  if (sent != route.payload && !omitted_may_be) {
    return ErrorResponse(400, "wrong_payload",
                         "this route takes a " + std::string(PayloadName(route.payload)) +
                             " payload, not " + std::string(PayloadName(sent)));
  }
  return std::nullopt;
}

// Writes the route's path ids into its payload (created if the body omitted it).
std::optional<ApiResponse> BindPathIds(const RouteSpec& route, const PathIds& ids,
                                       v1::Command& command) {
  if (route.payload == v1::Command::PAYLOAD_NOT_SET) return std::nullopt;
  const auto* which = v1::Command::descriptor()->FindFieldByNumber(route.payload);
  pb::Message* payload = command.GetReflection()->MutableMessage(&command, which);
  for (const PathBinding& binding : route.bindings) {
    if (binding.field.empty()) continue;
    const auto* field = payload->GetDescriptor()->FindFieldByName(std::string(binding.field));
    if (field == nullptr || field->type() != pb::FieldDescriptor::TYPE_STRING) {
      return InternalError();  // the route table names a field the payload lacks
    }
    const std::string& from_path = ids.Of(binding.param);
    const std::string in_body = payload->GetReflection()->GetString(*payload, field);
    if (!in_body.empty() && in_body != from_path) {
      return ErrorResponse(400, "path_mismatch",
                           std::string(binding.field) + " in the body differs from the path");
    }
    payload->GetReflection()->SetString(payload, field, from_path);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiResponse> CommandHandler::BindToRoute(const RouteSpec& route, const PathIds& ids,
                                                       v1::Command& command, const v1::Actor& actor,
                                                       SignInState& sign_in) {
  if (route.account == AccountFrom::kPath) {
    if (!command.account_id().empty() && command.account_id() != ids.account_id) {
      return ErrorResponse(400, "path_mismatch", "account_id in the body differs from the path");
    }
    command.set_account_id(ids.account_id);
  }
  if (auto wrong = CheckPayload(route, command.payload_case())) return wrong;
  switch (route.account) {
    case AccountFrom::kCommandId:
      if (!command.account_id().empty()) {
        return FieldNotAllowed("account_id is derived from command_id on this route; omit it");
      }
      command.set_account_id(DeriveAccountId(command.command_id()));
      return std::nullopt;
    case AccountFrom::kSignIn:
      return sign_in_.Prepare(route, command, actor, sign_in);
    case AccountFrom::kPath:
      break;
    case AccountFrom::kNone:
      return InternalError();  // not a command route
  }
  if (auto bad = BindPathIds(route, ids, command)) return bad;
  if (command.payload_case() == v1::Command::kCreateInstance) {
    auto* create = command.mutable_create_instance();
    if (create->instance_id().empty()) {
      create->set_instance_id(DeriveInstanceId(command.account_id(), command.command_id()));
    } else if (!IsValidPathId(create->instance_id())) {
      return ErrorResponse(400, "invalid_id",
                           "create_instance.instance_id must be " + std::string(kIdRule));
    }
  }
  return std::nullopt;
}

ApiResponse CommandHandler::Handle(const RouteSpec& route, const PathIds& ids,
                                   const ApiRequest& request, const v1::Actor& actor) {
  v1::Command command;
  if (auto refused = ParseBody(request, command)) return *refused;
  SignInState sign_in;
  if (auto refused = BindToRoute(route, ids, command, actor, sign_in)) return *refused;

  // The table, before anything is appended (the processor checks again, authoritatively, with
  // the role the account's own events give; this check reads the members projection).
  auto caller =
      CallerOf(reads_, actor, route.permission == Permission::kNoRole ? "" : command.account_id());
  if (!caller) return FromPortError(caller.error(), "account_not_found", "access");
  if (!MayCommand(*caller, command.payload_case())) return Forbidden();

  // Drawn here, never by the client, and shown once: in this response, if this very submission
  // is the one decided (a retry of the command id shows none).
  auto values = DrawGeneratedValues(command, random_);
  if (!values) return FieldNotAllowed(values.error().message);

  *command.mutable_actor() = actor;
  auto outcome = commands_.Submit(command, command_wait_);
  if (!outcome) return FromSubmitError(outcome.error(), command, *values);

  if (command.payload_case() == v1::Command::kRequestPasswordReset) {
    // Accepted (the email's account) or refused (ACCOUNT_NOT_FOUND, the decoy; or an erased
    // account): one answer.
    return ResetRequestAnswer(command.command_id(),
                              outcome->generated_values_decided() ? &values->reset_token : nullptr);
  }
  if (route.kind == RouteKind::kSignIn) {
    if (auto answer = sign_in_.Answer(route, *outcome, sign_in, actor)) return *answer;
  }
  return CommandAnswer(*outcome, route, command, *values);
}

}  // namespace clawvisor
