#include "adapters/argon2/argon2_password_hasher.h"

#include <argon2.h>

#include <charconv>
#include <string>

namespace clawvisor {
namespace {

constexpr uint32_t kTagBytes = 32;
constexpr std::string_view kPrefix = "$argon2id$v=19$";

// Reads "name=<uint32>" at the front of `s` and the separator after it.
bool ReadParam(std::string_view& s, std::string_view name, char separator, uint32_t& out) {
  if (!s.starts_with(name) || s.size() <= name.size() || s[name.size()] != '=') return false;
  s.remove_prefix(name.size() + 1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || end == s.data()) return false;
  s.remove_prefix(static_cast<size_t>(end - s.data()));
  if (s.empty() || s.front() != separator) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

Result<Argon2Params> ParseArgon2idParams(std::string_view phc) {
  if (!phc.starts_with(kPrefix)) {
    return MakeError(Errc::kInvalidArgument, "not an Argon2id v19 PHC string");
  }
  std::string_view rest = phc.substr(kPrefix.size());
  Argon2Params p;
  if (!ReadParam(rest, "m", ',', p.memory_kib) || !ReadParam(rest, "t", ',', p.iterations) ||
      !ReadParam(rest, "p", '$', p.parallelism)) {
    return MakeError(Errc::kInvalidArgument, "malformed Argon2id parameters");
  }
  const size_t dollar = rest.find('$');
  if (dollar == 0 || dollar == std::string_view::npos || dollar + 1 >= rest.size()) {
    return MakeError(Errc::kInvalidArgument, "malformed Argon2id salt or hash");
  }
  return p;
}

Result<std::unique_ptr<Argon2idPasswordHasher>> Argon2idPasswordHasher::Create(
    Argon2Params params) {
  if (params.memory_kib < kOwaspMinimumArgon2.memory_kib ||
      params.iterations < kOwaspMinimumArgon2.iterations || params.parallelism < 1) {
    return MakeError(Errc::kInvalidArgument,
                     "Argon2id parameters below OWASP's minimum (m = 19 MiB, t = 2, p = 1)");
  }
  if (params.parallelism > 16 || params.memory_kib > 4u * 1024 * 1024 || params.iterations > 64) {
    return MakeError(Errc::kInvalidArgument, "Argon2id parameters are implausibly large");
  }
  return std::unique_ptr<Argon2idPasswordHasher>(new Argon2idPasswordHasher(params));
}

std::unique_ptr<Argon2idPasswordHasher> Argon2idPasswordHasher::ForTests(Argon2Params params) {
  return std::unique_ptr<Argon2idPasswordHasher>(new Argon2idPasswordHasher(params));
}

Result<std::string> Argon2idPasswordHasher::Hash(std::string_view password, std::string_view salt) {
  if (salt.size() != kPasswordSaltBytes) {
    return MakeError(Errc::kInvalidArgument, "the password salt must be 16 bytes");
  }
  const size_t encoded_len =
      argon2_encodedlen(params_.iterations, params_.memory_kib, params_.parallelism,
                        kPasswordSaltBytes, kTagBytes, Argon2_id);
  std::string encoded(encoded_len, '\0');
  const int rc = argon2id_hash_encoded(params_.iterations, params_.memory_kib, params_.parallelism,
                                       password.data(), password.size(), salt.data(), salt.size(),
                                       kTagBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return MakeError(rc == ARGON2_MEMORY_ALLOCATION_ERROR ? Errc::kUnavailable : Errc::kInternal,
                     std::string("argon2id: ") + argon2_error_message(rc));
  }
  encoded.resize(encoded.find('\0'));
  return encoded;
}

Result<bool> Argon2idPasswordHasher::Verify(std::string_view phc, std::string_view password) {
  auto params = ParseArgon2idParams(phc);
  if (!params) return std::unexpected(params.error());
  // A stored hash is ours, but bound the work a corrupted one could ask for anyway.
  if (params->memory_kib > 4u * 1024 * 1024 || params->iterations > 64 ||
      params->parallelism > 16) {
    return MakeError(Errc::kInvalidArgument, "Argon2id parameters are implausibly large");
  }
  const std::string encoded(phc);  // libargon2 wants a NUL-terminated string
  const int rc = argon2id_verify(encoded.c_str(), password.data(), password.size());
  if (rc == ARGON2_OK) return true;
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) {
    return MakeError(Errc::kUnavailable, "argon2id: out of memory");
  }
  return MakeError(Errc::kInvalidArgument, std::string("argon2id: ") + argon2_error_message(rc));
}

bool Argon2idPasswordHasher::NeedsRehash(std::string_view phc) const {
  auto p = ParseArgon2idParams(phc);
  if (!p) return true;
  return p->memory_kib < params_.memory_kib || p->iterations < params_.iterations ||
         p->parallelism < params_.parallelism;
}

}  // namespace clawvisor
