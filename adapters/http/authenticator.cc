#include "adapters/http/authenticator.h"

#include "adapters/http/json_check.h"

namespace clawvisor {

Result<v1::Actor> LocalServiceAuthenticator::Authenticate(const RequestInfo& request) {
  v1::Actor actor;
  actor.set_kind(v1::Actor::KIND_SERVICE);
  actor.set_id("local");
  actor.set_role(v1::ROLE_OWNER);
  actor.set_source_ip(request.peer_ip);
  actor.set_user_agent(SanitizeUserAgent(request.user_agent));
  return actor;
}

std::string SanitizeUserAgent(std::string_view raw) {
  std::string out;
  size_t i = 0;
  while (i < raw.size()) {
    const size_t len = Utf8SequenceLength(raw.substr(i));
    if (len == 0) {  // an invalid byte: drop it and resynchronise on the next one
      ++i;
      continue;
    }
    const std::string_view ch = raw.substr(i, len);
    i += len;
    const auto b0 = static_cast<unsigned char>(ch[0]);
    const bool c0_or_del = len == 1 && (b0 < 0x20 || b0 == 0x7f);
    const bool c1 = len == 2 && b0 == 0xc2 && static_cast<unsigned char>(ch[1]) < 0xa0;
    if (c0_or_del || c1) continue;
    if (out.size() + len > kMaxUserAgentBytes) break;
    out += ch;
  }
  return out;
}

}  // namespace clawvisor
