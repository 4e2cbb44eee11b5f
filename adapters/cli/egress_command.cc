// `clawvisor egress`: the host's egress gateway as a service of its own (see its --help).
// `serve --vms` and `reconcile` run the same gateway in-process when given --egress.

#include <iostream>
#include <memory>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/common_flags.h"
#include "adapters/cli/egress_flags.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/subcommands.h"
#include "adapters/egress/egress_gateway.h"
#include "adapters/http/metrics_server.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kHelpHead = R"(Usage: clawvisor egress --egress-socket PATH [flags]

The host's egress gateway: the one way out of its microVMs. Each VM's network helper
(`clawvisor vm-network`) hands it the guest's connections to 10.0.2.100:3128 (an HTTP CONNECT
proxy) and 10.0.2.100:443 (TLS routed by SNI). Only TLS to port 443 passes; the name is resolved
here and refused if any address is loopback, private, CGNAT, link-local (cloud metadata),
multicast, reserved, IPv6 unique-local or this host's own. Per instance: an allowlist, a cap on
concurrent connections and a byte rate. SIGINT or SIGTERM stops it.

Flags:
)";
constexpr std::string_view kHelpTail =
    R"(  --metrics-listen H:P   serve /metrics, /healthz, /readyz there (plain HTTP)
  --log-level L          debug | info | warn | error (default info)
  --help                 this help
)";

const std::string& Help() {
  static const std::string help =
      std::string(kHelpHead) + std::string(EgressFlagsHelp()) + std::string(kHelpTail);
  return help;
}

}  // namespace

int Egress(const Args& args) {
  std::vector<FlagSpec> specs = EgressFlagSpecs();
  specs.insert(specs.end(), {{"metrics-listen"}, {"log-level"}, {"help", false}});
  auto flags = Flags::Parse(args, specs);
  if (!flags) return UsageError(flags.error().message, Help());
  if (flags->Has("help")) {
    std::cout << Help();
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    return UsageError("unexpected argument " + flags->positional()[0], Help());
  }
  if (auto level = ApplyLogLevelFlag(*flags); !level)
    return UsageError(level.error().message, Help());
  auto options = ParseEgressFlags(*flags, "");
  if (!options) return UsageError(options.error().message, Help());
  if (!*options) return UsageError("--egress-socket is required", Help());
  std::optional<std::pair<std::string, uint16_t>> metrics_listen;
  if (auto metrics = flags->Get("metrics-listen")) {
    auto listen = ParseListen(*metrics);
    if (!listen) return UsageError("--metrics-listen: " + listen.error().message, Help());
    metrics_listen = *listen;
  }
  MetricsRegistry metrics;
  SystemClock clock;
  InstanceTraffic traffic;  // alone, the gateway reports to no reconciler: counted in metrics only
  std::unique_ptr<egress::EgressGateway> gateway;
  std::unique_ptr<MetricsServer> metrics_server;
  return RunUntilStopSignal(
      "egress",
      [&] {
        auto started = StartEgressGateway(**options, metrics, clock, traffic);
        if (!started) return Fail(started.error());
        gateway = std::move(*started);
        if (metrics_listen) {
          auto served = MetricsServer::Start(metrics_listen->first, metrics_listen->second, metrics,
                                             [] { return true; });
          if (!served) return Fail(served.error());
          metrics_server = std::move(*served);
        }
        return kExitOk;
      },
      [&] {
        metrics_server.reset();
        gateway.reset();
      });
}

}  // namespace clawvisor::cli
