// MetricsServer: the scrape and probe endpoints of the services without an API.

#include "adapters/http/metrics_server.h"

#include <gtest/gtest.h>

#include <atomic>

#include "tests/support/http_client.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;

TEST(MetricsServerTest, ServesMetricsAndProbes) {
  MetricsRegistry metrics;
  metrics.GetCounter("clawvisor_test_things_total", "Things counted by the test.").Inc();
  std::atomic<bool> ready{false};
  auto server = MetricsServer::Start("127.0.0.1", 0, metrics, [&] { return ready.load(); });
  ASSERT_TRUE(server) << server.error().ToString();
  const uint16_t port = (*server)->port();
  ASSERT_GT(port, 0);

  auto scraped = HttpRequest(port, "GET", "/metrics");
  EXPECT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.body.find("clawvisor_test_things_total 1"), std::string::npos) << scraped.body;
  EXPECT_NE(scraped.headers["content-type"].find("text/plain"), std::string::npos);
  EXPECT_EQ(HttpRequest(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(HttpRequest(port, "GET", "/readyz").status, 503);
  ready = true;
  EXPECT_EQ(HttpRequest(port, "GET", "/readyz").status, 200);
  EXPECT_EQ(HttpRequest(port, "GET", "/v1/accounts").status, 404);
  EXPECT_EQ(HttpRequest(port, "POST", "/metrics", "").status, 405);
  // A body is refused: the connection is closed without an answer.
  EXPECT_EQ(HttpRequest(port, "POST", "/metrics", "x").status, 0);
}

TEST(MetricsServerTest, BadAddressIsRefused) {
  MetricsRegistry metrics;
  auto server = MetricsServer::Start("not-an-address", 0, metrics, nullptr);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace clawvisor
