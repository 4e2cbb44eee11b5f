#pragma once

// QueryHandler: the GET routes of /v1, each a Query of the read side (RouteSpec::query): an
// account, its members and instances, one instance, a command's outcome, the audit trail (paged,
// with since/until/cursor/limit), the data export (everything held about the account), and the
// audit-trail CSV exports. The caller's permission is checked before (ApiHandler), so a query
// here is answered or fails on the read side (FromPortError).
//
// Thread-safety: Handle may be called concurrently; the handler's only state is set before the
// server starts (SetAuditExportArea), and its ports are safe for concurrent use by contract.

#include <string_view>

#include "adapters/http/api_responses.h"
#include "adapters/http/router.h"
#include "engine/clock.h"
#include "projections/audit_export_worker.h"
#include "projections/read_model.h"

namespace clawvisor {

class QueryHandler {
 public:
  QueryHandler(ReadModel& reads, Clock& clock) : reads_(reads), clock_(clock) {}

  // Where finished audit exports are read from (not owned; null: the download route answers 404).
  void SetAuditExportArea(AuditExportArea* area) { export_area_ = area; }

  // REQUIRES: `route.query` is set. `query` is the raw query string.
  ApiResponse Handle(const RouteSpec& route, const PathIds& ids, std::string_view query);

 private:
  ApiResponse Audit(const PathIds& ids, std::string_view query);
  ApiResponse DataExport(const PathIds& ids);
  ApiResponse AuditExport(Query q, const PathIds& ids);

  ReadModel& reads_;
  Clock& clock_;
  AuditExportArea* export_area_ = nullptr;
};

}  // namespace clawvisor
