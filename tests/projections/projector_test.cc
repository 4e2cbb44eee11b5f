#include "projections/projector.h"

#include <gtest/gtest.h>

#include "adapters/rocksdb/rocksdb_store.h"
#include "engine/command/outcome.h"
#include "engine/command/seal_fields.h"
#include "events/codec.h"
#include "projections/projected_instance_secrets.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

// The projector over a real RocksDbStore, fed hand-built event records.
class ProjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = RocksDbStore::Open(dir_.Sub("proj"));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
    projector_ = std::make_unique<Projector>(*store_, &sealer_, metrics_, &progress_, clock_);
  }

  // Appends an event of `account` to partition 0 with the next offset.
  v1::Envelope& Add(const std::string& account, const std::string& command_id) {
    v1::Envelope e;
    e.set_event_id("ev-" + std::to_string(next_offset_));
    e.set_account_id(account);
    e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
    e.set_aggregate_id(account);
    e.set_aggregate_version(static_cast<uint64_t>(next_offset_ + 1));
    e.set_occurred_at_us(1'000'000 * (next_offset_ + 1));
    e.set_command_id(command_id);
    e.set_schema_version(kSchemaVersion);
    pending_.push_back(std::move(e));
    ++next_offset_;
    return pending_.back();
  }
  std::vector<Record> Records() {
    std::vector<Record> out;
    for (size_t i = 0; i < pending_.size(); ++i) {
      Record r;
      r.topic = std::string(kEventsTopic);
      r.partition = 0;
      r.offset = static_cast<int64_t>(i);
      r.value = EncodeEnvelope(pending_[i]);
      out.push_back(std::move(r));
    }
    return out;
  }
  void Register(const std::string& account) {
    auto& e = Add(account, "reg-" + account);
    auto* p = e.mutable_account_registered();
    *p->mutable_email() =
        *sealer_.Seal({account, e.event_id(), "account_registered.email"}, "alice@example.com");
    p->set_plan(v1::PLAN_TRIAL);
    p->set_owner_user_id("usr_" + account);
  }
  void CreateInstance(const std::string& account, const std::string& instance) {
    auto& e = Add(account, "create-" + instance);
    e.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
    e.set_aggregate_id(instance);
    e.mutable_instance_created()->set_name("bot");
    e.mutable_instance_created()->set_revision(1);
    *e.mutable_instance_created()->mutable_gateway_token() = *sealer_.Seal(
        {account, e.event_id(), "instance_created.gateway_token"}, "token-of-" + instance);
  }
  v1::Envelope& InstanceEvent(const std::string& account, const std::string& instance) {
    auto& e = Add(account, "cmd-" + std::to_string(next_offset_));
    e.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
    e.set_aggregate_id(instance);
    return e;
  }
  void SetCredential(const std::string& account, const std::string& instance,
                     const std::string& name, const std::string& value) {
    auto& e = InstanceEvent(account, instance);
    auto* p = e.mutable_instance_credential_set();
    p->set_name(name);
    p->set_kind(v1::CREDENTIAL_KIND_MODEL_API_KEY);
    *p->mutable_value() =
        *sealer_.Seal({account, e.event_id(), "instance_credential_set.value"}, value);
    p->set_last4(value.substr(value.size() - 4));
  }

  testing::TempDir dir_;
  testing::FakeSealer sealer_;
  MetricsRegistry metrics_;
  Watermarks progress_;
  ManualClock clock_;
  std::unique_ptr<RocksDbStore> store_;
  std::unique_ptr<Projector> projector_;
  std::vector<v1::Envelope> pending_;
  int64_t next_offset_ = 0;
};

