#pragma once

// AuditIndex: every event of an account, rejections included, by the time it occurred (the
// audit trail the API pages through).
//
//   t|<account>|<occurred_at u64>|<partition u32>|<offset u64>   AuditEntry
//
// A page's cursor is the hex of the key after the account prefix (20 bytes), so paging resumes
// strictly after the last entry returned whatever was appended since.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <cstdint>
#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class AuditIndex {
 public:
  static constexpr char kTable = 't';

  explicit AuditIndex(KvStore& store) : store_(store) {}

  Status Apply(BatchView& view, const v1::Envelope& event, int32_t partition, int64_t offset);

  // See ReadModel::ListAudit.
  Result<v1::AuditPage> List(std::string_view account_id, int64_t since_us, int64_t until_us,
                             std::string_view cursor, uint32_t limit);

 private:
  KvStore& store_;
};

}  // namespace clawvisor::projection
