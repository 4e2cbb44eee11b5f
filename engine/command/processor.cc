#include "engine/command/processor.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cstdlib>

#include "engine/command/seal_fields.h"
#include "engine/domain/decider.h"
#include "engine/logging.h"
#include "engine/partitioner.h"
#include "engine/run_loop.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "processor";

v1::CommandOutcome NewOutcome(const v1::Command& command, int32_t partition, TimestampUs now_us) {
  v1::CommandOutcome outcome;
  outcome.set_command_id(command.command_id());
  outcome.set_account_id(command.account_id());
  outcome.set_accepted(true);
  outcome.set_decided_at_us(now_us);
  outcome.set_partition(partition);
  return outcome;
}

// The instance a command is about, if any (its payload's `instance_id`): a rejection names it.
std::string TargetInstanceId(const v1::Command& command) {
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  const auto* field = command.GetReflection()->GetOneofFieldDescriptor(command, oneof);
  if (field == nullptr) return {};
  const auto& payload = command.GetReflection()->GetMessage(command, field);
  const auto* id = payload.GetDescriptor()->FindFieldByName("instance_id");
  if (id == nullptr || id->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
    return {};
  }
  return payload.GetReflection()->GetString(payload, id);
}

// The single event of a refused command.
std::vector<v1::Envelope> Refusal(const v1::Command& command, v1::RejectionReason reason,
                                  std::string message) {
  v1::Envelope refusal;
  refusal.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  refusal.set_aggregate_id(command.account_id());
  auto* p = refusal.mutable_command_rejected();
  p->set_reason(reason);
  p->set_message(std::move(message));
  p->set_command_type(std::string(CommandTypeName(command)));
  std::vector<v1::Envelope> only;
  only.push_back(std::move(refusal));
  return only;
}

}  // namespace

Processor::Processor(EventLog& log, Sealer& sealer, Clock& clock, RandomSource& random,
                     MetricsRegistry& metrics, OutcomeBoard* board, ProcessorOptions options)
    : log_(log),
      sealer_(sealer),
      clock_(clock),
      random_(random),
      board_(board),
      options_(std::move(options)),
      accepted_(metrics.GetCounter("clawvisor_processor_commands_total",
                                   "Command records consumed by the processor, by outcome.",
                                   {{"outcome", "accepted"}})),
      rejected_(
          metrics.GetCounter("clawvisor_processor_commands_total", "", {{"outcome", "rejected"}})),
      duplicates_(
          metrics.GetCounter("clawvisor_processor_commands_total", "", {{"outcome", "duplicate"}})),
      malformed_(
          metrics.GetCounter("clawvisor_processor_commands_total", "", {{"outcome", "malformed"}})),
      transact_failures_(metrics.GetCounter("clawvisor_processor_transaction_failures_total",
                                            "Transactions the event log refused.")),
      transact_seconds_(metrics.GetHistogram("clawvisor_processor_transaction_seconds",
                                             "Time to commit one decided batch.")),
      batch_seconds_(metrics.GetHistogram("clawvisor_processor_batch_seconds",
                                          "Time to decide and commit one batch.")) {}

Status Processor::AssignAll() {
  auto count = log_.PartitionCount(kCommandsTopic);
  if (!count) return std::unexpected(count.error());
  std::vector<int32_t> all(static_cast<size_t>(*count));
  for (int32_t p = 0; p < *count; ++p) all[static_cast<size_t>(p)] = p;
  return Assign(all);
}

Status Processor::Assign(std::span<const int32_t> partitions) {
  auto commands = log_.PartitionCount(kCommandsTopic);
  if (!commands) return std::unexpected(commands.error());
  auto events = log_.PartitionCount(kEventsTopic);
  if (!events) return std::unexpected(events.error());
  if (*commands != *events) {
    return MakeError(Errc::kFailedPrecondition,
                     "the commands and events topics must have the same partition count (" +
                         std::to_string(*commands) + " vs " + std::to_string(*events) + ")");
  }
  partition_count_ = *commands;
  return Install(partitions);
}

