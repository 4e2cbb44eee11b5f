// The front door's pure rules: routing, the token query parameter, cookies.
#include "adapters/front_door/request_rules.h"

#include <gtest/gtest.h>

namespace clawvisor::front_door {
namespace {

// Path mode strips the prefix; host mode keeps the path; SNI must name the Host.
TEST(RequestRulesTest, ResolveTarget) {
  auto t = ResolveTarget("example.com", "", "/instances/ab-12/x/y?q=1", "fd.test");
  EXPECT_EQ(t.kind, Target::Kind::kInstance);
  EXPECT_FALSE(t.host_mode);
  EXPECT_EQ(t.instance_id, "ab-12");
  EXPECT_EQ(t.upstream_target, "/x/y?q=1");
  t = ResolveTarget("ab-12.FD.test:8443", "ab-12.fd.test", "/x", "fd.test");
  EXPECT_EQ(t.kind, Target::Kind::kInstance);
  EXPECT_TRUE(t.host_mode);
  EXPECT_EQ(t.upstream_target, "/x");
  EXPECT_EQ(ResolveTarget("ab-12.fd.test", "cd.fd.test", "/", "fd.test").kind,
            Target::Kind::kMisdirected);
  EXPECT_EQ(ResolveTarget("x.ab.fd.test", "", "/", "fd.test").kind, Target::Kind::kNotFound);
  EXPECT_EQ(ResolveTarget("h", "", "/instances/ab?x=1", "").location, "/instances/ab/?x=1");
  EXPECT_EQ(ResolveTarget("h", "", "/instances/AB/", "").kind, Target::Kind::kNotFound);
  EXPECT_EQ(ResolveTarget("h", "", "/healthz", "").kind, Target::Kind::kHealth);
  EXPECT_TRUE(
      ResolveTarget("h", "", "/instances/ab/_clawvisor/session?link=1", "").session_endpoint);
  EXPECT_FALSE(IsValidInstanceId(std::string(65, 'a')));
}

// "/hooks/{token}{rest}" is a webhook path on any host: the gateway sees "/hooks{rest}"; a token
// of another shape is nothing.
TEST(RequestRulesTest, WebhookPaths) {
  const std::string token(43, 'Q');
  auto t = ResolveTarget("h", "", "/hooks/" + token + "/telegram?x=1", "fd.test");
  EXPECT_EQ(t.kind, Target::Kind::kWebhook);
  EXPECT_EQ(t.webhook_token, token);
  EXPECT_EQ(t.upstream_target, "/hooks/telegram?x=1");
  EXPECT_TRUE(t.instance_id.empty());
  EXPECT_EQ(ResolveTarget("h", "", "/hooks/" + token, "").upstream_target, "/hooks");
  EXPECT_EQ(ResolveTarget("h", "", "/hooks/" + token + "?a", "").upstream_target, "/hooks?a");
  EXPECT_EQ(ResolveTarget("h", "", "/hooks/" + std::string(42, 'Q') + "/x", "").kind,
            Target::Kind::kNotFound);
  EXPECT_EQ(ResolveTarget("h", "", "/hooks/" + std::string(42, 'Q') + "=/x", "").kind,
            Target::Kind::kNotFound);
  EXPECT_EQ(ResolveTarget("h", "", "/hooks/", "").kind, Target::Kind::kNotFound);
  for (const char* escape : {"/..", "/../x", "/./x", "/%2e%2e/x", "/a%2Fb", "//x", "/x/", "/a\\b",
                             "/a/../../x", "/x;y"}) {
    EXPECT_EQ(ResolveTarget("h", "", "/hooks/" + token + escape, "").kind, Target::Kind::kNotFound)
        << escape;
  }
  // On an instance's own host name, /hooks/ is the gateway's path like any other.
  EXPECT_EQ(ResolveTarget("ab.fd.test", "", "/hooks/" + token + "/x", "fd.test").kind,
            Target::Kind::kInstance);
}

// Every token parameter goes; the others stay as sent.
TEST(RequestRulesTest, TakeQueryParam) {
  std::string target = "/p?a=1&token=x%2By&b=%20&token=z";
  EXPECT_EQ(TakeQueryParam(target, "token"), "x+y");
  EXPECT_EQ(target, "/p?a=1&b=%20");
  target = "/p?token=x";
  EXPECT_EQ(TakeQueryParam(target, "token"), "x");
  EXPECT_EQ(target, "/p");
  EXPECT_EQ(TakeQueryParam(target, "token"), std::nullopt);
}

// The front door's cookies are found, and removed from what goes upstream.
TEST(RequestRulesTest, Cookies) {
  const std::string header = "a=1; __Host-clawvisor_console=v1;clawvisor_console_ab=v2; b=2";
  EXPECT_EQ(CookieValue(header, "__Host-clawvisor_console"), "v1");
  EXPECT_EQ(CookieValue(header, "clawvisor_console_ab"), "v2");
  EXPECT_EQ(WithoutFrontDoorCookies(header), "a=1; b=2");
  EXPECT_EQ(WithoutFrontDoorCookies("clawvisor_console_ab=v2"), "");
}

}  // namespace
}  // namespace clawvisor::front_door
