// `clawvisor kafka init` against the shared real broker: creates the topics, accepts them on a
// second run, and refuses (changing nothing) a run whose layout differs from what exists.

#include <gtest/gtest.h>

#include "adapters/kafka/kafka_admin.h"
#include "events/event_log.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/serve_process.h"

namespace clawvisor {
namespace {

TEST(KafkaInitCli, CreatesChecksAndRefuses) {
  const std::string bootstrap = testing::SharedKafkaCluster();
  ASSERT_FALSE(bootstrap.empty());
  const std::vector<std::string> base{"kafka",
                                      "init",
                                      "--bootstrap-servers",
                                      bootstrap,
                                      "--partitions",
                                      "4",
                                      "--replication-factor",
                                      "1",
                                      "--min-insync-replicas",
                                      "1"};
  auto first = testing::RunClawvisor(base);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto again = testing::RunClawvisor(base);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("clawvisor.events: exists, configuration is safe"), std::string::npos)
      << again.out;

  auto admin = KafkaAdmin::Connect(bootstrap, std::chrono::seconds(30));
  ASSERT_TRUE(admin.has_value());
  auto events = (*admin)->Describe(std::string(kEventsTopic));
  ASSERT_TRUE(events.has_value()) << events.error().ToString();
  EXPECT_EQ(events->partitions, 4);
  EXPECT_EQ(events->config["retention.ms"], "-1");
  EXPECT_EQ(events->config["cleanup.policy"], "delete");

  // Another partition count: refused with EX_DATAERR, nothing changed.
  std::vector<std::string> other = base;
  other[5] = "8";
  auto refused = testing::RunClawvisor(other);
  EXPECT_EQ(refused.exit_code, 65) << refused.err;
  EXPECT_NE(refused.err.find("has 4 partitions, expected 8"), std::string::npos) << refused.err;
  EXPECT_EQ((*admin)->Describe(std::string(kEventsTopic))->partitions, 4);

  // More replicas than brokers: the cluster cannot satisfy it.
  std::vector<std::string> replicated = base;
  replicated[7] = "3";
  EXPECT_EQ(testing::RunClawvisor(replicated).exit_code, 69);
  // Usage errors.
  EXPECT_EQ(testing::RunClawvisor({"kafka", "init"}).exit_code, 64);
  std::vector<std::string> weak = base;
  weak[9] = "2";  // min.insync 2 > replication 1
  EXPECT_EQ(testing::RunClawvisor(weak).exit_code, 64);
  EXPECT_EQ(testing::RunClawvisor({"kafka", "init", "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace clawvisor
