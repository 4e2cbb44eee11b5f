#include "adapters/openssl/key_vault.h"

#include <algorithm>
#include <array>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <utility>

#include "adapters/openssl/aes_gcm.h"
#include "engine/hex.h"

namespace clawvisor {
namespace {

using openssl::AesGcm;
using openssl::AsBytes;
using openssl::kAes256KeySize;
using openssl::kGcmNonceSize;
using openssl::kGcmTagSize;
using openssl::SecretKey;

constexpr uint8_t kRecordVersion = 1;
constexpr std::string_view kSealDomain = "clawvisor.sealed.v1";
constexpr std::string_view kWrapDomain = "clawvisor.wrapped-key.v1";
constexpr std::string_view kLookupDomain = "clawvisor.lookup.v1";
constexpr std::string_view kLookupKeyId = "lookup";
constexpr size_t kMaxKeyIdSize = 128;
constexpr size_t kStripes = 64;
constexpr size_t kWrappedSize = kAes256KeySize + kGcmTagSize;

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void AppendU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t ReadU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(in[i]);
  return v;
}

// Length-prefixed so that the concatenation of several parts is injective.
void AppendPart(std::string& out, std::string_view part) {
  AppendU32(out, static_cast<uint32_t>(part.size()));
  out.append(part);
}

// Encodes into a per-thread buffer that keeps its capacity: no allocation per seal or open.
// The AAD is not secret. The view is valid until the thread's next call.
std::string_view SealAad(const SealContext& context, std::string_view key_id) {
  thread_local std::string aad;
  aad.assign(kSealDomain);
  AppendPart(aad, context.account_id);
  AppendPart(aad, context.record_id);
  AppendPart(aad, context.field);
  AppendPart(aad, key_id);
  return aad;
}

std::string WrapAad(std::string_view key_id, std::string_view account_id,
                    std::string_view master_key_id) {
  std::string aad(kWrapDomain);
  AppendPart(aad, key_id);
  AppendPart(aad, account_id);
  AppendPart(aad, master_key_id);
  return aad;
}

// A wrapped key as stored: u8 version, u8 length + master key id, nonce, wrapped key || tag.
struct WrappedRecord {
  std::string master_key_id;
  std::array<unsigned char, kGcmNonceSize> nonce{};
  std::array<unsigned char, kWrappedSize> wrapped{};
};

std::string EncodeWrapped(const WrappedRecord& record) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(record.master_key_id.size()));
  out.append(record.master_key_id);
  out.append(reinterpret_cast<const char*>(record.nonce.data()), record.nonce.size());
  out.append(reinterpret_cast<const char*>(record.wrapped.data()), record.wrapped.size());
  return out;
}

std::optional<WrappedRecord> DecodeWrapped(std::string_view in) {
  if (in.size() < 2 || static_cast<uint8_t>(in[0]) != kRecordVersion) return std::nullopt;
  const size_t id_size = static_cast<unsigned char>(in[1]);
  in.remove_prefix(2);
  if (in.size() != id_size + kGcmNonceSize + kWrappedSize) return std::nullopt;
  WrappedRecord record;
  record.master_key_id = std::string(in.substr(0, id_size));
  in.remove_prefix(id_size);
  std::copy_n(in.begin(), kGcmNonceSize, record.nonce.begin());
  in.remove_prefix(kGcmNonceSize);
  std::copy_n(in.begin(), kWrappedSize, record.wrapped.begin());
  return record;
}

// The account's current data key and how many uses of it are reserved in the store.
struct CurrentRecord {
  std::string key_id;
  uint64_t reserved = 0;
};

std::string EncodeCurrent(const CurrentRecord& record) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  AppendU64(out, record.reserved);
  out.append(record.key_id);
  return out;
}

std::optional<CurrentRecord> DecodeCurrent(std::string_view in) {
  if (in.size() < 10 || static_cast<uint8_t>(in[0]) != kRecordVersion) return std::nullopt;
  return CurrentRecord{std::string(in.substr(9)), ReadU64(in.substr(1, 8))};
}