// Accounts, members, instances and command outcomes appear as the events say; the email is
// shown masked only.
TEST_F(ProjectorTest, BuildsReadModels) {
  Register("acc_1");
  CreateInstance("acc_1", "ins_1");
  auto& start = Add("acc_1", "start-1");
  start.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
  start.set_aggregate_id("ins_1");
  start.mutable_instance_start_requested();
  ASSERT_TRUE(projector_->Apply(Records()).has_value());

  auto account = projector_->GetAccount("acc_1");
  ASSERT_TRUE(account.has_value() && account->has_value());
  EXPECT_EQ((*account)->email_masked(), "a•••@e•••.com");
  EXPECT_EQ((*account)->status(), "active");
  auto members = projector_->ListMembers("acc_1");
  ASSERT_EQ(members->members_size(), 1);
  EXPECT_EQ(members->members(0).role(), v1::ROLE_OWNER);
  auto instance = projector_->GetInstance("acc_1", "ins_1");
  ASSERT_TRUE(instance->has_value());
  EXPECT_EQ((*instance)->desired_state(), "running");
  EXPECT_EQ((*instance)->observed_state(), v1::VM_STATE_PENDING);
  auto outcome = projector_->GetCommandOutcome("acc_1", "create-ins_1");
  ASSERT_TRUE(outcome->has_value());
  EXPECT_TRUE((*outcome)->accepted());
  EXPECT_EQ((*outcome)->aggregate_id(), "ins_1");
  EXPECT_EQ(progress_.Get(0), 3);
  EXPECT_FALSE(projector_->GetAccount("acc_other")->has_value());
}

// An internationalized address is masked by character, never splitting one (a split byte
// would make the row unreadable).
TEST_F(ProjectorTest, MasksNonAsciiEmailByCharacter) {
  auto& e = Add("acc_1", "reg");
  auto* p = e.mutable_account_registered();
  *p->mutable_email() =
      *sealer_.Seal({"acc_1", e.event_id(), "account_registered.email"}, "\xC3\xA9ve@\xC3\xA9x.fr");
  p->set_owner_user_id("usr_1");
  ASSERT_TRUE(projector_->Apply(Records()).has_value());
  auto account = projector_->GetAccount("acc_1");
  ASSERT_TRUE(account.has_value() && account->has_value()) << account.error().ToString();
  EXPECT_EQ((*account)->email_masked(), "\xC3\xA9•••@\xC3\xA9•••.fr");
}

// Applying the same records again, or a prefix of them, changes nothing: the stored offset
// travels in the same batch as the rows.
TEST_F(ProjectorTest, ReplayIsIdempotent) {
  Register("acc_1");
  CreateInstance("acc_1", "ins_1");
  auto records = Records();
  ASSERT_TRUE(projector_->Apply(records).has_value());
  auto once = projector_->Fingerprint();
  ASSERT_TRUE(projector_->Apply(records).has_value());
  ASSERT_TRUE(projector_->Apply(std::span(records).first(1)).has_value());
  EXPECT_EQ(*projector_->Fingerprint(), *once);
  EXPECT_EQ(*projector_->NextOffset(0), 2);
}

// A gap in offsets is refused rather than silently skipping events.
TEST_F(ProjectorTest, RefusesAGap) {
  Register("acc_1");
  CreateInstance("acc_1", "ins_1");
  auto records = Records();
  auto applied = projector_->Apply(std::span(records).subspan(1));
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code, Errc::kFailedPrecondition);
}

// The audit index pages by time with an opaque cursor and refuses a forged cursor.
TEST_F(ProjectorTest, AuditPagesByTime) {
  Register("acc_1");
  for (int i = 0; i < 5; ++i) CreateInstance("acc_1", "ins_" + std::to_string(i));
  Register("acc_2");
  ASSERT_TRUE(projector_->Apply(Records()).has_value());
  auto page = projector_->ListAudit("acc_1", 0, INT64_MAX, "", 4);
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->entries_size(), 4);
  EXPECT_EQ(page->entries(0).event_type(), "account_registered");
  ASSERT_FALSE(page->next_cursor().empty());
  auto rest = projector_->ListAudit("acc_1", 0, INT64_MAX, page->next_cursor(), 4);
  ASSERT_EQ(rest->entries_size(), 2);
  EXPECT_TRUE(rest->next_cursor().empty());
  EXPECT_EQ(rest->entries(1).aggregate_id(), "ins_4");
  // Time window: events 2..3 (occurred at 2 s and 3 s).
  auto window = projector_->ListAudit("acc_1", 2'000'000, 4'000'000, "", 100);
  EXPECT_EQ(window->entries_size(), 2);
  EXPECT_EQ(projector_->ListAudit("acc_1", 0, INT64_MAX, "zz", 4).error().code,
            Errc::kInvalidArgument);
}

