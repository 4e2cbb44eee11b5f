#include "engine/reconcile/guest_config.h"

#include "engine/logging.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

void Quoted(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

}  // namespace

std::string GuestConfigJson(const GuestIdentity& who, const InstanceSecretValues& secrets,
                            const GuestTestSwitches& test) {
  std::string out = "{\n  \"schema\": 1,\n  \"account_id\": ";
  Quoted(out, who.account_id);
  out += ",\n  \"instance_id\": ";
  Quoted(out, who.instance_id);
  out += ",\n  \"revision\": " + std::to_string(who.revision) + ",\n  \"host_id\": ";
  Quoted(out, who.host_id);
  out += ",\n  \"gateway_port\": 18789,\n  \"gateway_token\": ";
  Quoted(out, secrets.gateway_token);
  out += ",\n  \"credentials\": [";
  bool first = true;
  for (const auto& credential : secrets.credentials) {
    out += first ? "\n" : ",\n";
    first = false;
    out += "    {\"name\": ";
    Quoted(out, credential.name);
    out += ", \"kind\": ";
    Quoted(out, CredentialKindName(credential.kind));
    out += ", \"value\": ";
    Quoted(out, credential.value);
    out += "}";
  }
  out += first ? "],\n" : "\n  ],\n";
  out += "  \"test\": {\n";
  out += std::string("    \"fail_health\": ") + (test.fail_health ? "true" : "false") + ",\n";
  out += std::string("    \"fill_disk\": ") + (test.fill_disk ? "true" : "false") + ",\n";
  out += std::string("    \"clear_disk\": ") + (test.clear_disk ? "true" : "false") + ",\n";
  out += "    \"write_marker\": ";
  Quoted(out, test.write_marker);
  out += ",\n";
  out +=
      "    \"crash_once_after_requests\": " + std::to_string(test.crash_once_after_requests) + "\n";
  out += "  }\n}\n";
  return out;
}

}  // namespace clawvisor
