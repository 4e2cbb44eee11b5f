#pragma once

// The audit export: one account's events between two times, streamed from the EventLog port to
// CSV (audit_csv.h) in log order, in constant memory.
//
// It never scans from the start of the log: the account's partition (engine/partitioner.h) is
// entered at EventLog::OffsetForTime(since) — the embedded log's time index, Kafka's
// offsetsForTimes — and left at the end offset, or earlier once the record timestamps are past
// `until` by more than a clock-step allowance (the processor stamps records from a wall clock
// that may step back a little; rows are still filtered by their exact time).
//
// Bytes go to a ByteSink the caller provides (a file, stdout, a hashing file in the export
// area): this layer does no I/O of its own.
//
// Thread-safety: ExportAuditCsv may run concurrently with appends and with other exports.

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

#include "engine/sealer.h"
#include "events/event_log.h"
#include "events/result.h"
#include "projections/audit_csv.h"

namespace clawvisor {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(std::string_view bytes) = 0;
};

struct AuditExportRange {
  std::string account_id;
  int64_t since_us = 0;                                    // inclusive
  int64_t until_us = std::numeric_limits<int64_t>::max();  // exclusive
  // Read no record at or past this offset of the account's partition; -1: the partition's end
  // offset when the export starts. The job passes its request's offset, so a rerun after a
  // crash reads exactly the records the first run read.
  int64_t end_offset = -1;
};

struct AuditExportProgress {
  int64_t first_offset = 0;  // where the export entered the partition
  int64_t next_offset = 0;   // the next record it will read
  int64_t end_offset = 0;    // where it stops at the latest
  uint64_t rows = 0;
  uint64_t bytes = 0;
};

struct AuditExportOptions {
  AuditReader reader = AuditReader::kOperator;
  size_t batch_records = 2048;   // records per EventLog::Read
  size_t flush_bytes = 1 << 20;  // CSV buffered before each ByteSink::Write
  int64_t clock_step_allowance_ms = 5 * 60 * 1000;
  // Called after each batch (for a progress display).
  std::function<void(const AuditExportProgress&)> progress;
};

struct AuditExportStats {
  uint64_t rows = 0;          // data rows (the header not counted)
  uint64_t bytes = 0;         // bytes written, header included
  uint64_t records_read = 0;  // records read from the log (any account of the partition)
  uint64_t unreadable = 0;    // sealed values that failed to open for a reason other than erasure
  int32_t partition = 0;
  int64_t first_offset = 0;
  int64_t end_offset = 0;
};

// Writes the header and every event of `range.account_id` with since <= occurred_at < until.
// Fails (kCorruption) on a record that does not decode rather than leave it out of the trail.
Result<AuditExportStats> ExportAuditCsv(EventLog& log, Sealer* sealer,
                                        const AuditExportRange& range, ByteSink& sink,
                                        const AuditExportOptions& options = {});

}  // namespace clawvisor
