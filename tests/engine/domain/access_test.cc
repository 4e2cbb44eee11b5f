// The permission table (engine/access.h) and its enforcement in Decide: every command payload
// x every kind of caller x own / other account, checked against an expectation written out here
// independently of the table, including the negative cases; and the member rules (invite,
// grant, revoke, the last owner).

#include "engine/domain/access.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "engine/domain/decider.h"
#include "tests/support/test_values.h"

namespace clawvisor {
namespace {

constexpr TimestampUs kNow = 1'750'000'000'000'000;

// The callers of the matrix. Users are members of acc_a (owner, admin, viewer) or of another
// account only (stranger); services carry no membership.
enum class Who {
  kOwner,
  kAdmin,
  kViewer,
  kStranger,
  kWebTier,
  kLocalOwner,
  kOperator,
  kReconciler,
  kSystem,
  kAnonymous
};
const std::vector<Who> kEveryone = {
    Who::kOwner,      Who::kAdmin,    Who::kViewer,     Who::kStranger, Who::kWebTier,
    Who::kLocalOwner, Who::kOperator, Who::kReconciler, Who::kSystem,   Who::kAnonymous};

const char* WhoName(Who w) {
  switch (w) {
    case Who::kOwner:
      return "owner";
    case Who::kAdmin:
      return "admin";
    case Who::kViewer:
      return "viewer";
    case Who::kStranger:
      return "stranger";
    case Who::kWebTier:
      return "web_tier";
    case Who::kLocalOwner:
      return "local_owner";
    case Who::kOperator:
      return "operator";
    case Who::kReconciler:
      return "reconciler";
    case Who::kSystem:
      return "system";
    case Who::kAnonymous:
      return "anonymous";
  }
  return "?";
}

v1::Actor ActorOf(Who w) {
  v1::Actor a;
  a.set_source_ip("192.0.2.1");
  switch (w) {
    case Who::kOwner:
      a.set_kind(v1::Actor::KIND_USER);
      a.set_id("usr_a");
      break;
    case Who::kAdmin:
      a.set_kind(v1::Actor::KIND_USER);
      a.set_id(InvitedUserId("acc_a", 1));
      a.set_role(v1::ROLE_OWNER);  // a claimed role counts for nothing: the account decides
      break;
    case Who::kViewer:
      a.set_kind(v1::Actor::KIND_USER);
      a.set_id(InvitedUserId("acc_a", 2));
      a.set_role(v1::ROLE_OWNER);
      break;
    case Who::kStranger:
      a.set_kind(v1::Actor::KIND_USER);
      a.set_id("usr_b");  // the owner of acc_b
      a.set_role(v1::ROLE_OWNER);
      break;
    case Who::kWebTier:
      a.set_kind(v1::Actor::KIND_SERVICE);
      a.set_id("web-1");
      break;
    case Who::kLocalOwner:
      a.set_kind(v1::Actor::KIND_SERVICE);
      a.set_id("local");
      a.set_role(v1::ROLE_OWNER);
      break;
    case Who::kOperator:
      a.set_kind(v1::Actor::KIND_OPERATOR);
      a.set_id("op-1");
      break;
    case Who::kReconciler:
      a.set_kind(v1::Actor::KIND_RECONCILER);
      a.set_id("host-1");
      break;
    case Who::kSystem:
      a.set_kind(v1::Actor::KIND_SYSTEM);
      a.set_id("timer");
      break;
    case Who::kAnonymous:
      break;
  }
  return a;
}

// The expected rights, written from the issue's words (viewer: read only; admin: configure and
// operate instances; owner: also billing, members, erasure and the audit export; services only
// what their job needs), not copied from the table. Letters: O owner, A admin, V viewer,
// W web tier, P operator, R reconciler, S the engine's lifecycle timers (#6: idle pause and
// resume, trial end, cancellation, inactivity).
const std::map<std::string, std::string> kExpectedCommands = {
    {"register_account", "W"},
    {"verify_email", "W"},
    {"login", "W"},
    {"request_password_reset", "W"},
    {"complete_password_reset", "W"},
    {"change_password", "OAV"},
    {"enroll_totp", "OAV"},
    {"confirm_totp", "OAV"},
    {"disable_totp", "OAV"},
    {"logout", "OAV"},
    {"invite_member", "O"},
    {"grant_role", "O"},
    {"revoke_role", "O"},
    {"start_subscription", "O"},
    {"cancel_subscription", "O"},
    {"grant_credits", "P"},
    {"record_usage", "R"},
    {"request_account_erasure", "O"},
    {"unlock_login", "P"},
    {"disable_account", "P"},
    {"enable_account", "P"},
    {"request_audit_export", "O"},
    {"complete_audit_export", "S"},  // the export worker records the file it wrote
    {"create_instance", "OA"},
    {"start_instance", "OA"},
    {"stop_instance", "OAPS"},
    {"pause_instance", "OAS"},
    {"resume_instance", "OAS"},
    {"delete_instance", "OAS"},
    {"set_credential", "OA"},
    {"remove_credential", "OA"},
    {"rotate_gateway_token", "OA"},
    {"request_backup", "OA"},
    {"restore_backup", "O"},
    // The console (#14): every member may open it (viewer and up); the front door exchanges.
    {"issue_console_link", "OAV"},
    {"redeem_console_link", "S"},
    {"rotate_webhook_path", "OA"},
    {"upgrade_instance", "OA"},
    {"disable_webhook_path", "OA"},
    {"record_observation", "R"},
    // Placement: hosts offer room and take instances; operators may re-register (drain) a host.
    {"register_host", "RP"},
    {"place_instance", "R"},
    {"record_placement", "R"},
    {"release_placement", "R"},
};
const std::map<Query, std::string> kExpectedQueries = {
    {Query::kGetAccount, "OAVP"},     {Query::kListMembers, "OAVP"},
    {Query::kListInstances, "OAVPR"}, {Query::kGetInstance, "OAVPR"},
    {Query::kListAudit, "O"},         {Query::kGetCommand, "OAVP"},
    {Query::kDataExport, "O"},        {Query::kListAuditExports, "O"},
    {Query::kGetAuditExport, "O"},    {Query::kDownloadAuditExport, "O"},
};

// Whether `who`, addressing acc_a, is expected to pass a rule given as letters.
bool Expected(Who who, const std::string& letters) {
  auto has = [&](char c) { return letters.find(c) != std::string::npos; };
  switch (who) {
    case Who::kOwner:
      return has('O');
    case Who::kAdmin:
      return has('A');
    case Who::kViewer:
      return has('V');
    case Who::kStranger:
      return false;  // no role in acc_a, whatever it claims
    case Who::kWebTier:
      return has('W');
    case Who::kLocalOwner:
      return has('W') || has('O');
    case Who::kOperator:
      return has('P');
    case Who::kReconciler:
      return has('R');
    case Who::kSystem:
      return has('S');
    case Who::kAnonymous:
      return false;
  }
  return false;
}

class AccessTest : public ::testing::Test {
 protected:
  // acc_a: registered; usr_a owner, an admin and a viewer invited; one instance "i1".
  void SetUp() override {
    state_.account_id = "acc_a";
    Apply(With(Who::kWebTier, "reg", [](v1::Command& c) {
      c.mutable_register_account()->set_email("owner@example.com");
    }));
    ASSERT_EQ(state_.owner_user_id, "usr_a");
    Apply(With(Who::kOwner, "inv1", [](v1::Command& c) {
      c.mutable_invite_member()->set_email("admin@example.com");
      c.mutable_invite_member()->set_role(v1::ROLE_ADMIN);
    }));
    Apply(With(Who::kOwner, "inv2", [](v1::Command& c) {
      c.mutable_invite_member()->set_email("viewer@example.com");
      c.mutable_invite_member()->set_role(v1::ROLE_VIEWER);
    }));
    Apply(With(Who::kAdmin, "mk", [](v1::Command& c) {
      c.mutable_create_instance()->set_instance_id("i1");
      c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
      c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
      c.mutable_create_instance()->set_name("bot");
    }));
    ASSERT_EQ(state_.members.size(), 3u);
    ASSERT_NE(state_.FindLiveInstance("i1"), nullptr);
  }

