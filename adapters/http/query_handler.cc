#include "adapters/http/query_handler.h"

#include <charconv>
#include <cstdint>
#include <limits>

#include "adapters/http/request_parsing.h"

namespace clawvisor {
namespace {

constexpr uint32_t kDefaultAuditLimit = 100;
constexpr uint32_t kMaxAuditLimit = 1000;
constexpr size_t kMaxCursorBytes = 512;

bool IsPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

ApiResponse NoQueryAllowed() {
  return ErrorResponse(400, "invalid_query", "this route takes no query parameters");
}

}  // namespace

ApiResponse QueryHandler::Handle(const RouteSpec& route, const PathIds& ids,
                                 std::string_view query) {
  const Query q = *route.query;
  if (q == Query::kListAudit) return Audit(ids, query);
  if (!query.empty()) return NoQueryAllowed();
  const std::string_view label = "query";
  switch (q) {
    case Query::kGetAccount: {
      auto account = reads_.GetAccount(ids.account_id);
      if (!account) return FromPortError(account.error(), "account_not_found", label);
      if (!*account) return ErrorResponse(404, "account_not_found", "no such account");
      return JsonOk(**account);
    }
    case Query::kListMembers: {
      auto members = reads_.ListMembers(ids.account_id);
      if (!members) return FromPortError(members.error(), "account_not_found", label);
      return JsonOk(*members);
    }
    case Query::kListInstances: {
      auto instances = reads_.ListInstances(ids.account_id);
      if (!instances) return FromPortError(instances.error(), "account_not_found", label);
      return JsonOk(*instances);
    }
    case Query::kGetInstance: {
      auto instance = reads_.GetInstance(ids.account_id, ids.instance_id);
      if (!instance) return FromPortError(instance.error(), "instance_not_found", label);
      if (!*instance) return ErrorResponse(404, "instance_not_found", "no such instance");
      return JsonOk(**instance);
    }
    case Query::kGetCommand: {
      auto outcome = reads_.GetCommandOutcome(ids.account_id, ids.command_id);
      if (!outcome) return FromPortError(outcome.error(), "command_not_found", label);
      if (!*outcome) {
        return ErrorResponse(404, "command_not_found", "no outcome recorded for this command");
      }
      return JsonOk(ForCaller(**outcome));
    }
    case Query::kDataExport:
      return DataExport(ids);
    case Query::kListAuditExports:
    case Query::kGetAuditExport:
    case Query::kDownloadAuditExport:
      return AuditExport(q, ids);
    case Query::kListAudit:
      break;  // answered above
  }
  return InternalError();
}

// Everything held about the account, secrets redacted (the views hold masks only).
ApiResponse QueryHandler::DataExport(const PathIds& ids) {
  constexpr std::string_view label = "data-export";
  v1::DataExport out;
  out.set_account_id(ids.account_id);
  out.set_generated_at_us(clock_.NowUs());
  auto account = reads_.GetAccount(ids.account_id);
  if (!account) return FromPortError(account.error(), "account_not_found", label);
  if (!*account) return ErrorResponse(404, "account_not_found", "no such account");
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

ApiResponse QueryHandler::Audit(const PathIds& ids, std::string_view query) {
  auto params = ParseQuery(query);
  if (!params) {
    return ErrorResponse(400, "invalid_query", "the query string has a malformed %-escape");
  }
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
      return ErrorResponse(
          400, "invalid_query",
          "unknown query parameter; this route takes since, until, cursor and limit");
    }
    if (seen[index]) {
      return ErrorResponse(400, "invalid_query", "'" + name + "' is given more than once");
    }
    seen[index] = true;
    if (index <= 1) {
      auto t = ParseTimestampUs(value);
      if (!t) {
        return ErrorResponse(
            400, "invalid_query",
            "'" + name + "' must be an RFC 3339 date-time or an integer count of microseconds");
      }
      (index == 0 ? since_us : until_us) = *t;
    } else if (index == 2) {
      if (value.size() > kMaxCursorBytes || !IsPrintableAscii(value)) {
        return ErrorResponse(400, "invalid_query", "'cursor' is not a cursor this API returned");
      }
      cursor = value;
    } else {
      uint32_t v = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size() || v < 1 ||
          v > kMaxAuditLimit) {
        return ErrorResponse(400, "invalid_query", "'limit' must be an integer from 1 to 1000");
      }
      limit = v;
    }
  }
  if (since_us > until_us) return ErrorResponse(400, "invalid_query", "'since' is after 'until'");
  auto page = reads_.ListAudit(ids.account_id, since_us, until_us, cursor, limit);
  if (!page) return FromPortError(page.error(), "account_not_found", "audit");
  return JsonOk(*page);
}

// Exports hold every member's actions and personal data: the permission table lets only the
// owner reach them.
ApiResponse QueryHandler::AuditExport(Query q, const PathIds& ids) {
  const std::string_view label = "audit_export";
  if (q == Query::kListAuditExports) {
    auto list = reads_.ListAuditExports(ids.account_id);
    if (!list) return FromPortError(list.error(), "account_not_found", label);
    return JsonOk(*list);
  }
  auto view = reads_.GetAuditExport(ids.account_id, ids.export_id);
  if (!view) return FromPortError(view.error(), "export_not_found", label);
  if (!*view) return ErrorResponse(404, "export_not_found", "no such audit export");
  if (q == Query::kGetAuditExport) return JsonOk(**view);
  if ((*view)->status() != "completed") {
    ApiResponse r =
        ErrorResponse(409, "export_pending", "the export is not written yet; retry later");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  if (export_area_ == nullptr) return ErrorResponse(404, "export_not_found", "no export area here");
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
