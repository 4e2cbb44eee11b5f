#include "projections/projector.h"

#include <chrono>
#include <map>
#include <optional>

#include "engine/hex.h"
#include "engine/logging.h"
#include "engine/run_loop.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

using projection::AccountPrefix;
using projection::GetU64;
using projection::PutU32;
using projection::PutU64;

constexpr std::string_view kComponent = "projector";

std::string OffsetKey(int32_t partition) {
  std::string k = "o|";
  PutU32(k, static_cast<uint32_t>(partition));
  return k;
}

// Every per-account table: erasure deletes all of the account's rows in them. The account's
// marker (AccountTable) stays, and so do rows not keyed by account (sessions, reset tokens).
constexpr char kErasedTables[] = {
    projection::MemberTable::kTable,         projection::InstanceTable::kTable,
    projection::CommandTable::kTable,        projection::AuditIndex::kTable,
    projection::SecretRefTable::kTable,      projection::SignInTable::kCredentialTable,
    projection::AuditExportTable::kJobTable, projection::AuditExportTable::kPendingTable,
};

}  // namespace

Projector::Projector(KvStore& store, Sealer* sealer, MetricsRegistry& metrics, Watermarks* progress,
                     Clock& clock)
    : store_(store),
      progress_(progress),
      clock_(clock),
      audit_(store),
      commands_(store),
      audit_exports_(store),
      sign_in_(store, sealer),
      accounts_(store, sealer),
      members_(store),
      secret_refs_(store),
      instances_(store),
      applied_(metrics.GetCounter("clawvisor_projector_events_applied_total",
                                  "Events applied to the read models.")),
      batch_seconds_(metrics.GetHistogram("clawvisor_projector_batch_seconds",
                                          "Time to apply one batch of events.")) {}

Result<int64_t> Projector::NextOffset(int32_t partition) {
  auto raw = store_.Get(OffsetKey(partition));
  if (!raw) return std::unexpected(raw.error());
  if (!raw->has_value()) return 0;
  return static_cast<int64_t>(GetU64(**raw));
}

// The tables in the order they see an event. The audit index and the command outcomes come
// first: they record every event, the erasure included (its outcome survives it); an erasure
// stops there; the members follow the accounts, whose row they require.
Status Projector::ApplyEvent(projection::BatchView& view, const v1::Envelope& event,
                             int32_t partition, int64_t offset) {
  if (auto ok = audit_.Apply(view, event, partition, offset); !ok) return ok;
  auto outcome = commands_.Apply(view, event, partition, offset);
  if (!outcome) return std::unexpected(outcome.error());
  if (auto ok = audit_exports_.Apply(view, event, partition, offset); !ok) return ok;
  if (event.has_account_erased()) return ApplyErasure(view, event, *outcome);
  if (auto ok = sign_in_.Apply(view, event); !ok) return ok;
  if (auto ok = accounts_.Apply(view, event); !ok) return ok;
  if (auto ok = members_.Apply(view, event); !ok) return ok;
  if (auto ok = secret_refs_.Apply(view, event); !ok) return ok;
  return instances_.Apply(view, event);
}

Status Projector::ApplyErasure(projection::BatchView& view, const v1::Envelope& event,
                               const std::optional<v1::CommandOutcome>& outcome) {
  const std::string& account = event.account_id();
  if (auto ok = projection::SignInTable::EraseEmailLookup(view, account); !ok) return ok;
  for (char table : kErasedTables) view.DeletePrefix(AccountPrefix(table, account));
  projection::AccountTable::PutErasedMarker(view, account, event.occurred_at_us());
  // The erasure's own outcome stays (ids and event types only): a retry of it, and a process
  // that learns outcomes from this store (the API service on Kafka), still find its answer.
  if (outcome) projection::CommandTable::Restore(view, event, *outcome);
  return {};
}

Status Projector::Apply(std::span<const Record> records) {
  return ApplyRecords(records, /*read_from_next=*/false);
}

