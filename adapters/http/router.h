#pragma once

// The route table of the HTTP API and the matcher over it.
//
// One row per route says everything the API needs to serve it, so the handlers hold no
// per-route switch and the table reads like openapi.yaml (which openapi_check.py compares with
// it): the method and path template, how it is served (RouteKind), for a command the payload it
// takes and whether the body may omit it, where the account id comes from and which path ids are
// written into which payload fields, for a query the Query it serves, the principals the
// permission table (engine/domain/access.h) is consulted with, and the status of success.
//
// Routes are templates of literal segments and {parameters}; a parameter matches one non-empty
// segment. Matching is exact (no trailing slash, no prefix match). The template, never the raw
// path, is what metrics and logs carry: a path holds customer ids, and labelling by it would
// give the metrics registry one series per customer.
//
// Thread-safety: the table is immutable; MatchRoute and DecodePathIds are pure functions.

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "engine/domain/access.h"

namespace clawvisor {

enum class RouteId {
  kHealthz,
  kReadyz,
  kMetrics,
  kRegisterAccount,
  kGetAccount,
  kListMembers,
  kListInstances,
  kCreateInstance,
  kGetInstance,
  kStartInstance,
  kStopInstance,
  kPauseInstance,
  kResumeInstance,
  kDeleteInstance,
  kListAudit,
  kSubmitCommand,
  kGetCommand,
  kSetCredential,
  kRemoveCredential,
  kRotateGatewayToken,
  kIssueConsoleLink,
  kRotateWebhookPath,
  kDisableWebhookPath,
  kUpgradeInstance,
  kEraseAccount,
  kDataExport,
  kLogin,
  kListAuditExports,
  kGetAuditExport,
  kDownloadAuditExport,
  kRequestPasswordReset,
  kCompletePasswordReset,
  kEnrollTotp,
  kConfirmTotp,
  kDisableTotp,
};

// Who serves a route.
enum class RouteKind : uint8_t {
  kOperational,  // /healthz, /readyz, /metrics: no authentication (api_handler.cc)
  kQuery,        // a read-model query (query_handler.h)
  kCommand,      // a command (command_handler.h)
  kSignIn,       // a command whose account is found from an email or a token (sign_in.h)
};

// Whether the body must carry the route's payload.
enum class PayloadRule : uint8_t {
  kNone,      // not a command route
  kRequired,  // exactly the route's payload
  kMayOmit,   // the route's payload, or none: the path says everything
  kAny,       // any payload but registration (POST /v1/accounts/{account_id}/commands)
};

// Where a command's account_id comes from.
enum class AccountFrom : uint8_t {
  kNone,       // not a command route
  kPath,       // {account_id}; a body naming another is refused (path_mismatch)
  kCommandId,  // derived from command_id (ids.h); the body may not name one
  kSignIn,     // the email or the reset token (sign_in.h); the body may not name one
};

// The principals the permission table is consulted with before a command is appended or a
// query is answered.
enum class Permission : uint8_t {
  kNone,         // operational routes
  kAccountRole,  // the caller's role in the addressed account (the members projection)
  kNoRole,       // the caller without a role: no account exists yet (registration)
  // The caller without a role first (only the web tier on its own may sign in or reset), then
  // its role in the account the email or token leads to.
  kServiceAlone,
};

// What an accepted command created, for the Location header of a 201.
enum class Created : uint8_t { kNothing, kAccount, kInstance };

enum class PathParam : uint8_t { kAccountId, kInstanceId, kCommandId, kCredentialName, kExportId };

// A payload field bound to a path parameter: the path's value is written into it, and a body
// that sets another value is refused (path_mismatch). Unused bindings have an empty field.
struct PathBinding {
  PathParam param = PathParam::kAccountId;
  std::string_view field;  // a string field of the route's payload message
};

struct RouteSpec {
  std::string_view method;
  std::string_view path_template;
  RouteId id;
  RouteKind kind;
  v1::Command::PayloadCase payload;  // a command route's payload (PAYLOAD_NOT_SET: any)
  PayloadRule payload_rule;
  AccountFrom account;
  std::array<PathBinding, 2> bindings;
  std::optional<Query> query;  // the query a GET route serves
  Permission permission;
  unsigned success_status;  // of an accepted command or an answered query
  Created created;
};

// The label of requests whose path matched no template.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";

struct RouteMatch {
  const RouteSpec* route = nullptr;  // set when both path and method matched
  // The matched template (also when only the path matched), else kUnmatchedRoute.
  std::string_view path_template = kUnmatchedRoute;
  std::string allow;  // the methods the path accepts, "GET, POST"; empty if no template matched
  // Raw (still percent-encoded) parameter segments; views into the matched path.
  std::string_view account_id;
  std::string_view instance_id;
  std::string_view command_id;
  std::string_view credential_name;
  std::string_view export_id;
};

// Path parameters, percent-decoded and validated.
struct PathIds {
  std::string account_id;
  std::string instance_id;
  std::string command_id;
  std::string credential_name;
  std::string export_id;

  const std::string& Of(PathParam param) const;
};

std::span<const RouteSpec> Routes();

// `path` without the query string.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// The parameters of `match`, decoded; or the message of a 400 invalid_id naming the first
// parameter that is not percent-decodable or breaks its id rule (ids.h).
std::expected<PathIds, std::string> DecodePathIds(const RouteMatch& match);

}  // namespace clawvisor
