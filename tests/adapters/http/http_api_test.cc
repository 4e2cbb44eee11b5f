// HttpApi over a real socket on 127.0.0.1 (port 0), with fake CommandService and ReadModel.

#include "adapters/http/http_api.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "adapters/http/ids.h"
#include "engine/clock.h"
#include "events/codec.h"
#include "tests/adapters/http/fakes.h"

namespace clawvisor {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using testing::FakeCommandService;
using testing::FakeReadModel;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNowUs = 1'767'323'045'000'000;

struct Response {
  unsigned status = 0;
  std::string body;
  http::response<http::string_body> raw;

  bool Has(std::string_view name) const {
    return raw.find(beast::string_view(name.data(), name.size())) != raw.end();
  }
  bool Has(http::field name) const { return raw.find(name) != raw.end(); }
  std::string Header(std::string_view name) const {
    auto it = raw.find(beast::string_view(name.data(), name.size()));
    return it == raw.end() ? "" : std::string(it->value());
  }
  // The code and message of an {"error":{"code":...,"message":...}} body, "" if absent.
  // Read by hand rather than through google::protobuf::Struct: protobuf's Map is laid out
  // differently when its inline code is built with -fsanitize=thread and the library is not.
  std::string ErrorCode() const { return ErrorMember("\"error\":{\"code\":\""); }
  std::string ErrorMessage() const { return ErrorMember("\",\"message\":\""); }

 private:
  std::string ErrorMember(std::string_view prefix) const {
    const size_t error_at = body.find("\"error\":{");
    if (error_at == std::string::npos) return "";
    const size_t at = body.find(prefix, error_at);
    if (at == std::string::npos) return "";
    std::string out;
    for (size_t i = at + prefix.size(); i < body.size() && body[i] != '"'; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) ++i;
      out += body[i];
    }
    return out;
  }
};

// A blocking HTTP/1.1 client on one connection, able to send bytes no real client would.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void SendRaw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  Response Read() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(socket_, buffer_, parser);
    Response r;
    r.raw = parser.release();
    r.status = r.raw.result_int();
    r.body = r.raw.body();
    return r;
  }

  Response Send(std::string_view method, std::string_view target, std::string_view body = "",
                std::string_view content_type = "application/json",
                std::string_view extra_headers = "") {
    std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    req += "Host: localhost\r\nUser-Agent: clawvisor-test/1.0\r\n";
    if (!content_type.empty()) req += "Content-Type: " + std::string(content_type) + "\r\n";
    req += extra_headers;
    if (method == "POST" || !body.empty()) {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    SendRaw(req);
    return Read();
  }

  // Whether the server closed the connection (EOF or reset) instead of sending more.
  bool ServerClosed() {
    if (buffer_.size() > 0) return false;
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// The POST routes, each with a body that is valid for it.
struct PostRoute {
  std::string target;
  std::string valid_body;
  // A well-formed body whose payload this route does not take.
  std::string wrong_payload_body = R"({"command_id":"c1","login":{"email":"x"}})";
};
std::vector<PostRoute> PostRoutes() {
  return {
      {"/v1/accounts", R"({"command_id":"c1","register_account":{"email":"a@example.com"}})"},
      {"/v1/accounts/acc_1/instances", R"({"command_id":"c1","create_instance":{"name":"n"}})"},
      {"/v1/accounts/acc_1/instances/ins_1/start", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/stop", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/pause", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/resume", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/delete", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/commands",
       R"({"command_id":"c1","start_subscription":{"plan":"PLAN_PRO"}})",
       R"({"command_id":"c1","register_account":{}})"},
      {"/v1/accounts/acc_1/instances/ins_1/credentials",
       R"({"command_id":"c1","set_credential":{"name":"tg","kind":"CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN","value":"12345678:abcdefgh"}})"},
      {"/v1/accounts/acc_1/instances/ins_1/credentials/tg/remove", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/rotate-gateway-token", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/erase", R"({"command_id":"c1"})"},
  };
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { StartApi(HttpApiOptions{}); }

  void StartApi(HttpApiOptions options) {
    api_.reset();
    options.clock = &clock_;
    api_ = std::make_unique<HttpApi>(std::move(options), commands_, reads_, metrics_,
                                     [this] { return ready_.load(); });
    auto port = api_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().ToString();
    port_ = *port;
  }

  Response Post(std::string_view target, std::string_view body,
                std::string_view content_type = "application/json") {
    return Client(port_).Send("POST", target, body, content_type);
  }
  Response Get(std::string_view target) { return Client(port_).Send("GET", target, "", ""); }

  ManualClock clock_{kNowUs};
  FakeCommandService commands_;
  FakeReadModel reads_;
  MetricsRegistry metrics_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<HttpApi> api_;
  uint16_t port_ = 0;
};

v1::CommandOutcome ParseOutcome(const std::string& json) {
  v1::CommandOutcome outcome;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a rejection body also has "error"
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &outcome, options).ok()) << json;
  return outcome;
}

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

