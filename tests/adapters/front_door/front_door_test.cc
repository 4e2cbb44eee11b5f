// The front door on real sockets and real TLS: authentication before anything reaches a VM,
// console sessions and CSRF, routing, limits, wake, and what never reaches a log or a metric.
#include <thread>

#include "tests/adapters/front_door/front_door_fixture.h"

namespace clawvisor::front_door {
namespace {

std::string Path(const char* id, const std::string& rest = "/") {
  return std::string("/instances/") + id + rest;
}
std::pair<std::string, std::string> Bearer(const std::string& token) {
  return {"Authorization", "Bearer " + token};
}

// No credential: 401 with WWW-Authenticate and the front door's own headers; the VM saw nothing.
TEST_F(FrontDoorTest, NoCredentialIs401AndNothingReachesTheVm) {
  Start();
  const Reply reply = Get(Path(kA, "/api"));
  EXPECT_EQ(reply.status, 401);
  EXPECT_EQ(reply.header("www-authenticate"), "Bearer");
  EXPECT_EQ(reply.header("cache-control"), "no-store");
  EXPECT_EQ(reply.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(reply.header("referrer-policy"), "no-referrer");
  EXPECT_EQ(reply.header("x-frame-options"), "DENY");
  EXPECT_NE(reply.header("strict-transport-security").find("max-age="), std::string::npos);
  EXPECT_EQ(upstream_a_.count(), 0u);
}

// The instance's gateway token in ?token= passes; the gateway sees the path without the prefix,
// the query without the token, the token as Authorization, and no client attribution (OpenClaw
// refuses proxy-shaped requests from an address it does not trust: proxy_headers.h).
TEST_F(FrontDoorTest, GatewayTokenInQueryReachesTheGatewayWithPrefixAndTokenStripped) {
  Start();
  const Reply reply = Get(Path(kA, "/api/x?a=1&token=") + kTokenA + "&b=2");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "upstream /api/x?a=1&b=2 body=0");
  EXPECT_EQ(reply.header("x-frame-options"), "DENY");
  EXPECT_EQ(reply.header("content-security-policy"), "frame-ancestors 'none'");
  ASSERT_EQ(upstream_a_.count(), 1u);
  const auto seen = upstream_a_.seen()[0];
  EXPECT_EQ(seen.target, "/api/x?a=1&b=2");
  EXPECT_EQ(seen.headers.at("authorization"), std::string("Bearer ") + kTokenA);
  EXPECT_EQ(seen.headers.count("x-forwarded-for"), 0u);
  EXPECT_EQ(seen.headers.count("x-forwarded-proto"), 0u);
  EXPECT_EQ(seen.headers.count("x-forwarded-host"), 0u);
  EXPECT_EQ(backend_.activity.load(), 1);
}

// A gateway token as a bearer travels as sent; hop-by-hop headers do not.
TEST_F(FrontDoorTest, GatewayTokenAsBearerIsForwardedAndHopByHopHeadersAreNot) {
  Start();
  const Reply reply = Get(Path(kA, "/x"), {Bearer(kTokenA),
                                           {"Connection", "keep-alive, X-Secret-Hop"},
                                           {"X-Secret-Hop", "1"},
                                           {"Proxy-Authorization", "Basic abc"},
                                           {"X-Forwarded-For", "6.6.6.6"},
                                           {"Forwarded", "for=6.6.6.6"},
                                           {"X-Real-IP", "6.6.6.6"},
                                           {"x-forwarded-prefix", "/evil"},
                                           {"Tailscale-User-Login", "mallory@example.com"}});
  ASSERT_EQ(reply.status, 200);
  const auto seen = upstream_a_.seen().at(0);
  EXPECT_EQ(seen.target, "/x");
  EXPECT_EQ(seen.headers.at("authorization"), std::string("Bearer ") + kTokenA);
  EXPECT_EQ(seen.headers.count("x-secret-hop"), 0u);
  EXPECT_EQ(seen.headers.count("proxy-authorization"), 0u);
  // A caller's attribution claims do not travel either.
  EXPECT_EQ(seen.headers.count("x-forwarded-for"), 0u);
  EXPECT_EQ(seen.headers.count("forwarded"), 0u);
  EXPECT_EQ(seen.headers.count("x-real-ip"), 0u);
  EXPECT_EQ(seen.headers.count("x-forwarded-prefix"), 0u);  // OpenClaw refuses any x-forwarded-*
  EXPECT_EQ(seen.headers.count("tailscale-user-login"), 0u);
}

// Another instance's token: 403, and neither VM saw a request.
TEST_F(FrontDoorTest, AnotherInstancesTokenIs403) {
  Start();
  EXPECT_EQ(Get(Path(kA), {Bearer(kTokenB)}).status, 403);
  EXPECT_EQ(Get(Path(kA, "/?token=") + kTokenB).status, 403);
  EXPECT_EQ(upstream_a_.count(), 0u);
  EXPECT_EQ(upstream_b_.count(), 0u);
}

// A member's session as a bearer reaches the VM, which gets the instance's gateway token instead.
TEST_F(FrontDoorTest, MemberSessionIsReplacedByTheGatewayToken) {
  Start();
  ASSERT_EQ(Get(Path(kA, "/m"), {Bearer(kMember)}).status, 200);
  const auto seen = upstream_a_.seen().at(0);
  EXPECT_EQ(seen.headers.at("authorization"), std::string("Bearer ") + kTokenA);
}

// A non-member's valid session: 403. A credential nobody knows: 401. Nothing forwarded.
TEST_F(FrontDoorTest, NonMemberIs403AndUnknownCredentialIs401) {
  Start();
  EXPECT_EQ(Get(Path(kA), {Bearer(kOutsider)}).status, 403);
  EXPECT_EQ(Get(Path(kA), {Bearer("nonsense")}).status, 401);
  EXPECT_EQ(upstream_a_.count(), 0u);
}

// An unknown instance answers 401 (existence unsaid), an id that cannot be one 404, the bare
// instance path 308 to its root, the front door's /healthz 200.
TEST_F(FrontDoorTest, RoutingEdges) {
  Start();
  EXPECT_EQ(Get(Path(kUnknown), {Bearer(kTokenA)}).status, 401);
  EXPECT_EQ(Get("/instances/NOT-AN-ID/", {Bearer(kTokenA)}).status, 404);
  EXPECT_EQ(Get("/elsewhere").status, 404);
  const Reply redirect = Get(std::string("/instances/") + kA);
  EXPECT_EQ(redirect.status, 308);
  EXPECT_EQ(redirect.header("location"), Path(kA));
  const Reply health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.header("cache-control"), "no-store");
}

// A link opens a session: the cookie's attributes, the redirect, the cookie works (the VM gets
// the gateway token and never the front door's cookie), and the link cannot be used again.
TEST_F(FrontDoorTest, ConsoleLinkOpensACookieSessionOnce) {
  Start();
  backend_.AddLink("CANARY-link-once", kA, "usr_member",
                   std::chrono::microseconds(clock_.NowUs() + 3'600'000'000LL));
  const Reply opened = Get(Path(kA, "/_clawvisor/session?link=CANARY-link-once"));
  ASSERT_EQ(opened.status, 303);
  EXPECT_EQ(opened.header("location"), Path(kA));
  ASSERT_EQ(opened.set_cookies.size(), 1u);
  const std::string& set_cookie = opened.set_cookies[0];
  const std::string name = std::string("clawvisor_console_") + kA + "=";
  ASSERT_EQ(set_cookie.rfind(name, 0), 0u) << set_cookie;
  EXPECT_EQ(set_cookie.substr(name.size(), 43).size(), 43u);
  EXPECT_NE(set_cookie.find("; Path=" + Path(kA)), std::string::npos);
  EXPECT_NE(set_cookie.find("; Secure"), std::string::npos);
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos);
  EXPECT_EQ(upstream_a_.count(), 0u);

  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  ASSERT_EQ(Get(Path(kA, "/ui"), {{"Cookie", "theme=dark; " + cookie}}).status, 200);
  const auto seen = upstream_a_.seen().at(0);
  EXPECT_EQ(seen.headers.at("authorization"), std::string("Bearer ") + kTokenA);
  EXPECT_EQ(seen.headers.at("cookie"), "theme=dark");

  EXPECT_EQ(Get(Path(kA, "/_clawvisor/session?link=CANARY-link-once")).status, 403);
  // The cookie is kA's: on kB it is nothing.
  EXPECT_EQ(Get(Path(kB, "/"), {{"Cookie", cookie}}).status, 401);
}

// A session ends after the idle time, and at once when the member loses access.
TEST_F(FrontDoorTest, CookieSessionExpiresWhenIdleAndWhenAccessIsRemoved) {
  Start();
  const std::string cookie = OpenSession();
  ASSERT_FALSE(cookie.empty());
  EXPECT_EQ(Get(Path(kA), {{"Cookie", cookie}}).status, 200);
  clock_.Advance(std::chrono::minutes(31));
  EXPECT_EQ(Get(Path(kA), {{"Cookie", cookie}}).status, 401);

  const std::string second = OpenSession();
  ASSERT_FALSE(second.empty());
  backend_.Disallow("usr_member", "acc_a");
  EXPECT_EQ(Get(Path(kA), {{"Cookie", second}}).status, 403);
}

// CSRF: a cookie POST without Origin or from another origin is refused; from the front door's
// own origin it passes (with its body). A bearer POST needs no Origin.
TEST_F(FrontDoorTest, CookiePostNeedsTheInstancesOrigin) {
  Start();
  const std::string cookie = OpenSession();
  ASSERT_FALSE(cookie.empty());
  Call post;
  post.method = "POST";
  post.target = Path(kA, "/api/send");
  post.body = "hello";
  post.headers = {{"Cookie", cookie}};
  EXPECT_EQ(Request(post).status, 403);
  post.headers = {{"Cookie", cookie}, {"Origin", "https://evil.example"}};
  EXPECT_EQ(Request(post).status, 403);
  EXPECT_EQ(upstream_a_.count(), 0u);
  post.headers = {{"Cookie", cookie}, {"Origin", Origin()}};
  const Reply passed = Request(post);
  EXPECT_EQ(passed.status, 200);
  EXPECT_EQ(passed.body, "upstream /api/send body=5");
  post.headers = {Bearer(kTokenA)};
  EXPECT_EQ(Request(post).status, 200);
}

// Bodies stream both ways: a chunked 1 MiB upload arrives whole, a 2 MiB download too, and the
// connection stays alive for a next request.
TEST_F(FrontDoorTest, BodiesStreamBothWaysOnAKeptAliveConnection) {
  Start();
  Conn conn(port());
  ASSERT_TRUE(conn.ok());
  std::string head = "POST " + Path(kA, "/upload") + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                     "Authorization: Bearer " + kTokenA + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(conn.Write(head));
  const std::string chunk(64 * 1024, 'y');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(conn.Write(size_line + chunk + "\r\n"));
  ASSERT_TRUE(conn.Write("0\r\n\r\n"));
  const Reply uploaded = conn.ReadReply();
  EXPECT_EQ(uploaded.status, 200);
  EXPECT_EQ(uploaded.body, "upstream /upload body=1048576");

  Call big;
  big.target = Path(kA, "/big");
  big.headers = {Bearer(kTokenA)};
  const Reply downloaded = conn.Send(big, port());
  EXPECT_EQ(downloaded.status, 200);
  EXPECT_EQ(downloaded.body.size(), size_t{2} << 20);
}

// Host-name routing: {id}.{domain} with a matching SNI reaches the instance at its root; an SNI
// naming another host is 421 and reaches nothing.
TEST_F(FrontDoorTest, HostNameRoutingAndSniMustMatchHost) {
  Start();
  const std::string host = std::string(kA) + "." + kDomain;
  Call call;
  call.target = "/x?token=" + std::string(kTokenA);
  call.host = host;
  const Reply reply = Request(call, host);
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(upstream_a_.seen().at(0).target, "/x");
  EXPECT_EQ(Request(call, std::string(kB) + "." + kDomain).status, 421);
  EXPECT_EQ(upstream_a_.count(), 1u);
  EXPECT_EQ(upstream_b_.count(), 0u);
}

// Host mode's console cookie is __Host- prefixed, Path=/.
TEST_F(FrontDoorTest, HostModeSessionCookie) {
  Start();
  backend_.AddLink("CANARY-host-link", kA, "usr_member",
                   std::chrono::microseconds(clock_.NowUs() + 3'600'000'000LL));
  const std::string host = std::string(kA) + "." + kDomain;
  Call call;
  call.target = "/_clawvisor/session?link=CANARY-host-link";
  call.host = host;
  const Reply opened = Request(call, host);
  ASSERT_EQ(opened.status, 303);
  EXPECT_EQ(opened.header("location"), "/");
  ASSERT_EQ(opened.set_cookies.size(), 1u);
  EXPECT_EQ(opened.set_cookies[0].rfind("__Host-clawvisor_console=", 0), 0u);
  EXPECT_NE(opened.set_cookies[0].find("; Path=/;"), std::string::npos);
  Call get;
  get.host = host;
  get.target = "/";
  get.headers = {{"Cookie", opened.set_cookies[0].substr(0, opened.set_cookies[0].find(';'))}};
  EXPECT_EQ(Request(get, host).status, 200);
}

// Per instance, connections beyond the cap get 429; another instance is not affected.
TEST_F(FrontDoorTest, PerInstanceConnectionCap) {
  FrontDoorOptions options = Options();
  options.max_connections_per_instance = 2;
  Start(options);
  Call call;
  call.target = Path(kA);
  call.headers = {Bearer(kTokenA)};
  Conn first(port()), second(port()), third(port());
  EXPECT_EQ(first.Send(call, port()).status, 200);
  EXPECT_EQ(second.Send(call, port()).status, 200);
  EXPECT_EQ(third.Send(call, port()).status, 429);
  // A kept-alive connection keeps its slot for its next request.
  EXPECT_EQ(first.Send(call, port()).status, 200);
  EXPECT_EQ(Get(Path(kB), {Bearer(kTokenB)}).status, 200);
  EXPECT_GE(Metric("clawvisor_front_door_refused_total{reason=\"instance_connections\"}"), 1);
}

// Per instance, requests beyond the burst get 429 until the bucket refills; another instance
// is not affected.
TEST_F(FrontDoorTest, PerInstanceRequestRate) {
  FrontDoorOptions options = Options();
  options.requests_per_second = 1;
  options.request_burst = 3;
  Start(options);
  Conn conn(port());
  Call call;
  call.target = Path(kA);
  call.headers = {Bearer(kTokenA)};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(conn.Send(call, port()).status, 200);
  const Reply limited = conn.Send(call, port());
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.header("retry-after"), "1");
  EXPECT_EQ(Get(Path(kB), {Bearer(kTokenB)}).status, 200);
  clock_.Advance(std::chrono::seconds(2));
  EXPECT_EQ(conn.Send(call, port()).status, 200);
}

// Beyond the global cap a TLS connection is closed before its handshake.
TEST_F(FrontDoorTest, GlobalConnectionCap) {
  FrontDoorOptions options = Options();
  options.max_connections = 2;
  Start(options);
  Conn first(port()), second(port());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  Conn third(port());
  EXPECT_FALSE(third.ok());
  EXPECT_GE(Metric("clawvisor_front_door_refused_total{reason=\"global_connections\"}"), 1);
}

// A client sending its head a byte at a time is closed after the header timeout, while another
// client is served.
TEST_F(FrontDoorTest, SlowlorisIsClosedWhileOthersAreServed) {
  FrontDoorOptions options = Options();
  options.header_timeout = std::chrono::milliseconds(300);
  Start(options);
  Conn slow(port());
  ASSERT_TRUE(slow.ok());
  const std::string head = "GET " + Path(kA) +
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(200, 'p') +
                           "\r\n\r\n";
  bool closed = false;
  size_t sent = 0;
  for (; sent < head.size() && !closed; ++sent) {
    if (!slow.Write(head.substr(sent, 1))) {
      closed = true;
      break;
    }
    if (sent == 3) {
      EXPECT_EQ(Get(Path(kA), {Bearer(kTokenA)}).status, 200);
    }
    closed = slow.ClosedWithin(50);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, head.size());
  // The stream closes the socket when its timer fires, a moment before the handler counts it.
  EXPECT_TRUE(
      EventuallyAtLeast("clawvisor_front_door_refused_total{reason=\"header_timeout\"}", 1));
}

// A head over 8 KiB: 431.
TEST_F(FrontDoorTest, OversizedHeaderIs431) {
  Start();
  EXPECT_EQ(Get(Path(kA), {Bearer(kTokenA), {"X-Big", std::string(9000, 'b')}}).status, 431);
  EXPECT_EQ(upstream_a_.count(), 0u);
}

// A paused instance is woken, then served; one that does not wake in time answers 503 with
// Retry-After.
TEST_F(FrontDoorTest, PausedInstanceIsWokenAndAWakeTimeoutIs503) {
  Start();
  EXPECT_EQ(Get(Path(kPaused, "/w"), {Bearer("CANARY-gateway-token-paused")}).status, 200);
  EXPECT_EQ(backend_.wakes.load(), 1);
  EXPECT_EQ(upstream_woken_.seen().at(0).target, "/w");
  const Reply sleepy = Get(Path(kSleepy), {Bearer("CANARY-token-sleepy")});
  EXPECT_EQ(sleepy.status, 503);
  EXPECT_FALSE(sleepy.header("retry-after").empty());
}

// A gateway that is not listening: 502.
TEST_F(FrontDoorTest, UpstreamDownIs502) {
  Start();
  EXPECT_EQ(Get(Path(kDown), {Bearer("CANARY-token-down")}).status, 502);
}

// A webhook path reaches its instance's gateway at /hooks/... with the gateway token, whatever
// the sender put in Authorization or its cookies; an unknown or replaced path is 404 and reaches
// nothing; a WebSocket upgrade on it is refused.
TEST_F(FrontDoorTest, WebhookPathReachesTheGatewayWithItsToken) {
  Start();
  const std::string hook = "CANARY-webhook-" + std::string(28, 'w');
  ASSERT_EQ(hook.size(), 43u);
  backend_.SetWebhook(kA, hook);
  Call post;
  post.method = "POST";
  post.target = "/hooks/" + hook + "/telegram?update=1";
  post.headers = {{"Authorization", "Bearer sender-chosen"},
                  {"Cookie", "gateway_set_this=1"},
                  {"X-OpenClaw-Token", "sender-chosen"},
                  {"Forwarded", "for=6.6.6.6"},
                  {"Content-Type", "application/json"}};
  post.body = R"({"update_id":1})";
  const Reply reply = Request(post);
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_EQ(upstream_a_.count(), 1u);
  const auto seen = upstream_a_.seen()[0];
  EXPECT_EQ(seen.target, "/hooks/telegram?update=1");
  // The hooks token, never the gateway token; no sender cookie or identity claim.
  EXPECT_EQ(seen.headers.at("authorization"), std::string("Bearer hooks-of-") + kTokenA);
  EXPECT_EQ(seen.headers.count("cookie"), 0u);
  EXPECT_EQ(seen.headers.count("x-openclaw-token"), 0u);
  EXPECT_EQ(seen.headers.count("forwarded"), 0u);
  EXPECT_EQ(reply.body, "upstream /hooks/telegram?update=1 body=15");
  // The answer is never a page of the consoles' origin.
  EXPECT_EQ(reply.header("content-disposition"), "attachment");
  EXPECT_NE(reply.header("content-security-policy").find("sandbox"), std::string::npos);
  // Nothing outside /hooks/ is reachable by the path, however it is spelled.
  for (const char* escape : {"/../tools/invoke", "/%2e%2e/tools/invoke", "/.%2E/x", "/..\\x", "//x",
                             "/./x", "/a/../../x"}) {
    Call sneaky = post;
    sneaky.target = "/hooks/" + hook + escape;
    EXPECT_EQ(Request(sneaky).status, 404) << escape;
  }
  EXPECT_EQ(upstream_a_.count(), 1u);
  // Only POST delivers.
  EXPECT_EQ(Get("/hooks/" + hook + "/telegram").status, 405);
  EXPECT_EQ(upstream_a_.count(), 1u);
  EXPECT_EQ(backend_.activity.load(), 1);

  // Replaced: the old path is 404 and reaches nothing.
  const std::string next = "CANARY-webhook-" + std::string(28, 'v');
  backend_.SetWebhook(kA, next);
  EXPECT_EQ(Request(post).status, 404);
  EXPECT_EQ(upstream_a_.count(), 1u);
  post.target = "/hooks/" + next + "/x";
  EXPECT_EQ(Request(post).status, 200);
  EXPECT_EQ(upstream_a_.count(), 2u);
  // A WebSocket upgrade is not a webhook.
  EXPECT_EQ(Get("/hooks/" + next + "/x", {{"Connection", "Upgrade"},
                                          {"Upgrade", "websocket"},
                                          {"Sec-WebSocket-Version", "13"},
                                          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}})
                .status,
            400);
  EXPECT_EQ(upstream_a_.count(), 2u);
  // Closed: 404.
  backend_.SetWebhook(kA, "");
  EXPECT_EQ(Request(post).status, 404);
  const std::string logs = Logs();
  EXPECT_EQ(logs.find("CANARY"), std::string::npos) << logs;
  EXPECT_EQ(metrics_.RenderPrometheus().find("CANARY"), std::string::npos);
}

// After all of the above kinds of traffic no token, link or cookie is in a log line or a metric.
TEST_F(FrontDoorTest, SecretsNeverReachLogsOrMetrics) {
  Start();
  Get(Path(kA, "/?token=") + kTokenA);
  Get(Path(kA), {Bearer(kTokenB)});
  Get(Path(kA), {Bearer(kMember)});
  Get(Path(kA), {Bearer(kOutsider)});
  Get(Path(kA), {Bearer("CANARY-garbage")});
  Get(Path(kSleepy), {Bearer("CANARY-token-sleepy")});
  Get(Path(kDown), {Bearer("CANARY-token-down")});
  Get(Path(kA, "/_clawvisor/session?link=CANARY-unknown-link"));
  const std::string cookie = OpenSession();
  ASSERT_FALSE(cookie.empty());
  Get(Path(kA), {{"Cookie", cookie}});
  Call post;
  post.method = "POST";
  post.target = Path(kA);
  post.headers = {{"Cookie", cookie}};
  Request(post);
  const std::string value = cookie.substr(cookie.find('=') + 1);
  const std::string logs = Logs();
  const std::string metrics = metrics_.RenderPrometheus();
  EXPECT_NE(logs.find("refused"), std::string::npos);  // the capture works
  EXPECT_EQ(logs.find("CANARY"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(value), std::string::npos);
  EXPECT_EQ(metrics.find("CANARY"), std::string::npos);
  EXPECT_EQ(metrics.find(value), std::string::npos);
  EXPECT_GE(Metric("clawvisor_front_door_requests_total{code=\"2xx\"}"), 1);
  EXPECT_GE(Metric("clawvisor_front_door_requests_total{code=\"4xx\"}"), 1);
}

}  // namespace
}  // namespace clawvisor::front_door
