#pragma once

// KeyVault: the Sealer of design D4, over OpenSSL. AES-256-GCM under per-account data keys,
// data keys wrapped by a master key, crypto-shredding on erasure.
//
// Keys
//   master key   32 bytes, held by the operator (adapters/openssl/master_key.h), never stored
//                here. Several may be given: the current one wraps, older ones still unwrap.
//   data key     32 random bytes per account (and a new one after `data_key_use_limit` seals),
//                named "dk_<first 8 id-safe chars of the account id>_<16 hex random>". Stored
//                only wrapped: AES-256-GCM under the master key, AAD binding the wrapped key to
//                its key id, account id and master key id. Kept unwrapped only in memory (an
//                LRU of `max_cached_keys`), wiped with OPENSSL_cleanse when evicted.
//   lookup key   32 random bytes, vault-wide, created once, stored wrapped the same way (key id
//                "lookup", account ""); the HMAC key of LookupHash().
//
// Sealed values
//   nonce        96 bits from the RandomSource, fresh for every seal.
//   ciphertext   AES-256-GCM ciphertext || 128-bit tag.
//   AAD          "clawvisor.sealed.v1" then account id, record id, field and key id, each
//                preceded by its length as 4 bytes big-endian: the lengths make the encoding
//                injective, so no value can be moved between accounts, records or fields, and
//                no boundary can be shifted between two components.
//   Open() answers kCorruption for any changed bit (nonce, ciphertext, tag, key id, context),
//   kNotFound ("data key destroyed: account erased") once the account's keys are destroyed.
//
// Use limit. Random 96-bit nonces are safe for 2^32 messages per key (NIST SP 800-38D 8.3);
// each data key seals at most `data_key_use_limit` (default 2^31) values, then the account gets a
// new key (old keys stay for Open). The count survives restarts without a write per seal: the
// store records how many uses are *reserved* (a block of `use_reservation_block` at a time) and
// a restarted vault resumes at the reservation, so a crash can skip counts but never reuse one.
//
// Store layout (every key below starts with options.key_prefix, default "keyvault/"; an
// account id may hold any byte but NUL, which separates it from the key id):
//   meta/lookup_key             wrapped lookup key
//   meta/rotation               master key id a rotation is moving to; present only while a
//                               master-key rotation is unfinished (resumed by Create)
//   dk/<account>\0<key id>      wrapped data key
//   cur/<account>               the account's current data key: u8 version (1), u64 BE uses
//                               reserved, key id
//   tomb/<account>              tombstone of an erased account: it never gets a key again
// A wrapped record is: u8 version (1), u8 length + master key id, 12-byte nonce, 32-byte wrapped
// key || 16-byte tag. Nothing in the store is secret without the master key.
//
// Master-key rotation (RotateMasterKey) makes the new key current at once, then re-wraps every
// record in atomic, synced batches of `rotation_batch_size`; seals and opens carry on meanwhile
// (only a seal that needs a store write waits for the batch in progress). An interrupted rotation
// is finished by the next Create, which then needs every master key still in use.
//
// Errors never contain key material, plaintext, or lookup values.
// Thread-safety: all methods are safe for concurrent use. Seal and Open on cached keys take one
// short vault-wide mutex and do no I/O; store I/O for an account (loading, reserving, creating,
// destroying its keys) runs under one of 64 striped per-account locks, never under the
// vault-wide mutex, so one account's synced write does not stall the others' seals.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/openssl/master_key.h"
#include "engine/random.h"
#include "engine/sealer.h"
#include "projections/kv_store.h"

namespace clawvisor {

struct KeyVaultOptions {
  // Seals per data key before the account's next seal starts a new key. At most 2^32.
  uint64_t data_key_use_limit = uint64_t{1} << 31;
  // Uses reserved in the store per write. A crash forfeits at most this many uses of a key.
  uint64_t use_reservation_block = uint64_t{1} << 20;
  // Unwrapped data keys (and per-account seal states) kept in memory. At least 1.
  size_t max_cached_keys = 100'000;
  // Rows re-wrapped per atomic batch during a master-key rotation.
  size_t rotation_batch_size = 256;
  // Namespace of the vault's rows in the KvStore.
  std::string key_prefix = "keyvault/";
};

class KeyVault final : public Sealer {
 public:
  // Opens the vault kept in `store`, creating its lookup key on first use. `current` wraps new
  // keys; `previous` are older master keys still able to unwrap records. Fails with
  // kFailedPrecondition if the store's records are wrapped under a master key not given (the
  // wrong key, or a rotation's old key missing), so a misconfigured vault stops at startup
  // rather than at the first Open. Finishes an interrupted master-key rotation.
  // `store` and `random` must outlive the vault.
  static Result<std::unique_ptr<KeyVault>> Create(KvStore& store, RandomSource& random,
                                                  MasterKey current,
                                                  std::vector<MasterKey> previous = {},
                                                  KeyVaultOptions options = {});
  ~KeyVault() override;
  KeyVault(const KeyVault&) = delete;
  KeyVault& operator=(const KeyVault&) = delete;

  // Sealer. All three parts of the context must be non-empty and the account id free of NUL
  // (kInvalidArgument otherwise).
  Result<v1::Sealed> Seal(const SealContext& context, std::string_view plaintext) override;
  Result<std::string> Open(const SealContext& context, const v1::Sealed& sealed) override;
  // Returns 64 lowercase hex digits: HMAC-SHA-256(lookup key, "clawvisor.lookup.v1" ||
  // u32 BE len(purpose) || purpose || value). Hex so it can serve directly as a store key or a
  // proto string. `purpose` must be non-empty.
  Result<std::string> LookupHash(std::string_view purpose, std::string_view value) override;
  // Deletes every wrapped data key of the account and leaves a tombstone, in one synced write;
  // drops its keys from memory. Idempotent. Every value sealed for it is unopenable for good.
  Status DestroyAccountKeys(std::string_view account_id) override;
  // Drops the account's keys from memory and refuses them from now on, without touching the
  // store: another process destroyed them in a store shared with this one (SharedVaultStore's
  // erasure listener).
  void ForgetAccount(std::string_view account_id);

  // Makes `new_key` the current master key and re-wraps every stored key under it. The old
  // master keys stay known to this vault, so nothing becomes unreadable midway; once this
  // returns OK, the store needs only `new_key`. Safe to call again after a failure.
  Status RotateMasterKey(MasterKey new_key);

  std::string current_master_key_id() const;

 private:
  class Impl;
  explicit KeyVault(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor
