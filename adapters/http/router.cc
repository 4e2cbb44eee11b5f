#include "adapters/http/router.h"

#include <array>

namespace clawvisor {
namespace {

constexpr std::array kRoutes = {
    RouteSpec{"GET", "/healthz", RouteId::kHealthz},
    RouteSpec{"GET", "/readyz", RouteId::kReadyz},
    RouteSpec{"GET", "/metrics", RouteId::kMetrics},
    RouteSpec{"POST", "/v1/accounts", RouteId::kRegisterAccount},
    RouteSpec{"GET", "/v1/accounts/{account_id}", RouteId::kGetAccount},
    RouteSpec{"GET", "/v1/accounts/{account_id}/members", RouteId::kListMembers},
    RouteSpec{"GET", "/v1/accounts/{account_id}/instances", RouteId::kListInstances},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances", RouteId::kCreateInstance},
    RouteSpec{"GET", "/v1/accounts/{account_id}/instances/{instance_id}", RouteId::kGetInstance},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/start",
              RouteId::kStartInstance},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/stop",
              RouteId::kStopInstance},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/pause",
              RouteId::kPauseInstance},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/resume",
              RouteId::kResumeInstance},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/delete",
              RouteId::kDeleteInstance},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit", RouteId::kListAudit},
    RouteSpec{"POST", "/v1/accounts/{account_id}/commands", RouteId::kSubmitCommand},
    RouteSpec{"GET", "/v1/accounts/{account_id}/commands/{command_id}", RouteId::kGetCommand},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/credentials",
              RouteId::kSetCredential},
    RouteSpec{"POST",
              "/v1/accounts/{account_id}/instances/{instance_id}/credentials/{credential_name}/"
              "remove",
              RouteId::kRemoveCredential},
    RouteSpec{"POST", "/v1/accounts/{account_id}/instances/{instance_id}/rotate-gateway-token",
              RouteId::kRotateGatewayToken},
    RouteSpec{"POST", "/v1/accounts/{account_id}/erase", RouteId::kEraseAccount},
    RouteSpec{"GET", "/v1/accounts/{account_id}/data-export", RouteId::kDataExport},
    RouteSpec{"POST", "/v1/sessions", RouteId::kLogin},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit/exports", RouteId::kListAuditExports},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit/exports/{export_id}",
              RouteId::kGetAuditExport},
    RouteSpec{"GET", "/v1/accounts/{account_id}/audit/exports/{export_id}/csv",
              RouteId::kDownloadAuditExport},
    RouteSpec{"POST", "/v1/password-resets", RouteId::kRequestPasswordReset},
    RouteSpec{"POST", "/v1/password-resets/complete", RouteId::kCompletePasswordReset},
    RouteSpec{"POST", "/v1/accounts/{account_id}/totp", RouteId::kEnrollTotp},
    RouteSpec{"POST", "/v1/accounts/{account_id}/totp/confirm", RouteId::kConfirmTotp},
    RouteSpec{"POST", "/v1/accounts/{account_id}/totp/disable", RouteId::kDisableTotp},
};

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
      if (t_seg == "{account_id}") params.account_id = p_seg;
      if (t_seg == "{instance_id}") params.instance_id = p_seg;
      if (t_seg == "{command_id}") params.command_id = p_seg;
      if (t_seg == "{credential_name}") params.credential_name = p_seg;
      if (t_seg == "{export_id}") params.export_id = p_seg;
    } else if (t_seg != p_seg) {
      return false;
    }
  }
  match.account_id = params.account_id;
  match.instance_id = params.instance_id;
  match.command_id = params.command_id;
  match.credential_name = params.credential_name;
  match.export_id = params.export_id;
  return true;
}

}  // namespace

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

}  // namespace clawvisor
