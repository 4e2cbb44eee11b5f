#include "engine/command/seal_fields.h"

#include <algorithm>

#include <google/protobuf/descriptor.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/reflection.h>
#include <type_traits>

namespace clawvisor {
namespace {

namespace pb = google::protobuf;

bool IsSealedType(const pb::FieldDescriptor* field) {
  return field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
         field->message_type() == v1::Sealed::descriptor();
}

bool IsPending(const v1::Sealed& sealed) {
  return sealed.key_id().empty() && !sealed.ciphertext().empty();
}

// Visits every Sealed field, recursively, with its dotted path from the envelope's payload (the
// envelope's own name is not part of the path). `M` is pb::Message to change the fields in
// place, or const pb::Message to only read them (no copy needed).
template <typename M>
void Walk(M& message, const std::string& prefix,
          const std::function<void(const std::string&, M&)>& visit) {
  constexpr bool kReadOnly = std::is_const_v<M>;
  const auto* reflection = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string path = prefix.empty() ? field->name() : prefix + "." + field->name();
    const auto visit_child = [&](M& child, const std::string& child_path) {
      if (IsSealedType(field)) {
        visit(child_path, child);
      } else {
        Walk<M>(child, child_path, visit);
      }
    };
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        const std::string item = path + "[" + std::to_string(i) + "]";
        if constexpr (kReadOnly) {
          visit_child(reflection->GetRepeatedMessage(message, field, i), item);
        } else {
          visit_child(*reflection->MutableRepeatedMessage(&message, field, i), item);
        }
      }
    } else if constexpr (kReadOnly) {
      visit_child(reflection->GetMessage(message, field), path);
    } else {
      visit_child(*reflection->MutableMessage(&message, field), path);
    }
  }
}

// The payload message of a command and the name of its oneof field, or null.
pb::Message* MutablePayload(v1::Command& command, std::string* name) {
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  const auto* field = command.GetReflection()->GetOneofFieldDescriptor(command, oneof);
  if (field == nullptr) return nullptr;
  *name = field->name();
  return command.GetReflection()->MutableMessage(&command, field);
}

// Visits the payload's string fields marked sensitive.
void ForEachSensitiveField(v1::Command& command,
                           const std::function<void(const std::string& path, pb::Message& payload,
                                                    const pb::FieldDescriptor* field)>& visit) {
  std::string name;
  pb::Message* payload = MutablePayload(command, &name);
  if (payload == nullptr) return;
  const auto* descriptor = payload->GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    if (field->options().GetExtension(v1::sensitive) &&
        field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING && !field->is_repeated()) {
      visit(name + "." + field->name(), *payload, field);
    }
  }
}

std::string CommandRecordId(const v1::Command& command) { return "cmd:" + command.command_id(); }

std::string DeterministicBytes(const pb::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  return bytes;
}

}  // namespace

Status SealCommandSecrets(v1::Command& command, Sealer& sealer) {
  if (!command.sealed_fields().empty()) {
    return MakeError(Errc::kInvalidArgument, "sealed_fields is set by the service; omit it");
  }
  Status status;
  const std::string record_id = CommandRecordId(command);
  const std::string account_id = command.account_id();
  auto* sealed_fields = command.mutable_sealed_fields();
  ForEachSensitiveField(command, [&](const std::string& path, pb::Message& payload,
                                     const pb::FieldDescriptor* field) {
    const auto* reflection = payload.GetReflection();
    const std::string plaintext = reflection->GetString(payload, field);
    if (!status || plaintext.empty()) return;
    auto sealed = sealer.Seal(SealContext{account_id, record_id, path}, plaintext);
    if (!sealed) {
      status = std::unexpected(sealed.error());
      return;
    }
    (*sealed_fields)[path] = std::move(*sealed);
    reflection->SetString(&payload, field, std::string());
  });
  return status;
}

Status OpenCommandSecrets(v1::Command& command, Sealer& sealer) {
  Status status;
  const std::string record_id = CommandRecordId(command);
  const std::string account_id = command.account_id();
  size_t opened = 0;
  ForEachSensitiveField(command, [&](const std::string& path, pb::Message& payload,
                                     const pb::FieldDescriptor* field) {
    auto it = command.sealed_fields().find(path);
    if (!status || it == command.sealed_fields().end()) return;
    auto plaintext = sealer.Open(SealContext{account_id, record_id, path}, it->second);
    if (!plaintext) {
      status = std::unexpected(plaintext.error());
      return;
    }
    payload.GetReflection()->SetString(&payload, field, std::move(*plaintext));
    ++opened;
  });
  if (status && opened != command.sealed_fields().size()) {
    return MakeError(Errc::kCorruption, "command carries sealed fields its payload does not have");
  }
  if (status) command.clear_sealed_fields();
  return status;
}

