// TOTP: the pure module against the published vectors (FIPS 180 SHA-1, RFC 2202 HMAC-SHA-1,
// RFC 4648 base32, RFC 6238 Appendix B) and against oathtool, an independent implementation;
// then TotpService + Decide + Evolve together: enrol, confirm, a code at sign-in, replay refused,
// ±1 step, recovery codes single-use, disabling needs the password and a code.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <set>

#include "engine/command/totp_service.h"
#include "engine/domain/decider.h"
#include "engine/domain/totp.h"
#include "tests/support/fake_sealer.h"

namespace clawvisor {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string Hex(std::span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

TEST(Sha1Test, Fips180Vectors) {
  EXPECT_EQ(Hex(Sha1(Bytes(""))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Hex(Sha1(Bytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Hex(Sha1(Bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  // Lengths around the padding boundary (55, 56, 64 bytes) and a million 'a's.
  EXPECT_EQ(Hex(Sha1(Bytes(std::string(1'000'000, 'a')))),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_EQ(Hex(Sha1(Bytes(std::string(55, 'a')))), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  EXPECT_EQ(Hex(Sha1(Bytes(std::string(56, 'a')))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  EXPECT_EQ(Hex(Sha1(Bytes(std::string(64, 'a')))), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

TEST(HmacSha1Test, Rfc2202Vectors) {
  EXPECT_EQ(Hex(HmacSha1(Bytes(std::string(20, '\x0b')), Bytes("Hi There"))),
            "b617318655057264e28bc0b6fb378c8ef146be00");
  EXPECT_EQ(Hex(HmacSha1(Bytes("Jefe"), Bytes("what do ya want for nothing?"))),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(Hex(HmacSha1(Bytes(std::string(20, '\xaa')), Bytes(std::string(50, '\xdd')))),
            "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
  // A key longer than the block is hashed first.
  EXPECT_EQ(Hex(HmacSha1(Bytes(std::string(80, '\xaa')),
                         Bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

TEST(Base32Test, Rfc4648VectorsAndStrictDecoding) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "MY"},
                                                         {"fo", "MZXQ"},
                                                         {"foo", "MZXW6"},
                                                         {"foob", "MZXW6YQ"},
                                                         {"fooba", "MZXW6YTB"},
                                                         {"foobar", "MZXW6YTBOI"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base32Encode(Bytes(plain)), encoded);
    EXPECT_EQ(Base32Decode(encoded), std::string(plain));
  }
  EXPECT_EQ(Base32Decode("mzxw6ytboi======"), "foobar");  // lower case and padding
  EXPECT_EQ(Base32Decode("MZXW 6YTB OI"), "foobar");      // grouped as apps show it
  EXPECT_FALSE(Base32Decode("MZXW1").has_value());        // '1' is not base32
  EXPECT_FALSE(Base32Decode("MZ").has_value());           // "MY" is "f"; "MZ" leaves a one bit over
  EXPECT_FALSE(Base32Decode("MZ7").has_value());          // leftover bits not zero
}

// RFC 6238 Appendix B, the SHA-1 column (8 digits, the ASCII secret "12345678901234567890").
TEST(TotpTest, Rfc6238AppendixBSha1Vectors) {
  const std::string secret = "12345678901234567890";
  const std::pair<int64_t, const char*> vectors[] = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (const auto& [t, code] : vectors) {
    EXPECT_EQ(TotpCode(Bytes(secret), TotpTimeStep(t), 8), code) << t;
  }
  EXPECT_EQ(TotpTimeStep(59), 1u);
  EXPECT_EQ(TotpTimeStep(1111111109), 0x23523ECu);
  // Six digits are the last six of the same value (mod 10^6), zero-padded.
  EXPECT_EQ(TotpCode(Bytes(secret), TotpTimeStep(1111111109)), "081804");
}

TEST(TotpTest, MatchAcceptsOneStepOfDriftEitherWayAndNothingElse) {
  const std::string secret = "12345678901234567890";
  const TimestampUs now = 1'111'111'111'000'000;
  const uint64_t step = TotpTimeStep(1'111'111'111);
  EXPECT_EQ(MatchTotp(Bytes(secret), TotpCode(Bytes(secret), step), now), step);
  EXPECT_EQ(MatchTotp(Bytes(secret), TotpCode(Bytes(secret), step - 1), now), step - 1);
  EXPECT_EQ(MatchTotp(Bytes(secret), TotpCode(Bytes(secret), step + 1), now), step + 1);
  EXPECT_FALSE(MatchTotp(Bytes(secret), TotpCode(Bytes(secret), step - 2), now).has_value());
  EXPECT_FALSE(MatchTotp(Bytes(secret), TotpCode(Bytes(secret), step + 2), now).has_value());
  EXPECT_FALSE(MatchTotp(Bytes(secret), "12345", now).has_value());
  EXPECT_FALSE(MatchTotp(Bytes(secret), "12345a", now).has_value());
  EXPECT_FALSE(
      MatchTotp(Bytes("another secret 1234!"), TotpCode(Bytes(secret), step), now).has_value());
}

TEST(TotpTest, OtpauthUriAndRecoveryCodes) {
  EXPECT_EQ(OtpauthUri("clawvisor", "acc_1 x@y", "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/clawvisor:acc_1%20x%40y?secret=JBSWY3DPEHPK3PXP&issuer=clawvisor"
            "&algorithm=SHA1&digits=6&period=30");
  const std::array<uint8_t, kRecoveryCodeBytes> bytes = {'f', 'o', 'o', 'b', 'a',
                                                         'r', '1', '2', '3', '4'};
  const std::string code = FormatRecoveryCode(bytes);
  EXPECT_EQ(code, "mzxw-6ytb-oiyt-emzu");
  EXPECT_EQ(NormalizeRecoveryCode(code), "mzxw6ytboiytemzu");
  EXPECT_EQ(NormalizeRecoveryCode(" MZXW 6YTB-OIYT-EMZU "), "mzxw6ytboiytemzu");
  EXPECT_FALSE(NormalizeRecoveryCode("mzxw-6ytb-oiyt").has_value());
  EXPECT_FALSE(NormalizeRecoveryCode("mzxw-6ytb-oiyt-emzu-a").has_value());
  EXPECT_FALSE(NormalizeRecoveryCode("123456").has_value());
}

// Runs a command line and returns its first output line ("" if it failed).
std::string RunLine(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    if (pclose(p) != 0) return "";
  }
  if (auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
  return out;
}

// oathtool (liboath, an independent implementation) generates the codes the engine accepts: at
// fixed times, and at the real time (where the engine's ±1 step absorbs a step boundary falling
// between the two calls).
TEST(TotpTest, CodesFromOathtoolAreAccepted) {
  ASSERT_EQ(std::system("command -v oathtool >/dev/null 2>&1"), 0)
      << "oathtool is missing (ops/install-deps.sh installs it)";
  std::array<uint8_t, kTotpSecretBytes> secret{};
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(37 * i + 11);
  const std::string base32 = Base32Encode(secret);
  for (int64_t t : {int64_t{59}, int64_t{1'234'567'890}, int64_t{1'750'000'015}}) {
    const std::string code =
        RunLine("oathtool --totp -b --now '@" + std::to_string(t) + "' " + base32 + " 2>/dev/null");
    ASSERT_EQ(code.size(), 6u) << t;
    EXPECT_EQ(code, TotpCode(secret, TotpTimeStep(t))) << t;
  }
  // Eight digits too (RFC 6238's vectors' width).
  EXPECT_EQ(RunLine("oathtool --totp -d 8 -b --now '@1111111109' " + base32),
            TotpCode(secret, TotpTimeStep(1111111109), 8));
  SystemClock clock;
  const std::string now_code = RunLine("oathtool --totp -b " + base32);
  ASSERT_EQ(now_code.size(), 6u);
  EXPECT_TRUE(MatchTotp(secret, now_code, clock.NowUs()).has_value());
}

// ---------------------------------------------------------------- service + decisions

constexpr TimestampUs kStart = 1'750'000'000'000'000;  // on a step boundary (1750000000 / 30)

class TotpFlowTest : public ::testing::Test {
 protected:
  TotpFlowTest()
      : clock_(kStart), service_(sealer_, clock_, [this](std::string_view account) {
          EXPECT_EQ(account, "acc_a");
          return Result<std::optional<v1::TotpCredential>>(credential_);
        }) {
    auto reg = Cmd("r");
    reg.mutable_register_account()->set_email("o@example.com");
    reg.mutable_register_account()->set_password_hash(
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g");
    EXPECT_TRUE(Run(reg).has_value());
  }

  static v1::Command Cmd(const std::string& id) {
    v1::Command c;
    c.set_command_id(id);
    c.set_account_id("acc_a");
    // The local development caller: the web tier and the owner at once.
    c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
    c.mutable_actor()->set_role(v1::ROLE_OWNER);
    return c;
  }
  // What the command service and the processor do: prepare, decide, apply; the projection row
  // follows the events like the projector's.
  Decision Run(v1::Command c) {
    if (auto prepared = service_.Prepare(c); !prepared) {
      return std::unexpected(Rejection{v1::REJECTION_INVALID_ARGUMENT, prepared.error().message});
    }
    prepared_ = c;
    Decision d = Decide(state_, c, clock_.NowUs());
    if (!d) return d;
    for (auto e : *d) {
      e.set_account_id("acc_a");
      e.set_event_id("evt-" + std::to_string(++events_));
      e.set_aggregate_version(state_.version + 1);
      e.set_occurred_at_us(clock_.NowUs());
      if (e.has_totp_enrolled()) {
        // The processor seals the pending secret; the projector keeps it, sealed.
        auto sealed = sealer_.Seal({"acc_a", e.event_id(), "totp_enrolled.secret"},
                                   e.totp_enrolled().secret().ciphertext());
        EXPECT_TRUE(sealed.has_value());
        v1::TotpCredential credential;
        credential.set_account_id("acc_a");
        *credential.mutable_secret() = *sealed;
        credential.set_event_id(e.event_id());
        credential.set_field("totp_enrolled.secret");
        credential_ = credential;
      }
      if (e.has_totp_enabled() && credential_) credential_->set_enabled(true);
      if (e.has_totp_disabled()) credential_.reset();
      Evolve(state_, e);
    }
    return d;
  }
  Decision Enroll(const std::string& id) {
    auto c = Cmd(id);
    c.mutable_enroll_totp()->set_secret(Base32Encode(secret_));
    std::string joined;
    for (const auto& code : recovery_codes_) joined += (joined.empty() ? "" : " ") + code;
    c.mutable_enroll_totp()->set_recovery_codes(joined);
    return Run(c);
  }
  std::string CodeAt(TimestampUs at) const {
    return TotpCode(secret_, TotpTimeStep(at / 1'000'000));
  }
  Decision Login(const std::string& id, const std::string& code, bool password_ok = true) {
    auto c = Cmd(id);
    c.mutable_login()->set_password_verified(password_ok);
    c.mutable_login()->set_totp_code(code);
    return Run(c);
  }
  static bool Has(const Decision& d, v1::Envelope::PayloadCase which) {
    if (!d) return false;
    for (const auto& e : *d) {
      if (e.payload_case() == which) return true;
    }
    return false;
  }

  testing::FakeSealer sealer_;
  ManualClock clock_;
  std::optional<v1::TotpCredential> credential_;
  TotpService service_;
  AccountState state_ = [] {
    AccountState s;
    s.account_id = "acc_a";
    return s;
  }();
  v1::Command prepared_;
  int events_ = 0;
  std::array<uint8_t, kTotpSecretBytes> secret_ = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                   11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
  std::vector<std::string> recovery_codes_ = {
      "aaaa-aaaa-aaaa-aaab", "aaaa-aaaa-aaaa-aaac", "aaaa-aaaa-aaaa-aaad", "aaaa-aaaa-aaaa-aaae",
      "aaaa-aaaa-aaaa-aaaf", "aaaa-aaaa-aaaa-aaag", "aaaa-aaaa-aaaa-aaah", "aaaa-aaaa-aaaa-aaai",
      "aaaa-aaaa-aaaa-aaaj", "aaaa-aaaa-aaaa-aaak"};
};

TEST_F(TotpFlowTest, EnrolmentRecordsTheSealedSecretAndOnlyHashesOfTheCodes) {
  auto d = Enroll("e1");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  // The command service replaced the codes by keyed hashes and cleared them.
  EXPECT_TRUE(prepared_.enroll_totp().recovery_codes().empty());
  EXPECT_EQ(prepared_.enroll_totp().recovery_code_hashes_size(), 10);
  ASSERT_EQ(d->size(), 1u);
  const auto& enrolled = (*d)[0].totp_enrolled();
  EXPECT_EQ(enrolled.secret().ciphertext(), Base32Encode(secret_));  // pending: sealed next
  EXPECT_TRUE(enrolled.secret().key_id().empty());
  EXPECT_EQ(enrolled.recovery_code_hashes_size(), 10);
  for (const auto& hash : enrolled.recovery_code_hashes()) {
    EXPECT_EQ(hash.size(), 32u);  // HMAC-SHA-256, raw
  }
  EXPECT_TRUE(state_.totp_enrolled);
  EXPECT_FALSE(state_.totp_enabled);
  // Not yet confirmed: sign-in still needs the password only.
  EXPECT_TRUE(Has(Login("l0", ""), v1::Envelope::kLoginSucceeded));

  // What reaches the processor is refused unless the command service prepared it.
  auto raw = Cmd("e2");
  raw.mutable_enroll_totp()->set_secret(Base32Encode(secret_));
  raw.mutable_enroll_totp()->set_recovery_codes("aaaa-aaaa-aaaa-aaab");
  EXPECT_EQ(Decide(state_, raw, kStart).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto short_secret = Cmd("e3");
  short_secret.mutable_enroll_totp()->set_secret("JBSWY3DPEHPK3PXP");
  for (int i = 0; i < 10; ++i) {
    short_secret.mutable_enroll_totp()->add_recovery_code_hashes(std::string(63, 'a') +
                                                                 static_cast<char>('0' + i));
  }
  EXPECT_EQ(Decide(state_, short_secret, kStart).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  // Nine codes, or a malformed one, are refused by the command service.
  recovery_codes_.pop_back();
  EXPECT_FALSE(Enroll("e4").has_value());
  recovery_codes_.push_back("not a code");
  EXPECT_FALSE(Enroll("e5").has_value());
}

TEST_F(TotpFlowTest, ConfirmThenEveryLoginNeedsAFreshCode) {
  ASSERT_TRUE(Enroll("e1").has_value());
  auto wrong = Cmd("c0");
  wrong.mutable_confirm_totp()->set_code(CodeAt(kStart + 90'000'000));  // 3 steps ahead
  EXPECT_EQ(Run(wrong).error().reason, v1::REJECTION_UNAUTHENTICATED);
  EXPECT_TRUE(prepared_.confirm_totp().code().empty());  // the code never reaches the log
  auto confirm = Cmd("c1");
  confirm.mutable_confirm_totp()->set_code(CodeAt(kStart));
  ASSERT_TRUE(Has(Run(confirm), v1::Envelope::kTotpEnabled));
  EXPECT_TRUE(state_.totp_enabled);

  // The password alone: refused, not counted (the web tier asks for the code).
  auto no_code = Login("l1", "");
  ASSERT_FALSE(no_code.has_value());
  EXPECT_EQ(no_code.error().reason, v1::REJECTION_SECOND_FACTOR_REQUIRED);
  EXPECT_EQ(state_.login_failures, 0u);
  // The confirming code again (same step): a replay, refused and counted.
  auto replay = Login("l2", CodeAt(kStart));
  ASSERT_TRUE(Has(replay, v1::Envelope::kLoginFailed));
  EXPECT_EQ((*replay)[0].login_failed().reason(), "bad_totp");
  EXPECT_FALSE(Has(replay, v1::Envelope::kLoginSucceeded));
  // A wrong password with a right code is a bad password.
  auto bad_password = Login("l3", CodeAt(kStart + 30'000'000), false);
  ASSERT_TRUE(Has(bad_password, v1::Envelope::kLoginFailed));
  EXPECT_EQ((*bad_password)[0].login_failed().reason(), "bad_password");

  // One step later (the next code, accepted early: +1 step of drift).
  auto next = Login("l4", CodeAt(kStart + 30'000'000));
  ASSERT_TRUE(Has(next, v1::Envelope::kLoginSucceeded));
  EXPECT_TRUE((*next)[0].login_succeeded().used_totp());
  EXPECT_FALSE(Has(Login("l5", CodeAt(kStart + 30'000'000)), v1::Envelope::kLoginSucceeded));
  // Thirty seconds on, the previous step's code is within drift but already used; two steps
  // on, the current code works, and one step late still works once.
  clock_.Advance(std::chrono::seconds(60));
  EXPECT_FALSE(Has(Login("l6", CodeAt(kStart + 30'000'000)), v1::Envelope::kLoginSucceeded));
  EXPECT_TRUE(Has(Login("l7", CodeAt(kStart + 60'000'000)), v1::Envelope::kLoginSucceeded));
  EXPECT_FALSE(Has(Login("l8", CodeAt(kStart + 60'000'000)), v1::Envelope::kLoginSucceeded));
  // The last accepted step is decision state, rebuilt from the log like everything else.
  EXPECT_EQ(state_.totp_last_step, TotpTimeStep(kStart / 1'000'000) + 2);
}

TEST_F(TotpFlowTest, RecoveryCodesWorkOnceEach) {
  ASSERT_TRUE(Enroll("e1").has_value());
  auto confirm = Cmd("c1");
  confirm.mutable_confirm_totp()->set_code(CodeAt(kStart));
  ASSERT_TRUE(Run(confirm).has_value());
  // As typed by a person: upper case, no dashes.
  auto first = Login("l1", "AAAAAAAAAAAAAAAB");
  ASSERT_TRUE(Has(first, v1::Envelope::kLoginSucceeded));
  EXPECT_TRUE((*first)[0].login_succeeded().used_recovery_code());
  EXPECT_EQ(state_.recovery_code_hashes.size(), 9u);
  EXPECT_FALSE(Has(Login("l2", "aaaa-aaaa-aaaa-aaab"), v1::Envelope::kLoginSucceeded));
  EXPECT_TRUE(Has(Login("l3", "aaaa-aaaa-aaaa-aaac"), v1::Envelope::kLoginSucceeded));
  EXPECT_FALSE(Has(Login("l4", "aaaa-aaaa-aaaa-aaaz"), v1::Envelope::kLoginSucceeded));
  EXPECT_EQ(state_.recovery_code_hashes.size(), 8u);
}

TEST_F(TotpFlowTest, DisablingNeedsThePasswordAndACode) {
  ASSERT_TRUE(Enroll("e1").has_value());
  auto confirm = Cmd("c1");
  confirm.mutable_confirm_totp()->set_code(CodeAt(kStart));
  ASSERT_TRUE(Run(confirm).has_value());
  auto disable = [&](const std::string& id, bool password_ok, const std::string& code) {
    auto c = Cmd(id);
    c.mutable_disable_totp()->set_password_verified(password_ok);
    c.mutable_disable_totp()->set_code(code);
    return Run(c);
  };
  EXPECT_EQ(disable("d1", false, CodeAt(kStart + 30'000'000)).error().reason,
            v1::REJECTION_UNAUTHENTICATED);
  EXPECT_EQ(disable("d2", true, "").error().reason, v1::REJECTION_UNAUTHENTICATED);
  EXPECT_EQ(disable("d3", true, CodeAt(kStart)).error().reason,
            v1::REJECTION_UNAUTHENTICATED);  // replayed
  EXPECT_TRUE(state_.totp_enabled);
  ASSERT_TRUE(Has(disable("d4", true, CodeAt(kStart + 30'000'000)), v1::Envelope::kTotpDisabled));
  EXPECT_FALSE(state_.totp_enabled);
  EXPECT_FALSE(credential_.has_value());
  EXPECT_TRUE(Has(Login("l1", ""), v1::Envelope::kLoginSucceeded));
  // A plaintext password reaching the processor is refused.
  auto plain = Cmd("d5");
  plain.mutable_disable_totp()->set_password("x");
  EXPECT_EQ(Decide(state_, plain, kStart).error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

TEST_F(TotpFlowTest, OnlyThePrimaryUserHasTotp) {
  auto c = Cmd("e1");
  c.mutable_actor()->set_kind(v1::Actor::KIND_USER);
  c.mutable_actor()->set_id("usr_someone_else");
  c.mutable_enroll_totp();
  // Not a member: the table refuses before anything else.
  EXPECT_EQ(Decide(state_, c, kStart).error().reason, v1::REJECTION_PERMISSION_DENIED);
}

}  // namespace
}  // namespace clawvisor
