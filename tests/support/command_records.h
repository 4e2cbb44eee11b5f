#pragma once

// Commands as the web tier puts them on the commands topic, for the real-broker tests: built,
// sealed, encoded and placed by account.

#include <string>

#include "clawvisor/v1/commands.pb.h"
#include "engine/sealer.h"
#include "events/event_log.h"
#include "events/result.h"

namespace clawvisor::testing {

// A registration of `account` (email <account>@example.com) by the web tier.
v1::Command RegisterCommand(const std::string& account, const std::string& command_id);
// An instance `instance` named "bot" in `account`.
v1::Command CreateInstanceCommand(const std::string& account, const std::string& command_id,
                                  const std::string& instance);
// The commands-topic record of `command`: its secrets sealed, encoded, in its account's
// partition of `partitions`.
Result<OutgoingRecord> CommandRecord(v1::Command command, Sealer& sealer, int32_t partitions);

}  // namespace clawvisor::testing
