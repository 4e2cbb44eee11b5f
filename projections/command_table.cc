#include "projections/command_table.h"

#include "engine/command/processor.h"

namespace clawvisor::projection {

Result<std::optional<v1::CommandOutcome>> CommandTable::Apply(BatchView& view,
                                                              const v1::Envelope& event,
                                                              int32_t partition, int64_t offset) {
  if (event.command_id().empty()) return std::optional<v1::CommandOutcome>();
  const std::string key = RowKey(kTable, event.account_id(), event.command_id());
  std::optional<v1::CommandOutcome> existing;
  if (key == view.last_command_key() || view.first_event()) {
    auto found = view.Get<v1::CommandOutcome>(key);
    if (!found) return std::unexpected(found.error());
    existing = std::move(*found);
  }
  view.set_last_command_key(key);
  v1::CommandOutcome outcome =
      existing.has_value() ? std::move(*existing) : OutcomeOfFirstEvent(event, partition, offset);
  AddToOutcome(outcome, event);
  view.Put(key, outcome);
  return std::optional<v1::CommandOutcome>(std::move(outcome));
}

void CommandTable::Restore(BatchView& view, const v1::Envelope& event,
                           const v1::CommandOutcome& outcome) {
  view.Put(RowKey(kTable, event.account_id(), event.command_id()), outcome);
}

Result<std::optional<v1::CommandOutcome>> CommandTable::Find(std::string_view account_id,
                                                             std::string_view command_id) {
  return ReadRow<v1::CommandOutcome>(store_, RowKey(kTable, account_id, command_id));
}

}  // namespace clawvisor::projection