// A map with least-recently-used eviction. Not thread-safe: the vault guards it.
template <typename V>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(capacity) {}

  V* Find(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  void Put(std::string key, V value) {
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, std::move(value));
    index_.emplace(std::move(key), order_.begin());
    while (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  void Erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }

  void ErasePrefix(std::string_view prefix) {
    for (auto it = index_.lower_bound(prefix);
         it != index_.end() && std::string_view(it->first).starts_with(prefix);) {
      order_.erase(it->second);
      it = index_.erase(it);
    }
  }

 private:
  using List = std::list<std::pair<std::string, V>>;
  size_t capacity_;
  List order_;  // most recently used first
  std::map<std::string, typename List::iterator, std::less<>> index_;
};

Status ValidateAccount(std::string_view account_id) {
  if (account_id.empty()) return MakeError(Errc::kInvalidArgument, "empty account id");
  if (account_id.find('\0') != std::string_view::npos) {
    return MakeError(Errc::kInvalidArgument, "account id contains a NUL byte");
  }
  return {};
}

Status ValidateContext(const SealContext& context) {
  if (auto status = ValidateAccount(context.account_id); !status) return status;
  if (context.record_id.empty()) return MakeError(Errc::kInvalidArgument, "empty record id");
  if (context.field.empty()) return MakeError(Errc::kInvalidArgument, "empty field name");
  return {};
}

std::string AccountKeyPrefix(std::string_view account_id) {
  std::string prefix;
  for (char c : account_id) {
    if (prefix.size() == 8) break;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      prefix.push_back(c);
    }
  }
  return prefix;
}

}  // namespace

class KeyVault::Impl {
 public:
  Impl(KvStore& store, RandomSource& random, KeyVaultOptions options, AesGcm gcm)
      : store_(store),
        random_(random),
        options_(std::move(options)),
        gcm_(std::move(gcm)),
        keys_(options_.max_cached_keys),
        accounts_(options_.max_cached_keys) {}

  Status Init(MasterKey current, std::vector<MasterKey> previous);
  Result<v1::Sealed> Seal(const SealContext& context, std::string_view plaintext);
  Result<std::string> Open(const SealContext& context, const v1::Sealed& sealed);
  Result<std::string> LookupHash(std::string_view purpose, std::string_view value);
  Status DestroyAccountKeys(std::string_view account_id);
  void ForgetAccount(std::string_view account_id);
  Status RotateMasterKey(MasterKey new_key);
  std::string CurrentMasterKeyId() const {
    std::lock_guard lock(mu_);
    return masters_.front()->id();
  }

 private:
  using KeyPtr = std::shared_ptr<const SecretKey>;

  // What Seal needs of an account without touching the store: uses in [next, reserved) are
  // durably reserved and not yet handed out.
  struct SealState {
    std::string key_id;
    KeyPtr key;
    uint64_t next = 0;
    uint64_t reserved = 0;
  };

  std::string Row(std::string_view kind) const { return options_.key_prefix + std::string(kind); }
  std::string DataKeyRow(std::string_view account_id, std::string_view key_id) const {
    return Row("dk/") + std::string(account_id) + '\0' + std::string(key_id);
  }
  std::string CurrentRow(std::string_view account_id) const {
    return Row("cur/") + std::string(account_id);
  }
  std::string TombstoneRow(std::string_view account_id) const {
    return Row("tomb/") + std::string(account_id);
  }
  static std::string CacheKey(std::string_view account_id, std::string_view key_id) {
    return std::string(account_id) + '\0' + std::string(key_id);
  }
  // CacheKey in a per-thread buffer, for lookups on the hot path; valid until the next call.
  static std::string_view ScratchCacheKey(std::string_view account_id, std::string_view key_id) {
    thread_local std::string key;
    key.assign(account_id);
    key.push_back('\0');
    key.append(key_id);
    return key;
  }
  std::mutex& StripeFor(std::string_view account_id) {
    return stripes_[std::hash<std::string_view>{}(account_id) % kStripes];
  }

