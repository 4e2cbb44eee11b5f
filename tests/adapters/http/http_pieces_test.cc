// The HTTP adapter's pure parts: ids, UTF-8 and JSON checks, request parsing, routing, and the
// default authenticator.

#include <gtest/gtest.h>

#include "adapters/http/authenticator.h"
#include "adapters/http/ids.h"
#include "adapters/http/json_check.h"
#include "adapters/http/request_parsing.h"
#include "adapters/http/router.h"
#include "engine/command/generated_values.h"
#include "engine/random.h"

namespace clawvisor {
namespace {

// RFC 4648 test vectors, lowercase and unpadded.
TEST(IdsTest, Base32MatchesRfc4648) {
  EXPECT_EQ(Base32Lower(""), "");
  EXPECT_EQ(Base32Lower("f"), "my");
  EXPECT_EQ(Base32Lower("fo"), "mzxq");
  EXPECT_EQ(Base32Lower("foo"), "mzxw6");
  EXPECT_EQ(Base32Lower("foob"), "mzxw6yq");
  EXPECT_EQ(Base32Lower("fooba"), "mzxw6ytb");
  EXPECT_EQ(Base32Lower("foobar"), "mzxw6ytboi");
}

// Derived ids match values computed independently (Python hashlib + base64).
TEST(IdsTest, DerivedIdsAreStable) {
  EXPECT_EQ(DeriveAccountId("reg-1"), "acc_ezmk7jnuakax6ypeewbwdfbbge");
  EXPECT_EQ(DeriveInstanceId("acc_1", "create-1"), "ins_werztwz2ssiwgmvv7r327e7d5p");
  EXPECT_NE(DeriveAccountId("reg-2"), DeriveAccountId("reg-1"));
  EXPECT_NE(DeriveInstanceId("acc_2", "create-1"), DeriveInstanceId("acc_1", "create-1"));
  EXPECT_TRUE(IsValidPathId(DeriveAccountId("x")));
  EXPECT_EQ(DeriveAccountId("x").size(), 30u);
}

TEST(IdsTest, IdRules) {
  EXPECT_TRUE(IsValidCommandId("a"));
  EXPECT_TRUE(IsValidCommandId("A-z_0.9:x"));
  EXPECT_TRUE(IsValidCommandId(std::string(128, 'a')));
  EXPECT_FALSE(IsValidCommandId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidCommandId(""));
  EXPECT_FALSE(IsValidCommandId("a b"));
  EXPECT_FALSE(IsValidCommandId("a/b"));
  EXPECT_FALSE(IsValidCommandId("é"));
  EXPECT_TRUE(IsValidPathId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidPathId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidPathId(".."));
  EXPECT_FALSE(IsValidPathId("."));
  EXPECT_TRUE(IsValidPathId("..."));
}

TEST(JsonCheckTest, Utf8) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(FindInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("\xe0\x80\xaf"), 0u);      // overlong, 3 bytes
  EXPECT_EQ(FindInvalidUtf8("ab\xed\xa0\x80"), 2u);    // surrogate U+D800
  EXPECT_EQ(FindInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("\xf5\x80\x80\x80"), 0u);
  EXPECT_EQ(FindInvalidUtf8("x\xe2\x82"), 1u);  // truncated
  EXPECT_EQ(FindInvalidUtf8("\x80"), 0u);       // lone continuation
  EXPECT_EQ(FindInvalidUtf8("\xff"), 0u);
}

TEST(JsonCheckTest, AcceptsStrictJsonObjects) {
  for (const char* ok : {R"({})", R"( {"a":1} )", R"({"a":[1,-2.5e+3,true,false,null,{}]})",
                         R"({"a":"\u00e9\ud83d\ude00\n\"\\\/"})", "{\"a\":\"\xc3\xa9\"}",
                         R"({"a":{"b":{"a":1}}})"}) {
    EXPECT_EQ(CheckJsonObject(ok), std::nullopt) << ok;
  }
}

TEST(JsonCheckTest, RefusesWhatProtobufWouldTolerate) {
  for (const char* bad : {"",
                          "  ",
                          "[]",
                          "\"s\"",
                          "{'a':1}",
                          "{a:1}",
                          R"({"a":1,})",
                          R"({"a":01})",
                          R"({"a":1} {})",
                          R"({"a":"\x"})",
                          R"({"a":"\ud800"})",
                          R"({"a":"\udc00"})",
                          "{\"a\":\"\x01\"}",
                          R"({"a":1,"a":2})",
                          R"({"command_id":1,"commandId":2})",
                          R"({"a":tru})",
                          R"({"a":.5})",
                          R"({"a":1.})",
                          R"({"a":-})",
                          R"({"a")",
                          R"({"a":[1 2]})"}) {
    EXPECT_NE(CheckJsonObject(bad), std::nullopt) << bad;
  }
  std::string deep(kMaxJsonDepth, '[');
  deep = "{\"a\":" + deep + std::string(kMaxJsonDepth, ']') + "}";
  EXPECT_NE(CheckJsonObject(deep), std::nullopt);
}

