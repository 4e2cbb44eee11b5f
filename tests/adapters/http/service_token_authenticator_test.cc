// ServiceTokenAuthenticator: the tokens file's rules, constant-time matching of bearer tokens,
// and what the web tier may forward when it acts for a user.

#include "adapters/http/service_token_authenticator.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

const std::string kWebToken(40, 'w');
const std::string kOpToken = "op-0123456789abcdef0123456789abcdef";
const std::string kHostToken = "host-0123456789abcdef0123456789abcdef";

std::string TokensText() {
  return "# services\n"
         "web web-1 " +
         kWebToken +
         "\n"
         "\n"
         "operator op-1\t" +
         kOpToken +
         "\r\n"
         "reconciler host-1 " +
         kHostToken + "\n";
}

class FakeSessions final : public SessionResolver {
 public:
  Result<std::string> ResolveUser(std::string_view token) override {
    if (token == "sess-alice") return std::string("usr_alice");
    return MakeError(Errc::kNotFound, "no session");
  }
};

RequestInfo WithBearer(const std::string& token) {
  RequestInfo r;
  r.authorization = "Bearer " + token;
  r.peer_ip = "10.0.0.5";
  r.user_agent = "web-tier/2.0";
  return r;
}

TEST(ServiceTokenAuthenticatorTest, EachServiceIsItsOwnActor) {
  auto auth = ServiceTokenAuthenticator::FromText(TokensText(), nullptr);
  ASSERT_TRUE(auth.has_value()) << auth.error().ToString();
  EXPECT_EQ((*auth)->service_count(), 3u);
  auto web = (*auth)->Authenticate(WithBearer(kWebToken));
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->kind(), v1::Actor::KIND_SERVICE);
  EXPECT_EQ(web->id(), "web-1");
  EXPECT_EQ(web->role(), v1::ROLE_UNSPECIFIED);  // a service never carries a member role
  EXPECT_EQ(web->source_ip(), "10.0.0.5");
  EXPECT_EQ(web->user_agent(), "web-tier/2.0");
  auto op = (*auth)->Authenticate(WithBearer(kOpToken));
  ASSERT_TRUE(op.has_value());
  EXPECT_EQ(op->kind(), v1::Actor::KIND_OPERATOR);
  EXPECT_EQ(op->id(), "op-1");
  auto host = (*auth)->Authenticate(WithBearer(kHostToken));
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->kind(), v1::Actor::KIND_RECONCILER);
  // The scheme is case-insensitive (RFC 7235).
  RequestInfo lower = WithBearer(kOpToken);
  lower.authorization = "bearer " + kOpToken;
  EXPECT_TRUE((*auth)->Authenticate(lower).has_value());
}

TEST(ServiceTokenAuthenticatorTest, WrongMissingOrMalformedTokensAreRefused) {
  auto auth = ServiceTokenAuthenticator::FromText(TokensText(), nullptr);
  ASSERT_TRUE(auth.has_value());
  std::string near = kWebToken;
  near.back() = 'x';
  for (const std::string& header :
       {std::string(), std::string("Bearer "), "Basic " + kWebToken, "Bearer " + near,
        "Bearer " + kWebToken + "x", "Bearer " + kWebToken.substr(1), std::string("Bearer short"),
        "Bearer " + std::string(300, 'w'), "Bearer " + kWebToken.substr(0, 39) + "\x01",
        kWebToken}) {
    RequestInfo r;
    r.authorization = header;
    auto a = (*auth)->Authenticate(r);
    ASSERT_FALSE(a.has_value()) << header;
    EXPECT_NE(a.error().code, Errc::kPermissionDenied);  // -> 401
    EXPECT_EQ(a.error().message.find(kWebToken.substr(0, 8)), std::string::npos);
  }
}