// ------------------------------------------------------------------------------ protocol

TEST_F(HttpApiTest, UnknownRouteAndWrongMethod) {
  Response r = Get("/v1/nope");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.ErrorCode(), "not_found");
  r = Get("/v1/accounts/acc_1/instances/");  // no trailing-slash aliases
  EXPECT_EQ(r.status, 404u);
  r = Get("/v1/accounts");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.ErrorCode(), "method_not_allowed");
  EXPECT_EQ(r.Header("Allow"), "POST");
  r = Client(port_).Send("DELETE", "/v1/accounts/acc_1/instances", "", "");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.Header("Allow"), "GET, POST");
  r = Post("/healthz", "{}");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(commands_.count(), 0u);
}

// Every response: nosniff, no-store, a JSON type for JSON, and no Server banner.
TEST_F(HttpApiTest, SecurityHeaders) {
  for (Response r : {Get("/v1/accounts/acc_1"), Get("/nope"), Get("/healthz"),
                     Post("/v1/accounts", R"({"command_id":"c","register_account":{}})")}) {
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.Header("Cache-Control"), "no-store");
    EXPECT_FALSE(r.Has(http::field::server));
  }
  EXPECT_EQ(Get("/v1/accounts/acc_1").Header("Content-Type"), "application/json");
}

TEST_F(HttpApiTest, HealthReadyAndMetrics) {
  Response r = Get("/healthz");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(Get("/readyz").status, 200u);
  ready_ = false;
  EXPECT_EQ(Get("/readyz").status, 503u);
  EXPECT_EQ(Get("/healthz").status, 200u);  // liveness does not depend on readiness

  ASSERT_EQ(
      Post("/v1/accounts/acc_secret_1/instances", R"({"command_id":"c","create_instance":{}})")
          .status,
      201u);
  ASSERT_EQ(Get("/v1/accounts/acc_secret_1/instances/ins_secret_2").status, 404u);
  ASSERT_EQ(Get("/some/raw/path").status, 404u);
  r = Get("/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.Header("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_THAT(
      r.body,
      HasSubstr(
          R"(clawvisor_http_requests_total{route="/v1/accounts/{account_id}/instances",code="201"} 1)"));
  EXPECT_THAT(
      r.body,
      HasSubstr(
          R"(clawvisor_http_requests_total{route="/v1/accounts/{account_id}/instances/{instance_id}",code="404"} 1)"));
  EXPECT_THAT(r.body,
              HasSubstr(R"(clawvisor_http_requests_total{route="unmatched",code="404"} 1)"));
  EXPECT_THAT(r.body, HasSubstr(R"(clawvisor_http_requests_total{route="/readyz",code="503"} 1)"));
  EXPECT_THAT(r.body,
              HasSubstr(R"(clawvisor_http_request_duration_seconds_count{route="/healthz"} 2)"));
  // Ids and raw paths are customer data: never in a label.
  EXPECT_THAT(r.body, Not(HasSubstr("acc_secret_1")));
  EXPECT_THAT(r.body, Not(HasSubstr("ins_secret_2")));
  EXPECT_THAT(r.body, Not(HasSubstr("/some/raw/path")));
}

// Several requests, GET and POST, on one kept-alive connection.
TEST_F(HttpApiTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Client client(port_);
  for (int i = 0; i < 5; ++i) {
    Response r = client.Send("POST", "/v1/accounts/acc_1/instances/ins_1/start",
                             R"({"command_id":"k)" + std::to_string(i) + R"("})");
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.raw.keep_alive());
    r = client.Send("GET", "/v1/accounts/acc_1/instances", "", "");
    ASSERT_EQ(r.status, 200u);
    // An error answered from the handler keeps the connection too.
    r = client.Send("POST", "/v1/accounts/acc_1/commands", "{", "application/json");
    ASSERT_EQ(r.status, 400u);
  }
  EXPECT_EQ(commands_.count(), 5u);
  // Pipelined: two requests in one write, two responses in order.
  client.SendRaw(
      "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /v1/accounts/acc_9 HTTP/1.1\r\nHost: "
      "localhost\r\n\r\n");
  EXPECT_EQ(client.Read().status, 200u);
  EXPECT_EQ(client.Read().status, 404u);
  // Connection: close is honoured.
  Response r = client.Send("GET", "/healthz", "", "", "Connection: close\r\n");
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.raw.keep_alive());
  EXPECT_TRUE(client.ServerClosed());
}

