// --kafka-config: the operator's librdkafka properties, checked at start; values never shown.

#include "adapters/kafka/kafka_client_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

TEST(KafkaClientConfigTest, ParsesPropertiesCommentsAndBlankLines) {
  auto parsed = ParseKafkaClientConfig(
      "# production cluster\n"
      "security.protocol = SASL_SSL\n"
      "\n"
      "sasl.mechanism=SCRAM-SHA-512\r\n"
      "sasl.username=clawvisor\n"
      "sasl.password=pa=ss=word\n");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 4u);
  EXPECT_EQ((*parsed)[0], (std::pair<std::string, std::string>{"security.protocol", "SASL_SSL"}));
  EXPECT_EQ((*parsed)[3].second, "pa=ss=word") << "only the first '=' separates";
}

TEST(KafkaClientConfigTest, RefusesWhatTheGuaranteesRestOn) {
  for (const char* line : {"transactional.id=x", "enable.idempotence=false", "acks=1",
                           "isolation.level=read_uncommitted", "group.id=other",
                           "bootstrap.servers=elsewhere:9092", "enable.auto.commit=true"}) {
    auto parsed = ParseKafkaClientConfig(line);
    ASSERT_FALSE(parsed) << line;
    EXPECT_EQ(parsed.error().code, Errc::kInvalidArgument);
  }
}

TEST(KafkaClientConfigTest, AnUnknownKeyOrBadValueIsRefusedWithoutShowingTheValue) {
  auto unknown = ParseKafkaClientConfig("sasl.pasword=Canary-Secret-91x\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("line 1"), std::string::npos);
  EXPECT_EQ(unknown.error().message.find("Canary-Secret-91x"), std::string::npos);
  auto bad = ParseKafkaClientConfig("security.protocol=Canary-Secret-91x\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.find("Canary-Secret-91x"), std::string::npos);
  EXPECT_FALSE(ParseKafkaClientConfig("no equals sign\n"));
}

TEST(KafkaClientConfigTest, TheFileMustBeThisUsersAndPrivate) {
  testing::TempDir dir;
  const auto path = dir.path() / "kafka.properties";
  std::ofstream(path) << "client.id=clawvisor\n";
  ::chmod(path.c_str(), 0644);
  auto open_to_all = LoadKafkaClientConfig(path);
  ASSERT_FALSE(open_to_all);
  EXPECT_NE(open_to_all.error().message.find("0600"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  auto loaded = LoadKafkaClientConfig(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->size(), 1u);
  EXPECT_FALSE(LoadKafkaClientConfig(dir.path() / "missing"));
}

}  // namespace
}  // namespace clawvisor
