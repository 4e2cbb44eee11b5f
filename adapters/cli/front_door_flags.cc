#include "adapters/cli/front_door_flags.h"

#include <algorithm>

#include "adapters/cli/common_flags.h"
#include "adapters/http/request_parsing.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kHelp =
    R"(  --front-door-listen H:P
                         the front door, HTTPS to each instance's gateway (default
                         127.0.0.1:8471 with serve --vms; "off": none)
  --front-door-domain D  also route {console_id}.D by host name (needs a certificate for *.D)
  --front-door-tls-cert FILE, --front-door-tls-key FILE
                         its certificate and key (default: a self-signed pair in
                         DATA_DIR/front-door/tls)
  --front-door-max-connections-per-instance N
                         client connections per instance, WebSockets included (default 32)
  --front-door-requests-per-second N
                         requests per second per instance (default 20, burst twice that)
  --front-door-wake-timeout-ms N
                         how long a request waits for an idle-paused instance to wake
                         (default 30000)
  --front-door-insecure-http
                         tests only: plain HTTP, on a loopback address only
)";

}  // namespace

std::string_view FrontDoorFlagsHelp() { return kHelp; }

std::vector<FlagSpec> FrontDoorFlagSpecs() {
  return {{"front-door-listen"},
          {"front-door-domain"},
          {"front-door-tls-cert"},
          {"front-door-tls-key"},
          {"front-door-max-connections-per-instance"},
          {"front-door-requests-per-second"},
          {"front-door-wake-timeout-ms"},
          {"front-door-insecure-http", false}};
}

Result<std::optional<FrontDoorSettings>> ParseFrontDoorFlags(const Flags& flags,
                                                             std::string_view default_listen) {
  const std::string listen_text = flags.GetOr("front-door-listen", std::string(default_listen));
  if (listen_text.empty() || listen_text == "off") {
    for (const auto& spec : FrontDoorFlagSpecs()) {
      if (spec.name != "front-door-listen" && flags.Has(spec.name)) {
        return MakeError(Errc::kInvalidArgument, "--" + spec.name + " needs --front-door-listen");
      }
    }
    return std::optional<FrontDoorSettings>();
  }
  auto listen = ParseListen(listen_text);
  if (!listen)
    return MakeError(Errc::kInvalidArgument, "--front-door-listen: " + listen.error().message);
  FrontDoorSettings settings;
  settings.options.listen_address = listen->first;
  settings.options.port = listen->second;
  if (auto domain = flags.Get("front-door-domain")) {
    const bool valid = !domain->empty() && domain->size() <= 200 &&
                       std::ranges::all_of(*domain,
                                           [](char c) {
                                             return (c >= 'a' && c <= 'z') ||
                                                    (c >= '0' && c <= '9') || c == '.' || c == '-';
                                           }) &&
                       domain->front() != '.' && domain->back() != '.';
    if (!valid) {
      return MakeError(Errc::kInvalidArgument,
                       "--front-door-domain: a lower-case DNS name, e.g. instances.example.com");
    }
    settings.options.domain = *domain;
  }
  const auto cert = flags.Get("front-door-tls-cert");
  const auto key = flags.Get("front-door-tls-key");
  if (cert.has_value() != key.has_value()) {
    return MakeError(Errc::kInvalidArgument,
                     "--front-door-tls-cert and --front-door-tls-key go together");
  }
  if (cert) settings.given_tls = openssl::TlsServerFiles{*cert, *key};
  settings.insecure_http = flags.Has("front-door-insecure-http");
  if (settings.insecure_http) {
    if (settings.given_tls) {
      return MakeError(Errc::kInvalidArgument,
                       "--front-door-insecure-http and a certificate exclude each other");
    }
    if (!IsLoopbackAddress(settings.options.listen_address)) {
      return MakeError(Errc::kInvalidArgument,
                       "--front-door-insecure-http is allowed on a loopback address only");
    }
  }
  auto per_instance = flags.GetInt("front-door-max-connections-per-instance", 32, 1, 10'000);
  if (!per_instance) return std::unexpected(per_instance.error());
  settings.options.max_connections_per_instance = static_cast<size_t>(*per_instance);
  auto rate = flags.GetInt("front-door-requests-per-second", 20, 1, 100'000);
  if (!rate) return std::unexpected(rate.error());
  settings.options.requests_per_second = static_cast<uint64_t>(*rate);
  settings.options.request_burst = static_cast<uint64_t>(*rate) * 2;
  auto wake = flags.GetInt("front-door-wake-timeout-ms", 30'000, 0, 600'000);
  if (!wake) return std::unexpected(wake.error());
  settings.options.wake_timeout = std::chrono::milliseconds(*wake);
  return std::optional<FrontDoorSettings>(std::move(settings));
}

Status ResolveFrontDoorTls(FrontDoorSettings& settings, const std::filesystem::path& data_dir) {
  if (settings.insecure_http) return {};
  TransportFlags transport;
  transport.given = settings.given_tls;
  auto files = ResolveTlsFiles(transport, data_dir / "front-door", settings.options.listen_address);
  if (!files) return std::unexpected(files.error());
  settings.options.tls = *files;
  return {};
}

}  // namespace clawvisor::cli