// Many clients at once; every command arrives exactly once.
TEST_F(HttpApiTest, ConcurrentClients) {
  constexpr int kClients = 8;
  constexpr int kRequests = 25;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Client client(port_);
      for (int i = 0; i < kRequests; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (client
                .Send("POST", "/v1/accounts/acc_1/commands",
                      R"({"command_id":")" + id + R"(","logout":{}})")
                .status == 200) {
          ++ok;
        }
        if (client.Send("GET", "/v1/accounts/acc_1/members", "", "").status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kClients * kRequests * 2);
  EXPECT_EQ(commands_.count(), static_cast<size_t>(kClients * kRequests));
}

TEST_F(HttpApiTest, OversizedHeaderIs431) {
  Client client(port_);
  const std::string big(9 * 1024, 'x');
  const Response r = client.Send("GET", "/v1/accounts/acc_1", "", "", "X-Big: " + big + "\r\n");
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(r.ErrorCode(), "header_too_large");
}

TEST_F(HttpApiTest, MalformedHttpIs400AndCloses) {
  Client client(port_);
  client.SendRaw("GARBAGE\x01 / HTTP/1.1\r\n\r\n");
  const Response r = client.Read();
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "bad_request");
  EXPECT_TRUE(client.ServerClosed());
}

// Content-Length together with chunked encoding (a request-smuggling vector) is refused.
TEST_F(HttpApiTest, AmbiguousBodyLengthIsRefused) {
  Client client(port_);
  client.SendRaw(
      "POST /v1/accounts/acc_1/commands HTTP/1.1\r\nHost: localhost\r\n"
      "Content-Type: application/json\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  const Response r = client.Read();
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "bad_request");
  EXPECT_TRUE(client.ServerClosed());
  EXPECT_EQ(commands_.count(), 0u);
}

// A chunked body is read like any other, and its limit applies to the decoded size.
TEST_F(HttpApiTest, ChunkedBodies) {
  Client client(port_);
  const std::string body = R"({"command_id":"ch1"})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  client.SendRaw(std::string("POST /v1/accounts/acc_1/instances/ins_1/start HTTP/1.1\r\n") +
                 "Host: localhost\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n" +
                 size + "\r\n" + body + "\r\n0\r\n\r\n");
  Response r = client.Read();
  EXPECT_EQ(r.status, 200u) << r.body;
  std::string big(40 * 1024, ' ');
  std::snprintf(size, sizeof size, "%zx", big.size());
  Client other(port_);
  other.SendRaw(std::string("POST /v1/accounts/acc_1/commands HTTP/1.1\r\n") +
                "Host: localhost\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" +
                size + "\r\n" + big + "\r\n" + size + "\r\n" + big + "\r\n0\r\n\r\n");
  r = other.Read();
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.ErrorCode(), "body_too_large");
  EXPECT_EQ(commands_.count(), 1u);
}

// A client that asks for 100-continue gets it, then its request is handled.
TEST_F(HttpApiTest, ExpectContinue) {
  Client client(port_);
  const std::string body = R"({"command_id":"e1"})";
  client.SendRaw(
      "POST /v1/accounts/acc_1/instances/ins_1/resume HTTP/1.1\r\nHost: localhost\r\n"
      "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  Response r = client.Read();
  EXPECT_EQ(r.status, 100u);
  client.SendRaw(body);
  r = client.Read();
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().resume_instance().instance_id(), "ins_1");
}

// ------------------------------------------------------------------------------ lifecycle

