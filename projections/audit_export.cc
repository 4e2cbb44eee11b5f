#include "projections/audit_export.h"

#include <algorithm>

#include "engine/partitioner.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

int64_t FloorMs(int64_t us) { return us >= 0 ? us / 1000 : -((-us + 999) / 1000); }

}  // namespace

Result<AuditExportStats> ExportAuditCsv(EventLog& log, Sealer* sealer,
                                        const AuditExportRange& range, ByteSink& sink,
                                        const AuditExportOptions& options) {
  if (range.account_id.empty()) return MakeError(Errc::kInvalidArgument, "no account given");
  if (range.since_us > range.until_us) {
    return MakeError(Errc::kInvalidArgument, "the export's start is after its end");
  }
  auto partitions = log.PartitionCount(kEventsTopic);
  if (!partitions) return std::unexpected(partitions.error());
  AuditExportStats stats;
  stats.partition = PartitionFor(range.account_id, *partitions);
  const TopicPartition tp{std::string(kEventsTopic), stats.partition};

  int64_t end = range.end_offset;
  if (end < 0) {
    auto log_end = log.EndOffset(tp);
    if (!log_end) return std::unexpected(log_end.error());
    end = *log_end;
  }
  // Records before OffsetForTime(t) all have timestamps < t (the time index is a running
  // maximum), and a record's timestamp is its event's time in ms: nothing before it is in range.
  auto first = log.OffsetForTime(tp, std::max<int64_t>(0, FloorMs(range.since_us)));
  if (!first) return std::unexpected(first.error());
  if (range.until_us < std::numeric_limits<int64_t>::max() - 1000) {
    const int64_t past_until_ms = FloorMs(range.until_us) + 1 + options.clock_step_allowance_ms;
    auto stop = log.OffsetForTime(tp, past_until_ms);
    if (!stop) return std::unexpected(stop.error());
    end = std::min(end, *stop);
  }
  stats.first_offset = std::min(*first, end);
  stats.end_offset = end;

  const AuditRowMapper mapper(sealer, options.reader);
  std::string buffer;
  buffer.reserve(options.flush_bytes + 64 * 1024);
  CsvWriter csv(buffer);
  csv.AddRecord(kAuditColumns);
  const auto flush = [&]() -> Status {
    if (buffer.empty()) return {};
    if (auto ok = sink.Write(buffer); !ok) return ok;
    stats.bytes += buffer.size();
    buffer.clear();
    return {};
  };

  AuditRow row;
  v1::Envelope event;
  AuditExportProgress progress{stats.first_offset, stats.first_offset, end, 0, 0};
  for (int64_t offset = stats.first_offset; offset < end;) {
    const size_t want = static_cast<size_t>(
        std::min<int64_t>(end - offset, static_cast<int64_t>(options.batch_records)));
    auto records = log.Read(tp, offset, want);
    if (!records) return std::unexpected(records.error());
    if (records->empty()) break;  // the partition ends earlier than it said (never expected)
    for (const Record& record : *records) {
      if (record.offset >= end) break;
      offset = record.offset + 1;
      ++stats.records_read;
      // The record key is the account id: other accounts' events are skipped undecoded.
      if (record.key != range.account_id) continue;
      if (auto decoded = DecodeEnvelopeInto(record.value, event); !decoded) {
        return MakeError(Errc::kCorruption, "event at partition " + std::to_string(tp.partition) +
                                                " offset " + std::to_string(record.offset) +
                                                " does not decode: " + decoded.error().message);
      }
      if (event.account_id() != range.account_id) continue;
      if (event.occurred_at_us() < range.since_us || event.occurred_at_us() >= range.until_us) {
        continue;
      }
      mapper.Map(event, row);
      csv.AddRecord(row);
      ++stats.rows;
      if (buffer.size() >= options.flush_bytes) {
        if (auto ok = flush(); !ok) return std::unexpected(ok.error());
      }
    }
    if (options.progress) {
      progress.next_offset = offset;
      progress.rows = stats.rows;
      progress.bytes = stats.bytes + buffer.size();
      options.progress(progress);
    }
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  stats.unreadable = mapper.unreadable();
  return stats;
}

}  // namespace clawvisor
