// `clawvisor reconcile --host ID`: a host's reconciler as a service (see its --help).

#include <iostream>
#include <memory>
#include <string>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/common_flags.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/kafka_node.h"
#include "adapters/cli/subcommands.h"
#include "adapters/cli/vm_flags.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kHelpHead = R"(Usage: clawvisor reconcile --host ID [flags]

Runs this host's reconciler as a service: it follows the events, boots, pauses, stops and
deletes the microVMs of the instances placed on this host, probes their health, watches their
disks, runs the lifecycle timers (idle pause, trial end, cancelled subscriptions, inactivity)
and reports what it sees as RecordObservation commands. Its VMs outlive it: a restarted
reconciler re-adopts them through their QMP sockets.

On Kafka (--bootstrap-servers): the reconciler alone, beside the processors, reading the
events topic; its reports go to the commands topic and are answered through the read models of
this host's `clawvisor project` (--projections), which also lead it to the instances' sealed
secrets. The master key must be the deployment's.
On the embedded event log the log belongs to one process, so `reconcile` runs the headless
node: processor and projections with the reconciler, without the HTTP API. `serve --vms` runs
the same reconciler inside serve. SIGINT or SIGTERM stops it; the VMs keep running.

Flags:
  --data-dir DIR         state directory (as for serve)
  --master-key-file F    as for serve
  --bootstrap-servers H:P[,H:P]
                         run on Kafka (default: $CLAWVISOR_KAFKA_BOOTSTRAP_SERVERS; unset: the
                         embedded log)
  --projections DIR      on Kafka: this host's projector's read models
  --kafka-config F       on Kafka: librdkafka properties (TLS, SASL), as for `processor`
  --metrics-listen H:P   on Kafka: serve /metrics, /healthz, /readyz there (plain HTTP)
)";
constexpr std::string_view kHelpTail =
    R"(  --log-level L          debug | info | warn | error (default info)
  --help                 this help
)";

// Built on first use: the VM flags' help is another file's constant.
const std::string& Help() {
  static const std::string help =
      std::string(kHelpHead) + std::string(VmFlagsHelp()) + std::string(kHelpTail);
  return help;
}

int Usage(std::string_view message) { return UsageError(message, Help()); }

std::filesystem::path DataDir(const Flags& flags) {
  return flags.Get("data-dir").value_or(DefaultDataDir().string());
}

void LogRunning(const std::string& host) {
  Log(LogLevel::kInfo, "reconcile", "running", {{"host", host}});
}

int ReconcileOnKafka(const Flags& flags, const std::string& bootstrap) {
  KafkaNodeOptions options;
  options.role = KafkaRole::kReconciler;
  options.bootstrap_servers = bootstrap;
  options.data_dir = DataDir(flags);
  if (auto key = flags.Get("master-key-file")) options.master_key_file = *key;
  const auto projections = flags.Get("projections");
  if (!projections) return Usage("--projections is required on Kafka");
  options.projections_dir = *projections;
  auto properties = KafkaConfigFlag(flags);
  if (!properties) return Usage(properties.error().message);
  options.kafka_config = std::move(*properties);
  if (auto metrics = flags.Get("metrics-listen")) {
    auto listen = ParseListen(*metrics);
    if (!listen) return Usage("--metrics-listen: " + listen.error().message);
    options.metrics_listen = *listen;
  }
  auto vms = ParseVmFlags(flags, options.data_dir);
  if (!vms) return Usage(vms.error().message);
  options.vms = *vms;
  std::unique_ptr<KafkaNode> node;
  return RunUntilStopSignal(
      "reconcile",
      [&] {
        auto opened = KafkaNode::Open(options);
        if (!opened) return Fail(opened.error());
        node = std::move(*opened);
        if (auto ok = node->Start(); !ok) return Fail(ok.error());
        LogRunning(options.vms->reconciler.host_id);
        return kExitOk;
      },
      [&] { node->Stop(); });
}

// The embedded log: the headless node (processor, projections and the reconciler).
int ReconcileEmbedded(const Flags& flags) {
  EmbeddedNodeOptions options;
  options.data_dir = DataDir(flags);
  if (auto key = flags.Get("master-key-file")) options.master_key_file = *key;
  auto vms = ParseVmFlags(flags, options.data_dir);
  if (!vms) return Usage(vms.error().message);
  options.vms = *vms;
  std::unique_ptr<EmbeddedNode> node;
  return RunUntilStopSignal(
      "reconcile",
      [&] {
        auto opened = EmbeddedNode::Open(options);
        if (!opened) {
          std::cerr << "clawvisor: " << opened.error().ToString() << "\n";
          return opened.error().code == Errc::kUnavailable ? kExitUnavailable : kExitFailure;
        }
        node = std::move(*opened);
        if (auto ok = node->Start(); !ok) {
          std::cerr << "clawvisor: " << ok.error().ToString() << "\n";
          return ok.error().code == Errc::kInvalidArgument ? kExitUsage : kExitUnavailable;
        }
        LogRunning(options.vms->reconciler.host_id);
        return kExitOk;
      },
      [&] { node->Stop(); });
}

}  // namespace

int Reconcile(const Args& args) {
  std::vector<FlagSpec> specs = VmFlagSpecs();
  specs.insert(specs.end(), {{"data-dir"},
                             {"master-key-file"},
                             {"log-level"},
                             {"bootstrap-servers"},
                             {"projections"},
                             {"kafka-config"},
                             {"metrics-listen"},
                             {"help", false}});
  auto flags = Flags::Parse(args, specs);
  if (!flags) return Usage(flags.error().message);
  if (flags->Has("help")) {
    std::cout << Help();
    return kExitOk;
  }
  if (!flags->positional().empty()) return Usage("unexpected argument " + flags->positional()[0]);
  if (!flags->Has("host")) return Usage("--host is required");
  if (auto level = ApplyLogLevelFlag(*flags); !level) return Usage(level.error().message);

  const std::string bootstrap = BootstrapServers(*flags);
  if (!bootstrap.empty()) return ReconcileOnKafka(*flags, bootstrap);
  if (flags->Has("projections")) return Usage("--projections is for Kafka (--bootstrap-servers)");
  return ReconcileEmbedded(*flags);
}

}  // namespace clawvisor::cli
