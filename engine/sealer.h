#pragma once

// Sealer: envelope encryption of sensitive fields (design D4).
//
// Every sensitive field travels as a `clawvisor.v1.Sealed` (key id, 96-bit nonce, AES-256-GCM
// ciphertext+tag) under its account's data key. The associated data binds a sealed value to its
// account, its record (event id or command id) and its field, so a value copied anywhere else
// fails to open. Erasing an account destroys its data key: every value sealed under it becomes
// unreadable for good (crypto-shredding), while the immutable log keeps its records.
//
// Implementations: adapters/openssl (AES-256-GCM, per-account data keys wrapped by a master key).
// Thread-safety: implementations are safe for concurrent use.

#include <string>
#include <string_view>

#include "clawvisor/v1/common.pb.h"
#include "events/result.h"

namespace clawvisor {

// What a sealed value is bound to. All three are authenticated, none is secret.
struct SealContext {
  // All three must be non-empty (the account id without NUL); implementations refuse others.
  std::string_view account_id;
  std::string_view record_id;  // the event id (or command id, on the commands topic)
  std::string_view field;      // e.g. "account_registered.email"
};

class Sealer {
 public:
  virtual ~Sealer() = default;

  // Seals `plaintext` under the account's current data key, creating the key if the account has
  // none. Fails with kFailedPrecondition if the account's key was destroyed (erased account).
  virtual Result<v1::Sealed> Seal(const SealContext& context, std::string_view plaintext) = 0;

  // Opens a sealed value. kNotFound if its data key was destroyed (erased); kCorruption if any
  // byte of it or of its context differs from what was sealed.
  virtual Result<std::string> Open(const SealContext& context, const v1::Sealed& sealed) = 0;

  // A keyed hash (HMAC-SHA-256 under a vault-wide lookup key) to find a record by a secret value
  // (an email, a session token) without storing the value. `purpose` separates domains.
  // Returns 64 lowercase hex digits.
  virtual Result<std::string> LookupHash(std::string_view purpose, std::string_view value) = 0;

  // Destroys the account's data keys. Irreversible.
  virtual Status DestroyAccountKeys(std::string_view account_id) = 0;
};

// The text shown where a sealed value can no longer be opened.
inline constexpr std::string_view kErasedText = "[erased]";

// The last four characters of a secret, for display: "••••abcd". Secrets shorter than
// kMinMaskedSecretBytes show none ("••••"): four would reveal too large a share of them.
inline constexpr size_t kMinMaskedSecretBytes = 12;
std::string MaskSecret(std::string_view secret);

}  // namespace clawvisor
