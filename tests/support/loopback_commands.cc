#include "tests/support/loopback_commands.h"

#include <gtest/gtest.h>

#include "events/codec.h"
#include "tests/support/test_values.h"

namespace clawvisor::testing {

v1::CommandOutcome LoopbackCommands::Send(v1::Command command, const std::string& account_id) {
  command.set_command_id("c-" + std::to_string(++sent_));
  command.set_account_id(account_id);
  if (!command.has_actor()) *command.mutable_actor() = WebTierOwner();
  auto outcome = Submit(command, std::chrono::milliseconds(0));
  EXPECT_TRUE(outcome.has_value()) << outcome.error().message;
  return outcome.value_or(v1::CommandOutcome());
}

Result<v1::CommandOutcome> LoopbackCommands::Submit(const v1::Command& command,
                                                    std::chrono::milliseconds) {
  std::lock_guard lock(mu_);
  if (fail_submits_ > 0) {
    --fail_submits_;
    return MakeError(Errc::kUnavailable, "command service unavailable (injected)");
  }
  submitted_.push_back(command);
  const std::string key = command.account_id() + '\0' + command.command_id();
  if (auto it = decided_.find(key); it != decided_.end()) return it->second;
  AccountState& state = accounts_[command.account_id()];
  if (state.account_id.empty()) state.account_id = command.account_id();
  const TimestampUs now = clock_.NowUs();
  v1::CommandOutcome outcome;
  outcome.set_command_id(command.command_id());
  outcome.set_account_id(command.account_id());
  auto decision = Decide(state, command, now, options_);
  if (!decision) {
    outcome.set_accepted(false);
    outcome.set_rejection_reason(decision.error().reason);
    outcome.set_message(decision.error().message);
    decided_[key] = outcome;
    return outcome;
  }
  outcome.set_accepted(true);
  for (v1::Envelope& event : *decision) {
    event.set_event_id("evt-" + std::to_string(history_.size() + 1));
    event.set_account_id(command.account_id());
    event.set_occurred_at_us(now);
    event.set_command_id(command.command_id());
    *event.mutable_actor() = command.actor();
    event.set_aggregate_version(history_.size() + 1);
    Evolve(state, event);
    outcome.add_event_types(std::string(EventTypeName(event)));
    pending_.push_back(event);
    history_.push_back(event);
  }
  decided_[key] = outcome;
  if (lose_outcomes_ > 0) {
    --lose_outcomes_;
    return MakeError(Errc::kTimeout, "decided, but the outcome was lost (injected)");
  }
  return outcome;
}

Result<std::optional<v1::CommandOutcome>> LoopbackCommands::Lookup(std::string_view account_id,
                                                                   std::string_view command_id) {
  std::lock_guard lock(mu_);
  auto it = decided_.find(std::string(account_id) + '\0' + std::string(command_id));
  if (it == decided_.end()) return std::optional<v1::CommandOutcome>();
  return std::optional<v1::CommandOutcome>(it->second);
}

void LoopbackCommands::Inject(v1::Envelope event) {
  std::lock_guard lock(mu_);
  if (event.occurred_at_us() == 0) event.set_occurred_at_us(clock_.NowUs());
  if (event.event_id().empty()) event.set_event_id("evt-" + std::to_string(history_.size() + 1));
  AccountState& state = accounts_[event.account_id()];
  Evolve(state, event);
  pending_.push_back(event);
  history_.push_back(std::move(event));
}

size_t LoopbackCommands::Deliver(const std::function<void(const v1::Envelope&)>& sink) {
  std::deque<v1::Envelope> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  for (const auto& event : batch) sink(event);
  return batch.size();
}

std::vector<v1::Command> LoopbackCommands::submitted() const {
  std::lock_guard lock(mu_);
  return submitted_;
}

}  // namespace clawvisor::testing
