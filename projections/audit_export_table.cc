#include "projections/audit_export_table.h"

namespace clawvisor::projection {

Status AuditExportTable::Apply(BatchView& view, const v1::Envelope& event, int32_t partition,
                               int64_t offset) {
  const std::string& account = event.account_id();
  if (event.has_audit_export_requested()) {
    const auto& p = event.audit_export_requested();
    v1::AuditExportView x;
    x.set_account_id(account);
    x.set_export_id(p.export_id());
    x.set_status("pending");
    x.set_since_us(p.since_us());
    x.set_until_us(p.until_us());
    x.set_requested_at_us(event.occurred_at_us());
    *x.mutable_requested_by() = event.actor();
    x.set_request_partition(partition);
    x.set_request_offset(offset);
    view.Put(RowKey(kJobTable, account, p.export_id()), x);
    view.Put(RowKey(kPendingTable, account, p.export_id()), x);
  } else if (event.has_audit_export_completed()) {
    const auto& p = event.audit_export_completed();
    const std::string key = RowKey(kJobTable, account, p.export_id());
    auto existing = view.Get<v1::AuditExportView>(key);
    if (!existing) return std::unexpected(existing.error());
    if (existing->has_value()) {
      v1::AuditExportView x = std::move(**existing);
      x.set_status("completed");
      x.set_completed_at_us(event.occurred_at_us());
      x.set_rows(p.rows());
      x.set_bytes(p.bytes());
      x.set_sha256(HexEncode(p.sha256()));
      view.Put(key, x);
    }
    view.Delete(RowKey(kPendingTable, account, p.export_id()));
  }
  return {};
}

Result<v1::AuditExportList> AuditExportTable::List(std::string_view account_id) {
  v1::AuditExportList list;
  auto ok = ScanRows(store_, AccountPrefix(kJobTable, account_id), "audit export",
                     [&] { return list.add_exports(); });
  if (!ok) return std::unexpected(ok.error());
  return list;
}

Result<std::optional<v1::AuditExportView>> AuditExportTable::Get(std::string_view account_id,
                                                                 std::string_view export_id) {
  return ReadRow<v1::AuditExportView>(store_, RowKey(kJobTable, account_id, export_id));
}

Result<std::vector<v1::AuditExportView>> AuditExportTable::ListPending(size_t limit) {
  std::vector<v1::AuditExportView> pending;
  bool corrupt = false;
  const std::string begin = TableKey(kPendingTable, "");  // "q|"
  Status scanned =
      store_.Scan(begin, PrefixEnd(begin), [&](std::string_view, std::string_view value) {
        if (pending.size() >= limit) return false;
        corrupt =
            !pending.emplace_back().ParseFromArray(value.data(), static_cast<int>(value.size()));
        return !corrupt;
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (corrupt) return MakeError(Errc::kCorruption, "a pending audit export row is not readable");
  return pending;
}

}  // namespace clawvisor::projection
