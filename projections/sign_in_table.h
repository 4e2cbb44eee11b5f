#pragma once

// SignInTable: what signing in needs and the API never serves: the account of an email, the
// sealed password hash and TOTP secret, live sessions, and pending password-reset tokens.
//
//   e|<email lookup hash>      AccountLookup: the account registered with an email (found by
//                              its keyed hash, EmailLookupHash, without the email being stored)
//   x|<account>                AccountLookup: the account's lookup hash (so erasure can delete
//                              its e| row)
//   p|<account>|primary        PasswordCredential (sealed, with its binding)
//   p|<account>|totp           TotpCredential (sealed)
//   u|<session id>             SessionView (live sessions)
//   r|<hex of token hash>      AccountLookup: the account a password-reset token was issued for
//
// Revoke-all is a watermark on the AccountView (sessions_revoked_through_version), not here.
// Erasure deletes the account's p| rows, its x| row and its e| row (if the email still names
// it); u| and r| rows are not keyed by account and stay until they are revoked or used.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <optional>
#include <string>
#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "engine/sealer.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class SignInTable {
 public:
  static constexpr char kEmailTable = 'e';
  static constexpr char kAccountEmailTable = 'x';
  static constexpr char kCredentialTable = 'p';
  static constexpr char kSessionTable = 'u';
  static constexpr char kResetTokenTable = 'r';

  // `sealer` opens the registered email to hash it (may be null: no email lookup is kept).
  SignInTable(KvStore& store, Sealer* sealer) : store_(store), sealer_(sealer) {}

  Status Apply(BatchView& view, const v1::Envelope& event);
  // The erasure's part here: the account's email lookup rows (its p| rows go with the other
  // per-account tables).
  static Status EraseEmailLookup(BatchView& view, std::string_view account_id);

  Result<std::optional<std::string>> FindAccountByEmailHash(std::string_view email_lookup_hash);
  Result<std::optional<std::string>> FindAccountByResetTokenHash(std::string_view token_hash);
  Result<std::optional<v1::PasswordCredential>> GetPasswordCredential(std::string_view account_id);
  Result<std::optional<v1::TotpCredential>> GetTotpCredential(std::string_view account_id);
  Result<std::optional<v1::SessionView>> GetSession(std::string_view session_id);

 private:
  Status ApplyEmailLookup(BatchView& view, const v1::Envelope& event);
  static Status ApplyPassword(BatchView& view, const v1::Envelope& event);
  static Status ApplyTotp(BatchView& view, const v1::Envelope& event);
  static void ApplySession(BatchView& view, const v1::Envelope& event);

  KvStore& store_;
  Sealer* sealer_;
};

}  // namespace clawvisor::projection
