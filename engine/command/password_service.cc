#include "engine/command/password_service.h"

#include <algorithm>
#include <array>

#include "engine/command/seal_fields.h"
#include "engine/domain/password_policy.h"
#include "engine/hex.h"

namespace clawvisor {
namespace {

// Overwrites a plaintext before it is dropped (best effort: protobuf may have copied it).
void Wipe(std::string* s) {
  volatile char* p = s->data();
  for (size_t i = 0; i < s->size(); ++i) p[i] = 0;
  s->clear();
}

}  // namespace

PasswordService::PasswordService(PasswordHasher& hasher, Sealer& sealer, CredentialLookup lookup,
                                 EmailLookup by_email, RandomSource* random,
                                 ResetTokenLookup by_reset_token)
    : hasher_(hasher),
      sealer_(sealer),
      lookup_(std::move(lookup)),
      by_email_(std::move(by_email)),
      by_reset_token_(std::move(by_reset_token)),
      random_(random) {
  // Made with today's parameters, so verifying against it costs what a real check costs.
  auto phc = hasher_.Hash("clawvisor: no such account", std::string(kPasswordSaltBytes, 'x'));
  if (phc) dummy_phc_ = std::move(*phc);
}

Result<std::string> PasswordService::EmailLookupHash(std::string_view email) {
  return clawvisor::EmailLookupHash(email, sealer_);  // the projector's index (seal_fields.h)
}

Result<std::optional<std::string>> PasswordService::FindAccountByEmail(std::string_view email) {
  if (!by_email_) return std::optional<std::string>();
  auto hash = EmailLookupHash(email);
  if (!hash) return std::unexpected(hash.error());
  return by_email_(*hash);
}

Result<std::string> PasswordService::ResetAccountFor(std::string_view email) {
  auto hash = EmailLookupHash(email);
  if (!hash) return std::unexpected(hash.error());
  std::optional<std::string> account;
  if (by_email_) {
    auto found = by_email_(*hash);
    if (!found) return std::unexpected(found.error());
    account = std::move(*found);
  }
  if (account) return *account;
  // Registered accounts are "acc_" + 24 hex digits of a hash of their command id; "acc_r" + 23
  // keeps this one out of their way while looking like one.
  auto decoy = sealer_.LookupHash("clawvisor.password-reset.decoy.v1", NormalizeEmail(email));
  if (!decoy) return std::unexpected(decoy.error());
  return "acc_r" + decoy->substr(0, 23);
}

Result<std::optional<std::string>> PasswordService::FindAccountByResetToken(
    std::string_view token) {
  if (!by_reset_token_ || !IsSessionTokenShape(token)) return std::optional<std::string>();
  auto hash = sealer_.LookupHash(kResetTokenPurpose, token);
  if (!hash) return std::unexpected(hash.error());
  return by_reset_token_(*hash);
}

void PasswordService::SpendLoginWork(std::string_view password) {
  if (!dummy_phc_.empty()) (void)hasher_.Verify(dummy_phc_, password);
}

bool IsSessionTokenShape(std::string_view token) {
  return token.size() == 43 && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
         });
}

