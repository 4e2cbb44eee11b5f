#pragma once

// LogCommandService: CommandService over an EventLog, for a process that runs the processor and
// the projector in-process (`clawvisor serve`).
//
// Submit():  watch the outcome board ─▶ already decided? (commands projection) ─▶ answer
//                     │ no
//                     ▼
//            append the command to its account's partition (durable) ─▶ wait for the outcome
//                     ▼
//            wait until the projector has applied its events (read-your-writes) ─▶ answer
//
// Watching before looking up closes the race with a concurrent duplicate: whichever way the
// outcome arrives, the waiter sees it.
//
// Thread-safety: Submit and Lookup are safe from any number of threads.

#include <functional>
#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/command/outcome_board.h"
#include "engine/command/password_service.h"
#include "engine/command/totp_service.h"
#include "engine/metrics.h"
#include "engine/sealer.h"
#include "events/event_log.h"

namespace clawvisor {

class LogCommandService final : public CommandService {
 public:
  // Finds a decided command's recorded outcome (the commands projection).
  using OutcomeLookup = std::function<Result<std::optional<v1::CommandOutcome>>(
      std::string_view account_id, std::string_view command_id)>;

  // `sealer` seals the command's sensitive fields before it is stored (design D4).
  LogCommandService(EventLog& log, OutcomeBoard& board, OutcomeLookup lookup, Watermarks& projected,
                    Sealer& sealer, Clock& clock, MetricsRegistry& metrics,
                    PasswordService* passwords = nullptr, TotpService* totp = nullptr);

  Result<v1::CommandOutcome> Submit(const v1::Command& command,
                                    std::chrono::milliseconds wait) override;
  Result<std::optional<v1::CommandOutcome>> Lookup(std::string_view account_id,
                                                   std::string_view command_id) override;

 private:
  EventLog& log_;
  PasswordService* passwords_;  // null: commands carrying passwords are refused by the processor
  TotpService* totp_;           // null: commands carrying TOTP codes are refused likewise
  OutcomeBoard& board_;
  OutcomeLookup lookup_;
  Watermarks& projected_;
  Sealer& sealer_;
  Clock& clock_;
  int32_t partition_count_ = 0;
  Histogram& submit_seconds_;
  Counter& timeouts_;
  Counter& appended_;
};

}  // namespace clawvisor
