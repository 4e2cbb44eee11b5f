#pragma once

// PasswordHasher: the memory-hard password hash (port). The implementation is Argon2id through
// libargon2 (adapters/argon2); the domain only ever holds its PHC strings, sealed (design D4).
//
// The salt is given by the caller so that a retried command hashes to the same PHC string (the
// command service derives it from a keyed hash of the account and command id: unique per
// command, unpredictable without the vault's lookup key) and idempotency keys keep meaning one
// request.
//
// Thread-safety: implementations are safe for concurrent use.

#include <cstdint>
#include <string>
#include <string_view>

#include "events/result.h"

namespace clawvisor {

struct Argon2Params {
  uint32_t memory_kib = 19 * 1024;  // OWASP's minimum for Argon2id: m = 19 MiB, t = 2, p = 1
  uint32_t iterations = 2;
  uint32_t parallelism = 1;
};
inline constexpr Argon2Params kOwaspMinimumArgon2{};
inline constexpr size_t kPasswordSaltBytes = 16;

class PasswordHasher {
 public:
  virtual ~PasswordHasher() = default;
  // The PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash) of `password` with `salt`
  // (kPasswordSaltBytes bytes).
  virtual Result<std::string> Hash(std::string_view password, std::string_view salt) = 0;
  // Whether `password` matches `phc` (constant time in the password); an error for a malformed
  // PHC string.
  virtual Result<bool> Verify(std::string_view phc, std::string_view password) = 0;
  // Whether `phc` was made with weaker parameters than this hasher's (rehash at next login).
  virtual bool NeedsRehash(std::string_view phc) const = 0;
};

}  // namespace clawvisor
