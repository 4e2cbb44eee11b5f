#pragma once

// The egress gateway's flags (design D9), shared by `clawvisor egress`, `serve --vms` and
// `reconcile`: where its handoff socket is, the instances' default policy, and the test-only
// knobs that let a test's loopback server stand in for the internet.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/cli/flags.h"
#include "adapters/egress/egress_gateway.h"
#include "engine/clock.h"
#include "engine/metrics.h"

namespace clawvisor::cli {

struct EgressSettings {
  egress::EgressGatewayOptions gateway;
  egress::EgressPolicy default_policy;  // every instance's, until plans set their own (#17)
};

std::string_view EgressFlagsHelp();
std::vector<FlagSpec> EgressFlagSpecs();

// nullopt without --egress-socket (and without `default_socket`): the VMs get no way out.
Result<std::optional<EgressSettings>> ParseEgressFlags(const Flags& flags,
                                                       const std::string& default_socket);

// Starts the gateway with every instance under the default policy. `metrics` and `clock` must
// outlive it.
Result<std::unique_ptr<egress::EgressGateway>> StartEgressGateway(const EgressSettings& settings,
                                                                  MetricsRegistry& metrics,
                                                                  Clock& clock,
                                                                  InstanceTraffic& traffic);

}  // namespace clawvisor::cli
