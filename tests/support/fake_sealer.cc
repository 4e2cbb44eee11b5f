#include "tests/support/fake_sealer.h"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace clawvisor::testing {

std::string FakeSealer::Scramble(std::string_view context, std::string_view bytes) {
  std::string out(bytes.rbegin(), bytes.rend());
  const size_t h = std::hash<std::string_view>{}(context);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(out[i] ^ static_cast<char>((h >> ((i % 8) * 8)) | 0x80));
  }
  return out;
}

namespace {
std::string ContextString(const SealContext& c) {
  return std::string(c.account_id) + '\0' + std::string(c.record_id) + '\0' + std::string(c.field);
}
}  // namespace

Result<v1::Sealed> FakeSealer::Seal(const SealContext& context, std::string_view plaintext) {
  std::lock_guard lock(mu_);
  if (destroyed_.contains(context.account_id)) {
    return MakeError(Errc::kFailedPrecondition, "account keys destroyed");
  }
  ++seals_;
  v1::Sealed sealed;
  sealed.set_key_id("fake:" + std::string(context.account_id));
  sealed.set_nonce(ContextString(context));
  sealed.set_ciphertext(Scramble(ContextString(context), plaintext));
  return sealed;
}

Result<std::string> FakeSealer::Open(const SealContext& context, const v1::Sealed& sealed) {
  std::lock_guard lock(mu_);
  if (destroyed_.contains(context.account_id)) {
    return MakeError(Errc::kNotFound, "data key destroyed: account erased");
  }
  if (sealed.nonce() != ContextString(context)) {
    return MakeError(Errc::kCorruption, "sealed value does not belong to this context");
  }
  // Scramble reversed the bytes, then XOR-ed: XOR again, then reverse.
  std::string out(sealed.ciphertext().size(), '\0');
  const std::string ctx = ContextString(context);
  const size_t h = std::hash<std::string_view>{}(ctx);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] =
        static_cast<char>(sealed.ciphertext()[i] ^ static_cast<char>((h >> ((i % 8) * 8)) | 0x80));
  }
  return std::string(out.rbegin(), out.rend());
}

// 64 lowercase hex digits, as the port promises (not a keyed hash: four std::hash values).
Result<std::string> FakeSealer::LookupHash(std::string_view purpose, std::string_view value) {
  std::string out;
  for (char lane = 'a'; lane < 'e'; ++lane) {
    const size_t h = std::hash<std::string>{}(std::string(1, lane) + std::string(purpose) + '\0' +
                                              std::string(value));
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016zx", h);
    out += buf;
  }
  return out;
}

Status FakeSealer::DestroyAccountKeys(std::string_view account_id) {
  std::lock_guard lock(mu_);
  destroyed_.emplace(account_id);
  return {};
}

}  // namespace clawvisor::testing
