// HttpApi commands: routes to payloads, derived ids, validation before submit, outcome mapping.

#include "tests/adapters/http/http_api_fixture.h"

namespace clawvisor::http_test {
namespace {

// ------------------------------------------------------------------------------ commands

// Registering derives the account id from the command id, stamps the actor, returns 201. Time and
// schema version are the command service's to stamp, once (api_stamping_test.cc): the API
// hands the command over without them.
TEST_F(HttpApiTest, RegisterAccountDerivesAccountIdAndStampsTheActor) {
  const Response r =
      Post("/v1/accounts", R"({"command_id":"reg-1","register_account":{"email":"a@example.com",)"
                           R"("password":"correct horse","plan":"PLAN_TRIAL"}})");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.Header("Location"), "/v1/accounts/acc_ezmk7jnuakax6ypeewbwdfbbge");
  ASSERT_EQ(commands_.count(), 1u);
  const v1::Command c = commands_.last();
  EXPECT_EQ(c.account_id(), "acc_ezmk7jnuakax6ypeewbwdfbbge");
  EXPECT_EQ(c.command_id(), "reg-1");
  EXPECT_EQ(c.register_account().email(), "a@example.com");
  EXPECT_EQ(c.register_account().plan(), v1::PLAN_TRIAL);
  EXPECT_EQ(c.actor().kind(), v1::Actor::KIND_SERVICE);
  EXPECT_EQ(c.actor().id(), "local");
  EXPECT_EQ(c.actor().role(), v1::ROLE_OWNER);
  EXPECT_EQ(c.actor().source_ip(), "127.0.0.1");
  EXPECT_EQ(c.actor().user_agent(), "clawvisor-test/1.0");
  EXPECT_EQ(c.issued_at_us(), 0);
  EXPECT_EQ(c.schema_version(), 0u);
  EXPECT_EQ(commands_.waits().back(), std::chrono::milliseconds(5000));
  // The outcome in snake_case, every field printed.
  EXPECT_THAT(r.body, HasSubstr(R"("command_id":"reg-1")"));
  EXPECT_THAT(r.body, HasSubstr(R"("accepted":true)"));
  EXPECT_THAT(r.body, HasSubstr(R"("rejection_reason":)"));
}

// A retried registration (same command id) targets the same account; another id, another one.
TEST_F(HttpApiTest, DerivedAccountIdIsDeterministic) {
  const std::string body = R"({"command_id":"same","register_account":{}})";
  ASSERT_EQ(Post("/v1/accounts", body).status, 201u);
  ASSERT_EQ(Post("/v1/accounts", body).status, 201u);
  ASSERT_EQ(Post("/v1/accounts", R"({"command_id":"other","register_account":{}})").status, 201u);
  const auto got = commands_.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].account_id(), got[1].account_id());
  EXPECT_EQ(got[0].account_id(), DeriveAccountId("same"));
  EXPECT_NE(got[0].account_id(), got[2].account_id());
}

// protobuf's lowerCamel JSON names are accepted as well as the snake_case ones.
TEST_F(HttpApiTest, AcceptsLowerCamelFieldNames) {
  const Response r =
      Post("/v1/accounts", R"({"commandId":"reg-2","registerAccount":{"displayName":"Ann"}})");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(commands_.last().register_account().display_name(), "Ann");
}

