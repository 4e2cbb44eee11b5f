#include "adapters/cli/egress_flags.h"

#include "engine/egress/default_allowlist.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kHelp =
    R"(  --egress-socket PATH   the egress gateway's handoff socket (at most 107 bytes; with VMs the
                         default is DATA_DIR/egress.sock; "off": the VMs reach nothing at all)
  --egress-allow-hosts LIST
                         host patterns every instance may reach ("api.openai.com,*.telegram.org");
                         "default": the LLM providers and chat platforms OpenClaw uses (the
                         default); "any": every host that resolves to public addresses
  --egress-max-connections N
                         concurrent connections per instance (default 64)
  --egress-bandwidth-kib N
                         bytes per second per instance, in KiB, both ways together
                         (default 8192; 0 = unlimited)
  --egress-treat-as-public CIDR[,CIDR]
                         tests only: ranges to dial although special (a loopback "internet")
  --egress-static-hosts NAME=IP[,NAME=IP]
                         tests only: resolve these names without DNS (and no others)
  --egress-upstream-port N
                         tests only: dial this port instead of 443
)";

template <typename T, typename Parse>
Result<std::vector<T>> ParseList(std::string_view text, std::string_view flag, Parse parse) {
  std::vector<T> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    auto item = parse(text.substr(0, comma));
    if (!item) {
      return MakeError(Errc::kInvalidArgument, std::string(flag) + ": cannot read '" +
                                                   std::string(text.substr(0, comma)) + "'");
    }
    out.push_back(std::move(*item));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

std::string_view EgressFlagsHelp() { return kHelp; }

std::vector<FlagSpec> EgressFlagSpecs() {
  return {{"egress-socket"},        {"egress-allow-hosts"},     {"egress-max-connections"},
          {"egress-bandwidth-kib"}, {"egress-treat-as-public"}, {"egress-static-hosts"},
          {"egress-upstream-port"}};
}

Result<std::optional<EgressSettings>> ParseEgressFlags(const Flags& flags,
                                                       const std::string& default_socket) {
  std::string socket = flags.GetOr("egress-socket", default_socket);
  if (socket == "off") socket.clear();
  if (socket.empty()) {
    for (const auto& spec : EgressFlagSpecs()) {
      if (flags.Has(spec.name)) {
        if (spec.name == "egress-socket") continue;
        return MakeError(Errc::kInvalidArgument,
                         "--" + spec.name + " needs an egress gateway (--egress-socket)");
      }
    }
    return std::optional<EgressSettings>();
  }
  if (socket.size() > 107) {
    return MakeError(
        Errc::kInvalidArgument,
        "--egress-socket: " + socket + " is longer than a Unix socket path may be (107 bytes)");
  }
  EgressSettings settings;
  settings.gateway.socket_path = socket;

  const std::string allow = flags.GetOr("egress-allow-hosts", "default");
  if (allow != "any") {
    auto patterns =
        egress::ParseHostPatterns(allow == "default" ? egress::DefaultAllowedHosts() : allow);
    if (!patterns)
      return MakeError(Errc::kInvalidArgument, "--egress-allow-hosts: " + patterns.error().message);
    settings.default_policy.allowed_hosts = std::move(*patterns);
  }
  auto connections = flags.GetInt("egress-max-connections", 64, 1, 100'000);
  if (!connections) return std::unexpected(connections.error());
  settings.default_policy.max_connections = static_cast<uint32_t>(*connections);
  auto kib = flags.GetInt("egress-bandwidth-kib", 8192, 0, 100'000'000);
  if (!kib) return std::unexpected(kib.error());
  settings.default_policy.bytes_per_second = static_cast<uint64_t>(*kib) * 1024;

  auto cidrs = ParseList<egress::Cidr>(flags.GetOr("egress-treat-as-public", ""),
                                       "--egress-treat-as-public", egress::Cidr::Parse);
  if (!cidrs) return std::unexpected(cidrs.error());
  settings.gateway.treat_as_public = std::move(*cidrs);
  auto statics = ParseList<std::pair<std::string, egress::IpAddress>>(
      flags.GetOr("egress-static-hosts", ""), "--egress-static-hosts",
      [](std::string_view entry) -> std::optional<std::pair<std::string, egress::IpAddress>> {
        const size_t eq = entry.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        auto name = egress::NormalizeHostName(entry.substr(0, eq));
        auto address = egress::IpAddress::Parse(entry.substr(eq + 1));
        if (!name || !address) return std::nullopt;
        return std::make_pair(*name, *address);
      });
  if (!statics) return std::unexpected(statics.error());
  for (auto& [name, address] : *statics) settings.gateway.static_hosts[name].push_back(address);
  auto port = flags.GetInt("egress-upstream-port", 443, 1, 65535);
  if (!port) return std::unexpected(port.error());
  settings.gateway.upstream_port = static_cast<uint16_t>(*port);
  return std::optional<EgressSettings>(std::move(settings));
}

Result<std::unique_ptr<egress::EgressGateway>> StartEgressGateway(const EgressSettings& settings,
                                                                  MetricsRegistry& metrics,
                                                                  Clock& clock,
                                                                  InstanceTraffic& traffic) {
  return egress::EgressGateway::Start(
      settings.gateway, metrics,
      [policy = settings.default_policy](const VmKey&) -> std::optional<egress::EgressPolicy> {
        return policy;
      },
      clock, traffic);
}

}  // namespace clawvisor::cli
