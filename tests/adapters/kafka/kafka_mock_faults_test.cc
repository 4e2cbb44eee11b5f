// Fault injection on librdkafka's mock cluster (rdkafka_mock.h, shipped by Debian's
// librdkafka-dev 2.0.2): request errors on Produce, InitProducerId, EndTxn and AddOffsetsToTxn,
// a broker going down, the transaction and group coordinators moving. Fast and broker-free, so
// it runs under the sanitizers too.
//
// What the mock cannot show: it has no read_committed isolation (records of an aborted
// transaction stay visible) and does not store offsets sent with a transaction
// (TxnOffsetCommit is acknowledged, not applied), so these tests check exactly-once where
// librdkafka or KafkaEventLog recover without aborting (retriable errors) or where the failed
// request stored nothing (a refused Produce), and check the abort/re-create paths by their effect
// on the producer. Exactly-once across real aborts is shown on the real broker
// (kafka_exactly_once_test.cc).

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <set>

#include "adapters/kafka/kafka_event_log.h"
#include "engine/clock.h"
#include "engine/command/processor.h"
#include "engine/command/seal_fields.h"
#include "engine/metrics.h"
#include "engine/partitioner.h"
#include "engine/random.h"
#include "events/codec.h"
#include "tests/support/fake_sealer.h"

namespace clawvisor {
namespace {

// Kafka protocol API keys (stable since their introduction; librdkafka's rdkafka_protocol.h,
// which names them, is not installed).
constexpr int16_t kProduce = 0;
constexpr int16_t kInitProducerId = 22;
constexpr int16_t kAddOffsetsToTxn = 25;
constexpr int16_t kEndTxn = 26;

constexpr int32_t kPartitions = 4;
constexpr const char* kTxnId = "clawvisor-mock-processor";

class MockCluster {
 public:
  MockCluster() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cluster_ = rd_kafka_mock_cluster_new(host_, 3);
    for (auto topic : {kCommandsTopic, kEventsTopic}) {
      rd_kafka_mock_topic_create(cluster_, std::string(topic).c_str(), kPartitions, 3);
    }
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }
  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void Errors(int16_t api, std::vector<rd_kafka_resp_err_t> errors) {
    rd_kafka_mock_push_request_errors_array(cluster_, api, errors.size(), errors.data());
  }
  rd_kafka_mock_cluster_t* get() { return cluster_; }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

class KafkaMockFaultsTest : public ::testing::Test {
 protected:
  std::unique_ptr<KafkaEventLog> OpenLog() {
    KafkaEventLogOptions options;
    options.bootstrap_servers = mock_.bootstrap();
    options.transactional_id = kTxnId;
    auto log = KafkaEventLog::Open(options);
    EXPECT_TRUE(log.has_value()) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }

  void Submit(EventLog& log, int from, int count) {
    std::vector<OutgoingRecord> batch;
    for (int i = from; i < from + count; ++i) {
      v1::Command c;
      c.set_command_id("reg-" + std::to_string(i));
      c.set_account_id("acc_" + std::to_string(i));
      c.set_schema_version(kSchemaVersion);
      c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
      c.mutable_register_account()->set_email("a" + std::to_string(i) + "@example.com");
      ASSERT_TRUE(SealCommandSecrets(c, sealer_).has_value());
      batch.push_back({std::string(kCommandsTopic),
                       PartitionFor(c.account_id(), kPartitions),
                       c.account_id(),
                       EncodeCommand(c),
                       {},
                       0});
    }
    auto appended = log.Append(batch);
    ASSERT_TRUE(appended.has_value()) << appended.error().ToString();
  }

  // Runs the processor until it decided `count` commands (or fails the test).
  void DecideUntil(Processor& processor, size_t count) {
    for (int i = 0; i < 600 && processor.DecidedCommandCount() < count; ++i) {
      auto done = processor.ProcessOnce();
      if (!done) ADD_FAILURE() << "batch failed: " << done.error().ToString();
    }
    ASSERT_EQ(processor.DecidedCommandCount(), count);
  }

  // command id -> number of distinct decisions found in the events topic.
  std::map<std::string, std::set<int64_t>> Decisions(EventLog& log) {
    std::map<std::string, std::set<int64_t>> out;
    for (int32_t p = 0; p < kPartitions; ++p) {
      int64_t next = 0;
      for (;;) {
        auto records = log.Read({std::string(kEventsTopic), p}, next, 1000);
        EXPECT_TRUE(records.has_value()) << records.error().ToString();
        if (!records || records->empty()) break;
        for (const Record& r : *records) {
          auto e = DecodeEnvelope(r.value);
          EXPECT_TRUE(e.has_value());
          if (e) out[e->command_id()].insert(e->occurred_at_us());
          next = r.offset + 1;
        }
      }
    }
    return out;
  }

