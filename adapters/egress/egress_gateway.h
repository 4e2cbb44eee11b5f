#pragma once

// EgressGateway: the host's one door out for its microVMs (design D9), on Boost.Asio.
//
// Guest connections arrive as handoffs (handoff.h) on a Unix socket, each already attributed to
// its instance. Two guest ports are served:
//   3128  an HTTP CONNECT proxy: "CONNECT host:443"; then the TLS ClientHello must name the
//         same host;
//   443   raw TLS: the ClientHello's SNI names the host.
// Either way only TLS passes, SNI is required, the name must match the instance's allowlist
// (when it has one), the gateway resolves the name itself, refuses it if any address is in a
// refused range (DestinationFilter) and dials the address it checked, so a rebinding DNS answer
// cannot move the connection afterwards. The ClientHello is forwarded as it came: TLS runs end to
// end between the guest and the destination; the gateway sees names and byte counts, never
// payloads or URLs.
//
// Per instance: a cap on concurrent tunnels and a byte rate (TokenBucket) across all of them.
// Every refusal has a reason, logged (instance, reason, host) and counted.
//
// Metrics (per instance, labelled "account/instance", and per destination pattern):
//   clawvisor_egress_connections_total{instance,destination}  tunnels established
//   clawvisor_egress_bytes_total{instance,direction}          "out" (guest→net), "in"
//   clawvisor_egress_refused_total{instance,reason}
//   clawvisor_egress_active_tunnels{instance}
// `destination` is the allowlist pattern the host matched, or "*" for an instance without an
// allowlist, so the series stay bounded by configuration, not by what guests try.
//
// Usage (connections, refusals and bytes per instance and destination host) goes into the
// InstanceTraffic it is given, which the reconciler reports as each instance's activity and
// egress summary; a long tunnel's bytes are added every 10 s while it carries them.
//
// Thread-safety: Start and the destructor from any thread; the gateway serves on one I/O thread
// of its own, where the policy lookup also runs.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/egress/destination_filter.h"
#include "engine/egress/egress_policy.h"
#include "engine/metrics.h"
#include "engine/reconcile/instance_traffic.h"
#include "engine/reconcile/vm_driver.h"
#include "events/result.h"

namespace clawvisor::egress {

struct EgressGatewayOptions {
  std::string socket_path;  // the handoff socket; created 0600, a stale one is replaced
  // Tests only: ranges that count as public, and names resolved without DNS.
  std::vector<Cidr> treat_as_public;
  std::map<std::string, std::vector<IpAddress>> static_hosts;
  // 443 in production; tests point it at the port their stand-in for the internet listens on.
  uint16_t upstream_port = 443;
  std::chrono::milliseconds handshake_timeout{10'000};  // CONNECT head and ClientHello
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds idle_timeout{15 * 60'000};  // a tunnel with no bytes either way
};

// The instance's policy, or nullopt for a key the host does not run (refused).
using EgressPolicyLookup = std::function<std::optional<EgressPolicy>(const VmKey&)>;

class EgressGateway {
 public:
  static Result<std::unique_ptr<EgressGateway>> Start(EgressGatewayOptions options,
                                                      MetricsRegistry& metrics,
                                                      EgressPolicyLookup policy, Clock& clock,
                                                      InstanceTraffic& traffic);
  ~EgressGateway();
  EgressGateway(const EgressGateway&) = delete;
  EgressGateway& operator=(const EgressGateway&) = delete;

  const std::string& socket_path() const;

  class Impl;

 private:
  explicit EgressGateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The addresses of this host's interfaces (getifaddrs), which the gateway never dials.
std::vector<IpAddress> HostInterfaceAddresses();

}  // namespace clawvisor::egress
