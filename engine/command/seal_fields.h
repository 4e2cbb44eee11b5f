#pragma once

// Sealing of pending fields. Decide() leaves each sensitive value as a `Sealed` with plaintext in
// `ciphertext` and no `key_id`; SealPendingFields() finds every such field anywhere in the
// envelope (by reflection, so a new event type needs no code here) and seals it, bound to the
// account, the event id and the field's path ("account_registered.email").
//
// HasPendingSeal() is the last check before an envelope leaves the processor: an envelope that
// still holds plaintext is a bug, and the processor aborts rather than write it.

#include <functional>
#include <string>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "engine/sealer.h"
#include "events/result.h"

namespace clawvisor {

Status SealPendingFields(v1::Envelope& envelope, Sealer& sealer);

// The keyed hash that finds an account by its email without storing the email: LookupHash under
// kEmailLookupPurpose of the address with ASCII letters lower-cased (the domain is
// case-insensitive; we treat the local part so too, as every major provider does). Only the
// projector's index holds it (never an event: the log outlives an erasure, the index does not).
inline constexpr std::string_view kEmailLookupPurpose = "clawvisor.email.v1";
std::string NormalizeEmail(std::string_view email);
Result<std::string> EmailLookupHash(std::string_view email, Sealer& sealer);
bool HasPendingSeal(const google::protobuf::Message& message);

// Commands: every payload field marked `[(sensitive) = true]` is moved, sealed, into
// `sealed_fields` before the command is stored, bound to the account, "cmd:" + command id and
// the field's path; OpenCommandSecrets() puts the plaintext back for Decide(). A command with
// sealed_fields already set is refused by SealCommandSecrets (only the service sets them).
Status SealCommandSecrets(v1::Command& command, Sealer& sealer);
Status OpenCommandSecrets(v1::Command& command, Sealer& sealer);
// A keyed hash (Sealer::LookupHash) of what a command asks for: its account, id and payload
// with secrets in the clear, but not the fields the service stamps (actor, times, versions,
// sealed copies). Two submissions of one command id with different fingerprints are different
// requests. REQUIRES: the command's secrets are open (not in sealed_fields).
//
// Fields marked `server_generated` (a gateway token the API drew) are not part of the request:
// a retry draws a new value yet is the same request. When any is set the fingerprint is
// "<request>.<submission>", the second part a keyed hash of the generated values; RequestPart()
// is what idempotency compares, the whole string tells which submission's values were decided.
Result<std::string> CommandFingerprint(const v1::Command& command, Sealer& sealer);
std::string_view RequestPart(std::string_view fingerprint);
// Whether `text` has the form of a fingerprint (64 lowercase hex digits, or two such joined by
// a '.').
bool IsFingerprint(std::string_view text);

// True if a sensitive field of the payload holds plaintext.
bool HasPlaintextSecret(const v1::Command& command);

// Calls `visit(path, sealed)` for every Sealed field set in `message`.
void ForEachSealedField(
    const google::protobuf::Message& message,
    const std::function<void(const std::string& path, const v1::Sealed& sealed)>& visit);

}  // namespace clawvisor