  MockCluster mock_;
  testing::FakeSealer sealer_;
  SystemClock clock_;
  SeededRandom random_{7};
  MetricsRegistry metrics_;
};

TEST_F(KafkaMockFaultsTest, RetriableFaultsNeitherLoseNorDuplicate) {
  // The producer's InitProducerId meets a coordinator that is not ready yet.
  mock_.Errors(kInitProducerId, {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                 RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS});
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  ProcessorOptions options;
  options.poll_timeout = std::chrono::milliseconds(100);
  Processor processor(*log, sealer_, clock_, random_, metrics_, nullptr, options);
  ASSERT_TRUE(processor.AssignAll().has_value());

  int submitted = 0;
  auto round = [&](const std::function<void()>& fault) {
    fault();
    Submit(*log, submitted, 10);
    submitted += 10;
    DecideUntil(processor, static_cast<size_t>(submitted));
  };
  round([] {});
  round([&] {  // leaders that moved: the idempotent producer retries without duplicating
    mock_.Errors(kProduce,
                 {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                  RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS});
  });
  round([&] {
    mock_.Errors(kEndTxn, {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                           RD_KAFKA_RESP_ERR_NOT_COORDINATOR});
  });
  round([&] {
    mock_.Errors(kAddOffsetsToTxn, {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                    RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS});
  });
  round([&] {  // the transaction coordinator moves to another broker
    rd_kafka_mock_coordinator_set(mock_.get(), "transaction", kTxnId, 3);
    rd_kafka_mock_coordinator_set(mock_.get(), "group", "clawvisor-processor", 2);
  });
  // A broker goes down; as a controller would, the mock elects the other brokers leaders of
  // its partitions (clients find out from refused connections and new metadata).
  rd_kafka_mock_broker_set_down(mock_.get(), 2);
  for (auto topic : {kCommandsTopic, kEventsTopic}) {
    for (int32_t p = 0; p < kPartitions; ++p) {
      rd_kafka_mock_partition_set_leader(mock_.get(), std::string(topic).c_str(), p,
                                         p % 2 == 0 ? 1 : 3);
    }
  }
  rd_kafka_mock_coordinator_set(mock_.get(), "group", "clawvisor-processor", 1);
  round([] {});
  rd_kafka_mock_broker_set_up(mock_.get(), 2);
  round([] {});

  const auto decisions = Decisions(*log);
  ASSERT_EQ(decisions.size(), static_cast<size_t>(submitted));
  for (const auto& [command, times] : decisions) {
    EXPECT_EQ(times.size(), 1u) << command << " decided " << times.size() << " times";
  }
  EXPECT_EQ(log->GetStats().producer_restarts, 0u);
}

TEST_F(KafkaMockFaultsTest, RefusedProduceAbortsAndTheRetryCommitsOnce) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  // A permanent per-record error: librdkafka fails the record, the transaction must abort;
  // KafkaEventLog aborts and runs the group again, which succeeds.
  mock_.Errors(kProduce, {RD_KAFKA_RESP_ERR_INVALID_RECORD});
  Transaction txn;
  txn.consumer_group = "g";
  txn.consumed = {Position{{std::string(kCommandsTopic), 0}, 3}};
  txn.records = {{std::string(kEventsTopic), 1, "k", "only-once", {}, 0}};
  auto result = log->Transact(txn);
  ASSERT_TRUE(result.has_value()) << result.error().ToString();
  EXPECT_GE(log->GetStats().aborted, 1u);
  auto records = log->Read({std::string(kEventsTopic), 1}, 0, 10);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].value, "only-once");
}

TEST_F(KafkaMockFaultsTest, FencedProducerIsRecreatedAndWritesGoOn) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  // PRODUCER_FENCED on EndTxn is fatal: the producer is destroyed and a new one (same
  // transactional.id, new epoch) takes over.
  mock_.Errors(kEndTxn, {RD_KAFKA_RESP_ERR_PRODUCER_FENCED});
  const std::vector<OutgoingRecord> first{{std::string(kEventsTopic), 2, "k", "a", {}, 0}};
  (void)log->Append(first);  // may fail or succeed after the re-creation; either is allowed
  EXPECT_EQ(log->GetStats().producer_restarts, 1u);
  const std::vector<OutgoingRecord> next{{std::string(kEventsTopic), 2, "k", "b", {}, 0}};
  auto appended = log->Append(next);
  ASSERT_TRUE(appended.has_value()) << appended.error().ToString();
  auto records = log->Read({std::string(kEventsTopic), 2}, 0, 10);
  ASSERT_TRUE(records.has_value());
  ASSERT_FALSE(records->empty());
  EXPECT_EQ(records->back().value, "b");
}

}  // namespace
}  // namespace clawvisor
