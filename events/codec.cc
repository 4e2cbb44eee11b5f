#include "events/codec.h"

#include <google/protobuf/descriptor.h>

#include <cstdio>
#include <ctime>

namespace clawvisor {
namespace {

template <typename Message>
std::string_view OneofFieldName(const Message& message, const char* oneof_name) {
  const auto* oneof = Message::descriptor()->FindOneofByName(oneof_name);
  const auto* field = message.GetReflection()->GetOneofFieldDescriptor(message, oneof);
  if (field == nullptr) return "unknown";
  return field->name();
}

Status CheckSchemaVersion(uint32_t version, std::string_view what) {
  if (version == 0) {
    return MakeError(Errc::kCorruption, std::string(what) + " has no schema version");
  }
  if (version > kSchemaVersion) {
    return MakeError(Errc::kUnsupported,
                     std::string(what) + " has schema version " + std::to_string(version) +
                         ", newer than the " + std::to_string(kSchemaVersion) +
                         " this build reads; upgrade clawvisor before reading this log");
  }
  return {};
}

// Upcasters from each older schema version to the next. Version 1 is the first: none yet.
void UpcastEnvelope(v1::Envelope& envelope) { envelope.set_schema_version(kSchemaVersion); }
void UpcastCommand(v1::Command& command) { command.set_schema_version(kSchemaVersion); }

}  // namespace

std::string EncodeEnvelope(const v1::Envelope& envelope) {
  std::string out;
  envelope.SerializeToString(&out);
  return out;
}

Result<v1::Envelope> DecodeEnvelope(std::string_view bytes) {
  v1::Envelope envelope;
  if (auto ok = DecodeEnvelopeInto(bytes, envelope); !ok) return std::unexpected(ok.error());
  return envelope;
}

Status DecodeEnvelopeInto(std::string_view bytes, v1::Envelope& envelope) {
  if (!envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return MakeError(Errc::kCorruption, "event record is not a clawvisor.v1.Envelope");
  }
  if (auto ok = CheckSchemaVersion(envelope.schema_version(), "event"); !ok) return ok;
  UpcastEnvelope(envelope);
  return {};
}

std::string EncodeCommand(const v1::Command& command) {
  std::string out;
  command.SerializeToString(&out);
  return out;
}

Result<v1::Command> DecodeCommand(std::string_view bytes) {
  v1::Command command;
  if (!command.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return MakeError(Errc::kCorruption, "command record is not a clawvisor.v1.Command");
  }
  if (auto ok = CheckSchemaVersion(command.schema_version(), "command"); !ok) {
    return std::unexpected(ok.error());
  }
  UpcastCommand(command);
  return command;
}

std::string_view EventTypeName(const v1::Envelope& envelope) {
  return OneofFieldName(envelope, "payload");
}

std::string_view CommandTypeName(const v1::Command& command) {
  return OneofFieldName(command, "payload");
}

std::string FormatTimestampUs(int64_t us) {
  int64_t seconds = us / 1'000'000;
  int64_t micros = us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

std::vector<Header> CloudEventHeaders(const v1::Envelope& envelope) {
  std::string subject =
      envelope.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE
          ? "accounts/" + envelope.account_id() + "/instances/" + envelope.aggregate_id()
          : "accounts/" + envelope.account_id();
  return {
      {"ce_specversion", "1.0"},
      {"ce_id", envelope.event_id()},
      {"ce_source", "/clawvisor/processor"},
      {"ce_type", "io.clawvisor.v1." + std::string(EventTypeName(envelope))},
      {"ce_time", FormatTimestampUs(envelope.occurred_at_us())},
      {"ce_subject", std::move(subject)},
      {"content-type", "application/protobuf"},
      {"ce_dataschema", "clawvisor.v1.Envelope"},
  };
}

std::string_view CredentialKindName(v1::CredentialKind kind) {
  switch (kind) {
    case v1::CREDENTIAL_KIND_MODEL_API_KEY:
      return "model_api_key";
    case v1::CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN:
      return "telegram_bot_token";
    case v1::CREDENTIAL_KIND_DISCORD_BOT_TOKEN:
      return "discord_bot_token";
    case v1::CREDENTIAL_KIND_WHATSAPP_TOKEN:
      return "whatsapp_token";
    default:
      return "unspecified";
  }
}

}  // namespace clawvisor
