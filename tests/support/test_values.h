#pragma once

// Values tests share.

#include "clawvisor/v1/common.pb.h"

namespace clawvisor {

// A well-formed gateway token (43 base64url characters, as the API draws them).
inline constexpr char kTestGatewayToken[] = "gAtEwAyToKeN0123456789_abcdefghijklmnopqrst";
// A CreateInstance's volume key (the data disk's passphrase), as the API draws it.
inline constexpr char kTestVolumeKey[] = "vOlUmEkEy0123456789_abcdefghijklmnopqrstuvw";

// The web tier acting as the addressed account's owner, as the HTTP API stamps it (the loopback
// development caller has the same kind and role, under the id "local").
inline v1::Actor WebTierOwner() {
  v1::Actor web;
  web.set_kind(v1::Actor::KIND_SERVICE);
  web.set_id("web");
  web.set_role(v1::ROLE_OWNER);
  return web;
}

}  // namespace clawvisor
