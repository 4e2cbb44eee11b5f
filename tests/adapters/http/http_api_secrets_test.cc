// HttpApi secrets (#3): generated gateway tokens, credentials, erasure, data export, port errors.

#include "tests/adapters/http/http_api_fixture.h"

namespace clawvisor::http_test {
namespace {

// ------------------------------------------------------------------------------ secrets (#3)

// The API draws each instance's gateway token (256 bits, base64url) and shows it in the response
// of the submission that was decided, with Cache-Control: no-store; a client may not choose it.
TEST_F(HttpApiTest, GatewayTokenIsDrawnByTheApiAndShownOnce) {
  commands_.SetResponder([](const v1::Command& c) {
    auto outcome = FakeCommandService::Accepted(c);
    outcome.set_generated_values_decided(true);
    return outcome;
  });
  Response r = Post("/v1/accounts/acc_1/instances", R"({"command_id":"c1","create_instance":{}})");
  ASSERT_EQ(r.status, 201u) << r.body;
  const std::string token = commands_.last().create_instance().gateway_token();
  ASSERT_EQ(token.size(), 43u);
  EXPECT_THAT(r.body, HasSubstr("\"gateway_token\":\"" + token + "\""));
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
  Post("/v1/accounts/acc_1/instances", R"({"command_id":"c2","create_instance":{}})");
  EXPECT_NE(commands_.last().create_instance().gateway_token(), token);  // fresh per submission

  r = Post("/v1/accounts/acc_1/instances/ins_1/rotate-gateway-token", R"({"command_id":"c3"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  const v1::Command rotate = commands_.last();
  EXPECT_EQ(rotate.rotate_gateway_token().instance_id(), "ins_1");
  EXPECT_THAT(r.body, HasSubstr(rotate.rotate_gateway_token().gateway_token()));

  r = Post("/v1/accounts/acc_1/instances",
           R"({"command_id":"c4","create_instance":{"gateway_token":"mine-0123456789012345678"}})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "field_not_allowed");
}

// A retry (or a racing duplicate) of a decided create gets the recorded outcome but no token:
// the token it drew was never used, and the one decided was shown already.
TEST_F(HttpApiTest, RetriedCreateShowsNoToken) {
  Response r = Post("/v1/accounts/acc_1/instances", R"({"command_id":"c1","create_instance":{}})");
  ASSERT_EQ(r.status, 201u) << r.body;
  const std::string drawn = commands_.last().create_instance().gateway_token();
  EXPECT_THAT(r.body, Not(HasSubstr(drawn)));
  EXPECT_THAT(r.body, HasSubstr("\"gateway_token\":null"));
}

// A webhook path is drawn by the API like a gateway token: shown once in the decided answer (no
// store), null on a retry, never chosen by the client.
TEST_F(HttpApiTest, WebhookPathIsDrawnByTheApiAndShownOnce) {
  commands_.SetResponder([](const v1::Command& c) {
    auto outcome = FakeCommandService::Accepted(c);
    outcome.set_generated_values_decided(c.command_id() != "retry");
    return outcome;
  });
  Response r =
      Post("/v1/accounts/acc_1/instances/ins_1/rotate-webhook-path", R"({"command_id":"c1"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  const std::string token = commands_.last().rotate_webhook_path().token();
  ASSERT_EQ(token.size(), 43u);
  EXPECT_EQ(commands_.last().rotate_webhook_path().instance_id(), "ins_1");
  EXPECT_THAT(r.body, HasSubstr("\"webhook_path\":\"/hooks/" + token + "/\""));
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");

  r = Post("/v1/accounts/acc_1/instances/ins_1/rotate-webhook-path", R"({"command_id":"retry"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"webhook_path\":null"));
  EXPECT_THAT(r.body, Not(HasSubstr(commands_.last().rotate_webhook_path().token())));

  r = Post("/v1/accounts/acc_1/instances/ins_1/rotate-webhook-path",
           R"({"command_id":"c2","rotate_webhook_path":{"token":"mine-0123456789012345678"}})");
  EXPECT_EQ(r.status, 400u);
  r = Post("/v1/accounts/acc_1/instances/ins_1/disable-webhook-path", R"({"command_id":"c3"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().disable_webhook_path().instance_id(), "ins_1");
  EXPECT_THAT(r.body, Not(HasSubstr("webhook_path\"")));
}

// Credential routes take the instance (and name) from the path; the value never comes back.
TEST_F(HttpApiTest, CredentialRoutes) {
  Response r = Post("/v1/accounts/acc_1/instances/ins_1/credentials",
                    R"({"command_id":"c1","set_credential":{"name":"openai",)"
                    R"("kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":"sk-canary-0123456789"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().set_credential().instance_id(), "ins_1");
  EXPECT_EQ(commands_.last().set_credential().value(), "sk-canary-0123456789");
  EXPECT_THAT(r.body, Not(HasSubstr("sk-canary")));
  r = Post("/v1/accounts/acc_1/instances/ins_1/credentials", R"({"command_id":"c2"})");
  EXPECT_EQ(r.ErrorCode(), "wrong_payload");
  r = Post("/v1/accounts/acc_1/instances/ins_2/credentials",
           R"({"command_id":"c3","set_credential":{"instance_id":"ins_1","name":"x"}})");
  EXPECT_EQ(r.ErrorCode(), "path_mismatch");

  r = Post("/v1/accounts/acc_1/instances/ins_1/credentials/openai/remove",
           R"({"command_id":"c4"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().remove_credential().name(), "openai");
  EXPECT_EQ(commands_.last().remove_credential().instance_id(), "ins_1");
  r = Post("/v1/accounts/acc_1/instances/ins_1/credentials/openai/remove",
           R"({"command_id":"c5","remove_credential":{"name":"other"}})");
  EXPECT_EQ(r.ErrorCode(), "path_mismatch");
  r = Post("/v1/accounts/acc_1/instances/ins_1/credentials/bad%20name/remove",
           R"({"command_id":"c6"})");
  EXPECT_EQ(r.ErrorCode(), "invalid_id");

  commands_.SetResponder([](const v1::Command& c) {
    auto outcome = FakeCommandService::Accepted(c);
    outcome.set_accepted(false);
    outcome.set_rejection_reason(v1::REJECTION_CREDENTIAL_NOT_FOUND);
    return outcome;
  });
  r = Post("/v1/accounts/acc_1/instances/ins_1/credentials/gone/remove", R"({"command_id":"c7"})");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.ErrorCode(), "credential_not_found");
}

// Erasure is one POST; once the account's key is gone, commands that carry secrets answer 410.
TEST_F(HttpApiTest, EraseRouteAndErasedAccounts) {
  Response r = Post("/v1/accounts/acc_1/erase", R"({"command_id":"bye"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(commands_.last().has_request_account_erasure());
  commands_.SetResponder([](const v1::Command&) -> Result<v1::CommandOutcome> {
    return MakeError(Errc::kFailedPrecondition, "data key destroyed");
  });
  r = Post("/v1/accounts/acc_1/instances", R"({"command_id":"c2","create_instance":{}})");
  EXPECT_EQ(r.status, 410u);
  EXPECT_EQ(r.ErrorCode(), "account_erased");
}

// The data export gathers the account, members, instances and the whole audit trail (across
// pages), marked no-store; an unknown account is 404.
TEST_F(HttpApiTest, DataExport) {
  v1::AccountView account;
  account.set_account_id("acc_1");
  account.set_email_masked("a•••@e•••.com");
  reads_.PutAccount(account);
  v1::InstanceView instance;
  instance.set_account_id("acc_1");
  instance.set_instance_id("ins_1");
  auto* credential = instance.add_credentials();
  credential->set_name("openai");
  credential->set_last4("WXYZ");
  reads_.PutInstance(instance);
  std::vector<v1::AuditEntry> entries;
  for (int i = 0; i < 2500; ++i) {
    v1::AuditEntry entry;
    entry.set_event_id("ev-" + std::to_string(i));
    entry.set_account_id("acc_1");
    entry.set_occurred_at_us(i);
    entries.push_back(entry);
  }
  reads_.PutAuditEntries(std::move(entries));
  Response r = Get("/v1/accounts/acc_1/data-export");
  ASSERT_EQ(r.status, 200u) << r.body.substr(0, 200);
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
  v1::DataExport parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &parsed).ok());
  EXPECT_EQ(parsed.account().email_masked(), "a•••@e•••.com");
  EXPECT_EQ(parsed.instances_size(), 1);
  EXPECT_EQ(parsed.instances(0).credentials(0).last4(), "WXYZ");
  EXPECT_EQ(parsed.audit_size(), 2500);
  EXPECT_EQ(parsed.audit(2499).event_id(), "ev-2499");
  EXPECT_EQ(parsed.generated_at_us(), kNowUs);
  EXPECT_EQ(Get("/v1/accounts/acc_404/data-export").status, 404u);
}

TEST_F(HttpApiTest, ServiceErrorsMapTo503And500) {
  commands_.SetResponder([](const v1::Command&) -> Result<v1::CommandOutcome> {
    return MakeError(Errc::kUnavailable, "broker down at 10.0.0.7");
  });
  Response r = Post("/v1/accounts/acc_1/commands", R"({"command_id":"c","logout":{}})");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.Header("Retry-After"), "1");
  EXPECT_EQ(r.ErrorCode(), "unavailable");
  EXPECT_THAT(r.body, Not(HasSubstr("10.0.0.7")));
  commands_.SetResponder([](const v1::Command&) -> Result<v1::CommandOutcome> {
    return MakeError(Errc::kCorruption, "checksum mismatch in segment 42");
  });
  r = Post("/v1/accounts/acc_1/commands", R"({"command_id":"c","logout":{}})");
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(r.ErrorCode(), "internal");
  EXPECT_THAT(r.body, Not(HasSubstr("segment")));
}

}  // namespace
}  // namespace clawvisor::http_test
