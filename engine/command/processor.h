#pragma once

// Processor: the single writer of the events of the accounts in the partitions it owns.
//
// For each owned partition it keeps every account's decision state (AccountState) and the
// outcomes of the commands already decided, both rebuilt from the events topic alone when the
// partition is assigned. Then it loops:
//
//   poll commands ──▶ for each: already decided? ──yes──▶ post the recorded outcome
//                                  │ no
//                                  ▼
//                     Decide(state, command, clock) ──▶ events or CommandRejected
//                                  ▼
//              stamp envelopes, seal pending fields, Evolve(state)
//                                  ▼
//     EventLog::Transact(events + consumed command offsets)   ◀── atomic: all or nothing
//                                  ▼
//                     post outcomes on the OutcomeBoard
//
// Exactly-once (design D2): the consumed offset and the events commit together, and the
// decided-command index is rebuilt from the same events, so after a crash at any point a
// restart decides each command exactly once. If a Transact fails, the in-memory state may be
// ahead of the log; the processor rebuilds the partitions from the log before going on.
//
// The outcome fold it answers with (CommandKey, AddToOutcome, ...) is in
// engine/command/outcome.h, shared with the command service, the projector and the CLI.
//
// Thread-safety: a Processor is driven by one thread (Run or ProcessOnce). Snapshot() may be
// called from any thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/clock.h"
#include "engine/command/outcome.h"
#include "engine/command/outcome_board.h"
#include "engine/domain/account_state.h"
#include "engine/domain/limits.h"
#include "engine/metrics.h"
#include "engine/random.h"
#include "engine/sealer.h"
#include "events/event_log.h"

namespace clawvisor {

struct ProcessorOptions {
  std::string consumer_group = "clawvisor-processor";
  size_t max_batch = 512;  // commands decided per transaction, at most
  std::chrono::milliseconds poll_timeout{200};
  DecideOptions decide;
};

class Processor {
 public:
  Processor(EventLog& log, Sealer& sealer, Clock& clock, RandomSource& random,
            MetricsRegistry& metrics, OutcomeBoard* board, ProcessorOptions options = {});

  // Takes ownership of `partitions`: rebuilds their state from the events topic and resumes
  // their commands from the group's committed offset. Replaces any state held for them.
  Status Assign(std::span<const int32_t> partitions);
  // Gives partitions up (another processor will own them).
  void Revoke(std::span<const int32_t> partitions);
  // Assigns every partition of the commands topic (the embedded, single-processor case).
  Status AssignAll();

  // Waits up to poll_timeout for commands and decides one batch. Returns how many command
  // records it consumed (0 on timeout).
  Result<size_t> ProcessOnce();
  // Loops over ProcessOnce until `stop` is requested. Errors are logged and retried with backoff.
  void Run(std::stop_token stop);

  const std::string& consumer_group() const { return options_.consumer_group; }

  // A copy of one account's decision state, for tests and diagnostics.
  std::optional<AccountState> Snapshot(const std::string& account_id);
  size_t DecidedCommandCount();

 private:
  struct PartitionState {
    int64_t next_command_offset = 0;
    std::unordered_map<std::string, AccountState> accounts;
    std::unordered_map<std::string, v1::CommandOutcome> decided;  // key: account \0 command
  };
  struct Duplicate {
    std::string key;
    std::string account_id;
    std::string command_id;
    std::string fingerprint;
  };
  struct Pending {
    v1::CommandOutcome outcome;
    size_t first_record = 0;  // index into the transaction's records
    size_t record_count = 0;
  };

  Status Rebuild(int32_t partition, PartitionState& state);
  // Rebuilds each partition's state from the log and makes it owned.
  Status Install(std::span<const int32_t> partitions);
  // Rebuilds the partitions dropped after a failed transaction.
  Status RebuildPending();
  // Destroys the data keys of accounts whose AccountErased is committed (crypto-shredding).
  // Kept and retried at the next batch if the vault cannot be written now; idempotent, so a
  // crash between the commit and the destruction is mended when the partition is rebuilt.
  void DestroyErasedAccountKeys();
  // Decides one command record into `txn`; a duplicate's key goes to `duplicates`, and a
  // malformed record is skipped (logged and counted).
  // `unrecorded`: outcomes answered but never appended (commands for an erased account: its
  // audit trail must not grow again, source addresses included).
  void DecideRecord(const Record& record, PartitionState& partition, Transaction& txn,
                    std::vector<Pending>& pending, std::vector<Duplicate>& duplicates,
                    std::vector<v1::CommandOutcome>& unrecorded);
  bool HasNoPartitions();
  // Fills in each event's envelope: id, account, aggregate version, time, actor, command.
  std::vector<v1::Envelope> StampAll(std::vector<v1::Envelope> events, const AccountState& state,
                                     const v1::Command& command, TimestampUs now_us,
                                     const std::string& fingerprint);

  EventLog& log_;
  Sealer& sealer_;
  Clock& clock_;
  RandomSource& random_;
  OutcomeBoard* board_;
  ProcessorOptions options_;
  int32_t partition_count_ = 0;

  std::mutex mu_;  // guards partitions_ against Snapshot() from other threads
  std::map<int32_t, PartitionState> partitions_;
  std::set<int32_t> needs_rebuild_;        // owned, but their state must be rebuilt before use
  std::set<std::string> keys_to_destroy_;  // erased accounts whose keys may still exist

  Counter& accepted_;
  Counter& rejected_;
  Counter& duplicates_;
  Counter& malformed_;
  Counter& transact_failures_;
  Histogram& transact_seconds_;
  Histogram& batch_seconds_;
};

}  // namespace clawvisor
