#pragma once

// KafkaGroupProcessor: runs a Processor as one member of a Kafka consumer group on the commands
// topic, so that several processors (processes, hosts) split the partitions and one takes over
// the partitions of another that dies.
//
// A member consumer joins the group (`ProcessorOptions::consumer_group`) and subscribes to the
// commands topic; it never fetches (its partitions are paused at once): the processor reads
// through the EventLog as everywhere else. Rebalances use the eager protocol:
//
//   revoke  (member thread) ──▶ hands the partitions to the processor thread and WAITS until
//                               the processor finished its current batch (its transaction is
//                               committed or aborted) and dropped them
//   assign  (member thread) ──▶ the processor thread rebuilds each partition's state from the
//                               events topic and its committed offset, then decides (Assign)
//
// A processor that dies (kill -9) leaves at most one open transaction. Its partitions are
// reassigned after session.timeout.ms; the new owner's rebuild reads committed offsets with
// require_stable (KIP-447), which waits until the broker aborted the dead transaction
// (transaction.timeout.ms), so no command is decided twice.
//
// A processor that merely stalled (or was cut off from the coordinator) loses its membership
// while it may still be deciding: a zombie. Its transactions are fenced (KIP-447): the member's
// group metadata (generation, member id) as of the assignment goes with every transaction's
// offsets (KafkaEventLog::BindGroupMember), so once the group moved to a newer generation the
// coordinator refuses them and the zombie's transaction aborts, events included.
//
// Thread-safety: Run from one thread; Stop from any.

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>

#include "adapters/kafka/kafka_event_log.h"
#include "engine/command/processor.h"
#include "events/result.h"

namespace clawvisor {

struct KafkaGroupOptions {
  std::string bootstrap_servers;
  std::string group = "clawvisor-processor";
  std::string commands_topic = "clawvisor.commands";
  std::chrono::milliseconds session_timeout{6000};
  std::vector<std::pair<std::string, std::string>> extra_config;
};

class KafkaGroupProcessor {
 public:
  // `log` is the processor's log: the member binds its group metadata there (fencing).
  // `options.group` must be the processor's consumer group.
  static Result<std::unique_ptr<KafkaGroupProcessor>> Create(Processor& processor,
                                                             KafkaEventLog& log,
                                                             KafkaGroupOptions options);
  ~KafkaGroupProcessor();

  // Joins the group and decides commands of the partitions it owns until `stop`.
  void Run(std::stop_token stop);

  // Partitions owned right now (for tests and metrics).
  std::vector<int32_t> Owned();

  class Impl;

 private:
  explicit KafkaGroupProcessor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor
