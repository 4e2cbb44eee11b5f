#pragma once

// Projector: builds the read models from the events topic and answers queries from them.
//
// Each read model is a table of its own file, redpanda's topic_table style: it applies the
// events it cares about (`Apply(BatchView&, event, ...)`), answers its own queries and documents
// its key layout. The Projector keeps what is common to all of them: the batch, the offsets,
// erasure and the dispatch. Tables by key letter (KvStore rows "<letter>|..."):
//   o|<partition u32>   next offset to apply (i64)            here
//   a|                  accounts                              account_table.h
//   m|                  members                               member_table.h
//   i|                  instances                             instance_table.h
//   c|                  command outcomes                      command_table.h
//   t|                  audit index                           audit_index.h
//   j| q|               audit export jobs, pending ones       audit_export_table.h
//   s|                  where instance secrets are sealed     secret_ref_table.h
//   e| x| p| u| r|      sign-in: email lookup, credentials,   sign_in_table.h
//                       sessions, password-reset tokens
//
// AccountErased deletes every row of the account but `a|`, which says "erased", and the
// erasure's own command outcome.
//
// Every Apply() writes a partition's rows and its new next offset in one atomic batch, and skips
// records below the stored offset, so applying the same records twice changes nothing and a
// crash between batches loses nothing (design D2).
//
// Adding a table: its file (with its Apply, queries and key layout), then here a member, a
// line in ApplyEvent, its letters in the list above and, if it is per account, in
// kErasedTables (projector.cc); forwarding queries if the API serves it.
//
// Thread-safety: Apply/ProjectOnce/Run from one thread; queries from any thread at any time.

#include <cstdint>
#include <functional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "clawvisor/v1/events.pb.h"
#include "engine/clock.h"
#include "engine/command/outcome_board.h"
#include "engine/metrics.h"
#include "engine/sealer.h"
#include "events/event_log.h"
#include "projections/account_table.h"
#include "projections/audit_export_table.h"
#include "projections/audit_index.h"
#include "projections/command_table.h"
#include "projections/instance_table.h"
#include "projections/kv_store.h"
#include "projections/member_table.h"
#include "projections/read_model.h"
#include "projections/secret_ref_table.h"
#include "projections/sign_in_table.h"

namespace clawvisor {

class Projector final : public ReadModel {
 public:
  // `sealer` opens sealed fields to derive masked forms (may be null: masks stay empty).
  // `progress`, if given, advances after each applied batch (read-your-writes waits on it).
  // `clock` times each batch (its monotonic reading). All must outlive the projector.
  Projector(KvStore& store, Sealer* sealer, MetricsRegistry& metrics, Watermarks* progress,
            Clock& clock);

  // Applies event records (any partitions, each partition's in offset order). Each partition's
  // records must continue exactly at NextOffset(): a gap is refused (kFailedPrecondition).
  Status Apply(std::span<const Record> records);
  // The next offset to apply for `partition` (0 for a fresh store).
  Result<int64_t> NextOffset(int32_t partition);

  // Polls the events topic from the stored offsets and applies one batch.
  Result<size_t> ProjectOnce(EventLog& log, std::chrono::milliseconds timeout,
                             size_t max_records = 4096);
  void Run(EventLog& log, std::stop_token stop);

  // Replays the whole events topic into this (empty) store, reporting progress as
  // (events applied, events in all).
  Status CatchUp(EventLog& log, const std::function<void(int64_t done, int64_t total)>& progress);

  // ReadModel
  Result<std::optional<v1::AccountView>> GetAccount(std::string_view account_id) override;
  Result<v1::MemberList> ListMembers(std::string_view account_id) override;
  Result<std::optional<v1::InstanceView>> GetInstance(std::string_view account_id,
                                                      std::string_view instance_id) override;
  Result<v1::InstanceList> ListInstances(std::string_view account_id) override;
  Result<v1::AuditPage> ListAudit(std::string_view account_id, int64_t since_us, int64_t until_us,
                                  std::string_view cursor, uint32_t limit) override;
  Result<std::optional<v1::CommandOutcome>> GetCommandOutcome(std::string_view account_id,
                                                              std::string_view command_id) override;
  Result<v1::AuditExportList> ListAuditExports(std::string_view account_id) override;
  Result<std::optional<v1::AuditExportView>> GetAuditExport(std::string_view account_id,
                                                            std::string_view export_id) override;

  // The recorded outcome of a command, also the erasure's own after the account was erased (for
  // the command service's idempotent answers; queries use GetCommandOutcome, which hides it).
  Result<std::optional<v1::CommandOutcome>> FindDecidedOutcome(std::string_view account_id,
                                                               std::string_view command_id);
  // Whether the account was erased (GetAccount answers such an account like an unknown one).
  Result<bool> IsAccountErased(std::string_view account_id);

  // Audit exports of every account still waiting for their file, oldest account key first (the
  // export worker's queue; deliberately not on ReadModel, whose queries are per account).
  Result<std::vector<v1::AuditExportView>> ListPendingAuditExports(size_t limit);

  // The account registered with an email, by EmailLookupHash (engine/seal_fields.h): found
  // without the email being stored. None for an unknown or erased account.
  Result<std::optional<std::string>> FindAccountByEmailHash(std::string_view email_lookup_hash);

  // Where a live instance's secrets are sealed, for InstanceSecrets (projections/
  // projected_instance_secrets.h) only: the API has no route to it.
  Result<std::optional<v1::InstanceSecretRefs>> GetInstanceSecretRefs(std::string_view account_id,
                                                                      std::string_view instance_id);
  // The account's current password hash, sealed (for the command service's PasswordService;
  // not part of ReadModel: the API never serves it).
  Result<std::optional<v1::PasswordCredential>> GetPasswordCredential(std::string_view account_id);
  Result<std::optional<v1::TotpCredential>> GetTotpCredential(std::string_view account_id);
  // The account a password-reset token (by its keyed hash, hex) was issued for.
  Result<std::optional<std::string>> FindAccountByResetTokenHash(std::string_view token_hash);

  // A live session by its id (not part of ReadModel: never served; the session resolver reads
  // it). Revocation by AllSessionsRevoked shows in the AccountView, not here.
  Result<std::optional<v1::SessionView>> GetSession(std::string_view session_id);

  // Every row of the store in key order, for comparing two projections (tests, verify).
  Result<std::string> Fingerprint();

 private:
  // `read_from_next`: the records were read from the log starting at NextOffset(), so a gap is
  // offsets the log does not show (Kafka's transaction markers and aborted records), not
  // skipped events.
  Status ApplyRecords(std::span<const Record> records, bool read_from_next);
  Status ApplyEvent(projection::BatchView& view, const v1::Envelope& event, int32_t partition,
                    int64_t offset);
  // Deletes every row of the erased account but its marker and the erasure's own outcome.
  Status ApplyErasure(projection::BatchView& view, const v1::Envelope& event,
                      const std::optional<v1::CommandOutcome>& outcome);

  KvStore& store_;
  Watermarks* progress_;
  Clock& clock_;
  projection::AuditIndex audit_;
  projection::CommandTable commands_;
  projection::AuditExportTable audit_exports_;
  projection::SignInTable sign_in_;
  projection::AccountTable accounts_;
  projection::MemberTable members_;
  projection::SecretRefTable secret_refs_;
  projection::InstanceTable instances_;
  Counter& applied_;
  Histogram& batch_seconds_;
  int32_t partition_count_ = 0;
};

}  // namespace clawvisor
