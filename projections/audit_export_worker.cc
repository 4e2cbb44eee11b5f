#include "projections/audit_export_worker.h"

#include <set>

#include "engine/logging.h"
#include "engine/run_loop.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "audit_export";

}  // namespace

std::string AuditExportCompletionCommandId(std::string_view export_id) {
  return "audit-export-completed:" + std::string(export_id);
}

AuditExportWorker::AuditExportWorker(EventLog& log, Sealer& sealer, Projector& projections,
                                     CommandService& commands, AuditExportArea& area,
                                     MetricsRegistry& metrics, AuditExportWorkerOptions options)
    : log_(log),
      sealer_(sealer),
      projections_(projections),
      commands_(commands),
      area_(area),
      options_(options),
      completed_(metrics.GetCounter("clawvisor_audit_exports_total",
                                    "Audit export jobs finished by the export worker, by outcome.",
                                    {{"outcome", "completed"}})),
      failed_(metrics.GetCounter("clawvisor_audit_exports_total", "", {{"outcome", "failed"}})),
      rows_(metrics.GetCounter("clawvisor_audit_export_rows_total",
                               "Rows written by the export worker.")) {}

Status AuditExportWorker::Export(const v1::AuditExportView& pending) {
  auto file = area_.Create(pending.account_id(), pending.export_id());
  if (!file) return std::unexpected(file.error());
  AuditExportRange range;
  range.account_id = pending.account_id();
  range.since_us = pending.since_us();
  range.until_us = pending.until_us();
  range.end_offset = pending.request_offset();  // the request itself and all after it: excluded
  AuditExportOptions options;
  // The file rests in the data directory and outlives an erasure of the account: it holds
  // emails masked, never in the clear (design D4). The owner's full view comes from the CLI.
  options.reader = AuditReader::kOperator;
  auto stats = ExportAuditCsv(log_, &sealer_, range, **file, options);
  if (!stats) return std::unexpected(stats.error());
  auto committed = (*file)->Commit();
  if (!committed) return std::unexpected(committed.error());

  v1::Command command;
  command.set_command_id(AuditExportCompletionCommandId(pending.export_id()));
  command.set_account_id(pending.account_id());
  command.mutable_actor()->set_kind(v1::Actor::KIND_SYSTEM);
  command.mutable_actor()->set_id("audit-export-worker");
  auto* p = command.mutable_complete_audit_export();
  p->set_export_id(pending.export_id());
  p->set_rows(stats->rows);
  p->set_sha256(committed->sha256);
  p->set_bytes(committed->bytes);
  auto outcome = commands_.Submit(command, options_.command_wait);
  if (!outcome) return std::unexpected(outcome.error());
  if (!outcome->accepted()) {
    refused_.insert(pending.export_id());
    // Nothing will ever serve a refused export's file (the account was erased meanwhile, say):
    // it must not rest in the data directory.
    if (auto removed = area_.Remove(pending.account_id(), pending.export_id()); !removed) {
      Log(LogLevel::kWarn, kComponent, "removing a refused export's file failed",
          {{"export_id", pending.export_id()}, {"error", removed.error().ToString()}});
    }
    Log(LogLevel::kWarn, kComponent, "export completion refused",
        {{"account_id", pending.account_id()},
         {"export_id", pending.export_id()},
         {"reason", v1::RejectionReason_Name(outcome->rejection_reason())}});
    return {};
  }
  rows_.Inc(stats->rows);
  Log(LogLevel::kInfo, kComponent, "export completed",
      {{"account_id", pending.account_id()},
       {"export_id", pending.export_id()},
       {"rows", static_cast<int64_t>(stats->rows)},
       {"bytes", static_cast<int64_t>(committed->bytes)},
       {"records_read", static_cast<int64_t>(stats->records_read)}});
  return {};
}

Result<size_t> AuditExportWorker::RunOnce() {
  auto pending = projections_.ListPendingAuditExports(options_.max_per_round + refused_.size());
  if (!pending) return std::unexpected(pending.error());
  size_t done = 0;
  Status first_error;
  // One export per account per round: an account with several pending cannot hold the others
  // back (the pending list is in account order).
  std::set<std::string> served;
  for (const auto& x : *pending) {
    if (refused_.contains(x.export_id())) continue;
    if (!served.insert(x.account_id()).second) continue;
    if (auto ok = Export(x); !ok) {
      failed_.Inc();
      Log(LogLevel::kWarn, kComponent, "export failed; will retry",
          {{"account_id", x.account_id()},
           {"export_id", x.export_id()},
           {"error", ok.error().ToString()}});
      if (first_error) first_error = ok;
      continue;
    }
    completed_.Inc();
    ++done;
  }
  if (!first_error) return std::unexpected(first_error.error());
  return done;
}

void AuditExportWorker::Run(std::stop_token stop) {
  RunUntilStopped(
      stop, kComponent,
      [this]() -> Result<bool> {
        auto done = RunOnce();
        if (!done) return std::unexpected(done.error());
        return *done == 0;
      },
      options_.idle_wait);
}

}  // namespace clawvisor
