#include "engine/domain/decider.h"
#include "engine/domain/limits.h"

#include <gtest/gtest.h>

#include "events/codec.h"

#include "tests/support/test_values.h"
namespace clawvisor {
namespace {

constexpr TimestampUs kNow = 1'750'000'000'000'000;

class DeciderTest : public ::testing::Test {
 protected:
  v1::Command Cmd(std::string id) {
    v1::Command c;
    c.set_command_id(std::move(id));
    c.set_account_id("acc_a");
    *c.mutable_actor() = WebTierOwner();
    return c;
  }
  static v1::Actor Kind(v1::Actor::Kind kind, std::string id = "svc") {
    v1::Actor a;
    a.set_kind(kind);
    a.set_id(std::move(id));
    return a;
  }
  // Decides and, when accepted, applies the events as the processor would (versions stamped).
  Decision Apply(const v1::Command& c, TimestampUs now = kNow) {
    Decision d = Decide(state_, c, now);
    if (d) {
      for (auto e : *d) {
        e.set_account_id("acc_a");
        e.set_occurred_at_us(now);
        if (e.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE) {
          auto it = state_.instances.find(e.aggregate_id());
          e.set_aggregate_version((it == state_.instances.end() ? 0 : it->second.version) + 1);
        } else {
          e.set_aggregate_version(state_.version + 1);
        }
        Evolve(state_, e);
      }
    }
    return d;
  }
  void Register() {
    auto c = Cmd("reg");
    c.mutable_register_account()->set_email("owner@example.com");
    ASSERT_TRUE(Apply(c).has_value());
  }
  void Create(const std::string& id) {
    auto c = Cmd("create-" + id);
    c.mutable_create_instance()->set_instance_id(id);
    c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
    c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
    c.mutable_create_instance()->set_name("bot " + id);
    ASSERT_TRUE(Apply(c).has_value());
  }
  static AccountState Fresh(std::string id) {
    AccountState s;
    s.account_id = std::move(id);
    return s;
  }
  AccountState state_ = Fresh("acc_a");
};

// Registration records the email as a pending sealed field (never as a plain string), makes the
// owner a member and starts a trial that ends 14 days after `now`.
TEST_F(DeciderTest, RegisterSealsEmailAndStartsTrial) {
  auto c = Cmd("reg");
  c.mutable_register_account()->set_email("owner@example.com");
  auto d = Apply(c);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 2u);
  const auto& reg = (*d)[0].account_registered();
  EXPECT_TRUE(reg.email().key_id().empty());  // pending: the processor seals it
  EXPECT_EQ(reg.email().ciphertext(), "owner@example.com");
  EXPECT_EQ(reg.plan(), v1::PLAN_TRIAL);
  EXPECT_EQ((*d)[1].trial_started().ends_at_us(), kNow + 14LL * 24 * 3600 * 1'000'000);
  EXPECT_TRUE(state_.registered);
  EXPECT_EQ(state_.members.at(state_.owner_user_id), v1::ROLE_OWNER);
}

// A second registration of the same account, and malformed emails, are refused.
TEST_F(DeciderTest, RegisterRefusesDuplicatesAndBadEmail) {
  Register();
  auto again = Cmd("reg2");
  again.mutable_register_account()->set_email("x@example.com");
  EXPECT_EQ(Decide(state_, again, kNow).error().reason, v1::REJECTION_ACCOUNT_EXISTS);
  AccountState fresh = Fresh("acc_b");
  for (const char* bad : {"", "no-at-sign", "@example.com", "a@", "a b@example.com"}) {
    auto c = Cmd("r");
    c.mutable_register_account()->set_email(bad);
    EXPECT_EQ(Decide(fresh, c, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT) << bad;
  }
}

// Commands for an account that does not exist are refused, not silently applied.
TEST_F(DeciderTest, UnknownAccountIsRefused) {
  auto c = Cmd("c1");
  c.mutable_create_instance()->set_instance_id("i1");
  c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  c.mutable_create_instance()->set_name("x");
  EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_ACCOUNT_NOT_FOUND);
}

// Create fills in the default spec, starts at revision 1 and refuses a second live instance
// with the same id.
TEST_F(DeciderTest, CreateInstanceDefaultsAndUniqueness) {
  Register();
  Create("i1");
  const auto& inst = state_.instances.at("i1");
  EXPECT_EQ(inst.revision, 1u);
  EXPECT_EQ(inst.spec.vcpus(), 1u);
  EXPECT_EQ(inst.spec.memory_mib(), 512u);
  EXPECT_EQ(inst.desired, DesiredState::kStopped);
  auto again = Cmd("again");
  again.mutable_create_instance()->set_instance_id("i1");
  again.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  again.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  again.mutable_create_instance()->set_name("dup");
  EXPECT_EQ(Decide(state_, again, kNow).error().reason, v1::REJECTION_INSTANCE_EXISTS);
}

// Specs outside the per-instance limits, bad names and the per-account limit are refused.
TEST_F(DeciderTest, CreateInstanceEnforcesQuotas) {
  Register();
  auto c = Cmd("big");
  c.mutable_create_instance()->set_instance_id("i1");
  c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  c.mutable_create_instance()->set_name("x");
  c.mutable_create_instance()->mutable_spec()->set_vcpus(64);
  EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_QUOTA_EXCEEDED);
  c.mutable_create_instance()->mutable_spec()->set_vcpus(1);
  c.mutable_create_instance()->mutable_spec()->set_disk_mib(1);
  EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_QUOTA_EXCEEDED);
  c.mutable_create_instance()->clear_spec();
  c.mutable_create_instance()->set_name(std::string("bad\nname"));
  EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  DecideOptions tight;
  tight.limits.max_instances_per_account = 1;
  Create("i1");
  auto second = Cmd("second");
  second.mutable_create_instance()->set_instance_id("i2");
  second.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  second.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  second.mutable_create_instance()->set_name("y");
  EXPECT_EQ(Decide(state_, second, kNow, tight).error().reason, v1::REJECTION_QUOTA_EXCEEDED);
}

