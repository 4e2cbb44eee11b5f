#pragma once

// ApiHandler: the HTTP API's semantics, independent of sockets. It turns one parsed request
// (method, target, Content-Type, body, caller) into one response: routing, validation, the
// CommandService or ReadModel call, and the mapping of outcomes and errors to status codes.
// HttpApi (http_api.h) owns the transport and calls Handle once per request.
//
// Validation order for a command (POST), so that bad input never reaches CommandService:
//   route (404/405) -> authenticate (401/403) -> path ids (400 invalid_id) -> no query
//   -> Content-Type (415) -> UTF-8 (400 invalid_utf8) -> strict JSON (400 invalid_json)
//   -> protobuf mapping (400 unknown_field / wrong_type / wrong_payload)
//   -> fields the API owns (400 field_not_allowed) -> command id -> payload vs route
//   (400 wrong_payload / path_mismatch / invalid_id) -> permission table (403) -> Submit.
// A query: route -> authenticate -> path ids -> permission table (403) -> query.
// Error bodies are {"error":{"code":"...","message":"..."}}; messages name fields and byte
// offsets, never a submitted value (bodies may carry passwords, emails, credentials).
//
// Thread-safety: Handle may be called concurrently from any number of threads; the handler holds
// no mutable state of its own, and its ports are safe for concurrent use by contract.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/http/authenticator.h"
#include "adapters/http/login_throttle.h"
#include "adapters/http/router.h"
#include "adapters/posix/os_random.h"
#include "engine/domain/access.h"
#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/metrics.h"
#include "engine/command/password_service.h"
#include "projections/audit_export_worker.h"
#include "projections/read_model.h"

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

class ApiHandler {
 public:
  // `ready` must be cheap and non-blocking: /readyz calls it on the I/O thread.
  ApiHandler(CommandService& commands, ReadModel& reads, MetricsRegistry& metrics,
             Authenticator& authenticator, Clock& clock, std::function<bool()> ready,
             std::chrono::milliseconds command_wait, LoginDirectory* logins = nullptr,
             SessionResolver* sessions = nullptr);

  ApiResponse Handle(const ApiRequest& request);

  // Where finished audit exports are read from (not owned; null: the download route answers 404).
  void SetAuditExportArea(AuditExportArea* area) { export_area_ = area; }

  // Whether a request is one of the operational endpoints that never block (/healthz, /readyz,
  // /metrics) and may be answered on the I/O thread, ahead of a busy worker pool.
  static bool RunsInline(std::string_view method, std::string_view target);

  // {"error":{"code":...,"message":...}} with the given status.
  static ApiResponse Error(unsigned status, std::string_view code, std::string_view message);

  // Counts a finished request in clawvisor_http_requests_total{route,code} and
  // clawvisor_http_request_duration_seconds{route}.
  static void RecordMetrics(MetricsRegistry& metrics, std::string_view route, unsigned status,
                            double seconds);

 private:
  struct PathIds;
  ApiResponse Dispatch(const RouteMatch& match, std::string_view query, const ApiRequest& request);
  ApiResponse HandleCommand(RouteId route, const PathIds& ids, const ApiRequest& request,
                            const v1::Actor& actor);
  ApiResponse HandleQuery(RouteId route, const PathIds& ids, std::string_view query);
  ApiResponse HandleAudit(const PathIds& ids, std::string_view query);
  ApiResponse HandleDataExport(const PathIds& ids);
  ApiResponse LoginAnswer(const v1::CommandOutcome& outcome, const std::string& session_token,
                          const std::string& session_id);
  // The caller's principals for the permission table (engine/access.h) on `account_id`; a user's
  // role comes from the members projection.
  Result<Principals> CallerOf(const v1::Actor& actor, const std::string& account_id);
  ApiResponse HandleAuditExport(RouteId route, const PathIds& ids, std::string_view query);

  CommandService& commands_;
  ReadModel& reads_;
  MetricsRegistry& metrics_;
  Authenticator& authenticator_;
  Clock& clock_;
  std::function<bool()> ready_;
  std::chrono::milliseconds command_wait_;
  OsRandom random_;  // draws gateway tokens
  LoginDirectory* logins_;
  SessionResolver* sessions_;
  std::unique_ptr<LoginThrottle> login_throttle_;  // per source address; with logins only
  AuditExportArea* export_area_ = nullptr;
};

}  // namespace clawvisor
