#pragma once

// The password policy (NIST SP 800-63B 3.1.1.2, OWASP ASVS 5 V6): length and a blocklist, no
// composition rules.
//   - 8 to 256 characters (Unicode code points), at most 1024 bytes; nothing is truncated: the
//     whole password is hashed. Any printable character, spaces included, is allowed.
//   - Refused when it is on the common-password list shipped with the project
//     (engine/domain/data/common_passwords.txt), compared case-insensitively, also after stripping
//     trailing digits and punctuation ("Password123!" is "password"); when it is one character
//     repeated or a run of consecutive characters ("12345678", "abcdefgh"); or when it contains
//     the account's email local part (context-specific words).
//
// Thread-safety: pure functions (the list is parsed once, thread-safely, on first use).

#include <optional>
#include <string>
#include <string_view>

namespace clawvisor {

inline constexpr size_t kMinPasswordChars = 8;
inline constexpr size_t kMaxPasswordChars = 256;
inline constexpr size_t kMaxPasswordBytes = 1024;

// Why `password` is refused (a message for people, never quoting it), or nullopt if acceptable.
// `email` (may be empty) gives the context-specific words.
std::optional<std::string> PasswordPolicyViolation(std::string_view password,
                                                   std::string_view email = {});

// Whether `phc` looks like what the PasswordHasher port produces (the processor's sanity check
// of a hash that arrives in a command).
bool IsArgon2idPhc(std::string_view phc);

// How many entries the compiled-in common-password list holds (for tests and logs).
size_t CommonPasswordCount();

}  // namespace clawvisor