TEST(JsonCheckTest, ErrorsNameAnOffsetNotTheContent) {
  const auto error = CheckJsonObject(R"({"password":"hunter2",})");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->message.find("hunter2"), std::string::npos);
  EXPECT_NE(error->message.find("at byte"), std::string::npos);
}

TEST(RequestParsingTest, Timestamps) {
  EXPECT_EQ(ParseTimestampUs("0"), 0);
  EXPECT_EQ(ParseTimestampUs("1767323045123456"), 1767323045123456);
  EXPECT_EQ(ParseTimestampUs("-5"), -5);
  EXPECT_EQ(ParseTimestampUs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseTimestampUs("2026-01-02T03:04:05.123456Z"), 1767323045123456);
  EXPECT_EQ(ParseTimestampUs("2026-01-02t03:04:05.1234569z"), 1767323045123456);  // truncated
  EXPECT_EQ(ParseTimestampUs("2026-01-02T05:04:05+02:00"), 1767323045000000);
  EXPECT_EQ(ParseTimestampUs("2026-01-01T23:04:05-04:00"), 1767323045000000);
  EXPECT_EQ(ParseTimestampUs("2024-02-29T00:00:00Z"), 1709164800000000);  // leap day
  for (const char* bad :
       {"", "-", "+5", "1e6", "99999999999999999999", "2026-01-02", "2026-01-02T03:04:05",
        "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-01-02T24:00:00Z",
        "2026-01-02T03:04:05.Z", "2026-01-02T03:04:05+2:00", "2026-01-02T03:04:05Zjunk"}) {
    EXPECT_EQ(ParseTimestampUs(bad), std::nullopt) << bad;
  }
}

TEST(RequestParsingTest, QueryAndPercentDecoding) {
  auto q = ParseQuery("a=1&b=x%2By+z&c&&d=%41");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[1], (std::pair<std::string, std::string>("b", "x+y+z")));
  EXPECT_EQ((*q)[2], (std::pair<std::string, std::string>("c", "")));
  EXPECT_EQ((*q)[3].second, "A");
  EXPECT_FALSE(ParseQuery("a=%4").has_value());
  EXPECT_FALSE(ParseQuery("a=%zz").has_value());
  EXPECT_FALSE(PercentDecode("a%00b").has_value());
  EXPECT_EQ(PercentDecode("acc%3A1"), "acc:1");
}

TEST(RequestParsingTest, JsonContentType) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON"));
  EXPECT_TRUE(IsJsonContentType("application/json; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType("application/json;charset=\"UTF-8\""));
  EXPECT_FALSE(IsJsonContentType(""));
  EXPECT_FALSE(IsJsonContentType("text/json"));
  EXPECT_FALSE(IsJsonContentType("application/json-patch+json"));
  EXPECT_FALSE(IsJsonContentType("application/json; charset=iso-8859-1"));
  EXPECT_FALSE(IsJsonContentType("application/json; boundary=x"));
}

TEST(RouterTest, MatchesTemplatesAndReportsAllowedMethods) {
  RouteMatch m = MatchRoute("POST", "/v1/accounts/acc_1/instances/ins_2/start");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->id, RouteId::kStartInstance);
  EXPECT_EQ(m.path_template, "/v1/accounts/{account_id}/instances/{instance_id}/start");
  EXPECT_EQ(m.account_id, "acc_1");
  EXPECT_EQ(m.instance_id, "ins_2");

  m = MatchRoute("PUT", "/v1/accounts/acc_1/instances");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allow, "GET, POST");
  EXPECT_EQ(m.path_template, "/v1/accounts/{account_id}/instances");

  m = MatchRoute("GET", "/v1/accounts/acc_1/commands/cmd:1");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->id, RouteId::kGetCommand);
  EXPECT_EQ(m.command_id, "cmd:1");

  for (const char* miss : {"/", "/v1", "/v1/accounts/", "/v1/accounts//members",
                           "/v1/accounts/a/instances/i/reboot", "/healthz/", "//healthz"}) {
    m = MatchRoute("GET", miss);
    EXPECT_EQ(m.route, nullptr) << miss;
    EXPECT_TRUE(m.allow.empty()) << miss;
    EXPECT_EQ(m.path_template, kUnmatchedRoute) << miss;
  }
}

