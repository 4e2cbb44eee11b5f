#pragma once

// `clawvisor api`, `clawvisor processor`, `clawvisor project`: the services of a Kafka
// deployment, each its own process (adapters/cli/kafka_node.h).

#include <string>
#include <vector>

namespace clawvisor::cli {

int ApiService(const std::vector<std::string>& args);
int ProcessorService(const std::vector<std::string>& args);
int ProjectService(const std::vector<std::string>& args);

}  // namespace clawvisor::cli
