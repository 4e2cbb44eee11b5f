// HttpApi queries: accounts, members, instances, command outcomes, the audit trail.

#include "tests/adapters/http/http_api_fixture.h"

namespace clawvisor::http_test {
namespace {

// ------------------------------------------------------------------------------ queries

TEST_F(HttpApiTest, GetAccount) {
  v1::AccountView view;
  view.set_account_id("acc_1");
  view.set_status("active");
  view.set_email_masked("a***@example.com");
  view.set_created_at_us(123);
  reads_.PutAccount(view);
  Response r = Get("/v1/accounts/acc_1");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("account_id":"acc_1")"));
  EXPECT_THAT(r.body, HasSubstr(R"("email_masked":"a***@example.com")"));
  EXPECT_THAT(r.body, HasSubstr(R"("trial_ends_at_us":"0")"));  // primitives always printed
  r = Get("/v1/accounts/acc_2");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.ErrorCode(), "account_not_found");
}

TEST_F(HttpApiTest, ListMembersAndInstances) {
  v1::MemberView member;
  member.set_account_id("acc_1");
  member.set_user_id("usr_1");
  member.set_role(v1::ROLE_ADMIN);
  reads_.PutMember(member);
  v1::InstanceView instance;
  instance.set_account_id("acc_1");
  instance.set_instance_id("ins_1");
  instance.set_name("bot");
  instance.add_credentials()->set_last4("WXYZ");
  reads_.PutInstance(instance);

  Response r = Get("/v1/accounts/acc_1/members");
  ASSERT_EQ(r.status, 200u);
  EXPECT_THAT(r.body, HasSubstr(R"("role":"ROLE_ADMIN")"));
  r = Get("/v1/accounts/acc_1/instances");
  ASSERT_EQ(r.status, 200u);
  EXPECT_THAT(r.body, HasSubstr(R"("instance_id":"ins_1")"));
  r = Get("/v1/accounts/acc_1/instances/ins_1");
  ASSERT_EQ(r.status, 200u);
  EXPECT_THAT(r.body, HasSubstr(R"("last4":"WXYZ")"));
  r = Get("/v1/accounts/acc_1/instances/ins_2");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.ErrorCode(), "instance_not_found");
  r = Get("/v1/accounts/acc_1/instances?x=1");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "invalid_query");
}

TEST_F(HttpApiTest, GetCommandOutcome) {
  v1::CommandOutcome outcome;
  outcome.set_command_id("c-1");
  outcome.set_account_id("acc_1");
  outcome.set_accepted(false);
  outcome.set_rejection_reason(v1::REJECTION_INVALID_STATE);
  reads_.PutOutcome(outcome);
  Response r = Get("/v1/accounts/acc_1/commands/c-1");
  ASSERT_EQ(r.status, 200u) << r.body;  // the record exists, whatever it says
  EXPECT_EQ(ParseOutcome(r.body).rejection_reason(), v1::REJECTION_INVALID_STATE);
  r = Get("/v1/accounts/acc_1/commands/c-2");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.ErrorCode(), "command_not_found");
}

// Audit parameters: defaults, RFC 3339 and microseconds, and refusals of bad values.
TEST_F(HttpApiTest, AuditQueryParameters) {
  v1::AuditPage page;
  page.add_entries()->set_event_id("evt-1");
  page.set_next_cursor("next");
  reads_.PutAuditPage(page);

  Response r = Get("/v1/accounts/acc_1/audit");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("next_cursor":"next")"));
  r =
      Get("/v1/accounts/acc_1/audit?since=2026-01-02T03:04:05.123456Z&until=1767400000000000"
          "&cursor=abc&limit=1000");
  ASSERT_EQ(r.status, 200u) << r.body;
  r = Get("/v1/accounts/acc_1/audit?since=2026-01-02T05:04:05%2B02:00&limit=1");
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto calls = reads_.audit_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].account_id, "acc_1");
  EXPECT_EQ(calls[0].since_us, 0);
  EXPECT_EQ(calls[0].until_us, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(calls[0].cursor, "");
  EXPECT_EQ(calls[0].limit, 100u);
  EXPECT_EQ(calls[1].since_us, 1'767'323'045'123'456);
  EXPECT_EQ(calls[1].until_us, 1'767'400'000'000'000);
  EXPECT_EQ(calls[1].cursor, "abc");
  EXPECT_EQ(calls[1].limit, 1000u);
  EXPECT_EQ(calls[2].since_us, 1'767'323'045'000'000);
  EXPECT_EQ(calls[2].limit, 1u);

  for (const std::string query :
       {"limit=0", "limit=1001", "limit=ten", "limit=", "limit=-1", "since=yesterday",
        "since=2026-13-01T00:00:00Z", "since=2026-01-01T00:00:00", "until=1e6", "bogus=1",
        "limit=5&limit=6", "since=10&until=5", "cursor=a%20b", "cursor=%zz"}) {
    r = Get("/v1/accounts/acc_1/audit?" + query);
    EXPECT_EQ(r.status, 400u) << query;
    EXPECT_EQ(r.ErrorCode(), "invalid_query") << query;
  }
  EXPECT_EQ(reads_.audit_calls().size(), 3u);
}

// ReadModel failures: unavailable is 503, anything else 500 without detail.
TEST_F(HttpApiTest, ReadModelErrors) {
  reads_.FailWith(Error{Errc::kUnavailable, "rocksdb busy"});
  Response r = Get("/v1/accounts/acc_1");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.Header("Retry-After"), "1");
  reads_.FailWith(Error{Errc::kCorruption, "bad block at /var/lib/x"});
  r = Get("/v1/accounts/acc_1/instances");
  EXPECT_EQ(r.status, 500u);
  EXPECT_THAT(r.body, Not(HasSubstr("/var/lib")));
}

}  // namespace
}  // namespace clawvisor::http_test
