#include "adapters/http/ids.h"

#include <array>
#include <cstdint>
#include <cstdlib>

#include "adapters/openssl/aes_gcm.h"

namespace clawvisor {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view data) {
  auto digest = openssl::Sha256(openssl::AsBytes(data));
  // SHA-256 cannot fail short of memory exhaustion; a failure here would silently change every
  // derived id, so it aborts instead of returning a wrong one.
  if (!digest) std::abort();
  return *digest;
}

constexpr size_t kDerivedIdChars = 26;

std::string DeriveId(std::string_view prefix, std::string_view input) {
  const auto digest = Sha256(input);
  const std::string encoded =
      Base32Lower(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  return std::string(prefix) + encoded.substr(0, kDerivedIdChars);
}

}  // namespace

std::string Base32Lower(std::string_view bytes) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(ch);
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 0x1f];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 0x1f];
  return out;
}

std::string DeriveAccountId(std::string_view command_id) {
  std::string input = "clawvisor/account/";
  input += command_id;
  return DeriveId("acc_", input);
}

std::string DeriveInstanceId(std::string_view account_id, std::string_view command_id) {
  std::string input = "clawvisor/instance/";
  input += account_id;
  input += '/';
  input += command_id;
  return DeriveId("ins_", input);
}

}  // namespace clawvisor
