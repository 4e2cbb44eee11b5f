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

#include "clawvisor/v1/events.pb.h"
#include "engine/sealer.h"
#include "events/result.h"

namespace clawvisor {

Status SealPendingFields(v1::Envelope& envelope, Sealer& sealer);
bool HasPendingSeal(const google::protobuf::Message& message);

// Calls `visit(path, sealed)` for every Sealed field set in `message`.
void ForEachSealedField(
    const google::protobuf::Message& message,
    const std::function<void(const std::string& path, const v1::Sealed& sealed)>& visit);

}  // namespace clawvisor
