#include "adapters/openssl/key_vault.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/openssl/aes_gcm.h"
#include "adapters/posix/os_random.h"
#include "projections/memory_kv_store.h"

namespace clawvisor {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kSecret = "sk-live-0123456789abcdefSECRET";

// Remembers every 32-byte draw (the size of every key the vault makes), so a test can check that
// no key ever reaches the store unwrapped.
class RecordingRandom final : public RandomSource {
 public:
  explicit RecordingRandom(uint64_t seed) : inner_(seed) {}
  void Fill(std::span<std::byte> out) override {
    inner_.Fill(out);
    if (out.size() == 32) {
      std::lock_guard lock(mu_);
      keys_.emplace_back(reinterpret_cast<const char*>(out.data()), out.size());
    }
  }
  std::vector<std::string> keys() {
    std::lock_guard lock(mu_);
    return keys_;
  }

 private:
  SeededRandom inner_;
  std::mutex mu_;
  std::vector<std::string> keys_;
};

// A store that fails every write after the first `allowed`: a crash in the middle of a rotation.
class FailAfterStore final : public KvStore {
 public:
  FailAfterStore(KvStore& inner, int allowed) : inner_(inner), allowed_(allowed) {}
  Result<std::optional<std::string>> Get(std::string_view key) override { return inner_.Get(key); }
  Status Write(const KvBatch& batch, bool sync) override {
    if (allowed_-- <= 0) return MakeError(Errc::kUnavailable, "injected crash");
    return inner_.Write(batch, sync);
  }
  Status Scan(std::string_view begin, std::string_view end,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return inner_.Scan(begin, end, visit);
  }

 private:
  KvStore& inner_;
  std::atomic<int> allowed_;
};

std::string FlipBit(std::string s, size_t bit) {
  s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
  return s;
}

class KeyVaultTest : public ::testing::Test {
 protected:
  std::unique_ptr<KeyVault> NewVault(KeyVaultOptions options = {}) {
    return NewVaultWith(master_, {}, options);
  }
  std::unique_ptr<KeyVault> NewVaultWith(const MasterKey& current, std::vector<MasterKey> previous,
                                         KeyVaultOptions options = {}) {
    auto vault = KeyVault::Create(store_, random_, current, std::move(previous), options);
    EXPECT_TRUE(vault) << vault.error().ToString();
    return vault ? std::move(*vault) : nullptr;
  }
  v1::Sealed MustSeal(Sealer& vault, const SealContext& context, std::string_view plaintext) {
    auto sealed = vault.Seal(context, plaintext);
    EXPECT_TRUE(sealed) << sealed.error().ToString();
    return sealed ? *sealed : v1::Sealed();
  }
  // Opening must fail with `code`, and the message must not leak the plaintext or a key.
  void ExpectRefused(Sealer& vault, const SealContext& context, const v1::Sealed& sealed,
                     Errc code = Errc::kCorruption) {
    auto opened = vault.Open(context, sealed);
    ASSERT_FALSE(opened) << "opened a tampered value";
    EXPECT_EQ(opened.error().code, code) << opened.error().ToString();
    EXPECT_THAT(opened.error().message, Not(HasSubstr(std::string(kSecret))));
    EXPECT_THAT(opened.error().message, Not(HasSubstr(master_.ToHex())));
  }
  // Every row of the store whose key contains `part`.
  std::vector<std::string> RowsContaining(std::string_view part) {
    std::vector<std::string> rows;
    for (const auto& [key, value] : store_.Snapshot()) {
      if (key.find(part) != std::string::npos) rows.push_back(key);
    }
    return rows;
  }

