// Passwords: the policy, the PasswordService (hashing off the processor, verification of the
// current password, deterministic salts), and the decisions on hashed passwords. Argon2id runs
// for real here, with cheap parameters (the full ones are proven in tests/adapters/argon2 and
// the integration test).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "adapters/argon2/argon2_password_hasher.h"
#include "engine/command/password_service.h"
#include "engine/command/seal_fields.h"
#include "engine/domain/decider.h"
#include "engine/domain/password_policy.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/test_values.h"

namespace clawvisor {
namespace {

constexpr TimestampUs kNow = 1'750'000'000'000'000;

TEST(PasswordPolicyTest, LengthIsCountedInCharactersWithoutTruncation) {
  EXPECT_TRUE(PasswordPolicyViolation("7chars!").has_value());
  EXPECT_FALSE(PasswordPolicyViolation("8 chars!").has_value());
  // Eight two-byte characters are eight characters, not sixteen bytes.
  EXPECT_FALSE(
      PasswordPolicyViolation("\xC3\xA9\xC3\xA0\xC3\xBC\xC3\xB6\xC3\xA7\xC3\xB1\xC3\xA5\xC3\xB8")
          .has_value());
  EXPECT_TRUE(PasswordPolicyViolation("\xC3\xA9\xC3\xA0\xC3\xBC\xC3\xB6\xC3\xA7\xC3\xB1\xC3\xA5")
                  .has_value());
  std::string long_ok;
  for (int i = 0; long_ok.size() < 256; ++i) long_ok += static_cast<char>('a' + (i * 7) % 26);
  EXPECT_FALSE(PasswordPolicyViolation(long_ok.substr(0, 64)).has_value());
  EXPECT_FALSE(PasswordPolicyViolation(long_ok).has_value());
  EXPECT_TRUE(PasswordPolicyViolation(long_ok + "z").has_value());
  EXPECT_FALSE(PasswordPolicyViolation("spaces are fine in a passphrase").has_value());
  EXPECT_TRUE(PasswordPolicyViolation("bad\x01control chars").has_value());
  EXPECT_TRUE(PasswordPolicyViolation("bad \xFF utf-8 bytes").has_value());
}

TEST(PasswordPolicyTest, CommonPasswordsAreRefused) {
  EXPECT_GT(CommonPasswordCount(), 3000u);
  for (const char* common : {"password", "PASSWORD", "baseball", "iloveyou", "password1",
                             "Password123!", "sunshine2024", "monkey12345", "trustno1"}) {
    auto why = PasswordPolicyViolation(common);
    ASSERT_TRUE(why.has_value()) << common;
    if (std::string_view(common).find("assword") == std::string_view::npos) {
      EXPECT_EQ(why->find(common), std::string::npos);  // never quoted
    }
  }
  EXPECT_TRUE(PasswordPolicyViolation("12345678").has_value());    // sequential
  EXPECT_TRUE(PasswordPolicyViolation("abcdefghij").has_value());  // sequential
  EXPECT_TRUE(PasswordPolicyViolation("zzzzzzzzz").has_value());   // repeated
  EXPECT_TRUE(PasswordPolicyViolation("my alice.smith pw", "alice.smith@example.com").has_value());
  EXPECT_FALSE(PasswordPolicyViolation("my alice.smith pw", "bob@example.com").has_value());
  EXPECT_FALSE(PasswordPolicyViolation("tangerine velvet orbit").has_value());
}

class PasswordServiceTest : public ::testing::Test {
 protected:
  PasswordServiceTest()
      : hasher_(Argon2idPasswordHasher::ForTests({.memory_kib = 64, .iterations = 1})),
        service_(*hasher_, sealer_, [this](std::string_view account) {
          ++lookups_;
          EXPECT_EQ(account, "acc_a");
          return Result<std::optional<v1::PasswordCredential>>(credential_);
        }) {}

