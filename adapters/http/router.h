#pragma once

// The route table of the HTTP API and the matcher over it.
//
// Routes are templates of literal segments and {parameters}; a parameter matches one non-empty
// segment. Matching is exact (no trailing slash, no prefix match). The template, never the raw
// path, is what metrics and logs carry: a path holds customer ids, and labelling by it would
// give the metrics registry one series per customer.
//
// Thread-safety: the table is immutable; Match is a pure function.

#include <span>
#include <string>
#include <string_view>

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

struct RouteSpec {
  std::string_view method;
  std::string_view path_template;
  RouteId id;
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

std::span<const RouteSpec> Routes();

// `path` without the query string.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

}  // namespace clawvisor
