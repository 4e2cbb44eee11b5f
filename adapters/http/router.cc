#include "adapters/http/router.h"

#include "adapters/http/ids.h"
#include "adapters/http/request_parsing.h"

namespace clawvisor {
namespace {

using K = RouteKind;
using R = PayloadRule;
using A = AccountFrom;
using P = Permission;
using Q = Query;
using C = v1::Command;
using Made = Created;
constexpr C::PayloadCase kNoPayload = C::PAYLOAD_NOT_SET;
constexpr std::optional<Query> kNoQuery = std::nullopt;

// Path ids written into the payload (the body may repeat them, not contradict them).
constexpr std::array<PathBinding, 2> kNoBinding{};
constexpr std::array<PathBinding, 2> kInstance{{{PathParam::kInstanceId, "instance_id"}}};
constexpr std::array<PathBinding, 2> kInstanceAndName{
    {{PathParam::kInstanceId, "instance_id"}, {PathParam::kCredentialName, "name"}}};

// One row per route. Second line of a row: kind, payload, payload rule, account from, path-id
// bindings, query, permission, success status, what it creates.
// clang-format off
constexpr std::array kRoutes = {
    RouteSpec{"GET", "/healthz", RouteId::kHealthz,
              K::kOperational, kNoPayload, R::kNone, A::kNone, kNoBinding, kNoQuery, P::kNone, 200, Made::kNothing},
    RouteSpec{"GET", "/readyz", RouteId::kReadyz,
              K::kOperational, kNoPayload, R::kNone, A::kNone, kNoBinding, kNoQuery, P::kNone, 200, Made::kNothing},
    RouteSpec{"GET", "/metrics", RouteId::kMetrics,
              K::kOperational, kNoPayload, R::kNone, A::kNone, kNoBinding, kNoQuery, P::kNone, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts", RouteId::kRegisterAccount,
              K::kCommand, C::kRegisterAccount, R::kRequired, A::kCommandId, kNoBinding, kNoQuery, P::kNoRole, 201, Made::kAccount},
    RouteSpec{"GET", "/v1/accounts/{account_id}", RouteId::kGetAccount,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kGetAccount, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/members", RouteId::kListMembers,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kListMembers, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/instances", RouteId::kListInstances,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kListInstances, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances", RouteId::kCreateInstance,
              K::kCommand, C::kCreateInstance, R::kRequired, A::kPath, kNoBinding, kNoQuery, P::kAccountRole, 201, Made::kInstance},
    RouteSpec{"GET", "/v1/accounts/{account_id}/instances/{instance_id}", RouteId::kGetInstance,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kGetInstance, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/start", RouteId::kStartInstance,
              K::kCommand, C::kStartInstance, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/stop", RouteId::kStopInstance,
              K::kCommand, C::kStopInstance, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/pause", RouteId::kPauseInstance,
              K::kCommand, C::kPauseInstance, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/resume", RouteId::kResumeInstance,
              K::kCommand, C::kResumeInstance, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/delete", RouteId::kDeleteInstance,
              K::kCommand, C::kDeleteInstance, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit", RouteId::kListAudit,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kListAudit, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/commands", RouteId::kSubmitCommand,
              K::kCommand, kNoPayload, R::kAny, A::kPath, kNoBinding, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/commands/{command_id}", RouteId::kGetCommand,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kGetCommand, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/credentials", RouteId::kSetCredential,
              K::kCommand, C::kSetCredential, R::kRequired, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/credentials/{credential_name}/remove", RouteId::kRemoveCredential,
              K::kCommand, C::kRemoveCredential, R::kMayOmit, A::kPath, kInstanceAndName, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/rotate-gateway-token", RouteId::kRotateGatewayToken,
              K::kCommand, C::kRotateGatewayToken, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/console-link", RouteId::kIssueConsoleLink,
              K::kCommand, C::kIssueConsoleLink, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/rotate-webhook-path", RouteId::kRotateWebhookPath,
              K::kCommand, C::kRotateWebhookPath, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/disable-webhook-path", RouteId::kDisableWebhookPath,
              K::kCommand, C::kDisableWebhookPath, R::kMayOmit, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/upgrade", RouteId::kUpgradeInstance,
              K::kCommand, C::kUpgradeInstance, R::kRequired, A::kPath, kInstance, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/erase", RouteId::kEraseAccount,
              K::kCommand, C::kRequestAccountErasure, R::kMayOmit, A::kPath, kNoBinding, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/data-export", RouteId::kDataExport,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kDataExport, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/sessions", RouteId::kLogin,
              K::kSignIn, C::kLogin, R::kRequired, A::kSignIn, kNoBinding, kNoQuery, P::kServiceAlone, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit/exports", RouteId::kListAuditExports,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kListAuditExports, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit/exports/{export_id}", RouteId::kGetAuditExport,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kGetAuditExport, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit/exports/{export_id}/csv", RouteId::kDownloadAuditExport,
              K::kQuery, kNoPayload, R::kNone, A::kNone, kNoBinding, Q::kDownloadAuditExport, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/password-resets", RouteId::kRequestPasswordReset,
              K::kSignIn, C::kRequestPasswordReset, R::kRequired, A::kSignIn, kNoBinding, kNoQuery, P::kServiceAlone, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/password-resets/complete", RouteId::kCompletePasswordReset,
              K::kSignIn, C::kCompletePasswordReset, R::kRequired, A::kSignIn, kNoBinding, kNoQuery, P::kServiceAlone, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/totp", RouteId::kEnrollTotp,
              K::kCommand, C::kEnrollTotp, R::kMayOmit, A::kPath, kNoBinding, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/totp/confirm", RouteId::kConfirmTotp,
              K::kCommand, C::kConfirmTotp, R::kRequired, A::kPath, kNoBinding, kNoQuery, P::kAccountRole, 200, Made::kNothing},
    RouteSpec{"POST", "/v1/accounts/{account_id}/totp/disable", RouteId::kDisableTotp,
              K::kCommand, C::kDisableTotp, R::kRequired, A::kPath, kNoBinding, kNoQuery, P::kAccountRole, 200, Made::kNothing},
};
// clang-format on

// The {parameters} a template may hold: where the matcher puts the raw segment, where the
// decoder puts the decoded id, and the rule it must follow (ids.h).
struct ParamSpec {
  std::string_view name;
  std::string_view RouteMatch::*raw;
  std::string PathIds::*decoded;
  bool (*valid)(std::string_view);
  std::string_view rule;
};
constexpr std::array kParams = {
    ParamSpec{"account_id", &RouteMatch::account_id, &PathIds::account_id, IsValidPathId, kIdRule},
    ParamSpec{"instance_id", &RouteMatch::instance_id, &PathIds::instance_id, IsValidPathId,
              kIdRule},
    ParamSpec{"command_id", &RouteMatch::command_id, &PathIds::command_id, IsValidCommandId,
              kCommandIdRule},
    ParamSpec{"credential_name", &RouteMatch::credential_name, &PathIds::credential_name,
              IsValidPathId, kIdRule},
    ParamSpec{"export_id", &RouteMatch::export_id, &PathIds::export_id, IsValidPathId, kIdRule},
};
static_assert(kParams.size() == static_cast<size_t>(PathParam::kExportId) + 1);

// Pops the next '/'-separated segment of `rest` (which starts with '/'); false at the end.
bool NextSegment(std::string_view& rest, std::string_view& segment) {
  if (rest.empty() || rest.front() != '/') return false;
  rest.remove_prefix(1);
  const size_t slash = rest.find('/');
  segment = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  return true;
}

// Whether `path` fits `tmpl`; fills the parameters of `match` when it does.
bool PathFits(std::string_view tmpl, std::string_view path, RouteMatch& match) {
  RouteMatch params;
  std::string_view t_seg;
  std::string_view p_seg;
  while (true) {
    const bool t_more = NextSegment(tmpl, t_seg);
    const bool p_more = NextSegment(path, p_seg);
    if (t_more != p_more) return false;
    if (!t_more) break;
    if (t_seg.size() > 2 && t_seg.front() == '{' && t_seg.back() == '}') {
      if (p_seg.empty()) return false;
      for (const ParamSpec& param : kParams) {
        if (t_seg.substr(1, t_seg.size() - 2) == param.name) params.*param.raw = p_seg;
      }
    } else if (t_seg != p_seg) {
      return false;
    }
  }
  for (const ParamSpec& param : kParams) match.*param.raw = params.*param.raw;
  return true;
}

}  // namespace

const std::string& PathIds::Of(PathParam param) const {
  return this->*kParams[static_cast<size_t>(param)].decoded;
}

std::span<const RouteSpec> Routes() { return kRoutes; }

RouteMatch MatchRoute(std::string_view method, std::string_view path) {
  RouteMatch match;
  for (const RouteSpec& spec : kRoutes) {
    if (!PathFits(spec.path_template, path, match)) continue;
    match.path_template = spec.path_template;
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += spec.method;
    if (spec.method == method) match.route = &spec;
  }
  return match;
}

std::expected<PathIds, std::string> DecodePathIds(const RouteMatch& match) {
  PathIds ids;
  for (const ParamSpec& param : kParams) {
    const std::string_view raw = match.*param.raw;
    if (raw.empty()) continue;
    auto decoded = PercentDecode(raw);
    if (!decoded || !param.valid(*decoded)) {
      return std::unexpected(std::string(param.name) + " in the path must be " +
                             std::string(param.rule));
    }
    ids.*param.decoded = std::move(*decoded);
  }
  return ids;
}

}  // namespace clawvisor
