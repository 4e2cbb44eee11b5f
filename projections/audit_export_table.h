#pragma once

// AuditExportTable: the audit export jobs of each account, and the queue of those still waiting
// for their file (the export worker's, projections/audit_export_worker.h).
//
//   j|<account>|<export id>   AuditExportView (every job, pending or completed)
//   q|<account>|<export id>   AuditExportView, while pending (deleted when it completes)
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class AuditExportTable {
 public:
  static constexpr char kJobTable = 'j';
  static constexpr char kPendingTable = 'q';

  explicit AuditExportTable(KvStore& store) : store_(store) {}

  Status Apply(BatchView& view, const v1::Envelope& event, int32_t partition, int64_t offset);

  Result<v1::AuditExportList> List(std::string_view account_id);
  Result<std::optional<v1::AuditExportView>> Get(std::string_view account_id,
                                                 std::string_view export_id);
  // Pending jobs of every account, oldest account key first, at most `limit`.
  Result<std::vector<v1::AuditExportView>> ListPending(size_t limit);

 private:
  KvStore& store_;
};

}  // namespace clawvisor::projection
