#include "engine/command/totp_service.h"

#include "engine/domain/totp.h"

namespace clawvisor {
namespace {

void Wipe(std::string* s) {
  volatile char* p = s->data();
  for (size_t i = 0; i < s->size(); ++i) p[i] = 0;
  s->clear();
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

TotpService::TotpService(Sealer& sealer, Clock& clock, TotpLookup lookup)
    : sealer_(sealer), clock_(clock), lookup_(std::move(lookup)) {}

Result<std::string> TotpService::RecoveryCodeHash(std::string_view account_id,
                                                  std::string_view typed) {
  auto code = NormalizeRecoveryCode(typed);
  if (!code) return std::string();
  auto hash = sealer_.LookupHash(kRecoveryCodePurpose, std::string(account_id) + "/" + *code);
  Wipe(&*code);
  return hash;
}

Result<TotpService::Factor> TotpService::Check(const std::string& account_id,
                                               const std::string& code, bool require_enabled) {
  Factor factor;
  if (code.empty()) return factor;
  auto credential = lookup_(account_id);
  if (!credential) return std::unexpected(credential.error());
  if (!credential->has_value()) return factor;  // nothing enrolled: no code can match
  const v1::TotpCredential& c = **credential;
  if (require_enabled && !c.enabled()) return factor;
  if (!IsTotpCodeShape(code)) {
    auto hash = RecoveryCodeHash(account_id, code);
    if (!hash) return std::unexpected(hash.error());
    factor.recovery_code_hash = std::move(*hash);
    return factor;
  }
  auto base32 = sealer_.Open({account_id, c.event_id(), c.field()}, c.secret());
  if (!base32) {
    if (base32.error().code == Errc::kNotFound) return factor;  // erased
    return std::unexpected(base32.error());
  }
  auto secret = Base32Decode(*base32);
  Wipe(&*base32);
  if (!secret) return MakeError(Errc::kInternal, "the stored TOTP secret is not base32");
  if (auto step = MatchTotp(Bytes(*secret), code, clock_.NowUs())) factor.time_step = *step;
  Wipe(&*secret);
  return factor;
}

Status TotpService::Prepare(v1::Command& command) {
  const std::string& account = command.account_id();
  switch (command.payload_case()) {
    case v1::Command::kEnrollTotp: {
      auto* p = command.mutable_enroll_totp();
      p->clear_recovery_code_hashes();
      std::string_view codes = p->recovery_codes();
      size_t count = 0;
      while (!codes.empty()) {
        const size_t space = codes.find(' ');
        const std::string_view one = codes.substr(0, space);
        codes = space == std::string_view::npos ? "" : codes.substr(space + 1);
        if (one.empty()) continue;
        auto hash = RecoveryCodeHash(account, one);
        if (!hash) return std::unexpected(hash.error());
        if (hash->empty()) {
          return MakeError(Errc::kInvalidArgument, "recovery_codes holds a malformed code");
        }
        p->add_recovery_code_hashes(std::move(*hash));
        ++count;
      }
      if (count != kRecoveryCodeCount) {
        return MakeError(Errc::kInvalidArgument, "recovery_codes must hold ten codes");
      }
      Wipe(p->mutable_recovery_codes());
      return {};
    }
    case v1::Command::kConfirmTotp: {
      auto* p = command.mutable_confirm_totp();
      auto factor = Check(account, p->code(), /*require_enabled=*/false);
      if (!factor) return std::unexpected(factor.error());
      p->set_totp_time_step(factor->time_step);  // a recovery code does not confirm
      Wipe(p->mutable_code());
      return {};
    }
    case v1::Command::kLogin: {
      auto* p = command.mutable_login();
      auto factor = Check(account, p->totp_code(), /*require_enabled=*/true);
      if (!factor) return std::unexpected(factor.error());
      p->set_totp_time_step(factor->time_step);
      p->set_recovery_code_hash(factor->recovery_code_hash);
      Wipe(p->mutable_totp_code());
      return {};
    }
    case v1::Command::kDisableTotp: {
      auto* p = command.mutable_disable_totp();
      auto factor = Check(account, p->code(), /*require_enabled=*/false);
      if (!factor) return std::unexpected(factor.error());
      p->set_totp_time_step(factor->time_step);
      p->set_recovery_code_hash(factor->recovery_code_hash);
      Wipe(p->mutable_code());
      return {};
    }
    default:
      return {};
  }
}

}  // namespace clawvisor
