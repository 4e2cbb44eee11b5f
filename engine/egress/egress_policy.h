#pragma once

// What one instance may do through the egress gateway (design D9). The gateway asks for an
// instance's policy when a connection of it arrives.

#include <cstdint>
#include <vector>

#include "engine/egress/host_name.h"

namespace clawvisor::egress {

struct EgressPolicy {
  // Host names the instance may reach; empty: any host that resolves to public addresses.
  std::vector<HostPattern> allowed_hosts;
  uint32_t max_connections = 64;  // concurrent tunnels; the next one is refused
  uint64_t bytes_per_second = 0;  // both directions together; 0: unlimited
  uint64_t burst_bytes = 1 << 20;
};

}  // namespace clawvisor::egress
