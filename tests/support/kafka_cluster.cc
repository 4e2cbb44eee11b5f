#include "tests/support/kafka_cluster.h"
#include "tests/support/files.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

namespace clawvisor::testing {
namespace {

std::string Script() { return SourceDir() + "/ops/kafka/kafka.sh"; }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

}  // namespace

int RunKafkaScript(const std::string& args, std::string* out) {
  const std::string command = Script() + " " + args;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) text.append(buf.data(), n);
  const int status = ::pclose(pipe);
  if (out != nullptr) *out = Trim(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string SharedKafkaCluster() {
  const std::filesystem::path dir = std::filesystem::path(CLAWVISOR_BUILD_DIR) / "kafka-shared";
  std::string bootstrap;
  const int rc = RunKafkaScript("ensure " + dir.string() + " 1", &bootstrap);
  EXPECT_EQ(rc, 0) << "could not start the shared Kafka cluster (see " << dir << ")";
  return rc == 0 ? bootstrap : std::string();
}

KafkaCluster::KafkaCluster(std::filesystem::path dir, int nodes)
    : dir_(std::move(dir)), nodes_(nodes) {
  std::filesystem::remove_all(dir_);
  std::string bootstrap;
  const int rc = RunKafkaScript("start " + dir_.string() + " " + std::to_string(nodes), &bootstrap);
  EXPECT_EQ(rc, 0) << "could not start a " << nodes << "-node Kafka cluster in " << dir_;
  if (rc == 0) bootstrap_ = bootstrap;
}

KafkaCluster::~KafkaCluster() { RunKafkaScript("stop " + dir_.string()); }

int KafkaCluster::Port(int node) const {
  std::ifstream in(dir_ / "ports");
  std::string line;
  for (int i = 1; std::getline(in, line); ++i) {
    if (i == node) return std::stoi(line.substr(0, line.find(' ')));
  }
  return -1;
}

void KafkaCluster::Kill(int node) {
  EXPECT_EQ(RunKafkaScript("kill " + dir_.string() + " " + std::to_string(node)), 0);
}

void KafkaCluster::Restart(int node) {
  EXPECT_EQ(RunKafkaScript("restart " + dir_.string() + " " + std::to_string(node)), 0);
}

void KafkaCluster::WaitAllBrokers() {
  EXPECT_EQ(RunKafkaScript("wait " + dir_.string() + " " + std::to_string(nodes_)), 0);
}

}  // namespace clawvisor::testing
