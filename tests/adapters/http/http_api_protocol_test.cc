// HttpApi protocol and lifecycle: routing errors, headers, keep-alive, framing, limits, shutdown,
// the authenticator seam.

#include "tests/adapters/http/http_api_fixture.h"

namespace clawvisor::http_test {
namespace {

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
    EXPECT_FALSE(r.Has("Server"));
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
    EXPECT_TRUE(r.keep_alive);
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
  EXPECT_FALSE(r.keep_alive);
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
  EXPECT_FALSE(r.keep_alive);
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
}  // namespace clawvisor::http_test