// An account id in the body of a registration is refused: the API derives it.
TEST_F(HttpApiTest, RegisterAccountRefusesAccountIdInBody) {
  const Response r =
      Post("/v1/accounts", R"({"command_id":"r","account_id":"acc_x","register_account":{}})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "field_not_allowed");
  EXPECT_EQ(commands_.count(), 0u);
}

// Creating an instance fills the path's account and derives the instance id when empty.
TEST_F(HttpApiTest, CreateInstanceFillsAccountAndDerivesInstanceId) {
  const Response r =
      Post("/v1/accounts/acc_1/instances",
           R"({"command_id":"create-1","create_instance":{"name":"bot","spec":{"vcpus":1}}})");
  ASSERT_EQ(r.status, 201u) << r.body;
  const v1::Command c = commands_.last();
  EXPECT_EQ(c.account_id(), "acc_1");
  EXPECT_EQ(c.create_instance().instance_id(), "ins_werztwz2ssiwgmvv7r327e7d5p");
  EXPECT_EQ(c.create_instance().instance_id(), DeriveInstanceId("acc_1", "create-1"));
  EXPECT_EQ(c.create_instance().spec().vcpus(), 1u);
  EXPECT_EQ(r.Header("Location"), "/v1/accounts/acc_1/instances/ins_werztwz2ssiwgmvv7r327e7d5p");
}

// A client-chosen instance id is kept if valid and refused if not.
TEST_F(HttpApiTest, CreateInstanceKeepsValidClientInstanceId) {
  Response r = Post("/v1/accounts/acc_1/instances",
                    R"({"command_id":"c","create_instance":{"instance_id":"ins_mine"}})");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(commands_.last().create_instance().instance_id(), "ins_mine");
  r = Post("/v1/accounts/acc_1/instances",
           R"({"command_id":"c2","create_instance":{"instance_id":"has space"}})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "invalid_id");
  EXPECT_EQ(commands_.count(), 1u);
}

// Each instance action creates its payload from the path when the body omits it.
TEST_F(HttpApiTest, InstanceActionsFillPayloadFromPath) {
  struct Case {
    std::string action;
    v1::Command::PayloadCase payload;
  };
  const Case cases[] = {{"start", v1::Command::kStartInstance},
                        {"stop", v1::Command::kStopInstance},
                        {"pause", v1::Command::kPauseInstance},
                        {"resume", v1::Command::kResumeInstance},
                        {"delete", v1::Command::kDeleteInstance}};
  for (const auto& c : cases) {
    const Response r =
        Post("/v1/accounts/acc_1/instances/ins_9/" + c.action, R"({"command_id":"a1"})");
    ASSERT_EQ(r.status, 200u) << c.action << " " << r.body;
    EXPECT_FALSE(r.Has("Location"));
    const v1::Command got = commands_.last();
    EXPECT_EQ(got.payload_case(), c.payload) << c.action;
    EXPECT_EQ(got.account_id(), "acc_1");
    const auto* field = got.GetDescriptor()->FindFieldByNumber(static_cast<int>(c.payload));
    const auto& payload = got.GetReflection()->GetMessage(got, field);
    EXPECT_EQ(payload.GetReflection()->GetString(
                  payload, payload.GetDescriptor()->FindFieldByName("instance_id")),
              "ins_9")
        << c.action;
  }
  EXPECT_EQ(commands_.count(), 5u);
}

// A payload sent on an action route keeps its other fields; its instance id must match the path.
TEST_F(HttpApiTest, InstanceActionWithPayloadChecksInstanceId) {
  Response r = Post("/v1/accounts/acc_1/instances/ins_9/stop",
                    R"({"command_id":"s1","stop_instance":{"immediate":true}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(commands_.last().stop_instance().immediate());
  EXPECT_EQ(commands_.last().stop_instance().instance_id(), "ins_9");
  r = Post("/v1/accounts/acc_1/instances/ins_9/stop",
           R"({"command_id":"s2","stop_instance":{"instance_id":"ins_9"}})");
  EXPECT_EQ(r.status, 200u);
  r = Post("/v1/accounts/acc_1/instances/ins_9/stop",
           R"({"command_id":"s3","stop_instance":{"instance_id":"ins_other"}})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "path_mismatch");
  EXPECT_EQ(commands_.count(), 2u);
}

// The body's account id may repeat the path's, never differ from it.
TEST_F(HttpApiTest, AccountIdInBodyMustMatchPath) {
  Response r = Post("/v1/accounts/acc_1/instances/ins_1/start",
                    R"({"command_id":"x","account_id":"acc_1"})");
  EXPECT_EQ(r.status, 200u) << r.body;
  for (const auto& route : PostRoutes()) {
    if (route.target == "/v1/accounts") continue;
    std::string body = route.valid_body;
    body.insert(1, R"("account_id":"acc_2",)");
    r = Post(route.target, body);
    EXPECT_EQ(r.status, 400u) << route.target;
    EXPECT_EQ(r.ErrorCode(), "path_mismatch") << route.target;
  }
  EXPECT_EQ(commands_.count(), 1u);
}

// The generic route takes any account-scoped payload, but not a registration or nothing (and
// only what the caller may do: the local caller is no operator).
TEST_F(HttpApiTest, GenericCommandRoute) {
  Response r = Post("/v1/accounts/acc_1/commands",
                    R"({"command_id":"g0","grant_credits":{"credits":"50"}})");
  EXPECT_EQ(r.status, 403u) << r.body;
  r = Post("/v1/accounts/acc_1/commands",
           R"({"command_id":"g1","start_subscription":{"plan":"PLAN_PRO"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().start_subscription().plan(), v1::PLAN_PRO);
  EXPECT_EQ(commands_.last().account_id(), "acc_1");
  r = Post("/v1/accounts/acc_1/commands",
           R"({"command_id":"g2","set_credential":{"instance_id":"ins_1","name":"tg",)"
           R"("kind":"CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN","value":"123:ABC"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().set_credential().value(), "123:ABC");
  // create_instance through the generic route gets the same derived id as its own route.
  r = Post("/v1/accounts/acc_1/commands", R"({"command_id":"create-1","create_instance":{}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().create_instance().instance_id(),
            DeriveInstanceId("acc_1", "create-1"));

  r = Post("/v1/accounts/acc_1/commands", R"({"command_id":"g3","register_account":{}})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "wrong_payload");
  r = Post("/v1/accounts/acc_1/commands", R"({"command_id":"g4"})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "wrong_payload");
  EXPECT_EQ(commands_.count(), 3u);
}

// A client that sends an actor is refused on every POST route; nothing reaches the log.
TEST_F(HttpApiTest, ClientSentActorIsRefusedEverywhere) {
  for (const auto& route : PostRoutes()) {
    std::string body = route.valid_body;
    body.insert(1, R"("actor":{"kind":"KIND_OPERATOR","id":"root","role":"ROLE_OWNER"},)");
    const Response r = Post(route.target, body);
    EXPECT_EQ(r.status, 400u) << route.target;
    EXPECT_EQ(r.ErrorCode(), "field_not_allowed") << route.target;
  }
  EXPECT_EQ(commands_.count(), 0u);
}

// Every kind of bad input, on every POST route: the right 4xx code and nothing submitted.
TEST_F(HttpApiTest, BadInputOnEveryPostRouteIsRefusedBeforeSubmit) {
  struct Bad {
    std::string name;
    std::string body;  // "{WRONG_PAYLOAD}": the route's wrong_payload_body
    std::string content_type;
    unsigned status;
    std::string code;
  };
  const std::string kJson = "application/json";
  const std::vector<Bad> cases = {
      {"truncated json", R"({"command_id":"c1",)", kJson, 400, "invalid_json"},
      {"single quotes", R"({'command_id':'c1'})", kJson, 400, "invalid_json"},
      {"not an object", R"(["c1"])", kJson, 400, "invalid_json"},
      {"trailing garbage", R"({"command_id":"c1"} x)", kJson, 400, "invalid_json"},
      {"duplicate key", R"({"command_id":"c1","commandId":"c2"})", kJson, 400, "invalid_json"},
      {"empty body", "", kJson, 400, "invalid_json"},
      {"unknown field", R"({"command_id":"c1","bogus":1})", kJson, 400, "unknown_field"},
      {"wrong type", R"({"command_id":17})", kJson, 400, "wrong_type"},
      {"wrong nested type", R"({"command_id":"c1","correlation_id":["x"]})", kJson, 400,
       "wrong_type"},
      {"invalid utf-8", "{\"command_id\":\"c\xc3\x28\"}", kJson, 400, "invalid_utf8"},
      {"overlong utf-8", "{\"command_id\":\"\xc0\xaf\"}", kJson, 400, "invalid_utf8"},
      {"missing command id", R"({"correlation_id":"x"})", kJson, 400, "missing_command_id"},
      {"invalid command id", R"({"command_id":"has space"})", kJson, 400, "invalid_command_id"},
      {"too long command id", R"({"command_id":")" + std::string(129, 'a') + R"("})", kJson, 400,
       "invalid_command_id"},
      {"wrong payload", "{WRONG_PAYLOAD}", kJson, 400, "wrong_payload"},
      {"two payloads", R"({"command_id":"c1","login":{},"logout":{}})", kJson, 400,
       "wrong_payload"},
      {"issued_at_us", R"({"command_id":"c1","issued_at_us":"5"})", kJson, 400,
       "field_not_allowed"},
      {"text/plain", R"({"command_id":"c1"})", "text/plain", 415, "unsupported_media_type"},
      {"no content type", R"({"command_id":"c1"})", "", 415, "unsupported_media_type"},
      {"other charset", R"({"command_id":"c1"})", "application/json; charset=latin1", 415,
       "unsupported_media_type"},
      {"form", "command_id=c1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
  };
  for (const auto& route : PostRoutes()) {
    for (const auto& bad : cases) {
      const std::string body = bad.body == "{WRONG_PAYLOAD}" ? route.wrong_payload_body : bad.body;
      const Response r = Post(route.target, body, bad.content_type);
      EXPECT_EQ(r.status, bad.status) << route.target << " / " << bad.name << ": " << r.body;
      EXPECT_EQ(r.ErrorCode(), bad.code) << route.target << " / " << bad.name;
      EXPECT_FALSE(r.ErrorMessage().empty()) << route.target << " / " << bad.name;
      EXPECT_EQ(r.Header("Content-Type"), "application/json");
    }
    // A body one byte over the limit, as valid JSON.
    std::string big = R"({"command_id":"c1","correlation_id":")";
    big += std::string(64 * 1024 - big.size() - 1, 'a') + "\"}";
    ASSERT_EQ(big.size(), 64u * 1024 + 1);
    const Response r = Post(route.target, big);
    EXPECT_EQ(r.status, 413u) << route.target;
    EXPECT_EQ(r.ErrorCode(), "body_too_large") << route.target;
  }
  EXPECT_EQ(commands_.count(), 0u);
}

// Error messages name the field, never the value (which may be a password or a token).
TEST_F(HttpApiTest, ErrorMessagesNeverEchoSubmittedValues) {
  const std::string secret = "s3cr3t-Passw0rd";
  const std::vector<std::string> bodies = {
      R"({"command_id":"c1","register_account":{"password":12345678901}})",
      R"({"command_id":"c1","register_account":{"pasword":")" + secret + R"("}})",
      R"({"command_id":"c1","register_account":{"plan":")" + secret + R"("}})",
      R"({"command_id":"c1","register_account":{"password":")" + secret + R"(",}})",
      R"({"command_id":"c1","register_account":")" + secret + R"("})",
      R"({"command_id":"c1","register_account":{"email":")" + secret + "\xff" + R"("}})",
  };
  for (const auto& body : bodies) {
    const Response r = Post("/v1/accounts", body);
    EXPECT_EQ(r.status, 400u) << body;
    EXPECT_THAT(r.body, Not(HasSubstr(secret))) << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("12345678901"))) << r.body;
  }
  // The field path is named, so the client can fix its request.
  const Response r = Post("/v1/accounts", bodies[0]);
  EXPECT_THAT(r.ErrorMessage(), HasSubstr("register_account.password"));
  EXPECT_EQ(commands_.count(), 0u);
}

// Path ids outside [A-Za-z0-9._:-]{1,64} are refused on every route that takes one.
TEST_F(HttpApiTest, InvalidPathIdsAreRefused) {
  const std::string long_id(65, 'a');
  for (const std::string& target :
       {std::string("/v1/accounts/bad$id/instances"), "/v1/accounts/" + long_id,
        std::string("/v1/accounts/acc_1/instances/..%2F/start"),
        std::string("/v1/accounts/acc%00/members"), std::string("/v1/accounts/../instances")}) {
    const bool post = target.ends_with("/start") || target.ends_with("/instances");
    const Response r = post ? Post(target, R"({"command_id":"c"})") : Get(target);
    EXPECT_EQ(r.status, 400u) << target << " " << r.body;
    EXPECT_EQ(r.ErrorCode(), "invalid_id") << target;
  }
  // Percent-encoded ids are decoded before they are checked.
  const Response r = Post("/v1/accounts/acc%3A1/instances/ins_1/start", R"({"command_id":"c"})");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().account_id(), "acc:1");
  EXPECT_EQ(commands_.count(), 1u);
}

// Decided rejections map to a status by reason, with the outcome and an error object.
TEST_F(HttpApiTest, RejectionsMapToStatusByReason) {
  const std::pair<v1::RejectionReason, unsigned> table[] = {
      {v1::REJECTION_INVALID_ARGUMENT, 422},   {v1::REJECTION_ACCOUNT_EXISTS, 409},
      {v1::REJECTION_INSTANCE_EXISTS, 409},    {v1::REJECTION_INVALID_STATE, 409},
      {v1::REJECTION_LAST_OWNER, 409},         {v1::REJECTION_ACCOUNT_NOT_FOUND, 404},
      {v1::REJECTION_INSTANCE_NOT_FOUND, 404}, {v1::REJECTION_PERMISSION_DENIED, 403},
      {v1::REJECTION_UNAUTHENTICATED, 401},    {v1::REJECTION_THROTTLED, 429},
      {v1::REJECTION_QUOTA_EXCEEDED, 422},     {v1::REJECTION_NO_CAPACITY, 422},
      {v1::REJECTION_ACCOUNT_ERASED, 410},     {v1::REJECTION_REASON_UNSPECIFIED, 422},
  };
  for (const auto& [reason, status] : table) {
    commands_.SetResponder([reason = reason](const v1::Command& c) -> Result<v1::CommandOutcome> {
      v1::CommandOutcome o;
      o.set_command_id(c.command_id());
      o.set_account_id(c.account_id());
      o.set_accepted(false);
      o.set_rejection_reason(reason);
      o.set_message("refused for a reason");
      return o;
    });
    const Response r = Post("/v1/accounts/acc_1/instances/ins_1/start", R"({"command_id":"c"})");
    EXPECT_EQ(r.status, status) << v1::RejectionReason_Name(reason);
    const v1::CommandOutcome o = ParseOutcome(r.body);
    EXPECT_EQ(o.rejection_reason(), reason);
    EXPECT_FALSE(o.accepted());
    std::string expected_code = "rejected";
    if (reason != v1::REJECTION_REASON_UNSPECIFIED) {
      expected_code = v1::RejectionReason_Name(reason).substr(10);
      for (char& ch : expected_code) ch = static_cast<char>(std::tolower(ch));
    }
    EXPECT_EQ(r.ErrorCode(), expected_code);
    EXPECT_EQ(r.ErrorMessage(), "refused for a reason");
  }
  // A rejected registration is not "created": no Location.
  const Response r = Post("/v1/accounts", R"({"command_id":"c","register_account":{}})");
  EXPECT_EQ(r.status, 422u);
  EXPECT_FALSE(r.Has("Location"));
}

// Not decided within command_wait: 202 and where to look the outcome up.
TEST_F(HttpApiTest, TimeoutAnswers202WithLocation) {
  commands_.SetResponder([](const v1::Command&) -> Result<v1::CommandOutcome> {
    return MakeError(Errc::kTimeout, "not decided yet");
  });
  Response r = Post("/v1/accounts/acc_1/instances/ins_1/pause", R"({"command_id":"p-1"})");
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(r.Header("Location"), "/v1/accounts/acc_1/commands/p-1");
  EXPECT_THAT(r.body, HasSubstr(R"("status":"pending")"));
  r = Post("/v1/accounts", R"({"command_id":"reg-1","register_account":{}})");
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(r.Header("Location"), "/v1/accounts/" + DeriveAccountId("reg-1") + "/commands/reg-1");
}

// The command log down: 503 with Retry-After; any other failure: 500 with no detail.

}  // namespace
}  // namespace clawvisor::http_test