  std::shared_ptr<const MasterKey> CurrentMaster() const {
    std::lock_guard lock(mu_);
    return masters_.front();
  }
  std::shared_ptr<const MasterKey> FindMaster(std::string_view id) const {
    std::lock_guard lock(mu_);
    for (const auto& master : masters_) {
      if (master->id() == id) return master;
    }
    return nullptr;
  }

  Result<std::string> Wrap(const MasterKey& master, std::string_view key_id,
                           std::string_view account_id, const SecretKey& key);
  Result<KeyPtr> Unwrap(std::string_view row, std::string_view key_id, std::string_view account_id);
  Result<bool> IsErased(std::string_view account_id);
  // REQUIRES: the account's stripe is held.
  Result<KeyPtr> LoadDataKeyLocked(std::string_view account_id, std::string_view key_id);
  // Hands out one use of the account's current key, reserving uses or starting a key as needed.
  Status ClaimSlow(std::string_view account_id, KeyPtr* key, std::string* key_id);
  // REQUIRES: rotation_mu_ shared and the account's stripe held.
  Result<SealState> CreateDataKeyLocked(std::string_view account_id);
  Status RewrapAll();

  KvStore& store_;
  RandomSource& random_;
  const KeyVaultOptions options_;
  const AesGcm gcm_;
  KeyPtr lookup_key_;  // set by Init, immutable afterwards

  // Lock order: rotate_admin_mu_ -> rotation_mu_ -> a stripe -> mu_. mu_ is never held across
  // store I/O or cryptography.
  std::mutex rotate_admin_mu_;  // one master-key rotation at a time
  // Shared by every write of a wrapped record, cur row or tombstone; exclusive while a
  // rotation batch re-wraps, so a batch never resurrects a key destroyed meanwhile nor misses
  // one created under the old master key.
  std::shared_mutex rotation_mu_;
  // Serializes the store reads and writes concerning one account (loading, reserving,
  // creating, destroying its keys), so two threads never create two keys for it and a key being
  // loaded is never cached after its account was erased.
  std::array<std::mutex, kStripes> stripes_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const MasterKey>> masters_;  // [0] is current. GUARDED_BY(mu_)
  LruMap<KeyPtr> keys_;                                    // account\0key id. GUARDED_BY(mu_)
  LruMap<SealState> accounts_;                             // GUARDED_BY(mu_)
  std::set<std::string, std::less<>> erased_;              // GUARDED_BY(mu_)
};

Status KeyVault::Impl::Init(MasterKey current, std::vector<MasterKey> previous) {
  masters_.push_back(std::make_shared<const MasterKey>(std::move(current)));
  for (auto& key : previous) {
    if (!FindMaster(key.id()))
      masters_.push_back(std::make_shared<const MasterKey>(std::move(key)));
  }
  const std::string lookup_row = Row("meta/lookup_key");
  auto row = store_.Get(lookup_row);
  if (!row) return std::unexpected(row.error());
  if (*row) {
    auto key = Unwrap(**row, kLookupKeyId, "");
    if (!key) return std::unexpected(key.error());
    lookup_key_ = std::move(*key);
  } else {
    auto key = std::make_shared<SecretKey>();
    random_.Fill(std::as_writable_bytes(std::span(key->bytes)));
    auto wrapped = Wrap(*CurrentMaster(), kLookupKeyId, "", *key);
    if (!wrapped) return std::unexpected(wrapped.error());
    KvBatch batch;
    batch.Put(lookup_row, std::move(*wrapped));
    if (auto written = store_.Write(batch, /*sync=*/true); !written) return written;
    // Read back what the store kept: a store shared by several processes keeps the first
    // candidate written, which may be another process's (projections/shared_vault_store.h).
    auto kept = store_.Get(lookup_row);
    if (!kept) return std::unexpected(kept.error());
    if (!*kept) return MakeError(Errc::kInternal, "the vault's lookup key was not kept");
    auto kept_key = Unwrap(**kept, kLookupKeyId, "");
    if (!kept_key) return std::unexpected(kept_key.error());
    lookup_key_ = std::move(*kept_key);
  }
  auto marker = store_.Get(Row("meta/rotation"));
  if (!marker) return std::unexpected(marker.error());
  // A rotation was interrupted (marker), or older master keys were given: anything not wrapped
  // under `current` is re-wrapped now, so the store never depends on a key about to be dropped.
  if (*marker || masters_.size() > 1) return RewrapAll();
  return {};
}

