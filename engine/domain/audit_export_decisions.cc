#include "engine/domain/audit_export_decisions.h"

#include <algorithm>
#include <string>

#include "engine/domain/decision_helpers.h"
#include "engine/domain/limits.h"

namespace clawvisor::decide {

// Owner only, and completion by the export worker (system actor) only: the permission table
// (engine/access.cc) checked that before these run.
Decision RequestAuditExport(const AccountState& state, const v1::Command& command,
                            TimestampUs now_us) {
  const auto& cmd = command.request_audit_export();
  // Each export scans the account's partition and writes a file into the data directory: a
  // bounded number in flight per account, so that no account can fill the disk or the queue.
  const auto pending = std::count_if(state.audit_exports.begin(), state.audit_exports.end(),
                                     [](const auto& e) { return !e.second; });
  if (pending >= kMaxPendingAuditExports) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED,
                  "an account may have at most " + std::to_string(kMaxPendingAuditExports) +
                      " audit exports pending; wait until one completes");
  }
  if (cmd.since_us() < 0 || cmd.until_us() < 0) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "since_us and until_us must not be negative");
  }
  // The range ends at the request at the latest (events decided in the same instant before it
  // included), so it is closed when the worker writes it and a rerun writes the same rows.
  const int64_t until =
      cmd.until_us() == 0 ? now_us + 1 : std::min<int64_t>(cmd.until_us(), now_us + 1);
  if (cmd.since_us() >= until) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "since_us must be before until_us and the present");
  }
  auto event = AccountEvent(state);
  auto* p = event.mutable_audit_export_requested();
  p->set_since_us(cmd.since_us());
  p->set_until_us(until);
  return Events{std::move(event)};
}

Decision CompleteAuditExport(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.complete_audit_export();
  auto it = state.audit_exports.find(cmd.export_id());
  if (it == state.audit_exports.end()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "no such audit export");
  }
  if (it->second)
    return Reject(v1::REJECTION_INVALID_STATE, "the audit export is already complete");
  if (cmd.sha256().size() != 32) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "sha256 must be 32 bytes");
  }
  auto event = AccountEvent(state);
  auto* p = event.mutable_audit_export_completed();
  p->set_export_id(cmd.export_id());
  p->set_rows(cmd.rows());
  p->set_sha256(cmd.sha256());
  p->set_bytes(cmd.bytes());
  return Events{std::move(event)};
}

bool EvolveAuditExport(AccountState& state, const v1::Envelope& event) {
  switch (event.payload_case()) {
    case v1::Envelope::kAuditExportRequested:
      state.audit_exports.emplace(event.audit_export_requested().export_id(), false);
      break;
    case v1::Envelope::kAuditExportCompleted:
      state.audit_exports[event.audit_export_completed().export_id()] = true;
      break;
    default:
      return false;
  }
  return true;
}

}  // namespace clawvisor::decide
