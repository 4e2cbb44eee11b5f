#pragma once

// Internal to engine/domain: the building blocks every aggregate's decisions share (the
// rejection, the event skeletons, the pending seal, the loose checks of text a person typed).
// Not for use outside engine/domain; the public surface is engine/domain/decider.h.
//
// Thread-safety: pure functions.

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "clawvisor/v1/events.pb.h"
#include "engine/domain/account_state.h"
#include "engine/domain/decision.h"

namespace clawvisor::decide {

using Events = std::vector<v1::Envelope>;

inline std::unexpected<Rejection> Reject(v1::RejectionReason reason, std::string message) {
  return std::unexpected<Rejection>(Rejection{reason, std::move(message)});
}

// An event of the account aggregate of `state`; the processor stamps the rest of the envelope.
inline v1::Envelope AccountEvent(const AccountState& state) {
  v1::Envelope e;
  e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  e.set_aggregate_id(state.account_id);
  return e;
}

inline v1::Envelope InstanceEvent(const std::string& instance_id) {
  v1::Envelope e;
  e.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
  e.set_aggregate_id(instance_id);
  return e;
}

// A field for the processor to seal: plaintext rides in `ciphertext` with no key id.
inline void PendingSeal(v1::Sealed* field, const std::string& plaintext) {
  field->Clear();
  field->set_ciphertext(plaintext);
}

// A deliberately loose check: the address is verified by mail, not by grammar (RFC 5321 limits).
bool IsPlausibleEmail(std::string_view email);

// At most `max_bytes` of `text`, cut on a character boundary: an event string must stay valid
// UTF-8 or the event could never be read back.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

// 64 lowercase hex digits: the form of a keyed hash (engine/sealer.h LookupHash).
bool IsLowerHex64(std::string_view s);

// The raw bytes of 64 lowercase hex digits (a keyed hash), or "" if `hex` is not that.
std::string HashBytes(std::string_view hex);

}  // namespace clawvisor::decide
