#pragma once

// Argon2idPasswordHasher: PasswordHasher on libargon2's Argon2id (RFC 9106), version 0x13,
// 32-byte tags, PHC-encoded. Parameters below OWASP's minimum (m = 19 MiB, t = 2, p = 1) are
// refused unless the hasher is built for unit tests (ForTests), so production can never run
// weaker by accident.
//
// Thread-safety: stateless after construction; Hash and Verify are safe for concurrent use
// (each call allocates its own m KiB of working memory).

#include <memory>

#include "engine/command/password_hasher.h"

namespace clawvisor {

class Argon2idPasswordHasher final : public PasswordHasher {
 public:
  static Result<std::unique_ptr<Argon2idPasswordHasher>> Create(Argon2Params params);
  // Cheap parameters for unit tests under sanitizers; never used by the binary.
  static std::unique_ptr<Argon2idPasswordHasher> ForTests(Argon2Params params);

  Result<std::string> Hash(std::string_view password, std::string_view salt) override;
  Result<bool> Verify(std::string_view phc, std::string_view password) override;
  bool NeedsRehash(std::string_view phc) const override;

  const Argon2Params& params() const { return params_; }

 private:
  explicit Argon2idPasswordHasher(Argon2Params params) : params_(params) {}
  Argon2Params params_;
};

// The parameters of an Argon2id PHC string; an error when it is not one.
Result<Argon2Params> ParseArgon2idParams(std::string_view phc);

}  // namespace clawvisor