Result<std::string> KeyVault::Impl::Wrap(const MasterKey& master, std::string_view key_id,
                                         std::string_view account_id, const SecretKey& key) {
  WrappedRecord record;
  record.master_key_id = master.id();
  random_.Fill(std::as_writable_bytes(std::span(record.nonce)));
  const std::string aad = WrapAad(key_id, account_id, master.id());
  if (auto status =
          gcm_.Encrypt(master.bytes(), record.nonce, AsBytes(aad), key.bytes, record.wrapped);
      !status) {
    return std::unexpected(status.error());
  }
  return EncodeWrapped(record);
}

Result<KeyVault::Impl::KeyPtr> KeyVault::Impl::Unwrap(std::string_view row, std::string_view key_id,
                                                      std::string_view account_id) {
  const std::string what = key_id == kLookupKeyId ? std::string("the vault's lookup key")
                                                  : "data key " + std::string(key_id);
  auto record = DecodeWrapped(row);
  if (!record) {
    return MakeError(Errc::kCorruption, "stored record of " + what + " is malformed");
  }
  auto master = FindMaster(record->master_key_id);
  if (!master) {
    return MakeError(Errc::kFailedPrecondition,
                     what + " is wrapped under master key " + record->master_key_id +
                         ", which this vault was not given (wrong master key, or an old key "
                         "still needed by an unfinished rotation)");
  }
  auto key = std::make_shared<SecretKey>();
  const std::string aad = WrapAad(key_id, account_id, master->id());
  if (auto status =
          gcm_.Decrypt(master->bytes(), record->nonce, AsBytes(aad), record->wrapped, key->bytes);
      !status) {
    if (status.error().code != Errc::kCorruption) return std::unexpected(status.error());
    return MakeError(Errc::kCorruption, what + " failed to unwrap under master key " +
                                            master->id() + ": its stored record was altered");
  }
  return KeyPtr(std::move(key));
}

Result<bool> KeyVault::Impl::IsErased(std::string_view account_id) {
  {
    std::lock_guard lock(mu_);
    if (erased_.contains(account_id)) return true;
  }
  auto tomb = store_.Get(TombstoneRow(account_id));
  if (!tomb) return std::unexpected(tomb.error());
  if (!*tomb) return false;
  std::lock_guard lock(mu_);
  erased_.insert(std::string(account_id));
  return true;
}

Result<KeyVault::Impl::KeyPtr> KeyVault::Impl::LoadDataKeyLocked(std::string_view account_id,
                                                                 std::string_view key_id) {
  const std::string cache_key = CacheKey(account_id, key_id);
  {
    std::lock_guard lock(mu_);
    if (KeyPtr* key = keys_.Find(cache_key)) return *key;
  }
  auto row = store_.Get(DataKeyRow(account_id, key_id));
  if (!row) return std::unexpected(row.error());
  if (!*row) {
    auto erased = IsErased(account_id);
    if (!erased) return std::unexpected(erased.error());
    if (*erased) return MakeError(Errc::kNotFound, "data key destroyed: account erased");
    return MakeError(Errc::kCorruption, "sealed value names data key " + std::string(key_id) +
                                            ", which this account does not have");
  }
  auto key = Unwrap(**row, key_id, account_id);
  if (!key) return key;
  std::lock_guard lock(mu_);
  if (erased_.contains(account_id)) {
    return MakeError(Errc::kNotFound, "data key destroyed: account erased");
  }
  keys_.Put(cache_key, *key);
  return key;
}

