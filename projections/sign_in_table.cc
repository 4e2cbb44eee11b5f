#include "projections/sign_in_table.h"

#include "engine/command/seal_fields.h"

namespace clawvisor::projection {
namespace {

// The one password credential of an account (its primary user's).
constexpr std::string_view kPrimaryCredential = "primary";
// The account's TOTP secret (its primary user's).
constexpr std::string_view kTotpCredential = "totp";

std::string PasswordKey(std::string_view account) {
  return RowKey(SignInTable::kCredentialTable, account, kPrimaryCredential);
}
std::string TotpKey(std::string_view account) {
  return RowKey(SignInTable::kCredentialTable, account, kTotpCredential);
}
// The index row of a password-reset token, by its keyed hash as the API computes it (hex).
std::string ResetTokenKey(std::string_view raw_token_hash) {
  std::string key = TableKey(SignInTable::kResetTokenTable, "");
  AppendHex(key, raw_token_hash);
  return key;
}

v1::PasswordCredential Credential(const v1::Envelope& event, const v1::Sealed& password_hash,
                                  std::string_view field) {
  v1::PasswordCredential credential;
  credential.set_account_id(event.account_id());
  *credential.mutable_password_hash() = password_hash;
  credential.set_event_id(event.event_id());
  credential.set_field(std::string(field));
  return credential;
}

Result<std::optional<std::string>> LookedUpAccount(KvStore& store, const std::string& key) {
  auto lookup = ReadRow<v1::AccountLookup>(store, key);
  if (!lookup) return std::unexpected(lookup.error());
  if (!lookup->has_value()) return std::optional<std::string>();
  return std::optional<std::string>((*lookup)->account_id());
}

}  // namespace

Status SignInTable::Apply(BatchView& view, const v1::Envelope& event) {
  if (auto ok = ApplyPassword(view, event); !ok) return ok;
  if (auto ok = ApplyTotp(view, event); !ok) return ok;
  ApplySession(view, event);
  return ApplyEmailLookup(view, event);
}

// The current password hash, still sealed, with its binding; and the reset tokens' index.
Status SignInTable::ApplyPassword(BatchView& view, const v1::Envelope& event) {
  const std::string& account = event.account_id();
  if (event.has_account_registered() && event.account_registered().has_password_hash()) {
    view.Put(PasswordKey(account), Credential(event, event.account_registered().password_hash(),
                                              "account_registered.password_hash"));
  } else if (event.has_password_reset_completed()) {
    const auto& p = event.password_reset_completed();
    view.Put(PasswordKey(account),
             Credential(event, p.password_hash(), "password_reset_completed.password_hash"));
    view.Delete(ResetTokenKey(p.token_hash()));
  } else if (event.has_password_reset_requested()) {
    v1::AccountLookup lookup;
    lookup.set_account_id(account);
    view.Put(ResetTokenKey(event.password_reset_requested().token_hash()), lookup);
  } else if (event.has_password_changed()) {
    auto prior = view.Get<v1::PasswordCredential>(PasswordKey(account));
    if (!prior) return std::unexpected(prior.error());
    v1::PasswordCredential credential = prior->value_or(v1::PasswordCredential{});
    credential.set_account_id(account);
    *credential.mutable_password_hash() = event.password_changed().password_hash();
    credential.set_event_id(event.event_id());
    credential.set_field("password_changed.password_hash");
    view.Put(PasswordKey(account), credential);
  }
  return {};
}

// The TOTP secret, still sealed, for the command service to check codes against.
Status SignInTable::ApplyTotp(BatchView& view, const v1::Envelope& event) {
  const std::string& account = event.account_id();
  if (event.has_totp_enrolled()) {
    v1::TotpCredential credential;
    credential.set_account_id(account);
    *credential.mutable_secret() = event.totp_enrolled().secret();
    credential.set_event_id(event.event_id());
    credential.set_field("totp_enrolled.secret");
    view.Put(TotpKey(account), credential);
  } else if (event.has_totp_enabled()) {
    auto prior = view.Get<v1::TotpCredential>(TotpKey(account));
    if (!prior) return std::unexpected(prior.error());
    if (prior->has_value()) {
      v1::TotpCredential credential = **prior;
      credential.set_enabled(true);
      view.Put(TotpKey(account), credential);
    }
  } else if (event.has_totp_disabled()) {
    view.Delete(TotpKey(account));
  }
  return {};
}

// One row per live session, found by its id (derived from its token hash).
void SignInTable::ApplySession(BatchView& view, const v1::Envelope& event) {
  if (event.has_session_started()) {
    const auto& p = event.session_started();
    const int64_t at = event.occurred_at_us();
    v1::SessionView session;
    session.set_account_id(event.account_id());
    session.set_session_id(p.session_id());
    session.set_user_id(p.user_id());
    session.set_started_at_us(at);
    session.set_idle_timeout_us(p.idle_expires_at_us() - at);
    session.set_absolute_expires_at_us(p.absolute_expires_at_us());
    session.set_account_version(event.aggregate_version());
    session.set_token_hash(p.token_hash());
    view.Put(TableKey(kSessionTable, p.session_id()), session);
  } else if (event.has_session_revoked()) {
    view.Delete(TableKey(kSessionTable, event.session_revoked().session_id()));
  }
}

// The keyed hash of the registered email, both ways: email -> account, account -> hash.
Status SignInTable::ApplyEmailLookup(BatchView& view, const v1::Envelope& event) {
  if (!event.has_account_registered() || event.aggregate_type() != v1::AGGREGATE_TYPE_ACCOUNT ||
      sealer_ == nullptr) {
    return {};
  }
  const std::string& account = event.account_id();
  auto email = sealer_->Open({account, event.event_id(), "account_registered.email"},
                             event.account_registered().email());
  if (!email) return {};  // the account shows it as erased; there is nothing to look up
  auto hash = EmailLookupHash(*email, *sealer_);
  if (!hash) return std::unexpected(hash.error());
  v1::AccountLookup lookup;
  lookup.set_account_id(account);
  lookup.set_email_lookup_hash(*hash);
  view.Put(TableKey(kAccountEmailTable, account), lookup);
  view.Put(TableKey(kEmailTable, *hash), lookup);
  return {};
}

Status SignInTable::EraseEmailLookup(BatchView& view, std::string_view account_id) {
  const std::string by_account = TableKey(kAccountEmailTable, account_id);
  auto lookup = view.Get<v1::AccountLookup>(by_account);
  if (!lookup) return std::unexpected(lookup.error());
  if (lookup->has_value() && !(*lookup)->email_lookup_hash().empty()) {
    // Emails are not unique across accounts: delete the index row only if it is this one's.
    const std::string email_key = TableKey(kEmailTable, (*lookup)->email_lookup_hash());
    auto indexed = view.Get<v1::AccountLookup>(email_key);
    if (!indexed) return std::unexpected(indexed.error());
    if (indexed->has_value() && (*indexed)->account_id() == account_id) view.Delete(email_key);
  }
  view.Delete(by_account);
  return {};
}

Result<std::optional<std::string>> SignInTable::FindAccountByEmailHash(
    std::string_view email_lookup_hash) {
  return LookedUpAccount(store_, TableKey(kEmailTable, email_lookup_hash));
}

Result<std::optional<std::string>> SignInTable::FindAccountByResetTokenHash(
    std::string_view token_hash) {
  return LookedUpAccount(store_, TableKey(kResetTokenTable, token_hash));
}

Result<std::optional<v1::PasswordCredential>> SignInTable::GetPasswordCredential(
    std::string_view account_id) {
  return ReadRow<v1::PasswordCredential>(store_, PasswordKey(account_id));
}

Result<std::optional<v1::TotpCredential>> SignInTable::GetTotpCredential(
    std::string_view account_id) {
  return ReadRow<v1::TotpCredential>(store_, TotpKey(account_id));
}

Result<std::optional<v1::SessionView>> SignInTable::GetSession(std::string_view session_id) {
  return ReadRow<v1::SessionView>(store_, TableKey(kSessionTable, session_id));
}

}  // namespace clawvisor::projection
