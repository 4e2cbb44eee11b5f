#pragma once

// Identifier rules of the HTTP API, and the ids it derives for the client.
//
// Derived ids are a pure function of the command id (and, for an instance, of its account), so a
// client that retries a registration or an instance creation with the same command id lands on
// the same account or instance instead of creating a second one: the processor then answers the
// retry with the recorded outcome (D2).
//
// Thread-safety: every function here is pure and safe to call from any thread.

#include <string>
#include <string_view>

#include "engine/domain/decider.h"

namespace clawvisor {

// The id rules are the domain's (engine/decider.h), so the API and the processor agree.
// Ids taken from a URL path (account, instance) follow the resource-id rule.
inline bool IsValidPathId(std::string_view id) { return IsValidResourceId(id); }

// The rules as error messages state them.
inline constexpr std::string_view kIdRule = "1..64 characters of [A-Za-z0-9._:-]";
inline constexpr std::string_view kCommandIdRule = "1..128 characters of [A-Za-z0-9._:-]";

// Lowercase RFC 4648 base32 (alphabet a-z2-7), unpadded.
std::string Base32Lower(std::string_view bytes);

// "acc_" + the first 26 characters of base32(SHA-256("clawvisor/account/" + command_id)).
std::string DeriveAccountId(std::string_view command_id);
// "ins_" + the first 26 characters of
// base32(SHA-256("clawvisor/instance/" + account_id + "/" + command_id)).
std::string DeriveInstanceId(std::string_view account_id, std::string_view command_id);

}  // namespace clawvisor