  MemoryKvStore store_;
  SeededRandom random_{42};
  MasterKey master_ = MasterKey::Generate(random_);
  const SealContext ctx_{"acct-0001-aaaa", "evt-123", "account_registered.email"};
};

// Values of many sizes, binary ones included, come back as they went in.
TEST_F(KeyVaultTest, RoundTrip) {
  auto vault = NewVault();
  for (const std::string& plaintext : std::vector<std::string>{
           std::string(), std::string("a"), std::string(kSecret), std::string("\0\xff\0x", 4),
           std::string(4096, 'z'), std::string(100'000, '\x01')}) {
    const v1::Sealed sealed = MustSeal(*vault, ctx_, plaintext);
    EXPECT_EQ(sealed.nonce().size(), 12u);
    EXPECT_EQ(sealed.ciphertext().size(), plaintext.size() + 16);
    EXPECT_TRUE(sealed.key_id().starts_with("dk_acct0001_")) << sealed.key_id();
    if (!plaintext.empty()) {
      EXPECT_THAT(sealed.ciphertext(), Not(HasSubstr(plaintext)));
    }
    auto opened = vault->Open(ctx_, sealed);
    ASSERT_TRUE(opened) << opened.error().ToString();
    EXPECT_EQ(*opened, plaintext);
  }
}

// The same plaintext sealed twice gives different nonces and ciphertexts under the same key.
TEST_F(KeyVaultTest, EverySealHasAFreshNonce) {
  auto vault = NewVault();
  const v1::Sealed a = MustSeal(*vault, ctx_, kSecret);
  const v1::Sealed b = MustSeal(*vault, ctx_, kSecret);
  EXPECT_EQ(a.key_id(), b.key_id());
  EXPECT_NE(a.nonce(), b.nonce());
  EXPECT_NE(a.ciphertext(), b.ciphertext());
}

// Flipping any single bit of the nonce is detected.
TEST_F(KeyVaultTest, EveryNonceBitFlipIsRefused) {
  auto vault = NewVault();
  const v1::Sealed sealed = MustSeal(*vault, ctx_, kSecret);
  for (size_t bit = 0; bit < sealed.nonce().size() * 8; ++bit) {
    v1::Sealed tampered = sealed;
    tampered.set_nonce(FlipBit(sealed.nonce(), bit));
    ExpectRefused(*vault, ctx_, tampered);
  }
}

// Flipping any single bit of the ciphertext or of the tag is detected.
TEST_F(KeyVaultTest, EveryCiphertextAndTagBitFlipIsRefused) {
  auto vault = NewVault();
  const v1::Sealed sealed = MustSeal(*vault, ctx_, kSecret);
  for (size_t bit = 0; bit < sealed.ciphertext().size() * 8; ++bit) {
    v1::Sealed tampered = sealed;
    tampered.set_ciphertext(FlipBit(sealed.ciphertext(), bit));
    ExpectRefused(*vault, ctx_, tampered);
  }
  v1::Sealed truncated = sealed;
  truncated.mutable_ciphertext()->pop_back();
  ExpectRefused(*vault, ctx_, truncated);
  truncated.mutable_ciphertext()->resize(15);
  ExpectRefused(*vault, ctx_, truncated);
  v1::Sealed extended = sealed;
  extended.mutable_ciphertext()->push_back('\0');
  ExpectRefused(*vault, ctx_, extended);
  v1::Sealed short_nonce = sealed;
  short_nonce.mutable_nonce()->pop_back();
  ExpectRefused(*vault, ctx_, short_nonce);
}

// Flipping any single bit of the account id, the record id or the field is detected.
TEST_F(KeyVaultTest, EveryContextBitFlipIsRefused) {
  auto vault = NewVault();
  const v1::Sealed sealed = MustSeal(*vault, ctx_, kSecret);
  const std::string account(ctx_.account_id), record(ctx_.record_id), field(ctx_.field);
  for (size_t bit = 0; bit < account.size() * 8; ++bit) {
    const std::string changed = FlipBit(account, bit);
    if (changed.find('\0') != std::string::npos) continue;  // not a valid account id
    ExpectRefused(*vault, {changed, record, field}, sealed);
  }
  for (size_t bit = 0; bit < record.size() * 8; ++bit) {
    const std::string changed = FlipBit(record, bit);
    ExpectRefused(*vault, {account, changed, field}, sealed);
  }
  for (size_t bit = 0; bit < field.size() * 8; ++bit) {
    const std::string changed = FlipBit(field, bit);
    ExpectRefused(*vault, {account, record, changed}, sealed);
  }
}

// Moving the boundary between record id and field (same concatenation) is detected.
TEST_F(KeyVaultTest, ContextBoundariesAreBound) {
  auto vault = NewVault();
  const v1::Sealed sealed = MustSeal(*vault, {"acct", "evt-1", "f"}, kSecret);
  ExpectRefused(*vault, {"acct", "evt-", "1f"}, sealed);
  ExpectRefused(*vault, {"acct", "evt-1f", "x"}, sealed);
  ASSERT_TRUE(vault->Open({"acct", "evt-1", "f"}, sealed));
}

// A value opened as another account's, another record's or another field's is refused, even
// when the other account has keys of its own.
TEST_F(KeyVaultTest, ValueCannotMove) {
  auto vault = NewVault();
  const SealContext other_account{"acct-0002-bbbb", ctx_.record_id, ctx_.field};
  MustSeal(*vault, other_account, "other's value");
  const v1::Sealed sealed = MustSeal(*vault, ctx_, kSecret);
  ExpectRefused(*vault, other_account, sealed);
  ExpectRefused(*vault, {ctx_.account_id, "evt-124", ctx_.field}, sealed);
  ExpectRefused(*vault, {ctx_.account_id, ctx_.record_id, "account_registered.password"}, sealed);
}

// A changed key id is refused: unknown ids, another account's id, and the account's other key.
TEST_F(KeyVaultTest, WrongKeyIdIsRefused) {
  KeyVaultOptions options;
  options.data_key_use_limit = 1;
  auto vault = NewVault(options);
  const v1::Sealed first = MustSeal(*vault, ctx_, kSecret);
  const v1::Sealed second = MustSeal(*vault, ctx_, kSecret);
  ASSERT_NE(first.key_id(), second.key_id());
  v1::Sealed swapped = first;
  swapped.set_key_id(second.key_id());
  ExpectRefused(*vault, ctx_, swapped);
  for (size_t bit = 0; bit < first.key_id().size() * 8; ++bit) {
    v1::Sealed tampered = first;
    tampered.set_key_id(FlipBit(first.key_id(), bit));
    ExpectRefused(*vault, ctx_, tampered);
  }
  const v1::Sealed others = MustSeal(*vault, {"acct-0002", "evt-123", ctx_.field}, kSecret);
  v1::Sealed foreign = first;
  foreign.set_key_id(others.key_id());
  ExpectRefused(*vault, ctx_, foreign);
  foreign.set_key_id("");
  ExpectRefused(*vault, ctx_, foreign);
  foreign.set_key_id(std::string(200, 'k'));
  ExpectRefused(*vault, ctx_, foreign);
}

// Malformed contexts are the caller's bug: kInvalidArgument, for Seal and Open alike.
TEST_F(KeyVaultTest, InvalidContextIsRefused) {
  auto vault = NewVault();
  const v1::Sealed sealed = MustSeal(*vault, ctx_, kSecret);
  for (const SealContext& bad :
       {SealContext{"", "r", "f"}, SealContext{"a", "", "f"}, SealContext{"a", "r", ""},
        SealContext{std::string_view("a\0b", 3), "r", "f"}}) {
    auto sealed_bad = vault->Seal(bad, kSecret);
    ASSERT_FALSE(sealed_bad);
    EXPECT_EQ(sealed_bad.error().code, Errc::kInvalidArgument);
    ExpectRefused(*vault, bad, sealed, Errc::kInvalidArgument);
  }
}

// A vault reopened from the same store and master key reads what the first one sealed, and keeps
// sealing under the same data key.
TEST_F(KeyVaultTest, ReopenedVaultReadsOldValues) {
  v1::Sealed sealed;
  std::string hash;
  {
    auto vault = NewVault();
    sealed = MustSeal(*vault, ctx_, kSecret);
    hash = *vault->LookupHash("email", "a@example.com");
  }
  auto vault = NewVault();
  auto opened = vault->Open(ctx_, sealed);
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_EQ(*opened, kSecret);
  EXPECT_EQ(*vault->LookupHash("email", "a@example.com"), hash);
  EXPECT_EQ(MustSeal(*vault, ctx_, "more").key_id(), sealed.key_id());
}

// The wrong master key cannot open the vault, and says so without showing any key.
TEST_F(KeyVaultTest, WrongMasterKeyIsRefusedAtStartup) {
  { ASSERT_TRUE(NewVault()); }
  const MasterKey wrong = MasterKey::Generate(random_);
  auto vault = KeyVault::Create(store_, random_, wrong);
  ASSERT_FALSE(vault);
  EXPECT_EQ(vault.error().code, Errc::kFailedPrecondition);
  EXPECT_THAT(vault.error().message, HasSubstr(master_.id()));
  EXPECT_THAT(vault.error().message, HasSubstr("wrong master key"));
  EXPECT_THAT(vault.error().message, Not(HasSubstr(wrong.ToHex())));
  EXPECT_THAT(vault.error().message, Not(HasSubstr(master_.ToHex())));
}

// A wrapped data key altered in the store fails to unwrap: kCorruption, never a wrong key.
TEST_F(KeyVaultTest, AlteredWrappedKeyIsCorruption) {
  v1::Sealed sealed;
  {
    auto vault = NewVault();
    sealed = MustSeal(*vault, ctx_, kSecret);
  }
  const auto rows = RowsContaining(sealed.key_id());
  ASSERT_EQ(rows.size(), 1u);
  const std::string value = *store_.Get(rows[0]).value();
  for (size_t bit = 2 * 8; bit < value.size() * 8; bit += 7) {  // past version and id length
    KvBatch batch;
    batch.Put(rows[0], FlipBit(value, bit));
    ASSERT_TRUE(store_.Write(batch, false));
    auto vault = NewVault();
    auto opened = vault->Open(ctx_, sealed);
    ASSERT_FALSE(opened);
    // A flipped master key id names a key the vault does not hold; anything else fails the tag.
    EXPECT_TRUE(opened.error().code == Errc::kCorruption ||
                opened.error().code == Errc::kFailedPrecondition)
        << opened.error().ToString();
  }
}

// The store never holds a key in the clear: not a data key, the lookup key, nor the master key.
TEST_F(KeyVaultTest, StoreHoldsNoUnwrappedKey) {
  RecordingRandom random(9);
  KeyVaultOptions options;
  options.data_key_use_limit = 2;
  {
    auto vault = KeyVault::Create(store_, random, master_, {}, options);
    ASSERT_TRUE(vault);
    for (int i = 0; i < 10; ++i) {
      MustSeal(**vault, {"acct-" + std::to_string(i % 3), "r", "f"}, kSecret);
    }
    ASSERT_TRUE((*vault)->RotateMasterKey(MasterKey::Generate(random_)));
  }
  const auto keys = random.keys();
  ASSERT_GE(keys.size(), 1u + 5u);  // the lookup key and at least one data key per 2 seals
  const std::string master(reinterpret_cast<const char*>(master_.bytes().data()), 32);
  for (const auto& [row, value] : store_.Snapshot()) {
    EXPECT_THAT(value, Not(HasSubstr(master))) << row;
    EXPECT_THAT(value, Not(HasSubstr(kSecret))) << row;
    for (const auto& key : keys) EXPECT_THAT(value, Not(HasSubstr(key))) << row;
  }
}

// Rotating the master key keeps every old value readable, new seals work, and afterwards the
// store needs only the new master key.
TEST_F(KeyVaultTest, MasterKeyRotation) {
  KeyVaultOptions options;
  options.rotation_batch_size = 2;  // several batches
  options.data_key_use_limit = 2;   // several data keys per account
  auto vault = NewVault(options);
  // SealContext holds views: the strings live in these vectors for the whole test.
  std::vector<std::string> accounts, record_ids;
  for (int i = 0; i < 7; ++i) accounts.push_back("acct-" + std::to_string(i));
  for (int i = 0; i < 21; ++i) record_ids.push_back("evt-" + std::to_string(i));
  std::vector<std::pair<SealContext, v1::Sealed>> values;
  for (int i = 0; i < 21; ++i) {
    const SealContext context{accounts[i % 7], record_ids[i], "f"};
    values.emplace_back(context, MustSeal(*vault, context, kSecret));
  }
  const std::string lookup = *vault->LookupHash("email", "x@example.com");

  const MasterKey next = MasterKey::Generate(random_);
  ASSERT_TRUE(vault->RotateMasterKey(next));
  EXPECT_EQ(vault->current_master_key_id(), next.id());
  for (const auto& [context, sealed] : values) {
    auto opened = vault->Open(context, sealed);
    ASSERT_TRUE(opened) << opened.error().ToString();
    EXPECT_EQ(*opened, kSecret);
  }
  const v1::Sealed fresh = MustSeal(*vault, ctx_, "after rotation");
  EXPECT_EQ(*vault->Open(ctx_, fresh), "after rotation");
  for (const auto& [row, value] : store_.Snapshot()) {
    EXPECT_THAT(value, Not(HasSubstr(master_.id()))) << row;
  }
  EXPECT_TRUE(RowsContaining("meta/rotation").empty());
  vault.reset();

  // The new key alone opens everything, from a cold cache.
  auto reopened = NewVaultWith(next, {}, options);
  ASSERT_TRUE(reopened);
  for (const auto& [context, sealed] : values) {
    auto opened = reopened->Open(context, sealed);
    ASSERT_TRUE(opened) << opened.error().ToString();
  }
  EXPECT_EQ(*reopened->LookupHash("email", "x@example.com"), lookup);
  EXPECT_EQ(*reopened->Open(ctx_, fresh), "after rotation");
  // The old key alone no longer can.
  auto old_only = KeyVault::Create(store_, random_, master_);
  ASSERT_FALSE(old_only);
  EXPECT_EQ(old_only.error().code, Errc::kFailedPrecondition);
}

// A rotation cut short is finished by the next Create given both keys; given only the new key,
// Create refuses rather than leave values unreadable.
TEST_F(KeyVaultTest, InterruptedRotationIsFinishedOnRestart) {
  KeyVaultOptions options;
  options.rotation_batch_size = 1;
  std::vector<v1::Sealed> sealed;
  std::vector<std::string> accounts;
  for (int i = 0; i < 6; ++i) accounts.push_back("acct-" + std::to_string(i));
  {
    auto vault = NewVault(options);
    for (const auto& account : accounts)
      sealed.push_back(MustSeal(*vault, {account, "r", "f"}, kSecret));
  }
  const MasterKey next = MasterKey::Generate(random_);
  {
    FailAfterStore crashing(store_, /*allowed=*/3);  // the marker and two batches
    auto vault = KeyVault::Create(crashing, random_, master_, {}, options);
    ASSERT_TRUE(vault);
    auto rotated = (*vault)->RotateMasterKey(next);
    ASSERT_FALSE(rotated);
    // Meanwhile, the vault still opens everything.
    for (size_t i = 0; i < accounts.size(); ++i) {
      ASSERT_TRUE((*vault)->Open({accounts[i], "r", "f"}, sealed[i]));
    }
  }
  ASSERT_FALSE(RowsContaining("meta/rotation").empty());
  auto new_only = KeyVault::Create(store_, random_, next, {}, options);
  ASSERT_FALSE(new_only);
  EXPECT_EQ(new_only.error().code, Errc::kFailedPrecondition);
  EXPECT_THAT(new_only.error().message, HasSubstr(master_.id()));

  ASSERT_TRUE(NewVaultWith(next, {master_}, options));
  EXPECT_TRUE(RowsContaining("meta/rotation").empty());
  auto vault = NewVaultWith(next, {}, options);
  ASSERT_TRUE(vault);
  for (size_t i = 0; i < accounts.size(); ++i) {
    auto opened = vault->Open({accounts[i], "r", "f"}, sealed[i]);
    ASSERT_TRUE(opened) << opened.error().ToString();
  }
}

// A process that died after writing its new master key but before the vault's rotation marker
// restarts with the new key current and the old one previous: every record is re-wrapped at
// once, so the old key can be dropped (the data directory's key file is replaced next).
TEST_F(KeyVaultTest, StartingWithAPreviousKeyRewrapsEverything) {
  auto vault = NewVault();
  const v1::Sealed sealed = MustSeal(*vault, ctx_, kSecret);
  vault.reset();
  const MasterKey next = MasterKey::Generate(random_);
  ASSERT_NE(NewVaultWith(next, {master_}), nullptr);
  auto reopened = NewVaultWith(next, {});  // the old key is gone
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(*reopened->Open(ctx_, sealed), kSecret);
}

// After `data_key_use_limit` seals the account moves to a new data key; old values still open.
TEST_F(KeyVaultTest, DataKeyRotatesAtUseLimit) {
  KeyVaultOptions options;
  options.data_key_use_limit = 3;
  options.use_reservation_block = 2;
  auto vault = NewVault(options);
  std::vector<v1::Sealed> sealed;
  for (int i = 0; i < 10; ++i) sealed.push_back(MustSeal(*vault, ctx_, std::to_string(i)));
  std::map<std::string, int> uses;
  for (const auto& s : sealed) ++uses[s.key_id()];
  EXPECT_EQ(uses.size(), 4u);  // 3 + 3 + 3 + 1
  for (const auto& [key_id, n] : uses) EXPECT_LE(n, 3) << key_id;
  EXPECT_EQ(sealed[0].key_id(), sealed[2].key_id());
  EXPECT_NE(sealed[2].key_id(), sealed[3].key_id());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(*vault->Open(ctx_, sealed[i]), std::to_string(i));
  EXPECT_EQ(RowsContaining("dk/").size(), 4u);
}

// The use count survives a restart: a new vault resumes at the stored reservation and never
// hands out a use the previous one may have spent.
TEST_F(KeyVaultTest, UseCountSurvivesRestart) {
  KeyVaultOptions options;
  options.data_key_use_limit = 3;
  options.use_reservation_block = 2;
  std::string first_key;
  {
    auto vault = NewVault(options);
    first_key = MustSeal(*vault, ctx_, "1").key_id();  // uses 0..1 reserved, 0 spent
  }
  auto vault = NewVault(options);
  EXPECT_EQ(MustSeal(*vault, ctx_, "2").key_id(), first_key);  // use 2, the last one
  EXPECT_NE(MustSeal(*vault, ctx_, "3").key_id(), first_key);
}

// A small cache still works: evicted keys are reloaded, and use counts stay within the limit.
TEST_F(KeyVaultTest, BoundedCache) {
  KeyVaultOptions options;
  options.max_cached_keys = 2;
  options.data_key_use_limit = 4;
  options.use_reservation_block = 2;
  auto vault = NewVault(options);
  std::vector<std::string> accounts;
  for (int i = 0; i < 5; ++i) accounts.push_back("acct-" + std::to_string(i));
  std::vector<std::pair<int, v1::Sealed>> sealed;
  std::map<std::string, int> uses;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 5; ++i) {
      sealed.emplace_back(i, MustSeal(*vault, {accounts[i], "r", "f"}, kSecret));
      ++uses[sealed.back().second.key_id()];
    }
  }
  for (const auto& [key_id, n] : uses) EXPECT_LE(n, 4) << key_id;
  for (const auto& [i, s] : sealed) ASSERT_TRUE(vault->Open({accounts[i], "r", "f"}, s));
}

// Destroying an account's keys makes all its values unopenable (kNotFound, even after a restart),
// refuses its later seals, and leaves other accounts alone.
TEST_F(KeyVaultTest, DestroyAccountKeysShredsOnlyThatAccount) {
  KeyVaultOptions options;
  options.data_key_use_limit = 2;  // several keys to destroy
  auto vault = NewVault(options);
  const SealContext other{"acct-0002-bbbb", "evt-9", "f"};
  std::vector<v1::Sealed> mine, theirs;
  for (int i = 0; i < 5; ++i) {
    mine.push_back(MustSeal(*vault, ctx_, kSecret));
    theirs.push_back(MustSeal(*vault, other, "theirs"));
  }
  ASSERT_TRUE(vault->DestroyAccountKeys(ctx_.account_id));
  EXPECT_TRUE(RowsContaining("dk/" + std::string(ctx_.account_id)).empty());
  EXPECT_EQ(RowsContaining("dk/" + std::string(other.account_id)).size(), 3u);

  const auto check = [&](KeyVault& v) {
    for (const auto& s : mine) {
      auto opened = v.Open(ctx_, s);
      ASSERT_FALSE(opened);
      EXPECT_EQ(opened.error().code, Errc::kNotFound);
      EXPECT_EQ(opened.error().message, "data key destroyed: account erased");
    }
    for (const auto& s : theirs) EXPECT_EQ(*v.Open(other, s), "theirs");
    auto sealed = v.Seal(ctx_, "new");
    ASSERT_FALSE(sealed);
    EXPECT_EQ(sealed.error().code, Errc::kFailedPrecondition);
  };
  check(*vault);
  ASSERT_TRUE(vault->DestroyAccountKeys(ctx_.account_id));  // idempotent
  vault.reset();
  auto reopened = NewVault(options);
  check(*reopened);
}

// An account erased before it ever sealed anything never gets a key.
TEST_F(KeyVaultTest, DestroyBeforeFirstSeal) {
  auto vault = NewVault();
  ASSERT_TRUE(vault->DestroyAccountKeys("acct-never"));
  auto sealed = vault->Seal({"acct-never", "r", "f"}, kSecret);
  ASSERT_FALSE(sealed);
  EXPECT_EQ(sealed.error().code, Errc::kFailedPrecondition);
  EXPECT_TRUE(RowsContaining("dk/acct-never").empty());
}

// A store failure surfaces as an error; nothing is sealed under a key that is not durable.
TEST_F(KeyVaultTest, StoreFailureIsReported) {
  auto vault = NewVault();
  store_.FailWrites(Error{Errc::kUnavailable, "disk full"});
  auto sealed = vault->Seal(ctx_, kSecret);
  ASSERT_FALSE(sealed);
  EXPECT_EQ(sealed.error().code, Errc::kUnavailable);
  EXPECT_FALSE(vault->DestroyAccountKeys(ctx_.account_id));
  store_.ClearFailure();
  const v1::Sealed ok = MustSeal(*vault, ctx_, kSecret);
  EXPECT_EQ(*vault->Open(ctx_, ok), kSecret);
}

// LookupHash is deterministic per (purpose, value), differs across purposes, values and vaults,
// and is 64 hex digits.
TEST_F(KeyVaultTest, LookupHash) {
  auto vault = NewVault();
  const std::string a = *vault->LookupHash("email", "a@example.com");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(*vault->LookupHash("email", "a@example.com"), a);
  EXPECT_NE(*vault->LookupHash("session", "a@example.com"), a);
  EXPECT_NE(*vault->LookupHash("email", "b@example.com"), a);
  // The purpose is length-prefixed: no boundary games.
  EXPECT_NE(*vault->LookupHash("ab", "c"), *vault->LookupHash("a", "bc"));
  auto empty = vault->LookupHash("", "x");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Errc::kInvalidArgument);

