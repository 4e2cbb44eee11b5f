#pragma once

// ApiHandler: the HTTP API's semantics, independent of sockets. It turns one parsed request
// (method, target, Content-Type, body, caller) into one response. HttpApi (http_api.h) owns the
// transport and calls Handle once per request.
//
// The route table (router.h) says how each route is served; this class matches the request
// against it, answers the operational routes, authenticates the caller, decodes the path ids and
// hands the request to the handler of its kind:
//   route (404/405) -> [operational: answered] -> authenticate (401/403) -> path ids
//   (400 invalid_id) -> a command: no query (400) -> CommandHandler (command_handler.h; sign-in
//   through SignIn, sign_in.h) | a query: permission table (403) -> QueryHandler
//   (query_handler.h).
// Every status code and error body is written by api_responses.h.
//
// Thread-safety: Handle may be called concurrently from any number of threads; the handler holds
// no mutable state of its own, and its ports are safe for concurrent use by contract.

#include <chrono>
#include <functional>
#include <string_view>

#include "adapters/http/api_responses.h"
#include "adapters/http/authenticator.h"
#include "adapters/http/command_handler.h"
#include "adapters/http/query_handler.h"
#include "adapters/http/router.h"
#include "adapters/http/sign_in.h"
#include "adapters/posix/os_random.h"
#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/command/password_service.h"
#include "engine/metrics.h"
#include "projections/audit_export_worker.h"
#include "projections/read_model.h"

namespace clawvisor {

class ApiHandler {
 public:
  // `ready` must be cheap and non-blocking: /readyz calls it on the I/O thread.
  ApiHandler(CommandService& commands, ReadModel& reads, MetricsRegistry& metrics,
             Authenticator& authenticator, Clock& clock, std::function<bool()> ready,
             std::chrono::milliseconds command_wait, LoginDirectory* logins = nullptr,
             SessionResolver* sessions = nullptr);

  ApiResponse Handle(const ApiRequest& request);

  // Where finished audit exports are read from (not owned; null: the download route answers 404).
  void SetAuditExportArea(AuditExportArea* area) { queries_.SetAuditExportArea(area); }

  // Whether a request is one of the operational endpoints that never block (/healthz, /readyz,
  // /metrics) and may be answered on the I/O thread, ahead of a busy worker pool.
  static bool RunsInline(std::string_view method, std::string_view target);

  // {"error":{"code":...,"message":...}} with the given status (ErrorResponse).
  static ApiResponse Error(unsigned status, std::string_view code, std::string_view message) {
    return ErrorResponse(status, code, message);
  }

  // Counts a finished request in clawvisor_http_requests_total{route,code} and
  // clawvisor_http_request_duration_seconds{route}.
  static void RecordMetrics(MetricsRegistry& metrics, std::string_view route, unsigned status,
                            double seconds);

 private:
  ApiResponse Dispatch(const RouteMatch& match, std::string_view query, const ApiRequest& request);
  ApiResponse Operational(RouteId route);

  ReadModel& reads_;
  MetricsRegistry& metrics_;
  Authenticator& authenticator_;
  std::function<bool()> ready_;
  OsRandom random_;  // draws the values the service generates (generated_values.h)
  SignIn sign_in_;
  CommandHandler commands_;
  QueryHandler queries_;
};

}  // namespace clawvisor
