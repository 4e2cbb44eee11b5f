#pragma once

// TOTP (RFC 6238) with HMAC-SHA-1 (RFC 2104, FIPS 180-4), 30-second steps and 6 digits: what
// every authenticator app speaks. Pure functions, no I/O: the engine verifies codes without
// OpenSSL (layering), so SHA-1 is implemented here (ARCHITECTURE.md, "TOTP": why not a port).
//
// SHA-1's collision weakness does not touch HMAC-SHA-1, whose security rests on the compression
// function as a PRF (RFC 6238 section 5.1 and RFC 2104); it is the algorithm authenticator apps
// assume when the URI names none.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/clock.h"

namespace clawvisor {

inline constexpr int64_t kTotpStepSeconds = 30;
inline constexpr int kTotpDigits = 6;
inline constexpr size_t kTotpSecretBytes = 20;  // 160 bits (RFC 4226 section 4's recommendation)

using Sha1Digest = std::array<uint8_t, 20>;
Sha1Digest Sha1(std::span<const uint8_t> message);
Sha1Digest HmacSha1(std::span<const uint8_t> key, std::span<const uint8_t> message);

// RFC 4648 base32 (A-Z2-7), without padding. Decoding accepts lower case and ignores spaces and
// '=' padding; nullopt on any other character or on leftover bits that are not zero.
std::string Base32Encode(std::span<const uint8_t> bytes);
std::optional<std::string> Base32Decode(std::string_view text);

// The time step that contains `unix_seconds` (T = floor(t / 30), RFC 6238 section 4.2).
uint64_t TotpTimeStep(int64_t unix_seconds);

// The HOTP value (RFC 4226) of `secret` at `counter`, truncated to `digits` decimal digits.
uint32_t Hotp(std::span<const uint8_t> secret, uint64_t counter, int digits = kTotpDigits);

// The TOTP code of `secret` at `time_step`, zero-padded to `digits` characters.
std::string TotpCode(std::span<const uint8_t> secret, uint64_t time_step, int digits = kTotpDigits);

// Whether `code` is kTotpDigits ASCII digits.
bool IsTotpCodeShape(std::string_view code);

// The time step among now-1, now, now+1 (clock drift of one step either way, RFC 6238 section
// 5.2) whose code is `code`, or nullopt. Every candidate is computed and compared in constant
// time, so the answer's timing does not tell which step (if any) matched.
std::optional<uint64_t> MatchTotp(std::span<const uint8_t> secret, std::string_view code,
                                  TimestampUs now_us);

// The provisioning URI authenticator apps read from a QR code (Google Authenticator's Key Uri
// Format):
// otpauth://totp/ISSUER:LABEL?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30 with
// ISSUER and LABEL percent-encoded.
std::string OtpauthUri(std::string_view issuer, std::string_view label,
                       std::string_view base32_secret);

// Recovery codes: kRecoveryCodeCount codes of 80 random bits each, written as four groups of
// four base32 characters in lower case ("abcd-efgh-ijkl-mnop").
inline constexpr size_t kRecoveryCodeCount = 10;
inline constexpr size_t kRecoveryCodeBytes = 10;
std::string FormatRecoveryCode(std::span<const uint8_t, kRecoveryCodeBytes> bytes);
// The canonical form of a code a user typed (lower case, without '-' and spaces), or nullopt if
// it is not 16 base32 characters.
std::optional<std::string> NormalizeRecoveryCode(std::string_view typed);

}  // namespace clawvisor
