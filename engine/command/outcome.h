#pragma once

// The outcome fold: how a command's answer (v1::CommandOutcome) is built from its events, and
// the answers to a repeated, reused or erased-account command. The processor, the command
// service, the commands projection and the CLI all answer through these, so every path gives a
// repeated command the same answer as the first.
//
// Thread-safety: pure functions.

#include <cstdint>
#include <string>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "engine/clock.h"

namespace clawvisor {

// The record key of the processor's decided-command index.
std::string CommandKey(std::string_view account_id, std::string_view command_id);

// A command's outcome, folded from its events (in order). The processor and the commands
// projection both build outcomes this way, so both answer a repeated command identically.
v1::CommandOutcome OutcomeOfFirstEvent(const v1::Envelope& event, int32_t partition,
                                       int64_t offset);
void AddToOutcome(v1::CommandOutcome& outcome, const v1::Envelope& event);

// Whether a repeated command is the request `recorded` was decided for, and the answer when it
// is not (a command id reused for a different request: nothing is appended).
bool SameRequest(const v1::CommandOutcome& recorded, std::string_view fingerprint);
// Whether `recorded` was decided for this very submission, generated values included (only
// that submission may show a gateway token it generated; a retry or a racing duplicate may not).
bool SameSubmission(const v1::CommandOutcome& recorded, std::string_view fingerprint);
v1::CommandOutcome ReusedKeyOutcome(std::string_view account_id, std::string_view command_id);
// The answer to a command for an erased account: refused, and not recorded (nothing more is
// written about the account). `request_hash` may be empty (then any request matches it).
v1::CommandOutcome AccountErasedOutcome(std::string_view account_id, std::string_view command_id,
                                        int32_t partition, TimestampUs now_us,
                                        std::string_view request_hash);

}  // namespace clawvisor
