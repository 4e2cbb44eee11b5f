#pragma once

// The wire codec of commands and events: protobuf binary inside a schema-versioned message.
//
// Decoding refuses a schema version newer than this build understands (a newer writer's records
// must not be half-read by an older reader) and upcasts older ones to the current shape, so the
// rest of the engine only ever sees current messages.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "events/event_log.h"
#include "events/result.h"

namespace clawvisor {

namespace v1 = ::clawvisor::v1;

// The schema version this build writes. Raise it when a payload changes shape, and add the
// upcaster from the previous version in codec.cc.
inline constexpr uint32_t kSchemaVersion = 1;

std::string EncodeEnvelope(const v1::Envelope& envelope);
Result<v1::Envelope> DecodeEnvelope(std::string_view bytes);
// The same into a message the caller reuses (a long scan keeps its string buffers).
Status DecodeEnvelopeInto(std::string_view bytes, v1::Envelope& envelope);

std::string EncodeCommand(const v1::Command& command);
Result<v1::Command> DecodeCommand(std::string_view bytes);

// The stable snake_case name of an event's payload ("instance_created") or a command's
// ("create_instance"): the oneof field's name, which never changes once published.
std::string_view EventTypeName(const v1::Envelope& envelope);
std::string_view CommandTypeName(const v1::Command& command);
// The stable lower-case name of a credential kind ("model_api_key", ...; "unspecified"), as the
// guest's configuration and the audit export spell it.
std::string_view CredentialKindName(v1::CredentialKind kind);

// CloudEvents 1.0 binary-mode Kafka headers for an event (ce_specversion, ce_id, ce_source,
// ce_type, ce_time, ce_subject, content-type), so ordinary Kafka tools can route and read it.
std::vector<Header> CloudEventHeaders(const v1::Envelope& envelope);

// RFC 3339 UTC with microseconds: "2026-11-21T01:58:03.123456Z".
std::string FormatTimestampUs(int64_t us);

}  // namespace clawvisor
