#pragma once

// An instance's hooks token: what its OpenClaw gateway's webhook ingress checks (hooks.token),
// derived from its gateway token so that nothing more is stored, and distinct from it (OpenClaw
// refuses a hooks.token equal to the gateway token, and a webhook URL must not carry operator
// power): the hex SHA-256 of "clawvisor-hooks-v1:" + gateway token. The guest computes the same
// (ops/guest/README.md); only the front door sends it, on webhook deliveries.

#include <openssl/sha.h>

#include <string>
#include <string_view>

namespace clawvisor::front_door {

inline std::string HooksTokenFor(std::string_view gateway_token) {
  const std::string input = "clawvisor-hooks-v1:" + std::string(gateway_token);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

}  // namespace clawvisor::front_door