// The desired-state machine: start, pause, resume, stop, and the transitions it refuses.
TEST_F(DeciderTest, LifecycleTransitions) {
  Register();
  Create("i1");
  auto pause = Cmd("p0");
  pause.mutable_pause_instance()->set_instance_id("i1");
  EXPECT_EQ(Decide(state_, pause, kNow).error().reason, v1::REJECTION_INVALID_STATE);

  auto start = Cmd("s1");
  start.mutable_start_instance()->set_instance_id("i1");
  ASSERT_TRUE(Apply(start).has_value());
  EXPECT_EQ(state_.instances.at("i1").desired, DesiredState::kRunning);

  pause.set_command_id("p1");
  ASSERT_TRUE(Apply(pause).has_value());
  EXPECT_EQ(state_.instances.at("i1").desired, DesiredState::kPaused);

  // Starting a paused instance resumes it.
  start.set_command_id("s2");
  auto resumed = Apply(start);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_TRUE((*resumed)[0].has_instance_resume_requested());
  EXPECT_EQ(state_.instances.at("i1").desired, DesiredState::kRunning);

  auto stop = Cmd("st");
  stop.mutable_stop_instance()->set_instance_id("i1");
  stop.mutable_stop_instance()->set_immediate(true);
  auto stopped = Apply(stop);
  ASSERT_TRUE(stopped.has_value());
  EXPECT_TRUE((*stopped)[0].instance_stop_requested().immediate());
  EXPECT_EQ(state_.instances.at("i1").desired, DesiredState::kStopped);

  auto resume = Cmd("r");
  resume.mutable_resume_instance()->set_instance_id("i1");
  EXPECT_EQ(Decide(state_, resume, kNow).error().reason, v1::REJECTION_INVALID_STATE);
}

// Delete ends the instance; afterwards it is not found, and re-creating it gets revision 2.
TEST_F(DeciderTest, DeleteThenRecreateBumpsRevision) {
  Register();
  Create("i1");
  auto del = Cmd("d");
  del.mutable_delete_instance()->set_instance_id("i1");
  ASSERT_TRUE(Apply(del).has_value());
  auto start = Cmd("s");
  start.mutable_start_instance()->set_instance_id("i1");
  EXPECT_EQ(Decide(state_, start, kNow).error().reason, v1::REJECTION_INSTANCE_NOT_FOUND);
  auto recreate = Cmd("create-again");
  recreate.mutable_create_instance()->set_instance_id("i1");
  recreate.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  recreate.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  recreate.mutable_create_instance()->set_name("again");
  auto d = Apply(recreate);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ((*d)[0].instance_created().revision(), 2u);
}

