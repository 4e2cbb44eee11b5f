#pragma once

// PasswordService: the password work of a command, done by the command service on the request's
// own thread before the command is stored, never by the single-writer processor (ARCHITECTURE.md,
// "Where Argon2id runs"): one hash costs ~30 ms and 19 MiB, which would stall every account of a
// partition behind it.
//
// Prepare() rewrites a command in place:
//   - register_account.password -> policy check (engine/password_policy.h), then
//     password_hash = Argon2id PHC; the plaintext is cleared.
//   - login -> password verified against the account's stored hash (password_verified); when
//     that hash was made with weaker parameters, the password is rehashed
//     (rehashed_password_hash); both plaintexts cleared.
//   - request_password_reset -> token_hash = keyed hash of the token the API drew; the token
//     and the email are cleared (nothing of the request is sealed or stored in the clear).
//   - complete_password_reset -> token_hash as above; new_password checked and hashed
//     (new_password_hash); both plaintexts cleared.
//   - change_password -> current_password verified against the account's stored hash
//     (current_password_verified), new_password checked and hashed (new_password_hash); both
//     plaintexts cleared. The processor refuses an unverified change and records the rest.
//   - disable_totp -> password verified against the account's stored hash (password_verified);
//     the plaintext cleared (the code is checked by TotpService).
// The salt of each hash is derived from a keyed hash of (account, command id), so a retried
// command yields the same PHC string and the same request fingerprint (idempotency), and no two
// commands share a salt.
//
// Thread-safety: safe for concurrent use if its ports are (they are, by contract).

#include <functional>
#include <optional>
#include <utility>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "engine/command/password_hasher.h"
#include "engine/domain/password_policy.h"
#include "engine/random.h"
#include "engine/sealer.h"

namespace clawvisor {

// Finds the account a login is for, by the email's keyed hash (port for the HTTP API).
class LoginDirectory {
 public:
  virtual ~LoginDirectory() = default;
  // The account whose primary user signs in with `email`, or nullopt.
  virtual Result<std::optional<std::string>> FindAccountByEmail(std::string_view email) = 0;
  // Spends the work a password check would (one Argon2id verification), so a login for an
  // unknown email costs what one for a known email costs.
  virtual void SpendLoginWork(std::string_view password) = 0;
  // The account a password reset for `email` goes to: the one registered with it, or else an
  // account id nobody has ("acc_r" + a keyed hash of the email), so an unknown email's request
  // does the same work and gets the same answer (it is refused as ACCOUNT_NOT_FOUND there).
  virtual Result<std::string> ResetAccountFor(std::string_view email) = 0;
  // The account a reset token was issued for (the projection's index), or nullopt.
  virtual Result<std::optional<std::string>> FindAccountByResetToken(std::string_view token) = 0;
  // A new session token (256 random bits, base64url, 43 characters) and its keyed hash (hex):
  // the token goes to the caller once, only the hash into the login command.
  virtual Result<std::pair<std::string, std::string>> NewSessionToken() = 0;
};

// The keyed-hash purpose of session tokens (Sealer::LookupHash).
inline constexpr std::string_view kSessionTokenPurpose = "clawvisor.session.v1";
// The keyed-hash purpose of password-reset tokens.
inline constexpr std::string_view kResetTokenPurpose = "clawvisor.password-reset.v1";
// The keyed-hash purpose of console links (IssueConsoleLink / RedeemConsoleLink).
inline constexpr std::string_view kConsoleLinkPurpose = "clawvisor.console-link.v1";
// The keyed-hash purpose of webhook path tokens (RotateWebhookPath; the front door's lookup).
inline constexpr std::string_view kWebhookPathPurpose = "clawvisor.webhook-path.v1";
// Whether `token` has the shape of a session token (43 base64url characters).
bool IsSessionTokenShape(std::string_view token);

class PasswordService final : public LoginDirectory {
 public:
  // The account's current sealed password hash (the credentials projection); nullopt if the
  // account has none.
  using CredentialLookup =
      std::function<Result<std::optional<v1::PasswordCredential>>(std::string_view account_id)>;

  // The account registered with an email, by the email's lookup hash (the projector's index);
  // the same for a reset token's hash.
  using EmailLookup =
      std::function<Result<std::optional<std::string>>(std::string_view email_hash)>;
  using ResetTokenLookup =
      std::function<Result<std::optional<std::string>>(std::string_view token_hash)>;

  PasswordService(PasswordHasher& hasher, Sealer& sealer, CredentialLookup lookup,
                  EmailLookup by_email = nullptr, RandomSource* random = nullptr,
                  ResetTokenLookup by_reset_token = nullptr);

  Result<std::optional<std::string>> FindAccountByEmail(std::string_view email) override;
  void SpendLoginWork(std::string_view password) override;
  Result<std::pair<std::string, std::string>> NewSessionToken() override;
  Result<std::string> ResetAccountFor(std::string_view email) override;
  Result<std::optional<std::string>> FindAccountByResetToken(std::string_view token) override;

  // The keyed hash under which an email is indexed (lowercased first).
  Result<std::string> EmailLookupHash(std::string_view email);

  // kInvalidArgument (with a message that never quotes a password) when the policy refuses a new
  // password; kUnavailable/kInternal when hashing or the lookup fails.
  Status Prepare(v1::Command& command);

 private:
  Result<std::string> HashFor(const v1::Command& command, std::string_view purpose,
                              std::string_view password);
  Result<bool> VerifyCurrent(const std::string& account_id, std::string_view password);

  PasswordHasher& hasher_;
  Sealer& sealer_;
  CredentialLookup lookup_;
  EmailLookup by_email_;
  ResetTokenLookup by_reset_token_;
  RandomSource* random_;
  std::string dummy_phc_;  // a hash of nothing, verified against for unknown emails
};

}  // namespace clawvisor
