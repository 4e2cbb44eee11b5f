#pragma once

// The identifiers of the domain: the checks every entry point (API, command service, processor,
// host registry) applies to ids it is given, and the ids the domain derives itself (so a replay
// of the same events derives the same ones).
//
// Thread-safety: pure functions.

#include <cstdint>
#include <string>
#include <string_view>

namespace clawvisor {

// Checks of identifiers shared by every entry point (API, processor): 1..128 characters of
// [A-Za-z0-9._:-] for command ids; 1..64 for account and instance ids, which also may not be
// "." or "..".
bool IsValidCommandId(std::string_view id);
bool IsValidResourceId(std::string_view id);

// The id of the session whose token has `token_hash` (hex): "ses_" + its first 24 digits.
std::string SessionIdFor(std::string_view token_hash);

// The user id of an account's `sequence`-th invited member: "usr_" + the account id's suffix +
// "_m" + the sequence number (the owner is "usr_" + the suffix).
std::string InvitedUserId(std::string_view account_id, uint64_t sequence);

// The last four characters of a credential, as events and views keep them ("" if the value is
// too short to show any).
std::string CredentialLast4(std::string_view value);

}  // namespace clawvisor