Result<std::string> CommandFingerprint(const v1::Command& command, Sealer& sealer) {
  v1::Command canonical = command;
  canonical.clear_actor();
  canonical.clear_issued_at_us();
  canonical.clear_schema_version();
  canonical.clear_correlation_id();
  canonical.clear_sealed_fields();
  canonical.clear_request_fingerprint();
  // Fields the service fills (hashes, verdicts, a new session's token hash) are not part of
  // what the client asked for.
  {
    const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
    const auto* which = canonical.GetReflection()->GetOneofFieldDescriptor(canonical, oneof);
    if (which != nullptr) {
      pb::Message* payload = canonical.GetReflection()->MutableMessage(&canonical, which);
      const auto* descriptor = payload->GetDescriptor();
      for (int i = 0; i < descriptor->field_count(); ++i) {
        const auto* field = descriptor->field(i);
        if (field->options().GetExtension(v1::service_owned)) {
          payload->GetReflection()->ClearField(payload, field);
        }
      }
    }
  }
  // Values the service generated (a gateway token) differ on every retry: they are moved out of
  // the request part into the submission part.
  v1::Command generated;
  bool has_generated = false;
  ForEachSensitiveField(canonical, [&](const std::string& path, pb::Message& payload,
                                       const pb::FieldDescriptor* field) {
    if (!field->options().GetExtension(v1::server_generated)) return;
    const auto* reflection = payload.GetReflection();
    std::string value = reflection->GetString(payload, field);
    if (value.empty()) return;
    (*generated.mutable_sealed_fields())[path].set_ciphertext(std::move(value));
    reflection->SetString(&payload, field, std::string());
    has_generated = true;
  });
  auto request = sealer.LookupHash("clawvisor.command.v1", DeterministicBytes(canonical));
  if (!request || !has_generated) return request;
  auto submission =
      sealer.LookupHash("clawvisor.command.generated.v1", DeterministicBytes(generated));
  if (!submission) return std::unexpected(submission.error());
  return *request + "." + *submission;
}

std::string_view RequestPart(std::string_view fingerprint) {
  return fingerprint.substr(0, fingerprint.find('.'));
}

bool IsFingerprint(std::string_view text) {
  auto hex64 = [](std::string_view part) {
    return part.size() == 64 && std::all_of(part.begin(), part.end(), [](char c) {
             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
  };
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return hex64(text);
  return hex64(text.substr(0, dot)) && hex64(text.substr(dot + 1));
}

bool HasPlaintextSecret(const v1::Command& command) {
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  const auto* which = command.GetReflection()->GetOneofFieldDescriptor(command, oneof);
  if (which == nullptr) return false;
  const pb::Message& payload = command.GetReflection()->GetMessage(command, which);
  const auto* descriptor = payload.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    if (field->options().GetExtension(v1::sensitive) &&
        field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING && !field->is_repeated() &&
        !payload.GetReflection()->GetString(payload, field).empty()) {
      return true;
    }
  }
  return false;
}

std::string NormalizeEmail(std::string_view email) {
  std::string out(email);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<std::string> EmailLookupHash(std::string_view email, Sealer& sealer) {
  return sealer.LookupHash(kEmailLookupPurpose, NormalizeEmail(email));
}

Status SealPendingFields(v1::Envelope& envelope, Sealer& sealer) {
  Status status;
  const std::string account_id = envelope.account_id();
  const std::string event_id = envelope.event_id();
  Walk<pb::Message>(envelope, "", [&](const std::string& path, pb::Message& m) {
    auto& sealed = static_cast<v1::Sealed&>(m);
    if (!status || !IsPending(sealed)) return;
    auto result = sealer.Seal(SealContext{account_id, event_id, path}, sealed.ciphertext());
    if (!result) {
      status = std::unexpected(result.error());
      return;
    }
    sealed = std::move(*result);
  });
  return status;
}

bool HasPendingSeal(const pb::Message& message) {
  bool pending = false;
  Walk<const pb::Message>(message, "", [&](const std::string&, const pb::Message& m) {
    if (IsPending(static_cast<const v1::Sealed&>(m))) pending = true;
  });
  return pending;
}

void ForEachSealedField(
    const pb::Message& message,
    const std::function<void(const std::string& path, const v1::Sealed& sealed)>& visit) {
  Walk<const pb::Message>(message, "", [&](const std::string& path, const pb::Message& m) {
    visit(path, static_cast<const v1::Sealed&>(m));
  });
}

}  // namespace clawvisor