  static v1::Command Register(const std::string& id, const std::string& password) {
    v1::Command c;
    c.set_command_id(id);
    c.set_account_id("acc_a");
    c.mutable_register_account()->set_email("owner@example.com");
    c.mutable_register_account()->set_password(password);
    return c;
  }
  static v1::Command Change(const std::string& id, const std::string& current,
                            const std::string& next) {
    v1::Command c;
    c.set_command_id(id);
    c.set_account_id("acc_a");
    c.mutable_change_password()->set_current_password(current);
    c.mutable_change_password()->set_new_password(next);
    return c;
  }
  // Stores `phc` as the account's credential, sealed the way the processor seals it.
  void StoreCredential(const std::string& phc) {
    v1::PasswordCredential c;
    c.set_account_id("acc_a");
    c.set_event_id("evt-1");
    c.set_field("account_registered.password_hash");
    *c.mutable_password_hash() = *sealer_.Seal({"acc_a", "evt-1", c.field()}, phc);
    credential_ = c;
  }

  testing::FakeSealer sealer_;
  std::unique_ptr<Argon2idPasswordHasher> hasher_;
  std::optional<v1::PasswordCredential> credential_;
  int lookups_ = 0;
  PasswordService service_;
};

TEST_F(PasswordServiceTest, RegistrationIsHashedAndThePlaintextCleared) {
  auto c = Register("r1", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(c).has_value());
  EXPECT_TRUE(c.register_account().password().empty());
  const std::string phc = c.register_account().password_hash();
  EXPECT_TRUE(IsArgon2idPhc(phc)) << phc;
  EXPECT_EQ(hasher_->Verify(phc, "tangerine velvet orbit").value(), true);
  // The same command again hashes identically (a retry keeps its fingerprint); another command
  // gets another salt.
  auto again = Register("r1", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(again).has_value());
  EXPECT_EQ(again.register_account().password_hash(), phc);
  auto other = Register("r2", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(other).has_value());
  EXPECT_NE(other.register_account().password_hash(), phc);
  // No password: nothing to do.
  auto none = Register("r3", "");
  ASSERT_TRUE(service_.Prepare(none).has_value());
  EXPECT_TRUE(none.register_account().password_hash().empty());
}

TEST_F(PasswordServiceTest, PolicyRefusalsNameNoPassword) {
  auto c = Register("r1", "password1");
  auto refused = service_.Prepare(c);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(refused.error().message.find("password1"), std::string::npos);
  auto short_one = Register("r2", "short");
  EXPECT_EQ(service_.Prepare(short_one).error().code, Errc::kInvalidArgument);
}

TEST_F(PasswordServiceTest, ChangeVerifiesTheCurrentPassword) {
  auto reg = Register("r1", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(reg).has_value());
  StoreCredential(reg.register_account().password_hash());

  auto wrong = Change("c1", "not the password", "another fine phrase");
  ASSERT_TRUE(service_.Prepare(wrong).has_value());
  EXPECT_FALSE(wrong.change_password().current_password_verified());
  EXPECT_TRUE(wrong.change_password().new_password_hash().empty());
  EXPECT_TRUE(wrong.change_password().current_password().empty());
  EXPECT_TRUE(wrong.change_password().new_password().empty());

  auto right = Change("c2", "tangerine velvet orbit", "another fine phrase");
  ASSERT_TRUE(service_.Prepare(right).has_value());
  EXPECT_TRUE(right.change_password().current_password_verified());
  EXPECT_EQ(
      hasher_->Verify(right.change_password().new_password_hash(), "another fine phrase").value(),
      true);

  auto weak = Change("c3", "tangerine velvet orbit", "qwertyuiop");
  EXPECT_EQ(service_.Prepare(weak).error().code, Errc::kInvalidArgument);

  // An account without a password verifies nothing.
  credential_.reset();
  auto none = Change("c4", "tangerine velvet orbit", "another fine phrase");
  ASSERT_TRUE(service_.Prepare(none).has_value());
  EXPECT_FALSE(none.change_password().current_password_verified());
}

// Logins find the account by the same keyed hash the processor indexes registrations under.
TEST_F(PasswordServiceTest, EmailLookupMatchesTheProcessorsIndex) {
  const std::string hash = *service_.EmailLookupHash("OWNER@Example.com");
  EXPECT_EQ(hash, *EmailLookupHash("owner@example.com", sealer_));
  EXPECT_NE(hash, *service_.EmailLookupHash("other@example.com"));
}

v1::Command Login(const std::string& id, const std::string& password) {
  v1::Command c;
  c.set_command_id(id);
  c.set_account_id("acc_a");
  c.mutable_login()->set_email("owner@example.com");
  c.mutable_login()->set_password(password);
  return c;
}

TEST_F(PasswordServiceTest, LoginVerifiesAndClearsThePlaintext) {
  auto reg = Register("r1", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(reg).has_value());
  StoreCredential(reg.register_account().password_hash());
  auto good = Login("l1", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(good).has_value());
  EXPECT_TRUE(good.login().password_verified());
  EXPECT_TRUE(good.login().rehashed_password_hash().empty());  // same parameters: no rehash
  EXPECT_TRUE(good.login().password().empty());
  EXPECT_TRUE(good.login().email().empty());
  auto bad = Login("l2", "tangerine velvet orbiT");
  ASSERT_TRUE(service_.Prepare(bad).has_value());
  EXPECT_FALSE(bad.login().password_verified());
  credential_.reset();
  auto none = Login("l3", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(none).has_value());
  EXPECT_FALSE(none.login().password_verified());
}

// A hash made with weaker parameters is replaced at the next successful login, with today's.
TEST_F(PasswordServiceTest, LoginRehashesWhenParametersRose) {
  auto weak = Argon2idPasswordHasher::ForTests({.memory_kib = 32, .iterations = 1});
  StoreCredential(*weak->Hash("tangerine velvet orbit", "0123456789abcdef"));
  auto good = Login("l1", "tangerine velvet orbit");
  ASSERT_TRUE(service_.Prepare(good).has_value());
  EXPECT_TRUE(good.login().password_verified());
  const std::string rehashed = good.login().rehashed_password_hash();
  ASSERT_FALSE(rehashed.empty());
  EXPECT_TRUE(rehashed.starts_with("$argon2id$v=19$m=64,t=1,p=1$")) << rehashed;
  EXPECT_EQ(hasher_->Verify(rehashed, "tangerine velvet orbit").value(), true);
  // A failed login never rehashes.
  auto bad = Login("l2", "wrong wrong wrong");
  ASSERT_TRUE(service_.Prepare(bad).has_value());
  EXPECT_TRUE(bad.login().rehashed_password_hash().empty());
}

TEST_F(PasswordServiceTest, FindsTheAccountByEmail) {
  std::map<std::string, std::string> index;
  PasswordService with_index(*hasher_, sealer_, nullptr, [&](std::string_view hash) {
    auto it = index.find(std::string(hash));
    return Result<std::optional<std::string>>(it == index.end() ? std::nullopt
                                                                : std::optional(it->second));
  });
  index[*with_index.EmailLookupHash("q@example.com")] = "acc_q";
  EXPECT_EQ(with_index.FindAccountByEmail("Q@example.com")->value_or(""), "acc_q");
  EXPECT_FALSE(with_index.FindAccountByEmail("r@example.com")->has_value());
  with_index.SpendLoginWork("anything");  // does the work, answers nothing
}

// A reset for an unknown email goes to an account id nobody has, the same for the same email
// every time; the request keeps only the token's keyed hash, the completion only hashes.
TEST_F(PasswordServiceTest, PasswordResetPreparation) {
  std::map<std::string, std::string> index;
  std::map<std::string, std::string> tokens;
  PasswordService with_index(
      *hasher_, sealer_, nullptr,
      [&](std::string_view hash) {
        auto it = index.find(std::string(hash));
        return Result<std::optional<std::string>>(it == index.end() ? std::nullopt
                                                                    : std::optional(it->second));
      },
      nullptr,
      [&](std::string_view hash) {
        auto it = tokens.find(std::string(hash));
        return Result<std::optional<std::string>>(it == tokens.end() ? std::nullopt
                                                                     : std::optional(it->second));
      });
  index[*with_index.EmailLookupHash("q@example.com")] = "acc_q";
  EXPECT_EQ(*with_index.ResetAccountFor("Q@example.com"), "acc_q");
  const std::string decoy = *with_index.ResetAccountFor("nobody@example.com");
  EXPECT_TRUE(decoy.starts_with("acc_r")) << decoy;
  EXPECT_EQ(decoy.size(), std::string("acc_").size() + 24);
  EXPECT_TRUE(IsValidResourceId(decoy));
  EXPECT_EQ(*with_index.ResetAccountFor("NOBODY@example.com"), decoy);
  EXPECT_NE(*with_index.ResetAccountFor("somebody@example.com"), decoy);

  const std::string token(43, 'T');
  v1::Command request;
  request.set_command_id("p1");
  request.set_account_id("acc_q");
  request.mutable_request_password_reset()->set_email("q@example.com");
  request.mutable_request_password_reset()->set_token(token);
  ASSERT_TRUE(with_index.Prepare(request).has_value());
  const auto& r = request.request_password_reset();
  EXPECT_TRUE(r.token().empty());
  EXPECT_TRUE(r.email().empty());
  EXPECT_EQ(r.token_hash(), *sealer_.LookupHash(kResetTokenPurpose, token));
  auto untokened = request;
  untokened.mutable_request_password_reset()->set_token("short");
  EXPECT_FALSE(with_index.Prepare(untokened).has_value());

  tokens[r.token_hash()] = "acc_q";
  EXPECT_EQ(with_index.FindAccountByResetToken(token)->value_or(""), "acc_q");
  EXPECT_FALSE(with_index.FindAccountByResetToken(std::string(43, 'U'))->has_value());
  v1::Command complete;
  complete.set_command_id("p2");
  complete.set_account_id("acc_q");
  complete.mutable_complete_password_reset()->set_token(token);
  complete.mutable_complete_password_reset()->set_new_password("quiet lantern meadow 17");
  auto weak = complete;
  weak.mutable_complete_password_reset()->set_new_password("password1");
  EXPECT_EQ(with_index.Prepare(weak).error().code, Errc::kInvalidArgument);
  ASSERT_TRUE(with_index.Prepare(complete).has_value());
  const auto& c = complete.complete_password_reset();
  EXPECT_TRUE(c.token().empty());
  EXPECT_TRUE(c.new_password().empty());
  EXPECT_EQ(c.token_hash(), r.token_hash());
  EXPECT_EQ(hasher_->Verify(c.new_password_hash(), "quiet lantern meadow 17").value(), true);
}

class PasswordDecisionTest : public ::testing::Test {
 protected:
  static v1::Command Cmd(const std::string& id) {
    v1::Command c;
    c.set_command_id(id);
    c.set_account_id("acc_a");
    c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
    c.mutable_actor()->set_role(v1::ROLE_OWNER);
    return c;
  }
  Decision Apply(const v1::Command& c) {
    Decision d = Decide(state_, c, kNow);
    if (d) {
      for (auto e : *d) {
        e.set_account_id("acc_a");
        e.set_aggregate_version(state_.version + 1);
        Evolve(state_, e);
      }
    }
    return d;
  }
  AccountState state_ = [] {
    AccountState s;
    s.account_id = "acc_a";
    return s;
  }();
  const std::string kPhc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
};

TEST_F(PasswordDecisionTest, RegistrationSealsTheHashAndRefusesPlaintext) {
  auto plain = Cmd("r0");
  plain.mutable_register_account()->set_email("o@example.com");
  plain.mutable_register_account()->set_password("tangerine velvet orbit");
  EXPECT_EQ(Decide(state_, plain, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto bogus = Cmd("r1");
  bogus.mutable_register_account()->set_email("o@example.com");
  bogus.mutable_register_account()->set_password_hash("md5:abc");
  EXPECT_EQ(Decide(state_, bogus, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);

  auto reg = Cmd("r2");
  reg.mutable_register_account()->set_email("o@example.com");
  reg.mutable_register_account()->set_password_hash(kPhc);
  auto d = Apply(reg);
  ASSERT_TRUE(d.has_value());
  const auto& hash = (*d)[0].account_registered().password_hash();
  EXPECT_TRUE(hash.key_id().empty());  // pending: the processor seals it
  EXPECT_EQ(hash.ciphertext(), kPhc);
  EXPECT_TRUE(state_.has_password);
}

TEST_F(PasswordDecisionTest, ChangeNeedsAVerifiedCurrentPasswordAndRevokesSessions) {
  auto reg = Cmd("r");
  reg.mutable_register_account()->set_email("o@example.com");
  reg.mutable_register_account()->set_password_hash(kPhc);
  ASSERT_TRUE(Apply(reg).has_value());

  auto unverified = Cmd("c1");
  unverified.mutable_change_password()->set_new_password_hash(kPhc);
  EXPECT_EQ(Decide(state_, unverified, kNow).error().reason, v1::REJECTION_UNAUTHENTICATED);
  auto plaintext = Cmd("c2");
  plaintext.mutable_change_password()->set_current_password("x");
  plaintext.mutable_change_password()->set_current_password_verified(true);
  plaintext.mutable_change_password()->set_new_password_hash(kPhc);
  EXPECT_EQ(Decide(state_, plaintext, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);

  auto ok = Cmd("c3");
  ok.mutable_change_password()->set_current_password_verified(true);
  ok.mutable_change_password()->set_new_password_hash(kPhc);
  auto d = Apply(ok);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].password_changed().password_hash().ciphertext(), kPhc);
  EXPECT_EQ((*d)[1].all_sessions_revoked().reason(), "password_changed");

  // An invited member has no password here.
  auto invite = Cmd("i");
  invite.mutable_invite_member()->set_email("m@example.com");
  invite.mutable_invite_member()->set_role(v1::ROLE_ADMIN);
  ASSERT_TRUE(Apply(invite).has_value());
  auto member = Cmd("c4");
  member.mutable_actor()->set_kind(v1::Actor::KIND_USER);
  member.mutable_actor()->set_id(InvitedUserId("acc_a", 1));
  member.mutable_change_password()->set_current_password_verified(true);
  member.mutable_change_password()->set_new_password_hash(kPhc);
  EXPECT_EQ(Decide(state_, member, kNow).error().reason, v1::REJECTION_INVALID_STATE);
}

// An account registered without a password cannot have one "changed" into existence.
TEST_F(PasswordDecisionTest, NoPasswordNoChange) {
  auto reg = Cmd("r");
  reg.mutable_register_account()->set_email("o@example.com");
  ASSERT_TRUE(Apply(reg).has_value());
  auto change = Cmd("c");
  change.mutable_change_password()->set_current_password_verified(true);
  change.mutable_change_password()->set_new_password_hash(kPhc);
  EXPECT_EQ(Decide(state_, change, kNow).error().reason, v1::REJECTION_UNAUTHENTICATED);
}

TEST_F(PasswordDecisionTest, LoginRecordsSuccessRehashAndRefusesFailures) {
  auto reg = Cmd("r");
  reg.mutable_register_account()->set_email("o@example.com");
  reg.mutable_register_account()->set_password_hash(kPhc);
  ASSERT_TRUE(Apply(reg).has_value());
  auto web = [](v1::Command c) {
    c.mutable_actor()->set_role(v1::ROLE_UNSPECIFIED);  // the web tier, before any session
    return c;
  };
  auto failed = web(Cmd("l1"));
  failed.mutable_login();
  auto failure = Decide(state_, failed, kNow);  // recorded, and counted (see the next test)
  ASSERT_TRUE(failure.has_value());
  ASSERT_EQ(failure->size(), 1u);
  EXPECT_EQ((*failure)[0].login_failed().consecutive_failures(), 1u);
  EXPECT_EQ((*failure)[0].login_failed().reason(), "bad_password");
  auto plaintext = web(Cmd("l2"));
  plaintext.mutable_login()->set_password("x");
  plaintext.mutable_login()->set_password_verified(true);
  EXPECT_EQ(Decide(state_, plaintext, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);

  auto ok = web(Cmd("l3"));
  ok.mutable_login()->set_password_verified(true);
  auto d = Apply(ok);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].login_succeeded().user_id(), "usr_a");

  auto rehash = web(Cmd("l4"));
  rehash.mutable_login()->set_password_verified(true);
  rehash.mutable_login()->set_rehashed_password_hash(kPhc);
  d = Apply(rehash);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[1].password_changed().reason(), "rehashed");
  EXPECT_EQ((*d)[1].password_changed().password_hash().ciphertext(), kPhc);
}

// Failed logins per account: four free, then a doubling delay, then a lockout at ten that only
// an operator lifts; a success resets the count. The right password does not sign in while
// locked.
// A reset token works once, within the hour after its request (on the injected clock), and
// completing it sets the password and ends every session; a password change voids it.
TEST_F(PasswordDecisionTest, ResetTokensWorkOncePerHourAndRevokeSessions) {
  auto reg = Cmd("r");
  reg.mutable_register_account()->set_email("o@example.com");
  reg.mutable_register_account()->set_password_hash(kPhc);
  ASSERT_TRUE(Apply(reg).has_value());
  const std::string hash_a(64, 'a');
  const std::string hash_b(64, 'b');
  auto request = [&](const std::string& id, const std::string& hash) {
    auto c = Cmd(id);
    c.mutable_request_password_reset()->set_token_hash(hash);
    return c;
  };
  auto complete = [&](const std::string& id, const std::string& hash) {
    auto c = Cmd(id);
    c.mutable_complete_password_reset()->set_token_hash(hash);
    c.mutable_complete_password_reset()->set_new_password_hash(kPhc);
    return c;
  };
  auto plain = request("p0", hash_a);
  plain.mutable_request_password_reset()->set_token(std::string(43, 'T'));
  EXPECT_EQ(Decide(state_, plain, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto d = Apply(request("p1", hash_a));
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].password_reset_requested().token_hash(), std::string(32, '\xaa'));
  EXPECT_EQ((*d)[0].password_reset_requested().expires_at_us(), kNow + 3600LL * 1'000'000);

  EXPECT_EQ(Decide(state_, complete("c0", hash_b), kNow).error().reason,
            v1::REJECTION_UNAUTHENTICATED);  // never issued
  EXPECT_EQ(Decide(state_, complete("c1", hash_a), kNow + 3600LL * 1'000'000).error().reason,
            v1::REJECTION_UNAUTHENTICATED);  // expired
  auto unhashed = complete("c2", hash_a);
  unhashed.mutable_complete_password_reset()->set_new_password("quiet lantern meadow 17");
  EXPECT_EQ(Decide(state_, unhashed, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto done = Decide(state_, complete("c3", hash_a), kNow + 3599LL * 1'000'000);
  ASSERT_TRUE(done.has_value());
  ASSERT_EQ(done->size(), 2u);
  EXPECT_EQ((*done)[0].password_reset_completed().password_hash().ciphertext(), kPhc);
  EXPECT_EQ((*done)[1].all_sessions_revoked().reason(), "password_reset");
  ASSERT_TRUE(Apply(complete("c3", hash_a)).has_value());
  EXPECT_EQ(Decide(state_, complete("c4", hash_a), kNow).error().reason,
            v1::REJECTION_UNAUTHENTICATED);  // used

  // A change of password voids a token mailed before it.
  ASSERT_TRUE(Apply(request("p2", hash_b)).has_value());
  auto change = Cmd("ch");
  change.mutable_change_password()->set_current_password_verified(true);
  change.mutable_change_password()->set_new_password_hash(kPhc);
  ASSERT_TRUE(Apply(change).has_value());
  EXPECT_EQ(Decide(state_, complete("c5", hash_b), kNow).error().reason,
            v1::REJECTION_UNAUTHENTICATED);
}

// An operator disables an account: sign-in refused, sessions revoked, running and paused
// instances stopped, nothing started; enabling restores sign-in.
TEST_F(PasswordDecisionTest, DisabledAccountsSignNobodyInAndStopTheirInstances) {
  auto reg = Cmd("r");
  reg.mutable_register_account()->set_email("o@example.com");
  reg.mutable_register_account()->set_password_hash(kPhc);
  ASSERT_TRUE(Apply(reg).has_value());
  for (const char* id : {"ins_run", "ins_pause", "ins_idle"}) {
    auto create = Cmd(std::string("mk-") + id);
    create.mutable_create_instance()->set_instance_id(id);
    create.mutable_create_instance()->set_name("bot");
    create.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
    create.mutable_create_instance()->set_volume_key(kTestVolumeKey);
    ASSERT_TRUE(Apply(create).has_value());
  }
  for (const char* id : {"ins_run", "ins_pause"}) {
    auto start = Cmd(std::string("go-") + id);
    start.mutable_start_instance()->set_instance_id(id);
    ASSERT_TRUE(Apply(start).has_value());
  }
  auto pause = Cmd("pz");
  pause.mutable_pause_instance()->set_instance_id("ins_pause");
  ASSERT_TRUE(Apply(pause).has_value());
  auto operator_cmd = [](const std::string& id) {
    v1::Command c;
    c.set_command_id(id);
    c.set_account_id("acc_a");
    c.mutable_actor()->set_kind(v1::Actor::KIND_OPERATOR);
    c.mutable_actor()->set_id("op-1");
    return c;
  };
  // Only an operator (the table), and with a reason.
  auto by_owner = Cmd("d0");
  by_owner.mutable_disable_account()->set_reason("abuse report 17");
  EXPECT_EQ(Decide(state_, by_owner, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  auto no_reason = operator_cmd("d1");
  no_reason.mutable_disable_account();
  EXPECT_EQ(Decide(state_, no_reason, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);

  auto disable = operator_cmd("d2");
  disable.mutable_disable_account()->set_reason("abuse report 17");
  auto d = Apply(disable);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_EQ(d->size(), 4u);
  EXPECT_EQ((*d)[0].account_disabled().reason(), "abuse report 17");
  EXPECT_EQ((*d)[1].all_sessions_revoked().reason(), "account_disabled");
  std::set<std::string> stopped;
  for (size_t i = 2; i < d->size(); ++i) {
    ASSERT_TRUE((*d)[i].has_instance_stop_requested());
    EXPECT_EQ((*d)[i].instance_stop_requested().reason(), "account_disabled");
    stopped.insert((*d)[i].aggregate_id());
  }
  EXPECT_EQ(stopped, (std::set<std::string>{"ins_pause", "ins_run"}));
  auto again = operator_cmd("d4");
  again.mutable_disable_account()->set_reason("again");
  EXPECT_TRUE(Apply(again)->empty());  // already disabled: nothing to record

  auto login = Cmd("l1");
  login.mutable_login()->set_password_verified(true);
  EXPECT_EQ(Decide(state_, login, kNow).error().reason, v1::REJECTION_ACCOUNT_DISABLED);
  auto start = Cmd("s1");
  start.mutable_start_instance()->set_instance_id("ins_idle");
  EXPECT_EQ(Decide(state_, start, kNow).error().reason, v1::REJECTION_ACCOUNT_DISABLED);
  auto stop = Cmd("s2");
  stop.mutable_stop_instance()->set_instance_id("ins_idle");
  EXPECT_TRUE(Decide(state_, stop, kNow).has_value());  // stopping still works

  auto enable = operator_cmd("e1");
  enable.mutable_enable_account();
  ASSERT_EQ(Apply(enable)->size(), 1u);
  EXPECT_TRUE(Apply(login).has_value());
  EXPECT_TRUE(Decide(state_, start, kNow).has_value());
}

TEST_F(PasswordDecisionTest, FailedLoginsAreThrottledThenLockedUntilUnlocked) {
  auto reg = Cmd("r");
  reg.mutable_register_account()->set_email("o@example.com");
  reg.mutable_register_account()->set_password_hash(kPhc);
  ASSERT_TRUE(Apply(reg).has_value());
  int n = 0;
  auto attempt = [&](bool verified, TimestampUs at) {
    auto c = Cmd("l" + std::to_string(n++));
    c.mutable_actor()->set_role(v1::ROLE_UNSPECIFIED);  // the web tier
    c.mutable_login()->set_password_verified(verified);
    Decision d = Decide(state_, c, at);
    if (d) {
      for (auto e : *d) {
        e.set_account_id("acc_a");
        e.set_aggregate_version(state_.version + 1);
        Evolve(state_, e);
      }
    }
    return d;
  };
  auto has = [](const Decision& d, v1::Envelope::PayloadCase which) {
    return d && std::any_of(d->begin(), d->end(),
                            [&](const v1::Envelope& e) { return e.payload_case() == which; });
  };
  TimestampUs t = kNow;
  for (int i = 1; i <= 4; ++i) {
    auto d = attempt(false, t);
    ASSERT_TRUE(has(d, v1::Envelope::kLoginFailed));
    EXPECT_FALSE(has(d, v1::Envelope::kLoginThrottled)) << i;
    EXPECT_EQ((*d)[0].login_failed().consecutive_failures(), static_cast<uint32_t>(i));
  }
  // The 5th to 9th failures lock for 1, 2, 4, 8, 16 seconds.
  for (int i = 5; i <= 9; ++i) {
    auto d = attempt(false, t);
    ASSERT_TRUE(has(d, v1::Envelope::kLoginThrottled)) << i;
    const TimestampUs delay = 1'000'000LL << (i - 5);
    EXPECT_EQ((*d)[1].login_throttled().locked_until_us(), t + delay) << i;
    // Within the delay even the right password is refused (and recorded).
    auto early = attempt(true, t + delay - 1);
    EXPECT_TRUE(has(early, v1::Envelope::kLoginThrottled));
    EXPECT_FALSE(has(early, v1::Envelope::kLoginSucceeded));
    t += delay;
  }
  // The 10th: locked until an operator unlocks.
  auto tenth = attempt(false, t);
  ASSERT_TRUE(has(tenth, v1::Envelope::kLoginThrottled));
  EXPECT_EQ((*tenth)[1].login_throttled().locked_until_us(), kLockedForever);
  EXPECT_FALSE(
      has(attempt(true, t + 365LL * 24 * 3600 * 1'000'000), v1::Envelope::kLoginSucceeded));

  auto unlock = Cmd("u1");  // the owner may not unlock itself: that is the operators' call
  unlock.mutable_unlock_login()->set_user_id("usr_a");
  EXPECT_EQ(Decide(state_, unlock, t).error().reason, v1::REJECTION_PERMISSION_DENIED);
  unlock.mutable_actor()->set_kind(v1::Actor::KIND_OPERATOR);
  unlock.mutable_actor()->set_role(v1::ROLE_UNSPECIFIED);
  unlock.mutable_unlock_login()->set_user_id("usr_nobody");
  EXPECT_EQ(Decide(state_, unlock, t).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  unlock.mutable_unlock_login()->set_user_id("usr_a");
  ASSERT_TRUE(Apply(unlock).has_value());
  EXPECT_TRUE(has(attempt(true, t), v1::Envelope::kLoginSucceeded));
  // A success reset the count: four free failures again.
  for (int i = 1; i <= 4; ++i) EXPECT_FALSE(has(attempt(false, t), v1::Envelope::kLoginThrottled));
}

}  // namespace
}  // namespace clawvisor