TEST(AuthenticatorTest, LocalServiceActor) {
  RequestInfo info;
  info.peer_ip = "127.0.0.1";
  info.user_agent = "web-tier/2.1";
  LocalServiceAuthenticator auth;
  auto actor = auth.Authenticate(info);
  ASSERT_TRUE(actor.has_value());
  EXPECT_EQ(actor->kind(), v1::Actor::KIND_SERVICE);
  EXPECT_EQ(actor->id(), "local");
  EXPECT_EQ(actor->role(), v1::ROLE_OWNER);
  EXPECT_EQ(actor->source_ip(), "127.0.0.1");
  EXPECT_EQ(actor->user_agent(), "web-tier/2.1");
}

TEST(AuthenticatorTest, UserAgentIsSanitized) {
  EXPECT_EQ(SanitizeUserAgent("a\tb\x01\x7f"
                              "c\r\n"),
            "abc");
  EXPECT_EQ(SanitizeUserAgent("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(SanitizeUserAgent("x\xc2\x85y"), "xy");  // C1 control NEL
  EXPECT_EQ(SanitizeUserAgent("x\xff\xc0y"), "xy");  // invalid bytes dropped
  EXPECT_EQ(SanitizeUserAgent(std::string(300, 'a')).size(), kMaxUserAgentBytes);
  // Never cut inside a character: 255 ASCII bytes then a 2-byte one does not fit.
  const std::string ua = std::string(255, 'a') + "\xc3\xa9";
  EXPECT_EQ(SanitizeUserAgent(ua), std::string(255, 'a'));
}

}  // namespace
}  // namespace clawvisor

namespace clawvisor {
namespace {

// Only loopback names pass the Host check of a loopback server (DNS rebinding).
TEST(RequestParsingTest, LoopbackHostHeader) {
  for (const char* ok :
       {"", "127.0.0.1", "127.0.0.1:8470", "localhost", "localhost:1", "[::1]", "[::1]:8470"}) {
    EXPECT_TRUE(IsLoopbackHostHeader(ok)) << ok;
  }
  for (const char* bad : {"attacker.example", "attacker.example:8470", "127.0.0.1.evil.com",
                          "[::2]", "[::1]x", "localhost.evil"}) {
    EXPECT_FALSE(IsLoopbackHostHeader(bad)) << bad;
  }
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0"));
}

// The values the API draws go into the command; a client that set one is refused by name.
TEST(GeneratedValuesTest, DrawsWhatThePayloadNeedsAndRefusesClientValues) {
  SeededRandom random(7);
  v1::Command create;
  create.mutable_create_instance()->set_name("bot");
  auto drawn = DrawGeneratedValues(create, random);
  ASSERT_TRUE(drawn.has_value());
  EXPECT_EQ(drawn->gateway_token.size(), 43u);
  EXPECT_EQ(create.create_instance().gateway_token(), drawn->gateway_token);
  // The data disk's passphrase is drawn too, and shown to nobody.
  EXPECT_EQ(create.create_instance().volume_key().size(), 43u);
  EXPECT_NE(create.create_instance().volume_key(), drawn->gateway_token);
  v1::Command chosen_key;
  chosen_key.mutable_create_instance()->set_volume_key("mine");
  EXPECT_EQ(DrawGeneratedValues(chosen_key, random).error().message,
            "volume_key is generated by the API; omit it");

  v1::Command enroll;
  enroll.mutable_enroll_totp();
  drawn = DrawGeneratedValues(enroll, random);
  ASSERT_TRUE(drawn.has_value() && drawn->totp.has_value());
  EXPECT_EQ(drawn->totp->recovery_codes.size(), 10u);
  EXPECT_EQ(enroll.enroll_totp().secret(), drawn->totp->secret);

  v1::Command plain;
  plain.mutable_start_instance()->set_instance_id("ins_1");
  drawn = DrawGeneratedValues(plain, random);
  ASSERT_TRUE(drawn.has_value());
  EXPECT_TRUE(drawn->gateway_token.empty() && drawn->reset_token.empty() && !drawn->totp);

  create.mutable_create_instance()->set_gateway_token("chosen");
  drawn = DrawGeneratedValues(create, random);
  ASSERT_FALSE(drawn.has_value());
  EXPECT_EQ(drawn.error().message, "gateway_token is generated by the API; omit it");
}

}  // namespace
}  // namespace clawvisor
