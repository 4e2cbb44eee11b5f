#pragma once

// The audit trail as CSV: a writer that makes any bytes a safe CSV cell, and the mapping of every
// event type to one row. Pure: no I/O; the exporter (audit_export.h) feeds it from the EventLog
// port and hands the bytes to a sink an adapter provides.
//
// Cells are written by CsvWriter (csv_writer.h): RFC 4180, UTF-8, formulas neutralized.
//
// Thread-safety: AuditRowMapper is safe for concurrent use if its Sealer is.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "engine/sealer.h"
#include "projections/csv_writer.h"

namespace clawvisor {

// The columns, in order (the header row). Documented in README.md; never reorder or rename:
// customers' spreadsheets and scripts key on them. New columns go at the end.
inline constexpr std::array<std::string_view, 13> kAuditColumns = {
    "time",       "event_id", "account",     "actor_kind", "actor_id", "actor_role", "source_ip",
    "user_agent", "action",   "target_type", "target_id",  "outcome",  "details"};
inline constexpr size_t kAuditColumnCount = kAuditColumns.size();

using AuditRow = std::array<std::string, kAuditColumnCount>;

// Who reads the export. kOwner shows personal data sealed in events (emails) in full (the CLI's
// --reveal-personal-data, for handing the owner their data); kOperator masks it, and is what the
// job's files hold (they rest on disk and would outlive an erasure). Secrets (passwords, tokens,
// credentials, keys) are never opened for anyone: at most their last 4.
enum class AuditReader { kOwner, kOperator };

// Appends FormatTimestampUs(us) (events/codec.h: RFC 3339, UTC, microseconds), fast.
void AppendTimestampUs(std::string& out, int64_t us);

// "alice@example.com" -> "a•••@e•••.com".
std::string MaskEmail(std::string_view email);

class AuditRowMapper {
 public:
  // `sealer` opens sealed personal data (null: shown as "[sealed]").
  AuditRowMapper(Sealer* sealer, AuditReader reader) : sealer_(sealer), reader_(reader) {}

  // Fills `row` (its strings are reused, so a loop allocates little) from one event.
  void Map(const v1::Envelope& event, AuditRow& row) const;

  // Sealed values that could not be opened for another reason than erasure (shown as
  // "[unreadable]"), since construction.
  uint64_t unreadable() const { return unreadable_; }

 private:
  std::string PersonalData(const v1::Envelope& event, std::string_view field,
                           const v1::Sealed& sealed) const;

  Sealer* sealer_;
  AuditReader reader_;
  mutable std::atomic<uint64_t> unreadable_{0};
};

// The stable, human-readable action of an event type ("instance.created"), "unknown" for a
// payload this build does not know.
std::string_view AuditAction(v1::Envelope::PayloadCase payload);

}  // namespace clawvisor
