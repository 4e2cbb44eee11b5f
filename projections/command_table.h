#pragma once

// CommandTable: the outcome of every command, folded from its events exactly as the processor
// folds it (OutcomeOfFirstEvent/AddToOutcome, engine/command/processor.h).
//
//   c|<account>|<command id>   CommandOutcome
//
// A command's events are contiguous in its partition (one transaction), so a command id that
// differs from the previous event's starts a new outcome; only the first event of a batch may
// continue an outcome stored by an earlier batch. Erasure keeps the erasure's own outcome.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <optional>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class CommandTable {
 public:
  static constexpr char kTable = 'c';

  explicit CommandTable(KvStore& store) : store_(store) {}

  // The outcome the event's command has now (none for an event of no command).
  Result<std::optional<v1::CommandOutcome>> Apply(BatchView& view, const v1::Envelope& event,
                                                  int32_t partition, int64_t offset);
  // Writes `outcome` back after an erasure deleted the account's rows.
  static void Restore(BatchView& view, const v1::Envelope& event,
                      const v1::CommandOutcome& outcome);

  Result<std::optional<v1::CommandOutcome>> Find(std::string_view account_id,
                                                 std::string_view command_id);

 private:
  KvStore& store_;
};

}  // namespace clawvisor::projection
