// Runs the EventLog contract suite (tests/contract/event_log_contract.h) UNCHANGED against
// KafkaEventLog on a real Apache Kafka broker (the shared single-node cluster). Each test gets
// its own pair of topics, created through the admin API and deleted afterwards, and its own
// consumer-group names.

#include <librdkafka/rdkafka.h>

#include <future>
#include <memory>
#include <random>
#include <utility>
#include <vector>

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

// Beyond the contract: SettledEndOffset waits while a transaction that wrote to the partition
// is undecided (here one left open by another producer), and answers once it commits, with its
// records readable below the answer.
TEST(KafkaEventLogSettled, WaitsForAnOpenTransactionToBeDecided) {
  const std::string bootstrap = testing::SharedKafkaCluster();
  const std::string topic = Unique("settled") + ".events";
  auto admin = KafkaAdmin::Connect(bootstrap, std::chrono::seconds(30));
  ASSERT_TRUE(admin.has_value()) << admin.error().ToString();
  ASSERT_TRUE((*admin)->Create({topic, 1, 1, {}}).has_value());
  struct DeleteTopic {
    KafkaAdmin& admin;
    std::string topic;
    ~DeleteTopic() { (void)admin.Delete(topic); }
  } delete_topic{**admin, topic};

  // The other writer: a raw transactional producer. Its transaction, if this test fails before
  // committing it, is aborted by the broker after 30 s.
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", bootstrap},
                                                        {"transactional.id", topic + "-txn"},
                                                        {"transaction.timeout.ms", "30000"},
                                                        {"log_level", "3"}}) {
    ASSERT_EQ(rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err),
              RD_KAFKA_CONF_OK)
        << err;
  }
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> producer(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), rd_kafka_destroy);
  ASSERT_NE(producer, nullptr) << err;
  auto check = [](rd_kafka_error_t* e) {
    const std::string message = e == nullptr ? "" : rd_kafka_error_string(e);
    if (e != nullptr) rd_kafka_error_destroy(e);
    return message;
  };
  ASSERT_EQ(check(rd_kafka_init_transactions(producer.get(), 30000)), "");
  ASSERT_EQ(check(rd_kafka_begin_transaction(producer.get())), "");
  {
    std::unique_ptr<rd_kafka_topic_t, void (*)(rd_kafka_topic_t*)> rkt(
        rd_kafka_topic_new(producer.get(), topic.c_str(), nullptr), rd_kafka_topic_destroy);
    for (std::string value : {"a", "b", "c"}) {
      ASSERT_EQ(rd_kafka_produce(rkt.get(), 0, RD_KAFKA_MSG_F_COPY, value.data(), value.size(),
                                 nullptr, 0, nullptr),
                0)
          << rd_kafka_err2str(rd_kafka_last_error());
    }
  }
  ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);  // written

  KafkaEventLogOptions options;
  options.bootstrap_servers = bootstrap;
  auto log = KafkaEventLog::Open(options);
  ASSERT_TRUE(log.has_value()) << log.error().ToString();
  const TopicPartition tp{topic, 0};
  EXPECT_EQ((*log)->EndOffset(tp), 0);  // the LSO stops at the open transaction
  auto settled = std::async(std::launch::async, [&] { return (*log)->SettledEndOffset(tp); });
  // Not answered while the transaction is open (a correct log never answers here at all).
  EXPECT_EQ(settled.wait_for(std::chrono::seconds(2)), std::future_status::timeout);
  ASSERT_EQ(check(rd_kafka_commit_transaction(producer.get(), 30000)), "");
  auto end = settled.get();
  ASSERT_TRUE(end.has_value()) << end.error().ToString();
  EXPECT_GE(*end, 4);  // three records and the commit marker
  auto read = (*log)->Read(tp, 0, 10);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[2].value, "c");
}

}  // namespace
}  // namespace clawvisor
