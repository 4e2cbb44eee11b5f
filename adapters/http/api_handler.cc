#include "adapters/http/api_handler.h"

#include <exception>

#include "adapters/http/caller_access.h"
#include "engine/domain/access.h"
#include "engine/logging.h"

namespace clawvisor {

ApiHandler::ApiHandler(CommandService& commands, ReadModel& reads, MetricsRegistry& metrics,
                       Authenticator& authenticator, Clock& clock, std::function<bool()> ready,
                       std::chrono::milliseconds command_wait, LoginDirectory* logins,
                       SessionResolver* sessions)
    : reads_(reads),
      metrics_(metrics),
      authenticator_(authenticator),
      ready_(std::move(ready)),
      sign_in_(logins, sessions, clock),
      commands_(commands, reads, random_, sign_in_, command_wait),
      queries_(reads, clock) {}

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
    response = ErrorResponse(404, "not_found", "no route matches this path");
  } else if (match.route == nullptr) {
    response = ErrorResponse(405, "method_not_allowed", "this path accepts " + match.allow);
    response.headers.emplace_back("Allow", match.allow);
  } else {
    try {
      response = Dispatch(match, query, request);
    } catch (const std::exception& e) {
      // Ports report failures as Result; an exception here is a bug or memory exhaustion.
      Log(LogLevel::kError, "http", "handler threw",
          {{"route", match.path_template}, {"what", e.what()}});
      response = InternalError();
    }
  }
  response.route = match.path_template;
  return response;
}

ApiResponse ApiHandler::Operational(RouteId route) {
  ApiResponse r;
  switch (route) {
    case RouteId::kHealthz:
      r.content_type = "text/plain; charset=utf-8";
      r.body = "ok\n";
      return r;
    case RouteId::kReadyz: {
      r.content_type = "text/plain; charset=utf-8";
      const bool ready = ready_ ? ready_() : true;
      r.status = ready ? 200 : 503;
      r.body = ready ? "ready\n" : "not ready\n";
      return r;
    }
    case RouteId::kMetrics:
      r.content_type = std::string(kPrometheusContentType);
      r.body = metrics_.RenderPrometheus();
      return r;
    default:
      return InternalError();  // the table names no other operational route
  }
}

ApiResponse ApiHandler::Dispatch(const RouteMatch& match, std::string_view query,
                                 const ApiRequest& request) {
  const RouteSpec& route = *match.route;
  if (route.kind == RouteKind::kOperational) return Operational(route.id);

  auto actor = authenticator_.Authenticate(request.info);
  if (!actor) {
    if (actor.error().code == Errc::kPermissionDenied) {
      return ErrorResponse(403, "permission_denied", "the caller may not use this API");
    }
    return ErrorResponse(401, "unauthenticated", "authentication required");
  }
  auto ids = DecodePathIds(match);
  if (!ids) return ErrorResponse(400, "invalid_id", ids.error());

  if (route.kind == RouteKind::kCommand || route.kind == RouteKind::kSignIn) {
    if (!query.empty()) {
      return ErrorResponse(400, "invalid_query", "this route takes no query parameters");
    }
    return commands_.Handle(route, *ids, request, *actor);
  }
  if (!route.query) return InternalError();  // every query route names its query
  auto caller = CallerOf(reads_, *actor, ids->account_id);
  if (!caller) return FromPortError(caller.error(), "account_not_found", "access");
  if (!MayQuery(*caller, *route.query)) return Forbidden();
  return queries_.Handle(route, *ids, query);
}

}  // namespace clawvisor