// Beyond max_connections a connection gets 503 and is closed; a freed slot is reusable.
TEST_F(HttpApiTest, ConnectionCap) {
  HttpApiOptions options;
  options.max_connections = 1;
  StartApi(options);
  auto first = std::make_unique<Client>(port_);
  ASSERT_EQ(first->Send("GET", "/healthz", "", "").status, 200u);  // admitted and held open
  Client second(port_);
  const Response r = second.Read();
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.ErrorCode(), "too_many_connections");
  EXPECT_TRUE(second.ServerClosed());
  // Release the slot; the server notices the close, and a new client gets in.
  first.reset();
  for (int attempt = 0;; ++attempt) {
    Client third(port_);
    Response again = third.Send("GET", "/healthz", "", "");
    if (again.status == 200) break;
    ASSERT_LT(attempt, 1000) << "slot never freed";
  }
}

// A connection that sends half a request and stalls is closed after read_timeout.
TEST_F(HttpApiTest, SlowClientIsDisconnected) {
  HttpApiOptions options;
  options.read_timeout = std::chrono::milliseconds(200);
  StartApi(options);
  Client client(port_);
  client.SendRaw("GET /healthz HTTP/1.1\r\nHost: localhost\r\n");  // never finishes the header
  EXPECT_TRUE(client.ServerClosed());
}

// Stop lets a request already in a handler finish and deliver its response.
TEST_F(HttpApiTest, StopFinishesInFlightRequests) {
  commands_.Hold();
  auto response = std::async(std::launch::async, [&] {
    return Post("/v1/accounts/acc_1/instances/ins_1/stop", R"({"command_id":"late"})");
  });
  commands_.WaitForReceived(1);
  Client idle(port_);  // an idle kept-alive connection is simply closed
  ASSERT_EQ(idle.Send("GET", "/healthz", "", "").status, 200u);
  auto stopper = std::async(std::launch::async, [&] { api_->Stop(); });
  EXPECT_TRUE(idle.ServerClosed());
  commands_.Release();
  stopper.get();
  const Response r = response.get();
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.raw.keep_alive());
  // Stop is idempotent; a second Start is refused.
  api_->Stop();
  EXPECT_FALSE(api_->Start().has_value());
}

// The authentication seam: a custom authenticator decides the actor, or refuses.
class FixedAuthenticator final : public Authenticator {
 public:
  explicit FixedAuthenticator(std::optional<Errc> fail) : fail_(fail) {}
  Result<v1::Actor> Authenticate(const RequestInfo& request) override {
    if (fail_) return MakeError(*fail_, "no");
    v1::Actor actor;
    actor.set_kind(v1::Actor::KIND_USER);
    actor.set_id("usr_" + std::string(request.authorization.substr(7)));
    actor.set_role(v1::ROLE_VIEWER);
    return actor;
  }

 private:
  std::optional<Errc> fail_;
};

TEST_F(HttpApiTest, AuthenticatorDecidesTheActor) {
  v1::MemberView alice;  // a viewer of acc_1: may log out
  alice.set_account_id("acc_1");
  alice.set_user_id("usr_alice");
  alice.set_role(v1::ROLE_VIEWER);
  reads_.PutMember(alice);
  HttpApiOptions options;
  options.authenticator = std::make_shared<FixedAuthenticator>(std::nullopt);
  StartApi(options);
  Response r =
      Client(port_).Send("POST", "/v1/accounts/acc_1/commands", R"({"command_id":"c","logout":{}})",
                         "application/json", "Authorization: Bearer alice\r\n");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(commands_.last().actor().id(), "usr_alice");
  EXPECT_EQ(commands_.last().actor().kind(), v1::Actor::KIND_USER);

  options.authenticator = std::make_shared<FixedAuthenticator>(Errc::kInvalidArgument);
  StartApi(options);
  r = Post("/v1/accounts/acc_1/commands", R"({"command_id":"c2","logout":{}})");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.ErrorCode(), "unauthenticated");
  EXPECT_EQ(Get("/v1/accounts/acc_1").status, 401u);
  EXPECT_EQ(Get("/healthz").status, 200u);  // operational endpoints need no caller
  options.authenticator = std::make_shared<FixedAuthenticator>(Errc::kPermissionDenied);
  StartApi(options);
  EXPECT_EQ(Get("/v1/accounts/acc_1").status, 403u);
  EXPECT_EQ(commands_.count(), 1u);
}

TEST(HttpApiStartTest, RefusesABadListenAddress) {
  FakeCommandService commands;
  FakeReadModel reads;
  MetricsRegistry metrics;
  HttpApiOptions options;
  options.listen_address = "not-an-ip";
  HttpApi api(options, commands, reads, metrics, [] { return true; });
  auto port = api.Start();
  ASSERT_FALSE(port.has_value());
  EXPECT_EQ(port.error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace clawvisor