Result<KeyVault::Impl::SealState> KeyVault::Impl::CreateDataKeyLocked(std::string_view account_id) {
  auto key = std::make_shared<SecretKey>();
  random_.Fill(std::as_writable_bytes(std::span(key->bytes)));
  std::string key_id;
  // 64 random bits make a collision unlikely, not impossible (and certain with a replayed test
  // seed): an existing key is never overwritten.
  for (int attempt = 0;; ++attempt) {
    std::array<unsigned char, 8> suffix{};
    random_.Fill(std::as_writable_bytes(std::span(suffix)));
    key_id = "dk_" + AccountKeyPrefix(account_id) + "_" + HexEncode(suffix);
    auto existing = store_.Get(DataKeyRow(account_id, key_id));
    if (!existing) return std::unexpected(existing.error());
    if (!*existing) break;
    if (attempt == 8) return MakeError(Errc::kInternal, "cannot find a fresh data key id");
  }
  auto wrapped = Wrap(*CurrentMaster(), key_id, account_id, *key);
  if (!wrapped) return std::unexpected(wrapped.error());
  const uint64_t reserved = std::min(options_.use_reservation_block, options_.data_key_use_limit);
  // The wrapped key must be durable before any value sealed under it leaves this process.
  KvBatch batch;
  batch.Put(DataKeyRow(account_id, key_id), std::move(*wrapped));
  batch.Put(CurrentRow(account_id), EncodeCurrent({key_id, reserved}));
  if (auto written = store_.Write(batch, /*sync=*/true); !written) {
    return std::unexpected(written.error());
  }
  return SealState{std::move(key_id), std::move(key), 0, reserved};
}

Status KeyVault::Impl::ClaimSlow(std::string_view account_id, KeyPtr* key, std::string* key_id) {
  std::shared_lock rotation(rotation_mu_);
  std::lock_guard stripe(StripeFor(account_id));
  const std::string account(account_id);
  // Each pass either hands out a use or makes some durable (a reservation or a new key), so the
  // loop ends even while other threads drain the fresh reservation on the fast path.
  for (;;) {
    std::optional<SealState> known;
    {
      std::lock_guard lock(mu_);
      if (erased_.contains(account)) break;
      if (SealState* state = accounts_.Find(account)) {
        if (state->next < state->reserved) {
          ++state->next;
          *key = state->key;
          *key_id = state->key_id;
          return {};
        }
        known = *state;
      }
    }
    if (!known) {
      auto erased = IsErased(account_id);
      if (!erased) return std::unexpected(erased.error());
      if (*erased) break;
      auto row = store_.Get(CurrentRow(account_id));
      if (!row) return std::unexpected(row.error());
      if (*row) {
        auto current = DecodeCurrent(**row);
        if (!current) {
          return MakeError(Errc::kCorruption, "the account's current data key row is malformed");
        }
        auto loaded = LoadDataKeyLocked(account_id, current->key_id);
        if (!loaded) return std::unexpected(loaded.error());
        // Uses below the stored reservation may have been handed out before a restart.
        known = SealState{current->key_id, *loaded, current->reserved, current->reserved};
      }
    }
    if (known && known->reserved < options_.data_key_use_limit) {
      const uint64_t reserved =
          std::min(known->reserved + options_.use_reservation_block, options_.data_key_use_limit);
      KvBatch batch;
      batch.Put(CurrentRow(account_id), EncodeCurrent({known->key_id, reserved}));
      if (auto written = store_.Write(batch, /*sync=*/true); !written) return written;
      std::lock_guard lock(mu_);
      SealState* state = accounts_.Find(account);
      if (state && state->key_id == known->key_id) {
        state->reserved = std::max(state->reserved, reserved);
      } else {
        // Evicted meanwhile: every use below the old reservation counts as spent.
        accounts_.Put(account, SealState{known->key_id, known->key, known->reserved, reserved});
      }
      continue;
    }
    // No key yet, or the current one reached its use limit.
    auto created = CreateDataKeyLocked(account_id);
    if (!created) return std::unexpected(created.error());
    std::lock_guard lock(mu_);
    // Erased meanwhile by another process (ForgetAccount): never cache a key for it.
    if (erased_.contains(account)) break;
    keys_.Put(CacheKey(account_id, created->key_id), created->key);
    accounts_.Put(account, std::move(*created));
  }
  return MakeError(Errc::kFailedPrecondition,
                   "cannot seal: the account's data keys were destroyed (account erased)");
}

