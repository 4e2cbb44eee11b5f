#include "engine/seal_fields.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

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

// Visits every message-typed field, recursively, with its dotted path from the envelope's
// payload (the envelope's own name is not part of the path).
void Walk(pb::Message& message, const std::string& prefix,
          const std::function<void(const std::string&, pb::Message&)>& visit) {
  const auto* reflection = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string path = prefix.empty() ? field->name() : prefix + "." + field->name();
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        const std::string item = path + "[" + std::to_string(i) + "]";
        auto* child = reflection->MutableRepeatedMessage(&message, field, i);
        if (IsSealedType(field))
          visit(item, *child);
        else
          Walk(*child, item, visit);
      }
    } else {
      auto* child = reflection->MutableMessage(&message, field);
      if (IsSealedType(field))
        visit(path, *child);
      else
        Walk(*child, path, visit);
    }
  }
}

}  // namespace

Status SealPendingFields(v1::Envelope& envelope, Sealer& sealer) {
  Status status;
  const std::string account_id = envelope.account_id();
  const std::string event_id = envelope.event_id();
  Walk(envelope, "", [&](const std::string& path, pb::Message& m) {
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
  std::unique_ptr<pb::Message> copy(message.New());
  copy->CopyFrom(message);
  Walk(*copy, "", [&](const std::string&, pb::Message& m) {
    if (IsPending(static_cast<v1::Sealed&>(m))) pending = true;
  });
  return pending;
}

void ForEachSealedField(
    const pb::Message& message,
    const std::function<void(const std::string& path, const v1::Sealed& sealed)>& visit) {
  std::unique_ptr<pb::Message> copy(message.New());
  copy->CopyFrom(message);
  Walk(*copy, "", [&](const std::string& path, pb::Message& m) {
    visit(path, static_cast<const v1::Sealed&>(m));
  });
}

}  // namespace clawvisor
