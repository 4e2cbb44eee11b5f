// `clawvisor api`, `clawvisor processor`, `clawvisor project`: the services of a Kafka
// deployment, each its own process (adapters/cli/kafka_node.h).

#include <iostream>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/common_flags.h"
#include "adapters/cli/guest_image_flags.h"
#include "adapters/cli/kafka_node.h"
#include "adapters/cli/subcommands.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kCommonFlags = R"(
Common flags:
  --bootstrap-servers H:P[,H:P]
                         the Kafka cluster (default: $CLAWVISOR_KAFKA_BOOTSTRAP_SERVERS); its
                         topics must exist (`clawvisor kafka init`)
  --kafka-config F       librdkafka properties for reaching the cluster (key=value lines:
                         security.protocol, ssl.*, sasl.*, tuning); a 0600 file of this user,
                         its values never shown; properties clawvisor's guarantees rest on
                         (transactions, acks, isolation, groups) are refused
  --data-dir DIR         this process's state directory (default: $CLAWVISOR_DATA_DIR, ...)
  --master-key-file F    the deployment's master key, the same in every process (default:
                         $CLAWVISOR_MASTER_KEY_FILE, else $CREDENTIALS_DIRECTORY/master.key
                         (systemd LoadCredential), else the key in $CLAWVISOR_MASTER_KEY);
                         required: a service never creates one
  --metrics-listen H:P   processor, project: serve /metrics (Prometheus), /healthz and
                         /readyz over plain HTTP there (counts and timings only; the api serves
                         them on its own port)
  --log-level L          debug | info | warn | error (default info)
  --help                 this help

Logs are JSON lines on stderr; "ready" once serving. SIGINT or SIGTERM stops cleanly.
Exit codes: 0 stopped cleanly, 64 usage, 65 bad data, 69 Kafka or a store unavailable,
1 other failure.
)";

constexpr std::string_view kProcessorHelp = R"(Usage: clawvisor processor [flags]

Decides commands: joins the processor group on clawvisor.commands and decides the partitions
the group gives it, each command once (its events and its consumed offset in one Kafka
transaction; a stalled member is fenced by group generation). Run several: they split the
partitions, and the survivors take over those of one that dies.

Flags:
  --transactional-id ID  this processor's producer identity, stable across its restarts
                         (default: derived from the host name and --data-dir); never the same
                         for two processors running at once
  --session-idle-minutes N, --session-absolute-hours N, --login-free-failures N,
  --login-lockout-failures N
                         sign-in decisions, as for `clawvisor serve`
  --guest-images NAME=DIR,..., --default-guest-image NAME
                         the guest images instances may name, as for `clawvisor serve`
                         (the processor reads only each DIR/image.conf and checks its files)
)";

constexpr std::string_view kProjectHelp = R"(Usage: clawvisor project [flags]

Keeps the read models: applies clawvisor.events (read_committed) to DATA_DIR/projections,
each batch with its offsets in one atomic write, and reports its progress while catching up.
The api processes of this host read that store; run one projector per API host.
)";

constexpr std::string_view kApiHelp = R"(Usage: clawvisor api --projections DIR [flags]

Serves the HTTP API of `clawvisor serve` over Kafka: appends each command to
clawvisor.commands (sealed secrets only) and answers its outcome once the read models show it
(read-your-writes). Reads the read models of a `clawvisor project` on this host (a RocksDB
secondary of its store); writes audit exports to DATA_DIR/exports.

Flags:
  --projections DIR      the projector's read models (its DATA_DIR/projections)
  --listen HOST:PORT, --tls-cert FILE, --tls-key FILE, --insecure-http,
  --service-tokens-file F, --command-wait-ms N, --argon2-memory-kib N, --argon2-iterations N
                         as for `clawvisor serve` (see `clawvisor serve --help`)
)";

std::string Help(std::string_view specific) {
  return std::string(specific) + std::string(kCommonFlags);
}

