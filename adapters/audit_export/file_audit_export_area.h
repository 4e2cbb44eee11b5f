#pragma once

// FileAuditExportArea: the export area of a data directory (DATA_DIR/exports), one directory per
// account (0700) and one file per export (0600): <root>/<account>/<export id>.csv.
//
// A file is written as <export id>.csv.partial (AtomicFile, adapters/posix), hashed (SHA-256,
// openssl::Sha256Hasher) as it is written, fsynced, then renamed into place and the directory
// fsynced, so a crash leaves either the whole file or none under its name (a stale .partial is
// overwritten by the next attempt).
//
// Thread-safety: Create and PathOf may be called concurrently; one file is one thread's.

#include <filesystem>

#include "projections/audit_export_worker.h"

namespace clawvisor {

class FileAuditExportArea final : public AuditExportArea {
 public:
  explicit FileAuditExportArea(std::filesystem::path root) : root_(std::move(root)) {}

  Result<std::unique_ptr<AuditExportFile>> Create(std::string_view account_id,
                                                  std::string_view export_id) override;
  Result<std::string> PathOf(std::string_view account_id, std::string_view export_id) override;
  Status Remove(std::string_view account_id, std::string_view export_id) override;

 private:
  std::filesystem::path root_;
};

}  // namespace clawvisor
