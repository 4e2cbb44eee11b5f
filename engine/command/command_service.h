#pragma once

// CommandService: how a caller (the HTTP API, a CLI, a test) submits a command and learns its
// outcome. The embedded implementation appends the command to the commands topic and waits for
// the processor's decision to come back through the events topic.
//
// Thread-safety: Submit may be called concurrently from any number of threads.

#include <chrono>
#include <optional>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "events/result.h"

namespace clawvisor {

class CommandService {
 public:
  virtual ~CommandService() = default;

  // Submits `command` (command_id, account_id and payload set; actor filled in by the caller's
  // authentication). Returns the outcome once decided, or kTimeout when it was not decided within
  // `wait` (it stays queued and will be decided: look it up later by command id).
  // A command id already decided returns the recorded outcome and appends nothing.
  virtual Result<v1::CommandOutcome> Submit(const v1::Command& command,
                                            std::chrono::milliseconds wait) = 0;

  // The recorded outcome of a command, if it was decided.
  virtual Result<std::optional<v1::CommandOutcome>> Lookup(std::string_view account_id,
                                                           std::string_view command_id) = 0;
};

}  // namespace clawvisor
