#pragma once

// Real Apache Kafka clusters for tests, through ops/kafka/kafka.sh (KRaft, 127.0.0.1).
//
// SharedKafkaCluster(): one single-node cluster per build tree, shared by every test process
// (ctest runs each test in its own process). The first caller starts it under a file lock; the
// ctest fixture `kafka_cluster` starts it before and stops it after the tests that need it.
// Tests on it must use their own topics (KafkaTestTopics).
//
// KafkaCluster: a private cluster (1 or 3 nodes) that the test owns, starts, kills and stops.

#include <filesystem>
#include <string>

namespace clawvisor::testing {

// The bootstrap servers of the shared cluster, starting it if needed (fails the test if it
// cannot).
std::string SharedKafkaCluster();

class KafkaCluster {
 public:
  // Starts `nodes` nodes in a fresh directory under `dir` and waits until all are registered.
  KafkaCluster(std::filesystem::path dir, int nodes);
  ~KafkaCluster();  // stops every node
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  bool ok() const { return !bootstrap_.empty(); }
  const std::string& bootstrap() const { return bootstrap_; }
  int nodes() const { return nodes_; }
  // The broker port of node `node` (1-based).
  int Port(int node) const;
  void Kill(int node);     // kill -9
  void Restart(int node);  // start a killed node again on its storage
  void WaitAllBrokers();   // until the metadata lists every node again

 private:
  std::filesystem::path dir_;
  int nodes_;
  std::string bootstrap_;
};

// Runs ops/kafka/kafka.sh with `args`; returns its exit code and stdout.
int RunKafkaScript(const std::string& args, std::string* out = nullptr);

}  // namespace clawvisor::testing