Status Projector::ApplyRecords(std::span<const Record> records, bool read_from_next) {
  const auto started = clock_.Monotonic();
  // Group by partition, keeping each partition's order; one atomic batch per partition.
  std::map<int32_t, std::vector<const Record*>> by_partition;
  for (const auto& r : records) by_partition[r.partition].push_back(&r);
  projection::BatchView view(store_);
  size_t applied = 0;
  for (const auto& [partition, list] : by_partition) {
    auto next = NextOffset(partition);
    if (!next) return std::unexpected(next.error());
    int64_t expected = *next;
    view.Reset();
    for (const Record* r : list) {
      if (r->offset < expected) continue;  // already applied: replay is idempotent
      if (r->offset > expected && !read_from_next) {
        return MakeError(Errc::kFailedPrecondition,
                         "events partition " + std::to_string(partition) + " skipped from " +
                             std::to_string(expected) + " to " + std::to_string(r->offset));
      }
      auto event = DecodeEnvelope(r->value);
      if (!event) {
        return MakeError(event.error().code, "events partition " + std::to_string(partition) +
                                                 " offset " + std::to_string(r->offset) + ": " +
                                                 event.error().message);
      }
      if (auto ok = ApplyEvent(view, *event, partition, r->offset); !ok) return ok;
      expected = r->offset + 1;
      ++applied;
    }
    if (expected == *next) continue;
    std::string offset_value;
    PutU64(offset_value, static_cast<uint64_t>(expected));
    view.PutRaw(OffsetKey(partition), offset_value);
    // Not synced: the projection can always be replayed from the log; its offset travels with it.
    if (auto ok = store_.Write(view.Materialize(), /*sync=*/false); !ok) return ok;
    if (progress_ != nullptr) progress_->Advance(partition, expected);
  }
  applied_.Inc(applied);
  batch_seconds_.Observe(std::chrono::duration<double>(clock_.Monotonic() - started).count());
  return {};
}

Result<size_t> Projector::ProjectOnce(EventLog& log, std::chrono::milliseconds timeout,
                                      size_t max_records) {
  if (partition_count_ == 0) {
    auto count = log.PartitionCount(kEventsTopic);
    if (!count) return std::unexpected(count.error());
    partition_count_ = *count;
  }
  std::vector<Position> positions;
  for (int32_t p = 0; p < partition_count_; ++p) {
    auto next = NextOffset(p);
    if (!next) return std::unexpected(next.error());
    positions.push_back({{std::string(kEventsTopic), p}, *next});
    if (progress_ != nullptr) progress_->Advance(p, *next);
  }
  auto records = log.Poll(positions, max_records, timeout);
  if (!records) return std::unexpected(records.error());
  if (records->empty()) return 0;
  if (auto ok = ApplyRecords(*records, /*read_from_next=*/true); !ok) {
    return std::unexpected(ok.error());
  }
  return records->size();
}

void Projector::Run(EventLog& log, std::stop_token stop) {
  RunUntilStopped(stop, kComponent, [&]() -> Result<bool> {
    auto done = ProjectOnce(log, std::chrono::milliseconds(200));
    if (!done) return std::unexpected(done.error());
    return *done == 0;  // Poll already waited
  });
}

Status Projector::CatchUp(EventLog& log,
                          const std::function<void(int64_t done, int64_t total)>& progress) {
  auto count = log.PartitionCount(kEventsTopic);
  if (!count) return std::unexpected(count.error());
  partition_count_ = *count;
  int64_t total = 0;
  int64_t done = 0;
  std::vector<int64_t> ends;
  for (int32_t p = 0; p < *count; ++p) {
    auto end = log.EndOffset({std::string(kEventsTopic), p});
    if (!end) return std::unexpected(end.error());
    auto next = NextOffset(p);
    if (!next) return std::unexpected(next.error());
    ends.push_back(*end);
    total += *end;
    done += *next;
  }
  for (int32_t p = 0; p < *count; ++p) {
    const TopicPartition tp{std::string(kEventsTopic), p};
    while (true) {
      auto next = NextOffset(p);
      if (!next) return std::unexpected(next.error());
      if (*next >= ends[static_cast<size_t>(p)]) break;
      auto records = log.Read(tp, *next, 4096);
      if (!records) return std::unexpected(records.error());
      if (records->empty()) break;
      if (auto ok = ApplyRecords(*records, /*read_from_next=*/true); !ok) return ok;
      done += static_cast<int64_t>(records->size());
      if (progress) progress(done, total);
    }
  }
  if (progress) progress(done, total);
  return {};
}