int RunService(KafkaRole role, const Args& args) {
  const std::string_view specific = role == KafkaRole::kApi         ? kApiHelp
                                    : role == KafkaRole::kProcessor ? kProcessorHelp
                                                                    : kProjectHelp;
  const std::string help = Help(specific);
  std::vector<FlagSpec> specs = {{"bootstrap-servers"}, {"kafka-config"}, {"data-dir"},
                                 {"master-key-file"},   {"log-level"},    {"help", false}};
  if (role == KafkaRole::kApi) {
    specs.push_back({"projections"});
    for (auto& spec : ApiFlagSpecs()) specs.push_back(spec);
  }
  if (role != KafkaRole::kApi) specs.push_back({"metrics-listen"});
  if (role == KafkaRole::kProcessor) {
    specs.push_back({"transactional-id"});
    for (auto& spec : DecisionFlagSpecs()) specs.push_back(spec);
    for (auto& spec : GuestImageFlagSpecs()) specs.push_back(spec);
  }
  auto flags = Flags::Parse(args, specs);
  if (!flags) return UsageError(flags.error().message, help);
  if (flags->Has("help")) {
    std::cout << help;
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    return UsageError("unexpected argument " + flags->positional()[0], help);
  }
  if (auto level = ApplyLogLevelFlag(*flags); !level) {
    return UsageError(level.error().message, help);
  }

  KafkaNodeOptions options;
  options.role = role;
  options.bootstrap_servers = BootstrapServers(*flags);
  if (options.bootstrap_servers.empty()) return UsageError("--bootstrap-servers is required", help);
  auto properties = KafkaConfigFlag(*flags);
  if (!properties) return UsageError(properties.error().message, help);
  options.kafka_config = std::move(*properties);
  options.data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  if (auto key = flags->Get("master-key-file")) options.master_key_file = *key;
  if (auto metrics = flags->Get("metrics-listen")) {
    auto listen = ParseListen(*metrics);
    if (!listen) return UsageError("--metrics-listen: " + listen.error().message, help);
    options.metrics_listen = *listen;
  }
  if (role == KafkaRole::kProcessor) {
    options.transactional_id = flags->GetOr("transactional-id", "");
    if (auto decide = ParseDecisionFlags(*flags, options.processor.decide); !decide) {
      return UsageError(decide.error().message, help);
    }
  }
  std::optional<TransportFlags> transport;
  if (role == KafkaRole::kApi) {
    const auto projections = flags->Get("projections");
    if (!projections) return UsageError("--projections is required", help);
    options.projections_dir = *projections;
    auto api = ParseApiFlags(*flags);
    if (!api) return UsageError(api.error().message, help);
    options.http = api->http;
    options.argon2 = api->argon2;
    options.service_tokens_file = api->service_tokens_file;
    transport = api->transport;
    // Last of the checks, as it may write the self-signed pair: a refused start changes nothing.
    if (!transport->insecure_http) {
      auto tls = ResolveTlsFiles(*transport, options.data_dir, options.http->listen_address);
      if (!tls) return Fail(tls.error());
      options.http->tls = *tls;
    }
  }

  std::unique_ptr<KafkaNode> node;
  return RunUntilStopSignal(
      "service",
      [&] {
        auto opened = KafkaNode::Open(options);
        if (!opened) return Fail(opened.error());
        node = std::move(*opened);
        if (auto ok = node->Start(); !ok) return Fail(ok.error());
        if (role == KafkaRole::kApi) {
          Log(LogLevel::kInfo, "api", "listening",
              {{"address", options.http->listen_address},
               {"port", static_cast<int64_t>(node->http_port())},
               {"scheme", transport->insecure_http ? "http" : "https"}});
        }
        return kExitOk;
      },
      [&] {
        node->Stop();
        Log(LogLevel::kInfo, "service", "stopped");
      });
}

}  // namespace

int ApiService(const Args& args) { return RunService(KafkaRole::kApi, args); }
int ProcessorService(const Args& args) { return RunService(KafkaRole::kProcessor, args); }
int ProjectService(const Args& args) { return RunService(KafkaRole::kProjector, args); }

}  // namespace clawvisor::cli