Status Processor::Install(std::span<const int32_t> partitions) {
  for (int32_t p : partitions) {
    PartitionState state;
    if (auto ok = Rebuild(p, state); !ok) return ok;
    std::lock_guard lock(mu_);
    for (const auto& [id, account] : state.accounts) {
      if (account.erased) keys_to_destroy_.insert(id);
    }
    partitions_[p] = std::move(state);
    needs_rebuild_.erase(p);
  }
  return {};
}

void Processor::Revoke(std::span<const int32_t> partitions) {
  std::lock_guard lock(mu_);
  for (int32_t p : partitions) {
    partitions_.erase(p);
    needs_rebuild_.erase(p);
  }
}

Status Processor::Rebuild(int32_t partition, PartitionState& state) {
  // The committed position first: on Kafka it is answered only once the previous owner's last
  // transaction is decided (committed or aborted). Then the events, up to their settled end: the
  // commit reaches the events partition separately, and until it has, Read stops before that
  // transaction's events. Without the wait, or read the other way round, a transaction that
  // committed would leave its events out of the state while its offsets moved past its
  // commands, and a retried command among them would be decided a second time.
  auto committed =
      log_.CommittedOffset(options_.consumer_group, {std::string(kCommandsTopic), partition});
  if (!committed) return std::unexpected(committed.error());
  const TopicPartition events{std::string(kEventsTopic), partition};
  auto settled = log_.SettledEndOffset(events);
  if (!settled) return std::unexpected(settled.error());
  int64_t offset = 0;
  size_t replayed = 0;
  while (true) {
    auto batch = log_.Read(events, offset, 4096);
    if (!batch) return std::unexpected(batch.error());
    if (batch->empty()) break;
    for (const Record& record : *batch) {
      auto event = DecodeEnvelope(record.value);
      if (!event) {
        return MakeError(event.error().code, "events partition " + std::to_string(partition) +
                                                 " offset " + std::to_string(record.offset) + ": " +
                                                 event.error().message);
      }
      auto& account = state.accounts[event->account_id()];
      account.account_id = event->account_id();
      Evolve(account, *event);
      if (!event->command_id().empty()) {
        auto [it, inserted] =
            state.decided.try_emplace(CommandKey(event->account_id(), event->command_id()));
        if (inserted) it->second = OutcomeOfFirstEvent(*event, partition, record.offset);
        AddToOutcome(it->second, *event);
      }
      offset = record.offset + 1;
      ++replayed;
    }
  }
  state.next_command_offset = *committed;
  Log(LogLevel::kInfo, kComponent, "partition assigned",
      {{"partition", partition},
       {"events_replayed", static_cast<int64_t>(replayed)},
       {"accounts", static_cast<int64_t>(state.accounts.size())},
       {"next_command_offset", *committed},
       {"events_settled_end", *settled}});
  return {};
}

std::vector<v1::Envelope> Processor::StampAll(std::vector<v1::Envelope> events,
                                              const AccountState& state, const v1::Command& command,
                                              TimestampUs now_us, const std::string& fingerprint) {
  // Versions continue from the state, counting this decision's earlier events per aggregate.
  uint64_t account_version = state.version;
  std::map<std::pair<v1::AggregateType, std::string>, uint64_t> versions;  // instances, hosts
  auto version_of = [&state](v1::AggregateType type, const std::string& id) -> uint64_t {
    if (type == v1::AGGREGATE_TYPE_INSTANCE) {
      auto found = state.instances.find(id);
      return found == state.instances.end() ? 0 : found->second.version;
    }
    auto found = state.host_registry.hosts.find(id);
    return found == state.host_registry.hosts.end() ? 0 : found->second.version;
  };
  for (auto& event : events) {
    event.set_event_id(NewUuidV7(now_us, random_));
    event.set_account_id(command.account_id());
    const v1::AggregateType type = event.aggregate_type();
    if (type == v1::AGGREGATE_TYPE_INSTANCE || type == v1::AGGREGATE_TYPE_HOST) {
      auto [it, inserted] = versions.try_emplace({type, event.aggregate_id()}, 0);
      if (inserted) it->second = version_of(type, event.aggregate_id());
      event.set_aggregate_version(++it->second);
    } else {
      event.set_aggregate_version(++account_version);
    }
    event.set_occurred_at_us(now_us);
    *event.mutable_actor() = command.actor();
    event.set_command_id(command.command_id());
    event.set_correlation_id(command.correlation_id().empty() ? command.command_id()
                                                              : command.correlation_id());
    event.set_schema_version(kSchemaVersion);
    event.set_command_hash(fingerprint);
    // An export is named by the event that requested it: unique, and known only once stamped.
    if (event.has_audit_export_requested() && event.audit_export_requested().export_id().empty()) {
      event.mutable_audit_export_requested()->set_export_id(event.event_id());
    }
  }
  return events;
}