Result<std::optional<v1::SessionView>> Projector::GetSession(std::string_view session_id) {
  return sign_in_.GetSession(session_id);
}

Result<std::optional<v1::PasswordCredential>> Projector::GetPasswordCredential(
    std::string_view account_id) {
  return sign_in_.GetPasswordCredential(account_id);
}

Result<std::optional<v1::TotpCredential>> Projector::GetTotpCredential(
    std::string_view account_id) {
  return sign_in_.GetTotpCredential(account_id);
}

Result<std::optional<v1::AccountView>> Projector::GetAccount(std::string_view account_id) {
  return accounts_.Get(account_id);
}

Result<bool> Projector::IsAccountErased(std::string_view account_id) {
  return accounts_.IsErased(account_id);
}

Result<v1::MemberList> Projector::ListMembers(std::string_view account_id) {
  return members_.List(account_id);
}

Result<std::optional<v1::InstanceView>> Projector::GetInstance(std::string_view account_id,
                                                               std::string_view instance_id) {
  return instances_.Get(account_id, instance_id);
}

Result<v1::InstanceList> Projector::ListInstances(std::string_view account_id) {
  return instances_.List(account_id);
}

Result<v1::AuditPage> Projector::ListAudit(std::string_view account_id, int64_t since_us,
                                           int64_t until_us, std::string_view cursor,
                                           uint32_t limit) {
  return audit_.List(account_id, since_us, until_us, cursor, limit);
}

Result<std::optional<std::string>> Projector::FindAccountByEmailHash(
    std::string_view email_lookup_hash) {
  return sign_in_.FindAccountByEmailHash(email_lookup_hash);
}

Result<std::optional<std::string>> Projector::FindAccountByResetTokenHash(
    std::string_view token_hash) {
  return sign_in_.FindAccountByResetTokenHash(token_hash);
}

Result<std::optional<v1::InstanceSecretRefs>> Projector::GetInstanceSecretRefs(
    std::string_view account_id, std::string_view instance_id) {
  return secret_refs_.Get(account_id, instance_id);
}

Result<v1::AuditExportList> Projector::ListAuditExports(std::string_view account_id) {
  return audit_exports_.List(account_id);
}

Result<std::optional<v1::AuditExportView>> Projector::GetAuditExport(std::string_view account_id,
                                                                     std::string_view export_id) {
  return audit_exports_.Get(account_id, export_id);
}

Result<std::vector<v1::AuditExportView>> Projector::ListPendingAuditExports(size_t limit) {
  return audit_exports_.ListPending(limit);
}

Result<std::optional<v1::CommandOutcome>> Projector::GetCommandOutcome(
    std::string_view account_id, std::string_view command_id) {
  // An erased account answers like an unknown one, its erasure's outcome included.
  auto erased = IsAccountErased(account_id);
  if (!erased) return std::unexpected(erased.error());
  if (*erased) return std::optional<v1::CommandOutcome>();
  return FindDecidedOutcome(account_id, command_id);
}

Result<std::optional<v1::CommandOutcome>> Projector::FindDecidedOutcome(
    std::string_view account_id, std::string_view command_id) {
  return commands_.Find(account_id, command_id);
}

Result<std::string> Projector::Fingerprint() {
  std::string all;
  Status scanned = store_.Scan("", "", [&](std::string_view key, std::string_view value) {
    AppendHex(all, key);
    all += '=';
    AppendHex(all, value);
    all += '\n';
    return true;
  });
  if (!scanned) return std::unexpected(scanned.error());
  return all;
}

}  // namespace clawvisor
