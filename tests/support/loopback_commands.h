#pragma once

// LoopbackCommands: a CommandService for unit tests of the reconciler that decides commands
// with the real Decide() against in-memory account states and queues the resulting events for
// the test to deliver (Deliver) — as the real event feed would, later and in order. Sealing and
// the log are left out; the decisions are the engine's own.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/domain/decider.h"

namespace clawvisor::testing {

class LoopbackCommands final : public CommandService {
 public:
  explicit LoopbackCommands(Clock& clock) : clock_(clock) {}

  Result<v1::CommandOutcome> Submit(const v1::Command& command,
                                    std::chrono::milliseconds wait) override;
  Result<std::optional<v1::CommandOutcome>> Lookup(std::string_view account_id,
                                                   std::string_view command_id) override;

  // A test's own command: submits `command` to `account_id` under the next test command id
  // (c-1, c-2, ...), by the web tier acting as the account's owner unless the command names its
  // actor. A failed submit fails the test (and returns an empty outcome).
  v1::CommandOutcome Send(v1::Command command, const std::string& account_id = "acc-1");

  // Appends an event as if decided (for events no command of this build produces yet, e.g.
  // SubscriptionCancelled).
  void Inject(v1::Envelope event);
  // Hands every queued event to `sink`, in order. Returns how many.
  size_t Deliver(const std::function<void(const v1::Envelope&)>& sink);

  const AccountState& Account(const std::string& account_id) { return accounts_[account_id]; }
  // Every event decided so far (delivered or not), in order.
  const std::vector<v1::Envelope>& history() const { return history_; }
  std::vector<v1::Command> submitted() const;
  void FailSubmits(int times) { fail_submits_ = times; }
  // The next `times` accepted commands are decided, but their callers hear a timeout.
  void LoseOutcomes(int times) { lose_outcomes_ = times; }
  // What the decider is given (e.g. the registered guest images).
  void SetDecideOptions(DecideOptions options) { options_ = std::move(options); }

 private:
  Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, AccountState> accounts_;
  std::map<std::string, v1::CommandOutcome> decided_;
  std::deque<v1::Envelope> pending_;
  std::vector<v1::Envelope> history_;
  std::vector<v1::Command> submitted_;
  int fail_submits_ = 0;
  int lose_outcomes_ = 0;
  DecideOptions options_;
  std::atomic<int> sent_ = 0;
};

}  // namespace clawvisor::testing
