#pragma once

// `clawvisor kafka ...`: administration of the Kafka event log (kafka_commands.cc).

#include <string>
#include <vector>

namespace clawvisor::cli {

int KafkaCommand(const std::vector<std::string>& args);

}  // namespace clawvisor::cli
