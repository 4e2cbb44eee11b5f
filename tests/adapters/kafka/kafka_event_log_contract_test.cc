// Runs the EventLog contract suite (tests/contract/event_log_contract.h) UNCHANGED against
// KafkaEventLog on a real Apache Kafka broker (the shared single-node cluster). Each test gets
// its own pair of topics, created through the admin API and deleted afterwards, and its own
// consumer-group names.

#include <memory>
#include <random>

#include "adapters/kafka/kafka_admin.h"
#include "adapters/kafka/kafka_event_log.h"
#include "tests/contract/event_log_contract.h"
#include "tests/support/kafka_cluster.h"

namespace clawvisor {
namespace {

std::string Unique(const std::string& test_name) {
  std::string out;
  for (char c : test_name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  std::random_device rd;
  return out + "-" + std::to_string(rd() % 1000000);
}

class KafkaEventLogUnderTest : public contract::EventLogUnderTest {
 public:
  explicit KafkaEventLogUnderTest(const contract::EventLogContractSpec& spec)
      : bootstrap_(testing::SharedKafkaCluster()), prefix_(Unique(spec.test_name)) {
    auto admin = KafkaAdmin::Connect(bootstrap_, std::chrono::seconds(30));
    EXPECT_TRUE(admin.has_value()) << admin.error().ToString();
    if (!admin) return;
    admin_ = std::move(*admin);
    for (const std::string& topic : {CommandsTopic(), EventsTopic()}) {
      auto created = admin_->Create({topic, spec.partitions, 1, {}});
      EXPECT_TRUE(created.has_value()) << created.error().ToString();
    }
  }
  ~KafkaEventLogUnderTest() override {
    if (admin_) {
      (void)admin_->Delete(CommandsTopic());
      (void)admin_->Delete(EventsTopic());
    }
  }

  std::string CommandsTopic() const override { return prefix_ + ".commands"; }
  std::string EventsTopic() const override { return prefix_ + ".events"; }
  std::string Group(std::string_view base) const override {
    return prefix_ + "." + std::string(base);
  }

  Result<std::unique_ptr<EventLog>> Open() override {
    KafkaEventLogOptions options;
    options.bootstrap_servers = bootstrap_;
    auto log = KafkaEventLog::Open(options);
    if (!log) return std::unexpected(log.error());
    return std::unique_ptr<EventLog>(std::move(*log));
  }

 private:
  std::string bootstrap_;
  std::string prefix_;
  std::unique_ptr<KafkaAdmin> admin_;
};

CLAWVISOR_EVENT_LOG_CONTRACT(KafkaEventLog,
                             [](const contract::EventLogContractSpec& spec)
                                 -> std::unique_ptr<contract::EventLogUnderTest> {
                               return std::make_unique<KafkaEventLogUnderTest>(spec);
                             });

}  // namespace
}  // namespace clawvisor