// Erasure purges every row of the account; the account then reads as absent, and other
// accounts are untouched.
TEST_F(ProjectorTest, ErasurePurgesTheAccount) {
  Register("acc_1");
  CreateInstance("acc_1", "ins_1");
  Register("acc_2");
  Add("acc_1", "erase").mutable_account_erased();
  ASSERT_TRUE(projector_->Apply(Records()).has_value());
  EXPECT_FALSE(projector_->GetAccount("acc_1")->has_value());
  EXPECT_EQ(projector_->ListInstances("acc_1")->instances_size(), 0);
  EXPECT_EQ(projector_->ListMembers("acc_1")->members_size(), 0);
  EXPECT_EQ(projector_->ListAudit("acc_1", 0, INT64_MAX, "", 100)->entries_size(), 0);
  EXPECT_TRUE(projector_->GetAccount("acc_2")->has_value());
  EXPECT_TRUE(*projector_->IsAccountErased("acc_1"));
  EXPECT_FALSE(*projector_->IsAccountErased("acc_2"));
  // Only the erasure's own outcome stays, for its answer and retries; queries do not show it.
  auto kept = projector_->FindDecidedOutcome("acc_1", "erase");
  ASSERT_TRUE(kept && kept->has_value());
  EXPECT_EQ((*kept)->event_types(0), "account_erased");
  EXPECT_FALSE(projector_->GetCommandOutcome("acc_1", "erase")->has_value());
  EXPECT_FALSE(projector_->FindDecidedOutcome("acc_1", "create-ins_1")->has_value());
  // Both registered alice@example.com; the index names the later one, and erasing the earlier
  // one leaves it alone. Case does not matter.
  auto hash = EmailLookupHash("Alice@Example.COM", sealer_);
  ASSERT_TRUE(hash.has_value());
  EXPECT_EQ(projector_->FindAccountByEmailHash(*hash)->value_or(""), "acc_2");
  Add("acc_2", "erase-2").mutable_account_erased();
  ASSERT_TRUE(projector_->Apply(Records()).has_value());
  EXPECT_FALSE(projector_->FindAccountByEmailHash(*hash)->has_value());
}

// InstanceSecrets opens exactly the current gateway token and credentials of a live instance;
// the views show only last-4; a deleted instance or an erased account opens nothing.
TEST_F(ProjectorTest, InstanceSecretsOpenTheCurrentSealedValues) {
  Register("acc_1");
  CreateInstance("acc_1", "ins_1");
  SetCredential("acc_1", "ins_1", "telegram", "tg-0000000000-OLDV");
  SetCredential("acc_1", "ins_1", "openai", "sk-1111111111-KEY1");
  SetCredential("acc_1", "ins_1", "telegram", "tg-2222222222-NEWV");  // replaces
  SetCredential("acc_1", "ins_1", "discord", "dc-3333333333-GONE");
  InstanceEvent("acc_1", "ins_1").mutable_instance_credential_removed()->set_name("discord");
  auto& rotated = InstanceEvent("acc_1", "ins_1");
  *rotated.mutable_gateway_token_rotated()->mutable_gateway_token() = *sealer_.Seal(
      {"acc_1", rotated.event_id(), "gateway_token_rotated.gateway_token"}, "rotated-token");
  Register("acc_2");
  CreateInstance("acc_2", "ins_2");
  ASSERT_TRUE(projector_->Apply(Records()).has_value());

  ProjectedInstanceSecrets secrets(*projector_, sealer_);
  auto values = secrets.Open("acc_1", "ins_1");
  ASSERT_TRUE(values.has_value()) << values.error().ToString();
  EXPECT_EQ(values->gateway_token, "rotated-token");
  ASSERT_EQ(values->credentials.size(), 2u);
  EXPECT_EQ(values->credentials[0].name, "openai");
  EXPECT_EQ(values->credentials[0].value, "sk-1111111111-KEY1");
  EXPECT_EQ(values->credentials[1].name, "telegram");
  EXPECT_EQ(values->credentials[1].value, "tg-2222222222-NEWV");
  EXPECT_EQ(secrets.Open("acc_1", "ins_2").error().code, Errc::kNotFound);  // other account's

  auto view = projector_->GetInstance("acc_1", "ins_1");
  ASSERT_TRUE(view && view->has_value());
  const std::string shown = (*view)->SerializeAsString();
  EXPECT_EQ(shown.find("sk-1111111111"), std::string::npos);
  EXPECT_EQ(shown.find("rotated-token"), std::string::npos);
  EXPECT_EQ((*view)->credentials_size(), 2);

  InstanceEvent("acc_1", "ins_1").mutable_instance_delete_requested()->set_reason("user");
  Add("acc_2", "erase").mutable_account_erased();
  ASSERT_TRUE(sealer_.DestroyAccountKeys("acc_2").has_value());
  ASSERT_TRUE(projector_->Apply(Records()).has_value());
  EXPECT_EQ(secrets.Open("acc_1", "ins_1").error().code, Errc::kNotFound);
  EXPECT_EQ(secrets.Open("acc_2", "ins_2").error().code, Errc::kNotFound);
}

