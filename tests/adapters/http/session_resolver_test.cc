// Sessions end to end below the HTTP layer: Decide (the real decider) turns logins, logouts and
// password changes into events, the real Projector applies them to an in-memory store, and the
// ProjectedSessionResolver authenticates tokens on a simulated clock: idle and absolute
// timeouts, a new token per login, logout, and revocation of every session on a password change
// or an erasure.

#include "adapters/http/projected_session_resolver.h"

#include <gtest/gtest.h>

#include "engine/command/password_service.h"
#include "engine/domain/decider.h"
#include "events/codec.h"
#include "projections/memory_kv_store.h"
#include "tests/support/fake_sealer.h"

namespace clawvisor {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

const std::string kPhc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";

class SessionResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.account_id = "acc_a";
    auto reg = Cmd("reg", v1::Actor::KIND_SERVICE);
    reg.mutable_register_account()->set_email("o@example.com");
    reg.mutable_register_account()->set_password_hash(kPhc);
    ASSERT_TRUE(Run(reg).has_value());
  }

  v1::Command Cmd(const std::string& id, v1::Actor::Kind kind, const std::string& user = "") {
    v1::Command c;
    c.set_command_id(id);
    c.set_account_id("acc_a");
    c.mutable_actor()->set_kind(kind);
    c.mutable_actor()->set_id(user);
    return c;
  }

  // Decides `c` now and projects its events, as the processor and projector would.
  Decision Run(const v1::Command& c) {
    Decision d = Decide(state_, c, clock_.NowUs(), options_);
    if (!d) return d;
    std::vector<Record> records;
    for (auto e : *d) {
      e.set_event_id("ev-" + std::to_string(offset_));
      e.set_account_id("acc_a");
      e.set_aggregate_version(state_.version + 1);
      e.set_occurred_at_us(clock_.NowUs());
      e.set_schema_version(kSchemaVersion);
      Evolve(state_, e);
      Record r;
      r.topic = std::string(kEventsTopic);
      r.partition = 0;
      r.offset = offset_++;
      r.value = EncodeEnvelope(e);
      records.push_back(std::move(r));
    }
    EXPECT_TRUE(projector_.Apply(records).has_value());
    return d;
  }

  // Logs in (the password verified by the command service) and returns the new token.
  std::string Login(const std::string& id) {
    auto token = passwords_.NewSessionToken();
    EXPECT_TRUE(token.has_value());
    auto c = Cmd(id, v1::Actor::KIND_SERVICE, "web-1");
    c.mutable_login()->set_password_verified(true);
    c.mutable_login()->set_session_token_hash(token->second);
    auto d = Run(c);
    EXPECT_TRUE(d.has_value());
    return token->first;
  }

  bool Live(const std::string& token) { return resolver_.ResolveUser(token).has_value(); }

  ManualClock clock_{1'800'000'000'000'000};
  DecideOptions options_;
  AccountState state_;
  testing::FakeSealer sealer_;
  SeededRandom random_{42};
  MemoryKvStore store_;
  MetricsRegistry metrics_;
  Projector projector_{store_, &sealer_, metrics_, nullptr, clock_};
  // Only NewSessionToken is used: no hasher work happens here.
  class NoHasher final : public PasswordHasher {
   public:
    Result<std::string> Hash(std::string_view, std::string_view) override { return kPhc; }
    Result<bool> Verify(std::string_view, std::string_view) override { return false; }
    bool NeedsRehash(std::string_view) const override { return false; }
  } hasher_;
  PasswordService passwords_{hasher_, sealer_, nullptr, nullptr, &random_};
  ProjectedSessionResolver resolver_{projector_, sealer_, clock_};
  int64_t offset_ = 0;
};

TEST_F(SessionResolverTest, ATokenNamesItsUserAndEveryLoginGetsANewOne) {
  const std::string a = Login("l1");
  const std::string b = Login("l2");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 43u);
  EXPECT_EQ(resolver_.ResolveUser(a).value(), "usr_a");
  EXPECT_EQ(resolver_.ResolveUser(b).value(), "usr_a");
  EXPECT_EQ(state_.sessions.size(), 2u);
  // Anything else is no session: wrong shape, unknown token, a token one character off.
  std::string off = a;
  off[10] = off[10] == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {std::string(), std::string("short"), std::string(43, 'A'), off, a + "A"}) {
    EXPECT_FALSE(Live(bad)) << bad;
  }
}

