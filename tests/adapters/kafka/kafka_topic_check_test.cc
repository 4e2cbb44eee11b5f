// What `clawvisor kafka init` creates and which existing topics it refuses (no broker needed).

#include <gtest/gtest.h>

#include "adapters/kafka/kafka_admin.h"
#include "events/event_log.h"

namespace clawvisor {
namespace {

KafkaTopicState StateOf(const KafkaTopicSpec& spec) {
  return KafkaTopicState{spec.name, spec.partitions, spec.replication_factor, spec.config};
}

const KafkaTopicSpec& Find(const std::vector<KafkaTopicSpec>& specs, std::string_view name) {
  for (const auto& s : specs) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("missing topic");
}

TEST(KafkaTopics, EventsAreKeptForeverAndBothTopicsShareTheLayout) {
  const auto specs = ClawvisorTopics({12, 3, 2, std::chrono::hours(48)});
  ASSERT_EQ(specs.size(), 3u);
  const auto& events = Find(specs, kEventsTopic);
  const auto& commands = Find(specs, kCommandsTopic);
  EXPECT_EQ(events.config.at("retention.ms"), "-1");
  EXPECT_EQ(events.config.at("retention.bytes"), "-1");
  EXPECT_EQ(events.config.at("cleanup.policy"), "delete");
  EXPECT_EQ(events.config.at("min.insync.replicas"), "2");
  EXPECT_EQ(events.config.at("unclean.leader.election.enable"), "false");
  EXPECT_EQ(commands.config.at("retention.ms"), std::to_string(48LL * 3600 * 1000));
  EXPECT_EQ(commands.config.at("min.insync.replicas"), "2");
  EXPECT_EQ(events.partitions, 12);
  EXPECT_EQ(commands.partitions, 12);
  EXPECT_EQ(events.replication_factor, 3);
  // A freshly created topic passes its own check.
  for (const auto& spec : specs) EXPECT_TRUE(CheckTopic(spec, StateOf(spec)).empty()) << spec.name;
}

TEST(KafkaTopics, DangerousExistingConfigurationsAreRefused) {
  const auto specs = ClawvisorTopics({12, 3, 2, std::chrono::hours(48)});
  const auto& events = Find(specs, kEventsTopic);
  auto expect_refused = [&](const std::string& what, auto mutate) {
    KafkaTopicState state = StateOf(events);
    mutate(state);
    const auto problems = CheckTopic(events, state);
    ASSERT_FALSE(problems.empty()) << what;
    EXPECT_NE(problems[0].find(events.name), std::string::npos) << problems[0];
  };
  expect_refused("expiring events", [](auto& s) { s.config["retention.ms"] = "604800000"; });
  expect_refused("size-bounded events", [](auto& s) { s.config["retention.bytes"] = "1000000"; });
  expect_refused("compacted events", [](auto& s) { s.config["cleanup.policy"] = "compact"; });
  expect_refused("compact+delete", [](auto& s) { s.config["cleanup.policy"] = "compact,delete"; });
  expect_refused("too few replicas", [](auto& s) { s.replication_factor = 1; });
  expect_refused("weak min.insync", [](auto& s) { s.config["min.insync.replicas"] = "1"; });
  expect_refused("other partitions", [](auto& s) { s.partitions = 6; });
  expect_refused("more partitions", [](auto& s) { s.partitions = 24; });
  expect_refused("unclean election",
                 [](auto& s) { s.config["unclean.leader.election.enable"] = "true"; });
  // Stronger than asked is fine.
  KafkaTopicState stronger = StateOf(events);
  stronger.replication_factor = 5;
  stronger.config["min.insync.replicas"] = "3";
  EXPECT_TRUE(CheckTopic(events, stronger).empty());
  // The keys topic holds latest values: compacted, and never deleted by retention.
  const auto& keys = Find(specs, kKeysTopic);
  EXPECT_EQ(keys.config.at("cleanup.policy"), "compact");
  EXPECT_TRUE(CheckTopic(keys, StateOf(keys)).empty());
  KafkaTopicState deleting = StateOf(keys);
  deleting.config["cleanup.policy"] = "delete";
  EXPECT_FALSE(CheckTopic(keys, deleting).empty());
  deleting.config["cleanup.policy"] = "compact,delete";
  EXPECT_FALSE(CheckTopic(keys, deleting).empty());
  // A destroyed key's bytes must be compacted away within a bound: Kafka's defaults (a 7-day
  // active segment, no maximum compaction lag) would keep them for days or forever.
  KafkaTopicState lingering = StateOf(keys);
  lingering.config.erase("max.compaction.lag.ms");
  EXPECT_FALSE(CheckTopic(keys, lingering).empty());
  lingering = StateOf(keys);
  lingering.config["segment.ms"] = "604800000";
  EXPECT_FALSE(CheckTopic(keys, lingering).empty());
  // Commands may expire (they are transport, not the audit trail).
  const auto& commands = Find(specs, kCommandsTopic);
  KafkaTopicState expiring = StateOf(commands);
  expiring.config["retention.ms"] = "3600000";
  EXPECT_TRUE(CheckTopic(commands, expiring).empty());
  // ... but not before a processor could decide them.
  expiring.config["retention.ms"] = "0";
  EXPECT_FALSE(CheckTopic(commands, expiring).empty());
  expiring.config["retention.ms"] = "60000";
  EXPECT_FALSE(CheckTopic(commands, expiring).empty());
  KafkaTopicState bounded = StateOf(commands);
  bounded.config["retention.bytes"] = "1000000";
  EXPECT_FALSE(CheckTopic(commands, bounded).empty());
}

}  // namespace
}  // namespace clawvisor
