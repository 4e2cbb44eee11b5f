#include "projections/audit_index.h"

#include <algorithm>

#include "events/codec.h"

namespace clawvisor::projection {
namespace {

std::string AuditKey(std::string_view account, int64_t occurred_at_us, int32_t partition,
                     int64_t offset) {
  std::string k = AccountPrefix(AuditIndex::kTable, account);
  PutU64(k, static_cast<uint64_t>(occurred_at_us));
  PutU32(k, static_cast<uint32_t>(partition));
  PutU64(k, static_cast<uint64_t>(offset));
  return k;
}

// The hex of a key's tail as a cursor; only lower-case digits are ones this API returned.
std::optional<std::string> CursorTail(std::string_view cursor) {
  if (std::any_of(cursor.begin(), cursor.end(), [](char c) { return c >= 'A' && c <= 'F'; })) {
    return std::nullopt;
  }
  return HexDecode(cursor);
}

}  // namespace

Status AuditIndex::Apply(BatchView& view, const v1::Envelope& event, int32_t partition,
                         int64_t offset) {
  v1::AuditEntry entry;
  entry.set_event_id(event.event_id());
  entry.set_account_id(event.account_id());
  entry.set_occurred_at_us(event.occurred_at_us());
  entry.set_event_type(std::string(EventTypeName(event)));
  entry.set_aggregate_type(v1::AggregateType_Name(event.aggregate_type()));
  entry.set_aggregate_id(event.aggregate_id());
  *entry.mutable_actor() = event.actor();
  entry.set_command_id(event.command_id());
  entry.set_partition(partition);
  entry.set_offset(offset);
  view.Put(AuditKey(event.account_id(), event.occurred_at_us(), partition, offset), entry);
  return {};
}

Result<v1::AuditPage> AuditIndex::List(std::string_view account_id, int64_t since_us,
                                       int64_t until_us, std::string_view cursor, uint32_t limit) {
  const std::string prefix = AccountPrefix(kTable, account_id);
  std::string begin = prefix;
  PutU64(begin, static_cast<uint64_t>(std::max<int64_t>(since_us, 0)));
  std::string end = prefix;
  PutU64(end, static_cast<uint64_t>(std::max<int64_t>(until_us, 0)));
  if (!cursor.empty()) {
    auto tail = CursorTail(cursor);
    if (!tail || tail->size() != 20) {
      return MakeError(Errc::kInvalidArgument, "cursor is not one this API returned");
    }
    std::string after = prefix + *tail;
    after += '\0';  // strictly after the last key returned
    if (after > begin) begin = std::move(after);
  }
  v1::AuditPage page;
  std::string last_key;
  bool corrupt = false;
  Status scanned = store_.Scan(begin, end, [&](std::string_view key, std::string_view value) {
    if (static_cast<uint32_t>(page.entries_size()) == limit) {
      page.set_next_cursor(HexEncode(std::string_view(last_key).substr(prefix.size())));
      return false;
    }
    corrupt = !page.add_entries()->ParseFromArray(value.data(), static_cast<int>(value.size()));
    last_key = key;
    return !corrupt;
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (corrupt) return MakeError(Errc::kCorruption, "an audit row is not readable");
  return page;
}

}  // namespace clawvisor::projection