// Observations become events only when they change something, and a report about an older
// revision never moves the current one.
TEST_F(DeciderTest, ObservationsAreLevelTriggeredAndRevisionChecked) {
  Register();
  Create("i1");
  auto obs = Cmd("o1");
  *obs.mutable_actor() = Kind(v1::Actor::KIND_RECONCILER, "host-1");
  auto* o = obs.mutable_record_observation();
  o->set_instance_id("i1");
  o->set_revision(1);
  o->set_host_id("host-1");
  o->set_state(v1::VM_STATE_RUNNING);
  auto d = Apply(obs);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_TRUE((*d)[0].has_instance_started());
  EXPECT_EQ(state_.instances.at("i1").observed, v1::VM_STATE_RUNNING);

  obs.set_command_id("o2");  // same report again: nothing changed, nothing recorded
  auto same = Apply(obs);
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(same->empty());

  o->set_revision(7);
  obs.set_command_id("o3");
  EXPECT_EQ(Decide(state_, obs, kNow).error().reason, v1::REJECTION_INVALID_STATE);

  o->set_revision(1);
  o->set_state(v1::VM_STATE_RUNNING);
  o->set_disk_used_bytes(2000);
  o->set_disk_limit_bytes(1000);
  o->set_health_check_failed(true);
  o->set_consecutive_health_failures(3);
  obs.set_command_id("o4");
  auto multi = Apply(obs);
  ASSERT_TRUE(multi.has_value());
  ASSERT_EQ(multi->size(), 2u);
  EXPECT_TRUE((*multi)[0].has_instance_health_check_failed());
  EXPECT_TRUE((*multi)[1].has_instance_quota_exceeded());
}