Result<v1::Sealed> KeyVault::Impl::Seal(const SealContext& context, std::string_view plaintext) {
  if (auto status = ValidateContext(context); !status) return std::unexpected(status.error());
  KeyPtr key;
  std::string key_id;
  {
    std::lock_guard lock(mu_);
    SealState* state = accounts_.Find(context.account_id);
    if (state && state->next < state->reserved) {
      ++state->next;
      key = state->key;
      key_id = state->key_id;
    }
  }
  if (!key) {
    if (auto status = ClaimSlow(context.account_id, &key, &key_id); !status) {
      return std::unexpected(status.error());
    }
  }
  v1::Sealed sealed;
  std::array<unsigned char, kGcmNonceSize> nonce{};
  random_.Fill(std::as_writable_bytes(std::span(nonce)));
  const std::string_view aad = SealAad(context, key_id);
  std::string* ciphertext = sealed.mutable_ciphertext();
  ciphertext->resize(plaintext.size() + kGcmTagSize);
  if (auto status = gcm_.Encrypt(key->bytes, nonce, AsBytes(aad), AsBytes(plaintext),
                                 openssl::AsWritableBytes(*ciphertext));
      !status) {
    return std::unexpected(status.error());
  }
  sealed.set_key_id(std::move(key_id));
  sealed.set_nonce(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  return sealed;
}

Result<std::string> KeyVault::Impl::Open(const SealContext& context, const v1::Sealed& sealed) {
  if (auto status = ValidateContext(context); !status) return std::unexpected(status.error());
  const std::string& key_id = sealed.key_id();
  if (key_id.empty() || key_id.size() > kMaxKeyIdSize || key_id.find('\0') != std::string::npos) {
    return MakeError(Errc::kCorruption, "sealed value has a malformed key id");
  }
  if (sealed.nonce().size() != kGcmNonceSize) {
    return MakeError(
        Errc::kCorruption,
        "sealed value has a " + std::to_string(sealed.nonce().size()) + "-byte nonce; expected 12");
  }
  if (sealed.ciphertext().size() < kGcmTagSize) {
    return MakeError(Errc::kCorruption, "sealed value is shorter than its authentication tag");
  }
  KeyPtr key;
  {
    std::lock_guard lock(mu_);
    if (erased_.contains(context.account_id)) {
      return MakeError(Errc::kNotFound, "data key destroyed: account erased");
    }
    if (KeyPtr* cached = keys_.Find(ScratchCacheKey(context.account_id, key_id))) key = *cached;
  }
  if (!key) {
    std::lock_guard stripe(StripeFor(context.account_id));
    auto loaded = LoadDataKeyLocked(context.account_id, key_id);
    if (!loaded) return std::unexpected(loaded.error());
    key = std::move(*loaded);
  }
  const std::string_view aad = SealAad(context, key_id);
  std::string plaintext(sealed.ciphertext().size() - kGcmTagSize, '\0');
  const auto nonce = std::span<const unsigned char, kGcmNonceSize>(
      reinterpret_cast<const unsigned char*>(sealed.nonce().data()), kGcmNonceSize);
  if (auto status = gcm_.Decrypt(key->bytes, nonce, AsBytes(aad), AsBytes(sealed.ciphertext()),
                                 openssl::AsWritableBytes(plaintext));
      !status) {
    if (status.error().code != Errc::kCorruption) return std::unexpected(status.error());
    return MakeError(Errc::kCorruption,
                     "sealed value failed authentication: it was altered, or it belongs to "
                     "another account, record or field");
  }
  return plaintext;
}

Result<std::string> KeyVault::Impl::LookupHash(std::string_view purpose, std::string_view value) {
  if (purpose.empty()) return MakeError(Errc::kInvalidArgument, "empty lookup purpose");
  std::string input(kLookupDomain);
  AppendPart(input, purpose);
  input.append(value);
  auto mac = openssl::HmacSha256(lookup_key_->bytes, AsBytes(input));
  openssl::Cleanse(input);  // it holds the looked-up value, a secret
  if (!mac) return std::unexpected(mac.error());
  return HexEncode(*mac);
}

Status KeyVault::Impl::DestroyAccountKeys(std::string_view account_id) {
  if (auto status = ValidateAccount(account_id); !status) return status;
  std::shared_lock rotation(rotation_mu_);
  std::lock_guard stripe(StripeFor(account_id));
  const std::string dk_begin = DataKeyRow(account_id, "");
  std::string dk_end = dk_begin;
  dk_end.back() = '\x01';  // just past every "<account>\0..." row
  KvBatch batch;
  batch.DeleteRange(dk_begin, dk_end);
  batch.Delete(CurrentRow(account_id));
  batch.Put(TombstoneRow(account_id), std::string(1, static_cast<char>(kRecordVersion)));
  if (auto written = store_.Write(batch, /*sync=*/true); !written) return written;
  ForgetAccount(account_id);
  // The wrapped keys must leave the store's files too, not just its view.
  return store_.Purge(dk_begin, dk_end);
}

void KeyVault::Impl::ForgetAccount(std::string_view account_id) {
  std::lock_guard lock(mu_);
  accounts_.Erase(account_id);
  keys_.ErasePrefix(CacheKey(account_id, ""));
  erased_.insert(std::string(account_id));
}

Status KeyVault::Impl::RotateMasterKey(MasterKey new_key) {
  std::lock_guard admin(rotate_admin_mu_);
  {
    std::unique_lock rotation(rotation_mu_);
    // The marker goes first: if we crash after this, the next Create finishes the job.
    KvBatch batch;
    batch.Put(Row("meta/rotation"), new_key.id());
    if (auto written = store_.Write(batch, /*sync=*/true); !written) return written;
    std::lock_guard lock(mu_);
    std::erase_if(masters_, [&](const auto& m) { return m->id() == new_key.id(); });
    masters_.insert(masters_.begin(), std::make_shared<const MasterKey>(std::move(new_key)));
  }
  return RewrapAll();
}

// Re-wraps every record not under the current master key, then removes the rotation marker.
// Runs with no lock but rotate_admin_mu_ (or single-threaded, from Init) between batches, so
// seals and opens go on; each batch holds rotation_mu_ exclusively and re-reads its rows, so a
// row destroyed meanwhile is skipped, never resurrected.
Status KeyVault::Impl::RewrapAll() {
  const auto target = CurrentMaster();
  const std::string lookup_row = Row("meta/lookup_key");
  const std::string dk_begin = Row("dk/");
  const std::string dk_end = Row("dk0");  // '0' follows '/'
  std::vector<std::string> rows{lookup_row};
  if (auto scanned = store_.Scan(dk_begin, dk_end,
                                 [&](std::string_view row, std::string_view value) {
                                   auto record = DecodeWrapped(value);
                                   if (!record || record->master_key_id != target->id()) {
                                     rows.emplace_back(row);
                                   }
                                   return true;
                                 });
      !scanned) {
    return scanned;
  }
  for (size_t begin = 0; begin < rows.size(); begin += options_.rotation_batch_size) {
    const size_t end = std::min(rows.size(), begin + options_.rotation_batch_size);
    std::unique_lock rotation(rotation_mu_);
    KvBatch batch;
    for (size_t i = begin; i < end; ++i) {
      const std::string& row = rows[i];
      std::string key_id(kLookupKeyId);
      std::string account_id;
      if (row != lookup_row) {
        const std::string_view rest = std::string_view(row).substr(dk_begin.size());
        const size_t nul = rest.find('\0');
        if (nul == std::string_view::npos) {
          return MakeError(Errc::kCorruption, "malformed data key row in the key vault");
        }
        account_id = std::string(rest.substr(0, nul));
        key_id = std::string(rest.substr(nul + 1));
      }
      auto value = store_.Get(row);
      if (!value) return std::unexpected(value.error());
      if (!*value) continue;  // destroyed since the scan
      auto record = DecodeWrapped(**value);
      if (record && record->master_key_id == target->id()) continue;
      auto key = Unwrap(**value, key_id, account_id);
      if (!key) return std::unexpected(key.error());
      auto wrapped = Wrap(*target, key_id, account_id, **key);
      if (!wrapped) return std::unexpected(wrapped.error());
      batch.Put(row, std::move(*wrapped));
    }
    if (!batch.empty()) {
      if (auto written = store_.Write(batch, /*sync=*/true); !written) return written;
    }
  }
  std::unique_lock rotation(rotation_mu_);
  KvBatch batch;
  batch.Delete(Row("meta/rotation"));
  if (auto written = store_.Write(batch, /*sync=*/true); !written) return written;
  // Nothing is wrapped under an older master key any more: forget them.
  std::lock_guard lock(mu_);
  masters_.resize(1);
  return {};
}

// KeyVault: validation and forwarding.

Result<std::unique_ptr<KeyVault>> KeyVault::Create(KvStore& store, RandomSource& random,
                                                   MasterKey current,
                                                   std::vector<MasterKey> previous,
                                                   KeyVaultOptions options) {
  if (options.data_key_use_limit == 0 || options.data_key_use_limit > (uint64_t{1} << 32)) {
    return MakeError(Errc::kInvalidArgument, "data_key_use_limit must be in [1, 2^32]");
  }
  if (options.use_reservation_block == 0 || options.max_cached_keys == 0 ||
      options.rotation_batch_size == 0) {
    return MakeError(Errc::kInvalidArgument,
                     "use_reservation_block, max_cached_keys and rotation_batch_size must be > 0");
  }
  auto gcm = AesGcm::Create();
  if (!gcm) return std::unexpected(gcm.error());
  auto impl = std::make_unique<Impl>(store, random, std::move(options), std::move(*gcm));
  if (auto status = impl->Init(std::move(current), std::move(previous)); !status) {
    return std::unexpected(status.error());
  }
  return std::unique_ptr<KeyVault>(new KeyVault(std::move(impl)));
}

KeyVault::KeyVault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyVault::~KeyVault() = default;

Result<v1::Sealed> KeyVault::Seal(const SealContext& context, std::string_view plaintext) {
  return impl_->Seal(context, plaintext);
}
Result<std::string> KeyVault::Open(const SealContext& context, const v1::Sealed& sealed) {
  return impl_->Open(context, sealed);
}
Result<std::string> KeyVault::LookupHash(std::string_view purpose, std::string_view value) {
  return impl_->LookupHash(purpose, value);
}
void KeyVault::ForgetAccount(std::string_view account_id) { impl_->ForgetAccount(account_id); }

Status KeyVault::DestroyAccountKeys(std::string_view account_id) {
  return impl_->DestroyAccountKeys(account_id);
}
Status KeyVault::RotateMasterKey(MasterKey new_key) {
  return impl_->RotateMasterKey(std::move(new_key));
}
std::string KeyVault::current_master_key_id() const { return impl_->CurrentMasterKeyId(); }

}  // namespace clawvisor