void Processor::DecideRecord(const Record& record, PartitionState& partition, Transaction& txn,
                             std::vector<Pending>& pending, std::vector<Duplicate>& duplicates,
                             std::vector<v1::CommandOutcome>& unrecorded) {
  auto command = DecodeCommand(record.value);
  // A record that cannot be attributed to a valid account in this partition cannot be decided
  // here without breaking "all of an account's events live in its partition": skip it, loudly.
  if (!command || !IsValidResourceId(command->account_id()) ||
      PartitionFor(command->account_id(), partition_count_) != record.partition) {
    malformed_.Inc();
    Log(LogLevel::kWarn, kComponent, "skipping a command record that cannot be decided here",
        {{"partition", record.partition},
         {"offset", record.offset},
         {"reason", !command ? command.error().message : "account id missing or mis-partitioned"}});
    return;
  }
  // Secrets travel sealed under the command id; they are opened only to decide. A secret that
  // arrives in plaintext is refused: it must not be decided into the log from a record that
  // already stored it in the clear (producers go through the command service).
  const bool plaintext_secret = HasPlaintextSecret(*command);
  Status opened = plaintext_secret ? Status(MakeError(Errc::kInvalidArgument, "plaintext secret"))
                                   : OpenCommandSecrets(*command, sealer_);
  std::string fingerprint;
  if (opened && IsFingerprint(command->request_fingerprint())) {
    fingerprint = command->request_fingerprint();  // the request before the service prepared it
  } else if (opened) {
    auto computed = CommandFingerprint(*command, sealer_);
    if (computed) fingerprint = std::move(*computed);
  }
  const std::string key = CommandKey(command->account_id(), command->command_id());
  if (partition.decided.contains(key)) {
    // Its outcome is posted after this batch commits: the first copy may be in this very batch.
    duplicates_.Inc();
    duplicates.push_back({key, command->account_id(), command->command_id(), fingerprint});
    return;
  }
  const TimestampUs now_us = clock_.NowUs();
  auto [account_it, inserted] = partition.accounts.try_emplace(command->account_id());
  AccountState& state = account_it->second;
  if (inserted) state.account_id = command->account_id();
  if (state.erased) {
    unrecorded.push_back(AccountErasedOutcome(command->account_id(), command->command_id(),
                                              record.partition, now_us, fingerprint));
    rejected_.Inc();
    return;
  }

  Decision decision = std::unexpected(
      Rejection{v1::REJECTION_INVALID_STATE, "the command's sealed fields cannot be opened"});
  if (plaintext_secret) {
    decision = std::unexpected(
        Rejection{v1::REJECTION_INVALID_ARGUMENT, "sensitive fields must arrive sealed"});
  } else if (opened) {
    decision = Decide(state, *command, now_us, options_.decide);
  } else {
    Log(LogLevel::kWarn, kComponent, "cannot open a command's sealed fields; command refused",
        {{"account_id", command->account_id()}, {"error", opened.error().ToString()}});
  }
  std::vector<v1::Envelope> events =
      decision ? std::move(*decision)
               : Refusal(*command, decision.error().reason, decision.error().message);

  Pending item{NewOutcome(*command, record.partition, now_us), txn.records.size(), 0};
  item.outcome.set_request_hash(fingerprint);
  if (!decision) {
    // Name the instance the refused command was about, for the caller and the audit trail.
    if (auto target = TargetInstanceId(*command); !target.empty()) {
      item.outcome.set_aggregate_id(target);
    }
  }
  // Stamp and seal the whole decision before anything is applied: if one field cannot be
  // sealed (the account's key is destroyed), the whole command is refused instead.
  std::vector<v1::Envelope> stamped =
      StampAll(std::move(events), state, *command, now_us, fingerprint);
  for (auto& event : stamped) {
    if (auto sealed = SealPendingFields(event, sealer_); !sealed) {
      Log(LogLevel::kError, kComponent, "sealing failed; command refused",
          {{"account_id", command->account_id()}, {"error", sealed.error().ToString()}});
      stamped = StampAll(
          Refusal(*command, v1::REJECTION_INVALID_STATE, "the account's data key is unavailable"),
          state, *command, now_us, fingerprint);
      break;
    }
  }
  // Every event must read back: one that does not (a string that is not UTF-8, say) would make
  // the log unreadable at the next start. Such a decision is refused instead.
  // The bytes checked are the bytes appended.
  std::vector<std::string> encoded;
  for (const auto& event : stamped) {
    encoded.push_back(EncodeEnvelope(event));
    if (!DecodeEnvelope(encoded.back())) {
      Log(LogLevel::kError, kComponent, "a decided event does not read back; command refused",
          {{"account_id", command->account_id()}});
      stamped = StampAll(Refusal(*command, v1::REJECTION_INVALID_ARGUMENT,
                                 "the command's values cannot be stored"),
                         state, *command, now_us, fingerprint);
      encoded = {EncodeEnvelope(stamped.front())};
      break;
    }
  }
  for (size_t i = 0; i < stamped.size(); ++i) {
    const v1::Envelope& event = stamped[i];
    if (HasPendingSeal(event)) {
      Log(LogLevel::kError, kComponent, "BUG: an event still holds an unsealed field; aborting");
      std::abort();
    }
    Evolve(state, event);
    AddToOutcome(item.outcome, event);
    OutgoingRecord out;
    out.topic = std::string(kEventsTopic);
    out.partition = record.partition;
    out.key = command->account_id();
    out.value = std::move(encoded[i]);
    out.headers = CloudEventHeaders(event);
    out.timestamp_ms = now_us / 1000;
    txn.records.push_back(std::move(out));
  }
  item.record_count = txn.records.size() - item.first_record;
  (item.outcome.accepted() ? accepted_ : rejected_).Inc();
  partition.decided[key] = item.outcome;  // provisional: rebuilt from the log if Transact fails
  pending.push_back(std::move(item));
}