  template <typename F>
  static v1::Command With(Who who, std::string id, F fill) {
    v1::Command c;
    c.set_command_id(std::move(id));
    c.set_account_id("acc_a");
    *c.mutable_actor() = ActorOf(who);
    fill(c);
    return c;
  }

  Decision Apply(const v1::Command& c) {
    Decision d = Decide(state_, c, kNow);
    EXPECT_TRUE(d.has_value()) << c.command_id() << ": " << d.error().message;
    if (!d) return d;
    for (auto e : *d) {
      e.set_account_id("acc_a");
      e.set_aggregate_version(state_.version + 1);
      Evolve(state_, e);
    }
    return d;
  }

  AccountState state_;
};

// The table has exactly one row per Command payload and per query, and says what the issue says.
TEST_F(AccessTest, TableCoversEveryPayloadAndMatchesTheIssue) {
  std::set<int> seen;
  for (const CommandRule& rule : CommandRules()) {
    EXPECT_TRUE(seen.insert(rule.payload).second) << "two rules for payload " << rule.payload;
  }
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  ASSERT_NE(oneof, nullptr);
  EXPECT_EQ(static_cast<size_t>(oneof->field_count()), seen.size());
  EXPECT_EQ(kExpectedCommands.size(), seen.size());
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    EXPECT_TRUE(seen.count(field->number())) << field->name() << " has no rule";
    ASSERT_TRUE(kExpectedCommands.count(field->name())) << field->name();
  }
  EXPECT_EQ(QueryRules().size(), kQueryCount);
  EXPECT_EQ(kExpectedQueries.size(), kQueryCount);
  EXPECT_FALSE(MayCommand(~Principals{0}, v1::Command::PAYLOAD_NOT_SET));  // default deny
}

// Every payload x every caller on its own account (acc_a) and on another account (acc_b, where
// the members of acc_a hold nothing): Decide refuses exactly what the expectation refuses, with
// PERMISSION_DENIED, and never refuses an allowed caller for permission.
TEST_F(AccessTest, CommandMatrixOwnAndOtherAccount) {
  AccountState other;  // acc_b: registered by its own owner usr_b
  other.account_id = "acc_b";
  {
    v1::Command reg;
    reg.set_command_id("reg");
    reg.set_account_id("acc_b");
    *reg.mutable_actor() = ActorOf(Who::kWebTier);
    reg.mutable_register_account()->set_email("b@example.com");
    auto d = Decide(other, reg, kNow);
    ASSERT_TRUE(d.has_value());
    for (auto e : *d) {
      e.set_account_id("acc_b");
      Evolve(other, e);
    }
  }
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  const auto* reflection = v1::Command::GetReflection();
  int denials = 0;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    for (Who who : kEveryone) {
      for (bool own : {true, false}) {
        v1::Command c;
        c.set_command_id("m1");
        c.set_account_id(own ? "acc_a" : "acc_b");
        *c.mutable_actor() = ActorOf(who);
        reflection->MutableMessage(&c, field);  // an empty payload of this kind
        const AccountState& target = own ? state_ : other;
        auto d = Decide(target, c, kNow);
        const bool denied = !d && d.error().reason == v1::REJECTION_PERMISSION_DENIED;
        // Users of acc_a hold nothing in acc_b; acc_b's owner is the stranger.
        bool expected = Expected(who, kExpectedCommands.at(field->name()));
        if (!own) {
          if (who == Who::kOwner || who == Who::kAdmin || who == Who::kViewer) expected = false;
          if (who == Who::kStranger)
            expected = Expected(Who::kOwner, kExpectedCommands.at(field->name()));
        }
        EXPECT_EQ(denied, !expected) << field->name() << " by " << WhoName(who) << " on "
                                     << (own ? "own" : "other") << " account";
        denials += denied ? 1 : 0;
      }
    }
  }
  EXPECT_GT(denials, 0);
}