// Nothing the projector stores holds a secret in the clear, whatever the event carried.
TEST_F(ProjectorTest, StoredRowsHoldNoPlaintextSecret) {
  Register("acc_1");
  CreateInstance("acc_1", "ins_1");
  SetCredential("acc_1", "ins_1", "openai", "sk-canary-9876543210-LAST");
  ASSERT_TRUE(projector_->Apply(Records()).has_value());
  std::string rows;
  ASSERT_TRUE(store_
                  ->Scan("", "",
                         [&](std::string_view key, std::string_view value) {
                           rows.append(key).append(value);
                           return true;
                         })
                  .has_value());
  for (const char* secret : {"sk-canary-9876543210", "token-of-ins_1", "alice@example.com"}) {
    EXPECT_EQ(rows.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(rows.find("LAST"), std::string::npos);  // the last four are shown
}

// The on-disk key layout of every table is stable: a data directory written by an earlier build
// still reads. Every table gets rows here, and one account is erased.
TEST_F(ProjectorTest, KeyLayoutIsStable) {
  Register("acc_1");
  Add("acc_1", "trial").mutable_trial_started()->set_ends_at_us(99);
  auto* grant = Add("acc_1", "grant").mutable_role_granted();
  grant->set_user_id("usr_b");
  grant->set_role(v1::ROLE_ADMIN);
  Add("acc_1", "grant-c").mutable_role_granted()->set_user_id("usr_c");
  Add("acc_1", "revoke").mutable_role_revoked()->set_user_id("usr_c");
  Add("acc_1", "reset").mutable_password_reset_requested()->set_token_hash("\x01\xab");
  Add("acc_1", "reset-2").mutable_password_reset_requested()->set_token_hash("\x02\xcd");
  Add("acc_1", "reset-done").mutable_password_reset_completed()->set_token_hash("\x02\xcd");
  Add("acc_1", "totp").mutable_totp_enrolled();
  Add("acc_1", "totp-on").mutable_totp_enabled();
  auto* session = Add("acc_1", "login").mutable_session_started();
  session->set_session_id("ses_1");
  session->set_user_id("usr_acc_1");
  Add("acc_1", "login-2").mutable_session_started()->set_session_id("ses_2");
  Add("acc_1", "logout").mutable_session_revoked()->set_session_id("ses_2");
  CreateInstance("acc_1", "ins_1");
  SetCredential("acc_1", "ins_1", "openai", "sk-1111111111-KEY1");
  InstanceEvent("acc_1", "ins_1").mutable_instance_placed()->set_host_id("host-1");
  auto* request = Add("acc_1", "export").mutable_audit_export_requested();
  request->set_export_id("exp_1");
  request->set_until_us(50);
  Add("acc_1", "export-2").mutable_audit_export_requested()->set_export_id("exp_2");
  auto* done = Add("acc_1", "").mutable_audit_export_completed();
  done->set_export_id("exp_1");
  done->set_sha256("\xde\xad");
  Add("acc_1", "nope").mutable_command_rejected()->set_command_type("create_instance");
  Register("acc_2");
  CreateInstance("acc_2", "ins_2");
  Add("acc_2", "erase-2").mutable_account_erased();
  ASSERT_TRUE(projector_->Apply(Records()).has_value());

  std::vector<std::string> keys;
  ASSERT_TRUE(store_
                  ->Scan("", "",
                         [&](std::string_view key, std::string_view) {
                           std::string shown;
                           for (const unsigned char c : key) {
                             if (c >= 0x20 && c < 0x7f) {
                               shown += static_cast<char>(c);
                             } else {
                               shown += '\\';
                               shown += std::to_string(c);
                             }
                           }
                           keys.push_back(shown);
                           return true;
                         })
                  .has_value());
  const std::vector<std::string> expected = {
      "a|acc_1",
      "a|acc_2",
      "c|acc_1|cmd-14",
      "c|acc_1|cmd-15",
      "c|acc_1|create-ins_1",
      "c|acc_1|export",
      "c|acc_1|export-2",
      "c|acc_1|grant",
      "c|acc_1|grant-c",
      "c|acc_1|login",
      "c|acc_1|login-2",
      "c|acc_1|logout",
      "c|acc_1|nope",
      "c|acc_1|reg-acc_1",
      "c|acc_1|reset",
      "c|acc_1|reset-2",
      "c|acc_1|reset-done",
      "c|acc_1|revoke",
      "c|acc_1|totp",
      "c|acc_1|totp-on",
      "c|acc_1|trial",
      "c|acc_2|erase-2",
      "i|acc_1|ins_1",
      "j|acc_1|exp_1",
      "j|acc_1|exp_2",
      "m|acc_1|usr_acc_1",
      "m|acc_1|usr_b",
      "o|\\0\\0\\0\\0",
      "p|acc_1|primary",
      "p|acc_1|totp",
      "q|acc_1|exp_2",
      "r|01ab",
      "s|acc_1|ins_1",
      "t|acc_1|\\0\\0\\0\\0\\0\\15B@\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0",
      "t|acc_1|\\0\\0\\0\\0\\0\\30\\132\\128\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\1",
      "t|acc_1|\\0\\0\\0\\0\\0-\\198\\192\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\2",
      "t|acc_1|\\0\\0\\0\\0\\0=\\9\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\3",
      "t|acc_1|\\0\\0\\0\\0\\0LK@\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\4",
      "t|acc_1|\\0\\0\\0\\0\\0[\\141\\128\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\5",
      "t|acc_1|\\0\\0\\0\\0\\0j\\207\\192\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\6",
      "t|acc_1|\\0\\0\\0\\0\\0z\\18\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\7",
      "t|acc_1|\\0\\0\\0\\0\\0\\137T@\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\8",
      "t|acc_1|\\0\\0\\0\\0\\0\\152\\150\\128\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\9",
      "t|acc_1|\\0\\0\\0\\0\\0\\167\\216\\192\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\10",
      "t|acc_1|\\0\\0\\0\\0\\0\\183\\27\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\11",
      "t|acc_1|\\0\\0\\0\\0\\0\\198]@\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\12",
      "t|acc_1|\\0\\0\\0\\0\\0\\213\\159\\128\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\13",
      "t|acc_1|\\0\\0\\0\\0\\0\\228\\225\\192\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\14",
      "t|acc_1|\\0\\0\\0\\0\\0\\244$\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\15",
      "t|acc_1|\\0\\0\\0\\0\\1\\3f@\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\16",
      "t|acc_1|\\0\\0\\0\\0\\1\\18\\168\\128\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\17",
      "t|acc_1|\\0\\0\\0\\0\\1!\\234\\192\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\18",
      "t|acc_1|\\0\\0\\0\\0\\11-\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\19",
      "u|ses_1",
      "x|acc_1",
  };
  EXPECT_EQ(keys, expected);
}

}  // namespace
}  // namespace clawvisor