Status Processor::RebuildPending() {
  std::vector<int32_t> pending;
  {
    std::lock_guard lock(mu_);
    pending.assign(needs_rebuild_.begin(), needs_rebuild_.end());
  }
  return Install(pending);
}

void Processor::DestroyErasedAccountKeys() {
  std::vector<std::string> accounts;
  {
    std::lock_guard lock(mu_);
    if (keys_to_destroy_.empty()) return;
    accounts.assign(keys_to_destroy_.begin(), keys_to_destroy_.end());
  }
  for (const auto& account : accounts) {
    if (auto destroyed = sealer_.DestroyAccountKeys(account); !destroyed) {
      Log(LogLevel::kError, kComponent, "cannot destroy an erased account's keys yet; will retry",
          {{"account_id", account}, {"error", destroyed.error().ToString()}});
      continue;
    }
    std::lock_guard lock(mu_);
    keys_to_destroy_.erase(account);
  }
}

Result<size_t> Processor::ProcessOnce() {
  if (auto ok = RebuildPending(); !ok) return std::unexpected(ok.error());
  DestroyErasedAccountKeys();
  std::vector<Position> positions;
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, state] : partitions_) {
      positions.push_back({{std::string(kCommandsTopic), p}, state.next_command_offset});
    }
  }
  if (positions.empty()) return 0;  // nothing assigned (yet)
  auto records = log_.Poll(positions, options_.max_batch, options_.poll_timeout);
  if (!records) return std::unexpected(records.error());
  if (records->empty()) return 0;

  const auto started = clock_.Monotonic();
  Transaction txn;
  txn.consumer_group = options_.consumer_group;
  std::vector<Pending> pending;
  std::vector<Duplicate> duplicates;
  std::vector<v1::CommandOutcome> unrecorded;
  std::map<int32_t, int64_t> consumed;
  {
    std::lock_guard lock(mu_);
    for (const Record& record : *records) {
      auto it = partitions_.find(record.partition);
      if (it == partitions_.end()) continue;  // revoked meanwhile
      DecideRecord(record, it->second, txn, pending, duplicates, unrecorded);
      consumed[record.partition] = record.offset + 1;
    }
  }
  for (const auto& [p, next] : consumed) {
    txn.consumed.push_back({{std::string(kCommandsTopic), p}, next});
  }

  const auto txn_started = clock_.Monotonic();
  auto appended = log_.Transact(txn);
  transact_seconds_.Observe(
      std::chrono::duration<double>(clock_.Monotonic() - txn_started).count());
  if (!appended) {
    transact_failures_.Inc();
    Log(LogLevel::kError, kComponent, "transaction failed; rebuilding partitions from the log",
        {{"error", appended.error().ToString()}});
    // The decided index now holds provisional outcomes that never committed: drop the
    // partitions first, so that nothing is ever answered from them, then rebuild from the log
    // (retried at the next batch if the log cannot be read now).
    {
      std::lock_guard lock(mu_);
      for (const auto& [p, next] : consumed) {
        partitions_.erase(p);
        needs_rebuild_.insert(p);
      }
    }
    (void)RebuildPending();
    return std::unexpected(appended.error());
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, next] : consumed) {
      if (auto it = partitions_.find(p); it != partitions_.end()) {
        it->second.next_command_offset = next;
      }
    }
    for (auto& item : pending) {
      if (item.record_count > 0) {
        item.outcome.set_first_offset(static_cast<uint64_t>(appended->offsets[item.first_record]));
      }
      auto it = partitions_.find(item.outcome.partition());
      if (it != partitions_.end()) {
        it->second.decided[CommandKey(item.outcome.account_id(), item.outcome.command_id())] =
            item.outcome;
      }
      if (std::ranges::find(item.outcome.event_types(), "account_erased") !=
          item.outcome.event_types().end()) {
        keys_to_destroy_.insert(item.outcome.account_id());
      }
    }
  }
  // Before the outcome is published: an erasure is answered once its keys are gone (one whose
  // keys could not be destroyed yet is not answered now; its caller gets 202 and polls).
  DestroyErasedAccountKeys();
  std::set<std::string> keys_remaining;
  {
    std::lock_guard lock(mu_);
    keys_remaining = keys_to_destroy_;
  }
  if (board_ != nullptr) {
    for (const auto& item : pending) {
      if (keys_remaining.contains(item.outcome.account_id())) continue;
      board_->Publish(item.outcome);
    }
    for (const auto& outcome : unrecorded) board_->Publish(outcome);
    std::lock_guard lock(mu_);
    for (const auto& dup : duplicates) {
      for (const auto& [p, state] : partitions_) {
        auto it = state.decided.find(dup.key);
        if (it == state.decided.end()) continue;
        board_->Publish(SameRequest(it->second, dup.fingerprint)
                            ? it->second
                            : ReusedKeyOutcome(dup.account_id, dup.command_id));
        break;
      }
    }
  }
  batch_seconds_.Observe(std::chrono::duration<double>(clock_.Monotonic() - started).count());
  return records->size();
}

void Processor::Run(std::stop_token stop) {
  // With no partition assigned, Poll has nothing to wait on: the loop waits instead.
  RunUntilStopped(
      stop, kComponent,
      [this]() -> Result<bool> {
        auto done = ProcessOnce();
        if (!done) return std::unexpected(done.error());
        return *done == 0 && HasNoPartitions();
      },
      options_.poll_timeout);
}

bool Processor::HasNoPartitions() {
  std::lock_guard lock(mu_);
  return partitions_.empty();
}

std::optional<AccountState> Processor::Snapshot(const std::string& account_id) {
  std::lock_guard lock(mu_);
  for (const auto& [p, state] : partitions_) {
    if (auto it = state.accounts.find(account_id); it != state.accounts.end()) return it->second;
  }
  return std::nullopt;
}

size_t Processor::DecidedCommandCount() {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [p, state] : partitions_) n += state.decided.size();
  return n;
}

}  // namespace clawvisor
