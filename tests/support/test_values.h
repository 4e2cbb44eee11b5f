#pragma once

// Values tests share.

namespace clawvisor {

// A well-formed gateway token (43 base64url characters, as the API draws them).
inline constexpr char kTestGatewayToken[] = "gAtEwAyToKeN0123456789_abcdefghijklmnopqrst";

}  // namespace clawvisor
