// WebSockets through the front door: the upgrade is authenticated like any request, relayed to
// the gateway, and then bytes flow both ways; a cookie upgrade must come from the own origin.
#include "tests/adapters/front_door/front_door_fixture.h"

namespace clawvisor::front_door {
namespace {

std::string Upgrade(const std::string& target, const std::string& extra, uint16_t port = 0) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1" +
         (port == 0 ? std::string() : ":" + std::to_string(port)) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra + "\r\n";
}

// With a bearer: 101, and messages echo back through the splice; the activity is recorded.
TEST_F(FrontDoorTest, WebSocketEchoWithBearer) {
  Start();
  Conn conn(port());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(conn.Write(Upgrade(std::string("/instances/") + kA + "/ws",
                                 std::string("Authorization: Bearer ") + kTokenA + "\r\n")));
  const Reply reply = conn.ReadReply();
  ASSERT_EQ(reply.status, 101);
  EXPECT_EQ(reply.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ASSERT_TRUE(conn.SendText("hello"));
  EXPECT_EQ(conn.ReadFrame(), "hello");
  ASSERT_TRUE(conn.SendText("again"));
  EXPECT_EQ(conn.ReadFrame(), "again");
  EXPECT_EQ(upstream_a_.seen().at(0).target, "/ws");
  EXPECT_GE(backend_.activity.load(), 1);
}

// With the console cookie: refused without Origin, echoes with the own Origin.
TEST_F(FrontDoorTest, WebSocketEchoWithCookieNeedsOrigin) {
  Start();
  const std::string cookie = OpenSession();
  ASSERT_FALSE(cookie.empty());
  {
    Conn conn(port());
    ASSERT_TRUE(
        conn.Write(Upgrade(std::string("/instances/") + kA + "/ws", "Cookie: " + cookie + "\r\n")));
    EXPECT_EQ(conn.ReadReply().status, 403);
  }
  EXPECT_EQ(upstream_a_.count(), 0u);
  Conn conn(port());
  ASSERT_TRUE(
      conn.Write(Upgrade(std::string("/instances/") + kA + "/ws",
                         "Cookie: " + cookie + "\r\nOrigin: " + Origin() + "\r\n", port())));
  ASSERT_EQ(conn.ReadReply().status, 101);
  ASSERT_TRUE(conn.SendText("cookie"));
  EXPECT_EQ(conn.ReadFrame(), "cookie");
  EXPECT_EQ(upstream_a_.seen().at(0).headers.at("authorization"), std::string("Bearer ") + kTokenA);
}

// Upgrades count against the instance's connection cap (an upgrade flood is bounded).
TEST_F(FrontDoorTest, WebSocketsCountAgainstTheInstanceCap) {
  FrontDoorOptions options = Options();
  options.max_connections_per_instance = 1;
  Start(options);
  const std::string auth = std::string("Authorization: Bearer ") + kTokenA + "\r\n";
  Conn first(port());
  ASSERT_TRUE(first.Write(Upgrade(std::string("/instances/") + kA + "/ws", auth)));
  ASSERT_EQ(first.ReadReply().status, 101);
  Conn second(port());
  ASSERT_TRUE(second.Write(Upgrade(std::string("/instances/") + kA + "/ws", auth)));
  EXPECT_EQ(second.ReadReply().status, 429);
  ASSERT_TRUE(first.SendText("still"));
  EXPECT_EQ(first.ReadFrame(), "still");
}

// A WebSocket with no byte either way for websocket_idle_timeout is closed.
TEST_F(FrontDoorTest, IdleWebSocketIsClosed) {
  FrontDoorOptions options = Options();
  options.websocket_idle_timeout = std::chrono::milliseconds(200);
  Start(options);
  Conn conn(port());
  ASSERT_TRUE(conn.Write(Upgrade(std::string("/instances/") + kA + "/ws",
                                 std::string("Authorization: Bearer ") + kTokenA + "\r\n")));
  ASSERT_EQ(conn.ReadReply().status, 101);
  EXPECT_TRUE(conn.ClosedWithin(10'000));
}

}  // namespace
}  // namespace clawvisor::front_door