TEST_F(SessionResolverTest, IdleTimeoutOnTheInjectedClock) {
  const std::string token = Login("l1");
  clock_.Advance(minutes(29));
  EXPECT_TRUE(Live(token));  // used: the idle clock starts again
  clock_.Advance(minutes(29));
  EXPECT_TRUE(Live(token));
  clock_.Advance(minutes(30));
  EXPECT_FALSE(Live(token));  // 30 minutes unused
  clock_.Advance(minutes(1));
  EXPECT_FALSE(Live(token));  // and it stays over
}

TEST_F(SessionResolverTest, AbsoluteTimeoutEvenWhenInUse) {
  const std::string token = Login("l1");
  for (int i = 0; i < 12 * 3 - 1; ++i) {  // used every 20 minutes for just under 12 hours
    clock_.Advance(minutes(20));
    ASSERT_TRUE(Live(token)) << "at " << (i + 1) * 20 << " minutes";
  }
  clock_.Advance(minutes(20));  // 12 hours after the login
  EXPECT_FALSE(Live(token));
}

TEST_F(SessionResolverTest, TimeoutsAreConfigurable) {
  options_.session_idle_timeout_us = std::chrono::microseconds(minutes(5)).count();
  options_.session_absolute_timeout_us = std::chrono::microseconds(hours(1)).count();
  const std::string token = Login("l1");
  clock_.Advance(minutes(4));
  EXPECT_TRUE(Live(token));
  clock_.Advance(minutes(5));
  EXPECT_FALSE(Live(token));
  const std::string second = Login("l2");
  for (int i = 0; i < 14; ++i) {
    clock_.Advance(minutes(4));
    EXPECT_TRUE(Live(second));
  }
  clock_.Advance(minutes(4));  // 60 minutes
  EXPECT_FALSE(Live(second));
}

TEST_F(SessionResolverTest, LogoutEndsOnlyThatSession) {
  const std::string a = Login("l1");
  const std::string b = Login("l2");
  const std::string a_id = SessionIdFor(*sealer_.LookupHash(kSessionTokenPurpose, a));
  // Another user may not end it; its owner may.
  auto foreign = Cmd("o1", v1::Actor::KIND_USER, "usr_other");
  foreign.mutable_logout()->set_session_id(a_id);
  EXPECT_FALSE(Decide(state_, foreign, clock_.NowUs(), options_).has_value());
  auto logout = Cmd("o2", v1::Actor::KIND_USER, "usr_a");
  logout.mutable_logout()->set_session_id(a_id);
  ASSERT_TRUE(Run(logout).has_value());
  EXPECT_FALSE(Live(a));
  EXPECT_TRUE(Live(b));
  logout.set_command_id("o3");  // already over
  EXPECT_FALSE(Decide(state_, logout, clock_.NowUs(), options_).has_value());
}

TEST_F(SessionResolverTest, PasswordChangeRevokesEverySessionButNotLaterOnes) {
  const std::string a = Login("l1");
  const std::string b = Login("l2");
  auto change = Cmd("c1", v1::Actor::KIND_USER, "usr_a");
  change.mutable_change_password()->set_current_password_verified(true);
  change.mutable_change_password()->set_new_password_hash(kPhc);
  ASSERT_TRUE(Run(change).has_value());
  EXPECT_FALSE(Live(a));
  EXPECT_FALSE(Live(b));
  EXPECT_TRUE(state_.sessions.empty());
  const std::string c = Login("l3");
  EXPECT_TRUE(Live(c));
}

TEST_F(SessionResolverTest, ErasureEndsEverySession) {
  const std::string a = Login("l1");
  v1::Envelope erased;
  erased.set_event_id("ev-erase");
  erased.set_account_id("acc_a");
  erased.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  erased.set_aggregate_id("acc_a");
  erased.set_aggregate_version(state_.version + 1);
  erased.set_occurred_at_us(clock_.NowUs());
  erased.set_schema_version(kSchemaVersion);
  erased.mutable_account_erased()->set_key_id("k1");
  Record r;
  r.topic = std::string(kEventsTopic);
  r.partition = 0;
  r.offset = offset_++;
  r.value = EncodeEnvelope(erased);
  ASSERT_TRUE(projector_.Apply(std::span(&r, 1)).has_value());
  EXPECT_FALSE(Live(a));
}

}  // namespace
}  // namespace clawvisor
