#pragma once

// Generated values: the secrets and tokens a command carries that its client never chooses, drawn
// by whoever turns a request into a command (the HTTP API today; a web tier producing commands
// straight to the log could call the same functions) and shown to the caller once.
//
//   create_instance / rotate_gateway_token -> gateway_token (256 bits, base64url)
//   create_instance                        -> volume_key (same shape; never shown: the data
//                                             disk's passphrase)
//   request_password_reset                 -> token (same shape; the web tier mails it)
//   issue_console_link                     -> token (same shape; the member's browser uses it)
//   rotate_webhook_path                    -> token (same shape; the path a chat platform posts to)
//   enroll_totp                            -> secret (160 bits, base32) and ten recovery codes
//
// A value the client already set is refused rather than overwritten, so a client that believes
// it can choose one learns that it cannot. Fields marked (service_owned) in commands.proto are
// filled by the command service itself (a password hash, a verified flag); SetServiceOwnedField
// names one a client set, for the same refusal.
//
// Randomness comes from the injected RandomSource (design D5), so tests can fix it.
//
// Thread-safety: pure functions of their arguments; safe from any thread if `random` is.

#include <optional>
#include <string>
#include <vector>

#include "clawvisor/v1/commands.pb.h"
#include "engine/random.h"
#include "events/result.h"

namespace clawvisor {

// 32 random bytes, base64url without padding (43 characters).
std::string NewGatewayToken(RandomSource& random);

// What a TOTP enrolment draws: the 160-bit secret (base32) and ten recovery codes.
struct TotpEnrolment {
  std::string secret;
  std::vector<std::string> recovery_codes;
};
TotpEnrolment NewTotpEnrolment(RandomSource& random);

// What DrawGeneratedValues wrote into a command, to show the caller once. Empty when the command
// has none.
struct GeneratedValues {
  std::string gateway_token;          // create_instance, rotate_gateway_token
  std::string reset_token;            // request_password_reset
  std::string console_link;           // issue_console_link
  std::string webhook_token;          // rotate_webhook_path
  std::optional<TotpEnrolment> totp;  // enroll_totp
};

// Draws the values `command`'s payload needs and writes them into it. kInvalidArgument, with a
// message naming the field (never a value), when the client set one of them.
Result<GeneratedValues> DrawGeneratedValues(v1::Command& command, RandomSource& random);

// The path ("payload.field") of a (service_owned) payload field the client set, if any.
std::optional<std::string> SetServiceOwnedField(const v1::Command& command);

}  // namespace clawvisor
