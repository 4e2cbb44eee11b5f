// The egress gateway's pure rules: host names and patterns, CONNECT requests, refused address
// ranges and the byte-rate bucket (design D9).
#include <gtest/gtest.h>

#include "engine/egress/connect_request.h"
#include "engine/egress/destination_filter.h"
#include "engine/egress/host_name.h"
#include "engine/egress/token_bucket.h"

namespace clawvisor::egress {
namespace {

TEST(HostNameTest, NamesAreLowerCasedAndAddressesAndJunkRefused) {
  EXPECT_EQ(NormalizeHostName("API.Telegram.ORG"), "api.telegram.org");
  EXPECT_EQ(NormalizeHostName("localhost"), "localhost");
  for (const char* bad : {"", ".", "a..b", "-a.com", "a-.com", "a.com.", "a_b.com", "10.0.0.1",
                          "1.2.3.4", "[::1]", "a b.com", "a.com:443", "ex\xc3\xa4mple.com"}) {
    EXPECT_FALSE(NormalizeHostName(bad).has_value()) << bad;
  }
  EXPECT_FALSE(NormalizeHostName(std::string(64, 'a') + ".com").has_value());
  EXPECT_FALSE(NormalizeHostName(
                   std::string(250, 'a').insert(60, ".").insert(120, ".").insert(180, ".") + ".com")
                   .has_value());
}

TEST(HostPatternTest, ExactNamesAndWildcardsBelowAName) {
  auto patterns = ParseHostPatterns("api.openai.com,*.telegram.org");
  ASSERT_TRUE(patterns.has_value()) << patterns.error().message;
  ASSERT_EQ(patterns->size(), 2u);
  EXPECT_NE(FirstMatch(*patterns, "api.openai.com"), nullptr);
  EXPECT_EQ(FirstMatch(*patterns, "evil-api.openai.com"), nullptr);
  EXPECT_EQ(FirstMatch(*patterns, "openai.com"), nullptr);
  EXPECT_EQ(FirstMatch(*patterns, "api.telegram.org")->text(), "*.telegram.org");
  EXPECT_EQ(FirstMatch(*patterns, "a.b.telegram.org")->text(), "*.telegram.org");
  EXPECT_EQ(FirstMatch(*patterns, "telegram.org"), nullptr);
  EXPECT_EQ(FirstMatch(*patterns, "nottelegram.org"), nullptr);
  EXPECT_TRUE(ParseHostPatterns("")->empty());
  for (const char* bad : {"*", "*.", "a.*.com", "api.openai.com,", "**.x.com", "10.0.0.0"}) {
    EXPECT_FALSE(ParseHostPatterns(bad).has_value()) << bad;
  }
}

TEST(ConnectRequestTest, AConnectToANameOnPort443IsAccepted) {
  const std::string head =
      "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n";
  const ConnectScan scan = ScanConnectRequest(head + "\x16\x03\x01");
  ASSERT_EQ(scan.state, ConnectScanState::kComplete) << scan.problem;
  EXPECT_EQ(scan.host, "api.openai.com");
  EXPECT_EQ(scan.port, 443);
  EXPECT_EQ(scan.head_bytes, head.size());
  EXPECT_EQ(ScanConnectRequest(head.substr(0, 20)).state, ConnectScanState::kNeedMore);
}

TEST(ConnectRequestTest, EverythingElseIsRefusedWithAStatus) {
  struct Case {
    std::string request;
    int status;
  };
  const Case cases[] = {
      {"GET http://example.com/ HTTP/1.1\r\n\r\n", 405},
      {"GET ", 405},  // refused before the head is complete
      {"CONNECT example.com:80 HTTP/1.1\r\n\r\n", 403},
      {"CONNECT 169.254.169.254:443 HTTP/1.1\r\n\r\n", 403},
      {"CONNECT [::1]:443 HTTP/1.1\r\n\r\n", 403},
      {"CONNECT example.com HTTP/1.1\r\n\r\n", 400},
      {"CONNECT example.com:x HTTP/1.1\r\n\r\n", 400},
      {"CONNECT example.com:443 HTTP/2\r\n\r\n", 400},
      {"CONNECT  example.com:443 HTTP/1.1\r\n\r\n", 400},
      {"CONNECT example.com:443 HTTP/1.1 x\r\n\r\n", 400},
      {"CONNECT example.com:443 HTTP/1.1\r\nX: " + std::string(kMaxConnectHeadBytes, 'a'), 431},
  };
  for (const auto& c : cases) {
    const ConnectScan scan = ScanConnectRequest(c.request);
    EXPECT_EQ(scan.state, ConnectScanState::kRefused) << c.request.substr(0, 60);
    EXPECT_EQ(scan.status, c.status) << c.request.substr(0, 60);
    EXPECT_FALSE(scan.problem.empty());
  }
}

TEST(DestinationFilterTest, OnlyPublicUnicastAddressesMayBeDialled) {
  const DestinationFilter filter;
  const std::pair<const char*, const char*> refused[] = {
      {"127.0.0.1", "loopback"},
      {"127.9.9.9", "loopback"},
      {"10.1.2.3", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.168.1.1", "private"},
      {"100.64.0.1", "cgnat"},
      {"100.127.255.254", "cgnat"},
      {"169.254.169.254", "link-local"},
      {"0.0.0.0", "unspecified"},
      {"224.0.0.1", "multicast"},
      {"255.255.255.255", "reserved"},
      {"192.0.2.1", "documentation"},
      {"198.18.0.1", "benchmarking"},
      {"::1", "loopback"},
      {"::", "unspecified"},
      {"fe80::1", "link-local"},
      {"fd00::1", "unique-local"},
      {"fc00::1", "unique-local"},
      {"ff02::1", "multicast"},
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:169.254.169.254", "link-local"},
      {"64:ff9b::a9fe:a9fe", "link-local"},
      {"2002:0a00:0001::1", "private"},
      {"2001:db8::1", "documentation"},
  };
  for (const auto& [text, range] : refused) {
    auto address = IpAddress::Parse(text);
    ASSERT_TRUE(address.has_value()) << text;
    EXPECT_EQ(filter.Refusal(*address), std::optional<std::string>(range)) << text;
  }
  for (const char* text : {"1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1",
                           "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_EQ(filter.Refusal(*IpAddress::Parse(text)), std::nullopt) << text;
  }
}

TEST(DestinationFilterTest, HostAddressesAreRefusedEvenWhenTreatedAsPublic) {
  const DestinationFilter filter({*IpAddress::Parse("203.0.113.7"), *IpAddress::Parse("127.0.0.1")},
                                 {*Cidr::Parse("127.0.0.0/8"), *Cidr::Parse("203.0.113.0/24")});
  EXPECT_EQ(filter.Refusal(*IpAddress::Parse("127.0.0.1")), "host address");
  EXPECT_EQ(filter.Refusal(*IpAddress::Parse("::ffff:127.0.0.1")), "host address");
  EXPECT_EQ(filter.Refusal(*IpAddress::Parse("203.0.113.7")), "host address");
  EXPECT_EQ(filter.Refusal(*IpAddress::Parse("127.55.1.2")), std::nullopt);  // the test's internet
  EXPECT_EQ(filter.Refusal(*IpAddress::Parse("10.0.0.1")), "private");
}

TEST(CidrTest, ParsesAndContains) {
  EXPECT_TRUE(Cidr::Parse("10.0.0.0/8")->Contains(*IpAddress::Parse("10.255.0.1")));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/8")->Contains(*IpAddress::Parse("11.0.0.1")));
  EXPECT_TRUE(Cidr::Parse("fc00::/7")->Contains(*IpAddress::Parse("fdff::1")));
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/8")->Contains(*IpAddress::Parse("::ffff:10.0.0.1")));
  EXPECT_TRUE(Cidr::Parse("1.2.3.4")->Contains(*IpAddress::Parse("1.2.3.4")));
  EXPECT_TRUE(Cidr::Parse("0.0.0.0/0")->Contains(*IpAddress::Parse("9.9.9.9")));
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "fc00::/129", "host/8"}) {
    EXPECT_FALSE(Cidr::Parse(bad).has_value()) << bad;
  }
  EXPECT_EQ(IpAddress::Parse("fd00::1")->ToString(), "fd00::1");
}

TEST(TokenBucketTest, ABurstPassesThenTheRateHolds) {
  TokenBucket unlimited(0, 0);
  EXPECT_EQ(unlimited.Take(1, 1 << 30), 0);
  TokenBucket bucket(1000, 500);  // 1000 B/s, 500 B burst
  EXPECT_EQ(bucket.Take(1'000'000, 500), 0);
  // 250 bytes of debt at 1000 B/s: a quarter second.
  EXPECT_NEAR(static_cast<double>(bucket.Take(1'000'000, 250)), 250'000, 2);
  // After the wait the debt is paid, and half a second more refills 500 (capped at the burst).
  EXPECT_EQ(bucket.Take(1'750'000, 500), 0);
  EXPECT_GT(bucket.Take(1'750'000, 1), 0);
}

}  // namespace
}  // namespace clawvisor::egress
