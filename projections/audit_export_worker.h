#pragma once

// AuditExportWorker: turns AuditExportRequested events into files (issue #7's job).
//
// Level-triggered like a reconciler: each round lists the exports the projections still show
// as pending, writes each one's file into the export area, and reports it by submitting a
// CompleteAuditExport command through the CommandService, whose decision appends
// AuditExportCompleted (so the export is itself in the audit trail). The command id is derived
// from the export id, so a worker that dies after the file or after the command, and runs the
// export again, gets the recorded outcome back: one completion per export, ever.
//
// A rerun writes the same bytes: the range was closed at the request (Decide clamps `until` to
// the request's time) and the read stops at the request's own offset.
//
// Thread-safety: one thread drives RunOnce / Run.

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>

#include "engine/command/command_service.h"
#include "engine/metrics.h"
#include "engine/sealer.h"
#include "events/event_log.h"
#include "projections/audit_export.h"
#include "projections/projector.h"

namespace clawvisor {

// A file being written into the export area. Nothing is visible under the export's name until
// Commit() succeeds; a file dropped without Commit() leaves nothing behind.
class AuditExportFile : public ByteSink {
 public:
  struct Committed {
    uint64_t bytes = 0;
    std::string sha256;  // 32 raw bytes, of exactly the bytes written
  };
  // Makes the file durable and visible (owner-only permissions).
  virtual Result<Committed> Commit() = 0;
};

// The export area (DATA_DIR/exports in `serve`): where finished exports live, one file per
// account and export id.
class AuditExportArea {
 public:
  virtual ~AuditExportArea() = default;
  virtual Result<std::unique_ptr<AuditExportFile>> Create(std::string_view account_id,
                                                          std::string_view export_id) = 0;
  // The path of a committed export's file (kNotFound if there is none), for the API to serve.
  virtual Result<std::string> PathOf(std::string_view account_id, std::string_view export_id) = 0;
  // Deletes an export's file (none: fine).
  virtual Status Remove(std::string_view account_id, std::string_view export_id) = 0;
};

// The command id of an export's completion: the same for every attempt.
std::string AuditExportCompletionCommandId(std::string_view export_id);

struct AuditExportWorkerOptions {
  std::chrono::milliseconds idle_wait{500};
  std::chrono::milliseconds command_wait{10'000};
  size_t max_per_round = 16;
};

class AuditExportWorker {
 public:
  AuditExportWorker(EventLog& log, Sealer& sealer, Projector& projections, CommandService& commands,
                    AuditExportArea& area, MetricsRegistry& metrics,
                    AuditExportWorkerOptions options = {});

  // Writes and reports every pending export (at most max_per_round). Returns how many it
  // completed; an export that fails is logged and tried again next round.
  Result<size_t> RunOnce();
  void Run(std::stop_token stop);

 private:
  Status Export(const v1::AuditExportView& pending);

  EventLog& log_;
  Sealer& sealer_;
  Projector& projections_;
  CommandService& commands_;
  AuditExportArea& area_;
  AuditExportWorkerOptions options_;
  // Exports whose completion the engine refused (e.g. the account was erased meanwhile): not
  // retried by this process.
  std::set<std::string> refused_;
  Counter& completed_;
  Counter& failed_;
  Counter& rows_;
};

}  // namespace clawvisor