Result<std::pair<std::string, std::string>> PasswordService::NewSessionToken() {
  if (random_ == nullptr) return MakeError(Errc::kFailedPrecondition, "no random source");
  std::array<std::byte, 32> bytes{};
  random_->Fill(bytes);
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string token;
  uint32_t acc = 0;
  int bits = 0;
  for (std::byte b : bytes) {
    acc = (acc << 8) | static_cast<uint8_t>(b);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      token += kAlphabet[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0) token += kAlphabet[(acc << (6 - bits)) & 0x3F];
  auto hash = sealer_.LookupHash(kSessionTokenPurpose, token);
  if (!hash) return std::unexpected(hash.error());
  return std::pair{std::move(token), std::move(*hash)};
}

Result<std::string> PasswordService::HashFor(const v1::Command& command, std::string_view purpose,
                                             std::string_view password) {
  auto keyed = sealer_.LookupHash(
      "clawvisor.password-salt.v1",
      command.account_id() + "/" + command.command_id() + "/" + std::string(purpose));
  if (!keyed) return std::unexpected(keyed.error());
  if (keyed->size() < 2 * kPasswordSaltBytes) {
    return MakeError(Errc::kInternal, "lookup hash too short for a salt");
  }
  std::string salt(kPasswordSaltBytes, '\0');
  if (!HexDecodeInto(std::string_view(*keyed).substr(0, 2 * kPasswordSaltBytes),
                     std::span(reinterpret_cast<unsigned char*>(salt.data()), salt.size()))) {
    return MakeError(Errc::kInternal, "lookup hash is not hex");
  }
  return hasher_.Hash(password, salt);
}

Result<bool> PasswordService::VerifyCurrent(const std::string& account_id,
                                            std::string_view password) {
  auto credential = lookup_(account_id);
  if (!credential) return std::unexpected(credential.error());
  if (!credential->has_value()) return false;  // no password on this account: nothing matches
  const v1::PasswordCredential& c = **credential;
  auto phc = sealer_.Open({account_id, c.event_id(), c.field()}, c.password_hash());
  if (!phc) {
    if (phc.error().code == Errc::kNotFound) return false;  // erased
    return std::unexpected(phc.error());
  }
  auto ok = hasher_.Verify(*phc, password);
  Wipe(&*phc);
  return ok;
}

Status PasswordService::Prepare(v1::Command& command) {
  switch (command.payload_case()) {
    case v1::Command::kRegisterAccount: {
      auto* p = command.mutable_register_account();
      if (p->password().empty()) return {};  // a registration without a password (invitations)
      if (auto why = PasswordPolicyViolation(p->password(), p->email())) {
        return MakeError(Errc::kInvalidArgument, *why);
      }
      auto phc = HashFor(command, "register_account.password", p->password());
      if (!phc) return std::unexpected(phc.error());
      p->set_password_hash(std::move(*phc));
      Wipe(p->mutable_password());
      return {};
    }
    case v1::Command::kLogin: {
      auto* p = command.mutable_login();
      auto credential = lookup_(command.account_id());
      if (!credential) return std::unexpected(credential.error());
      bool verified = false;
      std::string phc;
      if (credential->has_value()) {
        const v1::PasswordCredential& c = **credential;
        auto opened =
            sealer_.Open({command.account_id(), c.event_id(), c.field()}, c.password_hash());
        if (opened) phc = std::move(*opened);
      }
      if (phc.empty()) {
        SpendLoginWork(p->password());
      } else {
        auto ok = hasher_.Verify(phc, p->password());
        if (!ok) return std::unexpected(ok.error());
        verified = *ok;
      }
      p->set_password_verified(verified);
      if (verified && hasher_.NeedsRehash(phc)) {
        auto rehashed = HashFor(command, "login.password", p->password());
        if (!rehashed) return std::unexpected(rehashed.error());
        p->set_rehashed_password_hash(std::move(*rehashed));
      }
      Wipe(&phc);
      Wipe(p->mutable_password());
      p->clear_email();
      return {};
    }
    case v1::Command::kChangePassword: {
      auto* p = command.mutable_change_password();
      if (p->new_password().empty()) {
        return MakeError(Errc::kInvalidArgument, "new_password is required");
      }
      if (auto why = PasswordPolicyViolation(p->new_password())) {
        return MakeError(Errc::kInvalidArgument, "new_password: " + *why);
      }
      auto verified = VerifyCurrent(command.account_id(), p->current_password());
      if (!verified) return std::unexpected(verified.error());
      p->set_current_password_verified(*verified);
      if (*verified) {
        auto phc = HashFor(command, "change_password.new_password", p->new_password());
        if (!phc) return std::unexpected(phc.error());
        p->set_new_password_hash(std::move(*phc));
      }
      Wipe(p->mutable_current_password());
      Wipe(p->mutable_new_password());
      return {};
    }
    case v1::Command::kRequestPasswordReset: {
      auto* p = command.mutable_request_password_reset();
      if (!IsSessionTokenShape(p->token())) {
        return MakeError(Errc::kInvalidArgument, "token must be drawn by the API");
      }
      auto hash = sealer_.LookupHash(kResetTokenPurpose, p->token());
      if (!hash) return std::unexpected(hash.error());
      p->set_token_hash(std::move(*hash));
      Wipe(p->mutable_token());
      Wipe(p->mutable_email());
      return {};
    }
    case v1::Command::kCompletePasswordReset: {
      auto* p = command.mutable_complete_password_reset();
      if (p->new_password().empty()) {
        return MakeError(Errc::kInvalidArgument, "new_password is required");
      }
      if (auto why = PasswordPolicyViolation(p->new_password())) {
        return MakeError(Errc::kInvalidArgument, "new_password: " + *why);
      }
      auto hash = sealer_.LookupHash(kResetTokenPurpose, p->token());
      if (!hash) return std::unexpected(hash.error());
      p->set_token_hash(std::move(*hash));
      auto phc = HashFor(command, "complete_password_reset.new_password", p->new_password());
      if (!phc) return std::unexpected(phc.error());
      p->set_new_password_hash(std::move(*phc));
      Wipe(p->mutable_token());
      Wipe(p->mutable_new_password());
      return {};
    }
    case v1::Command::kDisableTotp: {
      // Re-authentication: the current password (the code is TotpService's part).
      auto* p = command.mutable_disable_totp();
      auto verified = VerifyCurrent(command.account_id(), p->password());
      if (!verified) return std::unexpected(verified.error());
      p->set_password_verified(*verified);
      Wipe(p->mutable_password());
      return {};
    }
    default:
      return {};
  }
}

}  // namespace clawvisor