// A VM may only be reported deleted after a delete was requested.
// An observation's egress summary becomes InstanceEgressSummarized (hosts sorted); a summary
// that is not names and counts (a URL, a path, a duplicate, too many hosts, an empty period) is
// refused whole, so nothing a guest chose beyond a host name reaches the audit trail.
TEST_F(DeciderTest, EgressSummariesHoldNamesAndCountsOnly) {
  Register();
  Create("i1");
  auto obs = Cmd("e1");
  *obs.mutable_actor() = Kind(v1::Actor::KIND_RECONCILER, "host-1");
  auto* o = obs.mutable_record_observation();
  o->set_instance_id("i1");
  o->set_revision(1);
  o->set_host_id("host-1");
  o->set_egress_since_us(kNow - 60'000'000);
  o->set_egress_until_us(kNow);
  auto* telegram = o->add_egress();
  telegram->set_host("api.telegram.org");
  telegram->set_connections(2);
  telegram->set_bytes_received(900);
  auto* openai = o->add_egress();
  openai->set_host("api.openai.com");
  openai->set_connections(5);
  openai->set_refused(1);
  auto d = Apply(obs);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 1u);
  const auto& summary = (*d)[0].instance_egress_summarized();
  EXPECT_EQ(summary.period_start_us(), kNow - 60'000'000);
  EXPECT_EQ(summary.period_end_us(), kNow);
  ASSERT_EQ(summary.hosts_size(), 2);
  EXPECT_EQ(summary.hosts(0).host(), "api.openai.com");
  EXPECT_EQ(summary.hosts(0).connections(), 5u);
  EXPECT_EQ(summary.hosts(1).host(), "api.telegram.org");

  for (const char* bad : {"https://api.openai.com/v1/chat", "api.openai.com/v1", "API.openai.com",
                          "", "api.openai.com"}) {
    auto again = obs;
    again.set_command_id(std::string("e-") + bad);
    again.mutable_record_observation()->mutable_egress(0)->set_host(bad);
    EXPECT_EQ(Decide(state_, again, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT) << bad;
  }
  auto reversed = obs;
  reversed.set_command_id("e-rev");
  reversed.mutable_record_observation()->set_egress_until_us(kNow - 120'000'000);
  EXPECT_EQ(Decide(state_, reversed, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto many = obs;
  many.set_command_id("e-many");
  for (int i = 0; i < 40; ++i)
    many.mutable_record_observation()->add_egress()->set_host("h" + std::to_string(i) + ".example");
  EXPECT_EQ(Decide(state_, many, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

// A console link (design D9): issued to a member, exchanged once by the front door, within its
// five minutes, for the instance it was issued for; the opening names who and from where.
// Guest images: a new instance gets the default (recorded with its version), an unknown image is
// refused at create and at upgrade, and nothing can be upgraded without registered images.
TEST_F(DeciderTest, InstancesRecordTheirImageAndUpgradeOnlyToRegisteredOnes) {
  Register();
  DecideOptions options;
  options.guest_images = {{"oc-1", "2026.9.6"}, {"oc-2", "2026.10.1"}};
  options.default_image = "oc-1";
  auto create = Cmd("create-img");
  create.mutable_create_instance()->set_instance_id("i1");
  create.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  create.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  create.mutable_create_instance()->set_name("bot");
  auto created = Decide(state_, create, kNow, options);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  EXPECT_EQ((*created)[0].instance_created().image(), "oc-1");
  EXPECT_EQ((*created)[0].instance_created().openclaw_version(), "2026.9.6");
  auto bad_create = create;
  bad_create.mutable_create_instance()->set_image("oc-9");
  EXPECT_EQ(Decide(state_, bad_create, kNow, options).error().reason,
            v1::REJECTION_INVALID_ARGUMENT);
  for (auto e : *created) {
    e.set_account_id("acc_a");
    e.set_aggregate_version(1);
    Evolve(state_, e);
  }
  auto upgrade = Cmd("up-1");
  upgrade.mutable_upgrade_instance()->set_instance_id("i1");
  upgrade.mutable_upgrade_instance()->set_image("oc-2");
  EXPECT_EQ(Decide(state_, upgrade, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto by_viewer = upgrade;
  by_viewer.mutable_actor()->set_role(v1::ROLE_VIEWER);
  EXPECT_EQ(Decide(state_, by_viewer, kNow, options).error().reason,
            v1::REJECTION_PERMISSION_DENIED);
  auto same = upgrade;
  same.mutable_upgrade_instance()->set_image("oc-1");
  EXPECT_EQ(Decide(state_, same, kNow, options).error().reason, v1::REJECTION_INVALID_STATE);
  auto upgraded = Decide(state_, upgrade, kNow, options);
  ASSERT_TRUE(upgraded.has_value()) << upgraded.error().message;
  const auto& p = (*upgraded)[0].instance_upgrade_requested();
  EXPECT_EQ(p.image(), "oc-2");
  EXPECT_EQ(p.openclaw_version(), "2026.10.1");
  EXPECT_EQ(p.previous_image(), "oc-1");
}

// Webhook paths: the owner (or an admin) opens one per instance, by the keyed hash of its token;
// a rotation replaces the old one (named in the event), a viewer may not, and closing needs one.
TEST_F(DeciderTest, WebhookPathsAreRotatedAndClosedByTheOwner) {
  Register();
  Create("i1");
  const std::string first(64, 'c');
  const std::string second(64, 'd');
  auto rotate = Cmd("hook-1");
  rotate.mutable_rotate_webhook_path()->set_instance_id("i1");
  rotate.mutable_rotate_webhook_path()->set_token_hash(first);

  auto by_viewer = rotate;
  by_viewer.mutable_actor()->set_role(v1::ROLE_VIEWER);
  EXPECT_EQ(Decide(state_, by_viewer, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  auto unhashed = rotate;
  unhashed.mutable_rotate_webhook_path()->set_token_hash("not-a-hash");
  EXPECT_EQ(Decide(state_, unhashed, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto elsewhere = rotate;
  elsewhere.mutable_rotate_webhook_path()->set_instance_id("i9");
  EXPECT_EQ(Decide(state_, elsewhere, kNow).error().reason, v1::REJECTION_INSTANCE_NOT_FOUND);
  auto nothing_open = Cmd("close-0");
  nothing_open.mutable_disable_webhook_path()->set_instance_id("i1");
  EXPECT_EQ(Decide(state_, nothing_open, kNow).error().reason, v1::REJECTION_INVALID_STATE);

  auto opened = Apply(rotate);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  const auto& hook = (*opened)[0].webhook_path_rotated();
  EXPECT_EQ(hook.webhook_id(), "hk_" + first.substr(0, 24));
  EXPECT_EQ(hook.token_hash(), first);
  EXPECT_TRUE(hook.previous_webhook_id().empty());
  EXPECT_EQ(state_.instances.at("i1").webhook_token_hash, first);
  // The same token again is a mistake, not a rotation.
  auto again = rotate;
  again.set_command_id("hook-again");
  EXPECT_EQ(Decide(state_, again, kNow).error().reason, v1::REJECTION_INVALID_STATE);

  auto replace = Cmd("hook-2");
  replace.mutable_actor()->set_role(v1::ROLE_ADMIN);
  replace.mutable_rotate_webhook_path()->set_instance_id("i1");
  replace.mutable_rotate_webhook_path()->set_token_hash(second);
  auto replaced = Apply(replace);
  ASSERT_TRUE(replaced.has_value()) << replaced.error().message;
  EXPECT_EQ((*replaced)[0].webhook_path_rotated().previous_webhook_id(), hook.webhook_id());
  EXPECT_EQ(state_.instances.at("i1").webhook_token_hash, second);

  auto close = Cmd("close-1");
  close.mutable_disable_webhook_path()->set_instance_id("i1");
  auto closed = Apply(close);
  ASSERT_TRUE(closed.has_value()) << closed.error().message;
  EXPECT_EQ((*closed)[0].webhook_path_disabled().webhook_id(), "hk_" + second.substr(0, 24));
  EXPECT_TRUE(state_.instances.at("i1").webhook_token_hash.empty());
  close.set_command_id("close-2");
  EXPECT_EQ(Decide(state_, close, kNow).error().reason, v1::REJECTION_INVALID_STATE);
}

TEST_F(DeciderTest, ConsoleLinksAreSingleUseAndShortLived) {
  Register();
  Create("i1");
  Create("i2");
  const std::string hash(64, 'a');
  auto issue = Cmd("link-1");
  *issue.mutable_actor() = Kind(v1::Actor::KIND_USER, "usr_a");
  issue.mutable_issue_console_link()->set_instance_id("i1");
  issue.mutable_issue_console_link()->set_token_hash(hash);
  auto issued = Apply(issue);
  ASSERT_TRUE(issued.has_value()) << issued.error().message;
  const auto& link = (*issued)[0].console_link_issued();
  EXPECT_EQ(link.user_id(), "usr_a");
  EXPECT_EQ(link.expires_at_us(), kNow + kConsoleLinkLifetimeUs);
  EXPECT_EQ(link.link_id(), "lnk_" + hash.substr(0, 24));

  // Not a member, not a user, no hash: refused.
  auto stranger = issue;
  stranger.set_command_id("link-x");
  *stranger.mutable_actor() = Kind(v1::Actor::KIND_USER, "usr_stranger");
  EXPECT_FALSE(Decide(state_, stranger, kNow).has_value());
  auto unhashed = issue;
  unhashed.set_command_id("link-y");
  unhashed.mutable_issue_console_link()->clear_token_hash();
  EXPECT_EQ(Decide(state_, unhashed, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);

  auto redeem = Cmd("redeem-1");
  *redeem.mutable_actor() = Kind(v1::Actor::KIND_SYSTEM, "front-door");
  redeem.mutable_redeem_console_link()->set_instance_id("i2");  // another instance
  redeem.mutable_redeem_console_link()->set_token_hash(hash);
  redeem.mutable_redeem_console_link()->set_client_ip("203.0.113.7");
  redeem.mutable_redeem_console_link()->set_user_agent("Firefox");
  EXPECT_EQ(Decide(state_, redeem, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  redeem.mutable_redeem_console_link()->set_instance_id("i1");
  // Not before a user may: only the front door redeems.
  auto by_user = redeem;
  *by_user.mutable_actor() = Kind(v1::Actor::KIND_USER, "usr_a");
  EXPECT_EQ(Decide(state_, by_user, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  // Expired: refused.
  EXPECT_EQ(Decide(state_, redeem, kNow + kConsoleLinkLifetimeUs).error().reason,
            v1::REJECTION_PERMISSION_DENIED);
  auto opened = Apply(redeem, kNow + 1'000'000);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  const auto& session = (*opened)[0].console_session_opened();
  EXPECT_EQ(session.user_id(), "usr_a");
  EXPECT_EQ(session.client_ip(), "203.0.113.7");
  EXPECT_EQ(session.link_id(), link.link_id());
  // Used: the second exchange is refused.
  redeem.set_command_id("redeem-2");
  EXPECT_EQ(Decide(state_, redeem, kNow + 2'000'000).error().reason,
            v1::REJECTION_PERMISSION_DENIED);

  // At most 16 unused links per instance.
  for (int i = 0; i < 16; ++i) {
    auto more = issue;
    more.set_command_id("more-" + std::to_string(i));
    more.mutable_issue_console_link()->set_token_hash(std::string(63, 'b') + "0123456789abcdef"[i]);
    ASSERT_TRUE(Apply(more).has_value()) << i;
  }
  auto over = issue;
  over.set_command_id("over");
  over.mutable_issue_console_link()->set_token_hash(std::string(64, 'c'));
  EXPECT_EQ(Decide(state_, over, kNow).error().reason, v1::REJECTION_QUOTA_EXCEEDED);
  // Expired ones make room again.
  EXPECT_TRUE(Apply(over, kNow + kConsoleLinkLifetimeUs + 1).has_value());
}

TEST_F(DeciderTest, DeletedObservationNeedsADeleteRequest) {
  Register();
  Create("i1");
  auto obs = Cmd("o");
  *obs.mutable_actor() = Kind(v1::Actor::KIND_RECONCILER, "host-1");
  obs.mutable_record_observation()->set_instance_id("i1");
  obs.mutable_record_observation()->set_revision(1);
  obs.mutable_record_observation()->set_host_id("host-1");
  obs.mutable_record_observation()->set_state(v1::VM_STATE_DELETED);
  EXPECT_EQ(Decide(state_, obs, kNow).error().reason, v1::REJECTION_INVALID_STATE);
  auto del = Cmd("d");
  del.mutable_delete_instance()->set_instance_id("i1");
  ASSERT_TRUE(Apply(del).has_value());
  obs.set_command_id("o2");
  auto d = Apply(obs);
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(state_.instances.at("i1").deleted);
}

// A created instance carries its gateway token and volume key as pending sealed fields; a command
// without a well-formed one (too short, not base64url) is refused.
TEST_F(DeciderTest, CreateInstanceSealsItsGatewayToken) {
  Register();
  auto c = Cmd("mk");
  c.mutable_create_instance()->set_instance_id("i1");
  c.mutable_create_instance()->set_name("x");
  for (const char* bad : {"", "short", "has space in it 0123456789", "ééééééééééééééééééééééé"}) {
    c.mutable_create_instance()->set_gateway_token(bad);
    EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT) << bad;
  }
  c.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
  for (const char* bad : {"", "short", "has space in it 0123456789"}) {
    c.mutable_create_instance()->set_volume_key(bad);
    EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT) << bad;
  }
  c.mutable_create_instance()->set_volume_key(kTestVolumeKey);
  auto d = Apply(c);
  ASSERT_TRUE(d.has_value());
  const auto& token = (*d)[0].instance_created().gateway_token();
  EXPECT_TRUE(token.key_id().empty());  // pending: the processor seals it
  EXPECT_EQ(token.ciphertext(), kTestGatewayToken);
  // The data disk's passphrase likewise.
  const auto& volume_key = (*d)[0].instance_created().volume_key();
  EXPECT_TRUE(volume_key.key_id().empty());
  EXPECT_EQ(volume_key.ciphertext(), kTestVolumeKey);
}

// Rotation needs a live instance and a new token, which it leaves pending for the sealer.
TEST_F(DeciderTest, RotateGatewayToken) {
  Register();
  auto rotate = Cmd("rot");
  rotate.mutable_rotate_gateway_token()->set_instance_id("i1");
  rotate.mutable_rotate_gateway_token()->set_gateway_token("rotated-token-0123456789-abcdefghij");
  EXPECT_EQ(Decide(state_, rotate, kNow).error().reason, v1::REJECTION_INSTANCE_NOT_FOUND);
  Create("i1");
  auto d = Decide(state_, rotate, kNow);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].aggregate_id(), "i1");
  EXPECT_EQ((*d)[0].gateway_token_rotated().gateway_token().ciphertext(),
            "rotated-token-0123456789-abcdefghij");
  rotate.mutable_rotate_gateway_token()->clear_gateway_token();
  EXPECT_EQ(Decide(state_, rotate, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
}

// A credential is recorded sealed, with only its last four characters in the clear (none for a
// value too short to show any); setting it again replaces it; removing needs it to exist.
TEST_F(DeciderTest, CredentialsAreSetSealedAndRemoved) {
  Register();
  Create("i1");
  auto set = Cmd("set");
  auto* p = set.mutable_set_credential();
  p->set_instance_id("i1");
  p->set_name("openai");
  p->set_kind(v1::CREDENTIAL_KIND_MODEL_API_KEY);
  p->set_value("sk-canary-0123456789abcdWXYZ");
  auto d = Apply(set);
  ASSERT_TRUE(d.has_value());
  const auto& event = (*d)[0].instance_credential_set();
  EXPECT_EQ(event.value().ciphertext(), "sk-canary-0123456789abcdWXYZ");
  EXPECT_TRUE(event.value().key_id().empty());
  EXPECT_EQ(event.last4(), "WXYZ");
  EXPECT_EQ(state_.instances.at("i1").credentials.at("openai").last4, "WXYZ");

  p->set_value("short8ch");  // too short to show any characters, long enough to accept
  d = Apply(set);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ((*d)[0].instance_credential_set().last4(), "");

  auto remove = Cmd("rm");
  remove.mutable_remove_credential()->set_instance_id("i1");
  remove.mutable_remove_credential()->set_name("telegram");
  EXPECT_EQ(Decide(state_, remove, kNow).error().reason, v1::REJECTION_CREDENTIAL_NOT_FOUND);
  remove.mutable_remove_credential()->set_name("openai");
  ASSERT_TRUE(Apply(remove).has_value());
  EXPECT_TRUE(state_.instances.at("i1").credentials.empty());
  EXPECT_EQ(Decide(state_, remove, kNow).error().reason, v1::REJECTION_CREDENTIAL_NOT_FOUND);
}

// Bad credentials are refused, and the refusal never quotes the value.
TEST_F(DeciderTest, CredentialValidation) {
  Register();
  Create("i1");
  auto set = Cmd("set");
  auto* p = set.mutable_set_credential();
  p->set_instance_id("i1");
  p->set_name("bot");
  p->set_kind(v1::CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN);
  const std::string secret_with_space = "canary value with spaces 123";
  for (const std::string& bad : {std::string("1234567"), secret_with_space, std::string(4097, 'a'),
                                 std::string("tab\tX123456")}) {
    p->set_value(bad);
    auto d = Decide(state_, set, kNow);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().reason, v1::REJECTION_INVALID_ARGUMENT);
    EXPECT_EQ(d.error().message.find(bad.substr(0, 7)), std::string::npos);
  }
  p->set_value("a-valid-token-123456");
  p->set_kind(v1::CREDENTIAL_KIND_UNSPECIFIED);
  EXPECT_EQ(Decide(state_, set, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  p->set_kind(v1::CREDENTIAL_KIND_DISCORD_BOT_TOKEN);
  p->set_name("bad name");
  EXPECT_EQ(Decide(state_, set, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  p->set_name("bot");
  p->set_instance_id("nope");
  EXPECT_EQ(Decide(state_, set, kNow).error().reason, v1::REJECTION_INSTANCE_NOT_FOUND);
  p->set_instance_id("i1");
  DecideOptions tight;
  tight.limits.max_credentials_per_instance = 1;
  ASSERT_TRUE(Apply(set).has_value());
  p->set_name("second");
  EXPECT_EQ(Decide(state_, set, kNow, tight).error().reason, v1::REJECTION_QUOTA_EXCEEDED);
  p->set_name("bot");  // replacing an existing one is not a new credential
  EXPECT_TRUE(Decide(state_, set, kNow, tight).has_value());
}

// Erasure is the owner's alone; it deletes every live instance, then erases the account, after
// which every command (a new registration included) is refused as erased.
TEST_F(DeciderTest, ErasureDeletesInstancesThenErases) {
  Register();
  Create("i1");
  Create("i2");
  auto del = Cmd("del");
  del.mutable_delete_instance()->set_instance_id("i2");
  ASSERT_TRUE(Apply(del).has_value());
  auto erase = Cmd("erase");
  erase.mutable_request_account_erasure();
  erase.mutable_actor()->set_role(v1::ROLE_ADMIN);
  EXPECT_EQ(Decide(state_, erase, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  erase.mutable_actor()->set_role(v1::ROLE_OWNER);
  auto d = Apply(erase);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->size(), 3u);  // requested, i1 deleted (i2 already was), erased
  EXPECT_TRUE((*d)[0].has_account_erasure_requested());
  EXPECT_EQ((*d)[1].aggregate_id(), "i1");
  EXPECT_EQ((*d)[1].instance_delete_requested().reason(), "account_erased");
  EXPECT_TRUE((*d)[2].has_account_erased());
  EXPECT_TRUE(state_.erased);
  for (auto c : {Cmd("again"), Cmd("reg-again")}) {
    if (c.command_id() == "again") {
      c.mutable_request_account_erasure();
      c.mutable_actor()->set_role(v1::ROLE_OWNER);
    } else {
      c.mutable_register_account()->set_email("new@example.com");
    }
    EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_ACCOUNT_ERASED);
  }
}

// Ids are checked at the domain's boundary as well as the API's.
TEST_F(DeciderTest, MalformedIdsAreRefused) {
  Register();
  auto c = Cmd("");
  c.mutable_start_instance()->set_instance_id("i1");
  EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  c.set_command_id("ok");
  c.mutable_start_instance()->set_instance_id("has space");
  EXPECT_EQ(Decide(state_, c, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  EXPECT_TRUE(IsValidCommandId(std::string(128, 'a')));
  EXPECT_FALSE(IsValidCommandId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidResourceId(std::string(65, 'a')));
}

// Commands the engine does not handle yet are refused with a clear reason, not dropped.
TEST_F(DeciderTest, UnsupportedCommandsAreRefused) {
  Register();
  auto c = Cmd("x");
  *c.mutable_actor() = Kind(v1::Actor::KIND_OPERATOR, "op-1");
  c.mutable_grant_credits()->set_credits(5);
  auto d = Decide(state_, c, kNow);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().reason, v1::REJECTION_INVALID_ARGUMENT);
  v1::Command empty = Cmd("y");
  EXPECT_FALSE(Decide(state_, empty, kNow).has_value());
}

// Audit exports: owner only, the range closed at the request, and one completion per export,
// reported by the export worker (a system actor) alone.
TEST_F(DeciderTest, AuditExportRequestAndCompletion) {
  Register();
  auto request = Cmd("export-1");
  request.mutable_request_audit_export()->set_since_us(kNow - 1000);
  request.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  request.mutable_actor()->set_role(v1::ROLE_VIEWER);
  auto denied = Decide(state_, request, kNow);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().reason, v1::REJECTION_PERMISSION_DENIED);

  request.mutable_actor()->set_role(v1::ROLE_OWNER);
  auto accepted = Decide(state_, request, kNow);
  ASSERT_TRUE(accepted.has_value());
  ASSERT_EQ(accepted->size(), 1u);
  const auto& requested = (*accepted)[0].audit_export_requested();
  EXPECT_EQ(requested.since_us(), kNow - 1000);
  EXPECT_EQ(requested.until_us(), kNow + 1);   // "until the request"
  EXPECT_TRUE(requested.export_id().empty());  // the processor names it after the event

  // A future `until` is clamped; an empty or inverted range is refused.
  request.mutable_request_audit_export()->set_until_us(kNow + 5'000'000);
  EXPECT_EQ(Decide(state_, request, kNow)->at(0).audit_export_requested().until_us(), kNow + 1);
  request.mutable_request_audit_export()->set_since_us(kNow + 10);
  EXPECT_FALSE(Decide(state_, request, kNow).has_value());
  request.mutable_request_audit_export()->set_since_us(-1);
  EXPECT_FALSE(Decide(state_, request, kNow).has_value());

  // The account's owner, as a user, may export too.
  auto by_user = Cmd("export-u");
  by_user.mutable_request_audit_export();
  by_user.mutable_actor()->set_kind(v1::Actor::KIND_USER);
  by_user.mutable_actor()->set_id(state_.owner_user_id);
  EXPECT_TRUE(Decide(state_, by_user, kNow).has_value());
  by_user.mutable_actor()->set_id("usr_someone_else");
  EXPECT_FALSE(Decide(state_, by_user, kNow).has_value());

  auto event = (*accepted)[0];
  event.mutable_audit_export_requested()->set_export_id("exp-1");
  event.set_account_id("acc_a");
  Evolve(state_, event);

  auto complete = Cmd("audit-export-completed:exp-1");
  complete.mutable_actor()->set_kind(v1::Actor::KIND_SYSTEM);
  auto* p = complete.mutable_complete_audit_export();
  p->set_export_id("exp-1");
  p->set_rows(3);
  p->set_sha256(std::string(32, '\x01'));
  p->set_bytes(300);

  auto forged = complete;
  forged.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  forged.mutable_actor()->set_role(v1::ROLE_OWNER);
  EXPECT_EQ(Decide(state_, forged, kNow).error().reason, v1::REJECTION_PERMISSION_DENIED);
  auto unknown = complete;
  unknown.mutable_complete_audit_export()->set_export_id("exp-2");
  EXPECT_EQ(Decide(state_, unknown, kNow).error().reason, v1::REJECTION_INVALID_ARGUMENT);
  auto short_hash = complete;
  short_hash.mutable_complete_audit_export()->set_sha256("abc");
  EXPECT_FALSE(Decide(state_, short_hash, kNow).has_value());

  auto done = Apply(complete);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ((*done)[0].audit_export_completed().rows(), 3u);
  EXPECT_EQ((*done)[0].audit_export_completed().bytes(), 300u);
  // A second completion (another command id) is refused: one AuditExportCompleted per export.
  auto twice = complete;
  twice.set_command_id("other");
  EXPECT_EQ(Decide(state_, twice, kNow).error().reason, v1::REJECTION_INVALID_STATE);
}

// Exports in flight are bounded per account: each scans the partition and writes a file.
TEST_F(DeciderTest, AuditExportsPendingAreBounded) {
  Register();
  for (int i = 0; i < kMaxPendingAuditExports; ++i) {
    auto request = Cmd("export-" + std::to_string(i));
    request.mutable_request_audit_export();
    request.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
    request.mutable_actor()->set_role(v1::ROLE_OWNER);
    auto events = Decide(state_, request, kNow);
    ASSERT_TRUE(events.has_value());
    (*events)[0].mutable_audit_export_requested()->set_export_id("exp-" + std::to_string(i));
    Evolve(state_, (*events)[0]);
  }
  auto one_more = Cmd("export-more");
  one_more.mutable_request_audit_export();
  one_more.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  one_more.mutable_actor()->set_role(v1::ROLE_OWNER);
  auto refused = Decide(state_, one_more, kNow);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, v1::REJECTION_QUOTA_EXCEEDED);

  // One completes: one more may be asked for.
  auto complete = Cmd("audit-export-completed:exp-0");
  complete.mutable_actor()->set_kind(v1::Actor::KIND_SYSTEM);
  complete.mutable_complete_audit_export()->set_export_id("exp-0");
  complete.mutable_complete_audit_export()->set_sha256(std::string(32, '\x02'));
  ASSERT_TRUE(Apply(complete).has_value());
  EXPECT_TRUE(Decide(state_, one_more, kNow).has_value());
}

}  // namespace
}  // namespace clawvisor