// The query half of the table, for the same callers (the API applies it; its own matrix test
// drives every GET route).
TEST_F(AccessTest, QueryMatrix) {
  for (const auto& [query, letters] : kExpectedQueries) {
    for (Who who : kEveryone) {
      const Principals p = PrincipalsOf(ActorOf(who), MemberRole(state_, ActorOf(who)));
      EXPECT_EQ(MayQuery(p, query), Expected(who, letters))
          << QueryName(query) << " by " << WhoName(who);
    }
  }
}

// Invitation gives the member its role at once (sealed email pending), with a deterministic id.
TEST_F(AccessTest, InviteRecordsSealedEmailAndRole) {
  auto d = Apply(With(Who::kOwner, "inv3", [](v1::Command& c) {
    c.mutable_invite_member()->set_email("third@example.com");
    c.mutable_invite_member()->set_role(v1::ROLE_VIEWER);
  }));
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 2u);
  const auto& invited = (*d)[0].member_invited();
  EXPECT_EQ(invited.user_id(), InvitedUserId("acc_a", 3));
  EXPECT_TRUE(invited.email().key_id().empty());  // pending: the processor seals it
  EXPECT_EQ((*d)[1].role_granted().role(), v1::ROLE_VIEWER);
  EXPECT_EQ(state_.members.at(InvitedUserId("acc_a", 3)), v1::ROLE_VIEWER);

  auto bad_role = With(Who::kOwner, "inv4", [](v1::Command& c) {
    c.mutable_invite_member()->set_email("x@example.com");
  });
  EXPECT_EQ(Decide(state_, bad_role, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto bad_email = With(Who::kOwner, "inv5", [](v1::Command& c) {
    c.mutable_invite_member()->set_email("nope");
    c.mutable_invite_member()->set_role(v1::ROLE_ADMIN);
  });
  EXPECT_EQ(Decide(state_, bad_email, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

// Grant changes a member's role; the role then governs at once (a promoted viewer may create).
TEST_F(AccessTest, GrantChangesWhatAMemberMayDo) {
  const std::string viewer = InvitedUserId("acc_a", 2);
  auto create = With(Who::kViewer, "c2", [](v1::Command& c) {
    c.mutable_create_instance()->set_instance_id("i2");
    c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
    c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
    c.mutable_create_instance()->set_name("two");
  });
  EXPECT_EQ(Decide(state_, create, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  Apply(With(Who::kOwner, "g1", [&](v1::Command& c) {
    c.mutable_grant_role()->set_user_id(viewer);
    c.mutable_grant_role()->set_role(v1::ROLE_ADMIN);
  }));
  EXPECT_TRUE(Decide(state_, create, kNow).has_value());
  // Same role again: nothing to record. Unknown member or role: refused.
  auto same = Apply(With(Who::kOwner, "g2", [&](v1::Command& c) {
    c.mutable_grant_role()->set_user_id(viewer);
    c.mutable_grant_role()->set_role(v1::ROLE_ADMIN);
  }));
  EXPECT_TRUE(same->empty());
  auto unknown = With(Who::kOwner, "g3", [](v1::Command& c) {
    c.mutable_grant_role()->set_user_id("usr_nobody");
    c.mutable_grant_role()->set_role(v1::ROLE_ADMIN);
  });
  EXPECT_EQ(Decide(state_, unknown, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

// The last owner can be neither removed nor demoted; with a second owner, either can go.
TEST_F(AccessTest, LastOwnerCannotBeRemovedOrDemoted) {
  auto revoke_owner = With(Who::kOwner, "r1",
                           [](v1::Command& c) { c.mutable_revoke_role()->set_user_id("usr_a"); });
  EXPECT_EQ(Decide(state_, revoke_owner, kNow).error().reason, v1::REJECTION_LAST_OWNER);
  auto demote_owner = With(Who::kOwner, "r2", [](v1::Command& c) {
    c.mutable_grant_role()->set_user_id("usr_a");
    c.mutable_grant_role()->set_role(v1::ROLE_VIEWER);
  });
  EXPECT_EQ(Decide(state_, demote_owner, kNow).error().reason, v1::REJECTION_LAST_OWNER);

  const std::string admin = InvitedUserId("acc_a", 1);
  Apply(With(Who::kOwner, "g1", [&](v1::Command& c) {
    c.mutable_grant_role()->set_user_id(admin);
    c.mutable_grant_role()->set_role(v1::ROLE_OWNER);
  }));
  Apply(revoke_owner);  // two owners: the original may leave
  EXPECT_EQ(state_.members.count("usr_a"), 0u);
  // The removed owner holds nothing any more.
  auto after = With(Who::kOwner, "r3", [](v1::Command& c) {
    c.mutable_create_instance()->set_instance_id("i9");
    c.mutable_create_instance()->set_name("x");
  });
  EXPECT_EQ(Decide(state_, after, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  // And the new owner is now the last one.
  auto revoke_new =
      With(Who::kAdmin, "r4", [&](v1::Command& c) { c.mutable_revoke_role()->set_user_id(admin); });
  EXPECT_EQ(Decide(state_, revoke_new, kNow).error().reason, v1::REJECTION_LAST_OWNER);
}

// A user is refused on an account that does not exist exactly as on one it does not belong to:
// the refusal says nothing about the account.
TEST_F(AccessTest, StrangersLearnNothingAboutExistence) {
  AccountState missing;
  missing.account_id = "acc_zz";
  auto c = With(Who::kStranger, "x",
                [](v1::Command& cmd) { cmd.mutable_start_instance()->set_instance_id("i1"); });
  const auto on_missing = Decide(missing, c, kNow);
  const auto on_other = Decide(state_, c, kNow);
  ASSERT_FALSE(on_missing.has_value());
  ASSERT_FALSE(on_other.has_value());
  EXPECT_EQ(on_missing.error().reason, v1::REJECTION_PERMISSION_DENIED);
  EXPECT_EQ(on_missing.error().reason, on_other.error().reason);
  EXPECT_EQ(on_missing.error().message, on_other.error().message);
}

}  // namespace
}  // namespace clawvisor