TEST(ServiceTokenAuthenticatorTest, TheWebTierActsForAUserThroughItsSession) {
  auto auth = ServiceTokenAuthenticator::FromText(TokensText(), std::make_shared<FakeSessions>());
  ASSERT_TRUE(auth.has_value());
  RequestInfo r = WithBearer(kWebToken);
  r.session_token = "sess-alice";
  r.forwarded_client_ip = "2001:db8::7";
  r.forwarded_user_agent = "Mozilla/5.0\x07";
  auto user = (*auth)->Authenticate(r);
  ASSERT_TRUE(user.has_value()) << user.error().ToString();
  EXPECT_EQ(user->kind(), v1::Actor::KIND_USER);
  EXPECT_EQ(user->id(), "usr_alice");
  EXPECT_EQ(user->via(), "web-1");
  EXPECT_EQ(user->source_ip(), "2001:db8::7");
  EXPECT_EQ(user->user_agent(), "Mozilla/5.0");  // control characters dropped

  r.session_token = "sess-unknown";
  EXPECT_FALSE((*auth)->Authenticate(r).has_value());
  r.session_token = "sess-alice";
  r.forwarded_client_ip = "not-an-ip";
  EXPECT_FALSE((*auth)->Authenticate(r).has_value());

  // Only the web tier speaks for users: an operator or a reconciler forwarding one is refused.
  for (const std::string& token : {kOpToken, kHostToken}) {
    RequestInfo other = WithBearer(token);
    other.session_token = "sess-alice";
    auto a = (*auth)->Authenticate(other);
    ASSERT_FALSE(a.has_value());
    EXPECT_EQ(a.error().code, Errc::kPermissionDenied);
    other.session_token.clear();
    other.forwarded_client_ip = "192.0.2.1";
    EXPECT_EQ((*auth)->Authenticate(other).error().code, Errc::kPermissionDenied);
  }

  // Without a session resolver, a forwarded session cannot be honoured.
  auto no_sessions = ServiceTokenAuthenticator::FromText(TokensText(), nullptr);
  RequestInfo s = WithBearer(kWebToken);
  s.session_token = "sess-alice";
  EXPECT_FALSE((*no_sessions)->Authenticate(s).has_value());
}

TEST(ServiceTokenAuthenticatorTest, BadFilesAreRefusedWithTheLineAndNoToken) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "names no service"},
      {"# only a comment\n", "names no service"},
      {"web web-1\n", "line 1"},
      {"root r " + kWebToken + "\n", "KIND must be"},
      {"web bad/id " + kWebToken + "\n", "ID must be"},
      {"\nweb w tooshort\n", "line 2"},
      {"web w1 " + kWebToken + "\nweb w2 " + kWebToken + "\n", "already given"},
  };
  for (const auto& [text, expected] : cases) {
    auto a = ServiceTokenAuthenticator::FromText(text, nullptr);
    ASSERT_FALSE(a.has_value()) << text;
    EXPECT_NE(a.error().message.find(expected), std::string::npos) << a.error().message;
    EXPECT_EQ(a.error().message.find(kWebToken), std::string::npos);
  }
}

TEST(ServiceTokenAuthenticatorTest, FileMustBePrivate) {
  testing::TempDir dir;
  const std::string path = dir.Sub("tokens");
  { std::ofstream(path) << TokensText(); }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto open = ServiceTokenAuthenticator::FromFile(path, nullptr);
  ASSERT_FALSE(open.has_value());
  EXPECT_NE(open.error().message.find("chmod 600"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  open = ServiceTokenAuthenticator::FromFile(path, nullptr);
  ASSERT_TRUE(open.has_value()) << open.error().ToString();
  EXPECT_EQ((*open)->service_count(), 3u);
  EXPECT_FALSE(ServiceTokenAuthenticator::FromFile(dir.Sub("missing"), nullptr).has_value());
  EXPECT_FALSE(ServiceTokenAuthenticator::FromFile(dir.path().string(), nullptr).has_value());
}

TEST(ServiceTokenAuthenticatorTest, IpLiterals) {
  EXPECT_TRUE(IsIpLiteral("127.0.0.1"));
  EXPECT_TRUE(IsIpLiteral("::1"));
  EXPECT_TRUE(IsIpLiteral("2001:db8::7"));
  EXPECT_FALSE(IsIpLiteral(""));
  EXPECT_FALSE(IsIpLiteral("256.0.0.1"));
  EXPECT_FALSE(IsIpLiteral("example.com"));
  EXPECT_FALSE(IsIpLiteral("1.2.3.4 "));
}

}  // namespace
}  // namespace clawvisor