  MemoryKvStore other_store;
  auto other = KeyVault::Create(other_store, random_, master_);
  ASSERT_TRUE(other);
  EXPECT_NE(*(*other)->LookupHash("email", "a@example.com"), a);
}

// Several threads sealing and opening for a few accounts, across reservations and data-key
// rotations, with the OS's randomness: every value opens, no key exceeds its use limit.
TEST_F(KeyVaultTest, ConcurrentSeals) {
  OsRandom os_random;
  KeyVaultOptions options;
  options.data_key_use_limit = 50;
  options.use_reservation_block = 7;
  options.max_cached_keys = 3;
  auto created = KeyVault::Create(store_, os_random, master_, {}, options);
  ASSERT_TRUE(created);
  KeyVault& vault = **created;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  const std::vector<std::string> accounts = {"acct-a", "acct-b", "acct-c", "acct-d"};
  std::vector<std::vector<v1::Sealed>> sealed(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const SealContext context{accounts[(t + i) % 4], "r", "f"};
        auto s = vault.Seal(context, std::to_string(t * kPerThread + i));
        ASSERT_TRUE(s) << s.error().ToString();
        auto opened = vault.Open(context, *s);
        ASSERT_TRUE(opened) << opened.error().ToString();
        sealed[t].push_back(std::move(*s));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::map<std::string, int> uses;
  std::set<std::string> nonces;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(sealed[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      const auto& s = sealed[t][i];
      ++uses[s.key_id()];
      nonces.insert(s.nonce());
      EXPECT_EQ(*vault.Open({accounts[(t + i) % 4], "r", "f"}, s),
                std::to_string(t * kPerThread + i));
    }
  }
  EXPECT_EQ(nonces.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_GE(uses.size(), static_cast<size_t>(kThreads * kPerThread / 50));
  for (const auto& [key_id, n] : uses) EXPECT_LE(n, 50) << key_id;
}

// Options outside their range are refused.
TEST_F(KeyVaultTest, InvalidOptions) {
  for (auto change : std::vector<std::function<void(KeyVaultOptions&)>>{
           [](KeyVaultOptions& o) { o.data_key_use_limit = 0; },
           [](KeyVaultOptions& o) { o.data_key_use_limit = (uint64_t{1} << 32) + 1; },
           [](KeyVaultOptions& o) { o.use_reservation_block = 0; },
           [](KeyVaultOptions& o) { o.max_cached_keys = 0; },
           [](KeyVaultOptions& o) { o.rotation_batch_size = 0; }}) {
    KeyVaultOptions options;
    change(options);
    auto vault = KeyVault::Create(store_, random_, master_, {}, options);
    ASSERT_FALSE(vault);
    EXPECT_EQ(vault.error().code, Errc::kInvalidArgument);
  }
}

}  // namespace
}  // namespace clawvisor
