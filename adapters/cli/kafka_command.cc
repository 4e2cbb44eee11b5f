// `clawvisor kafka ...`: administration of the Kafka event log.

#include <iostream>
#include <string_view>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/common_flags.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/subcommands.h"
#include "adapters/kafka/kafka_admin.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kKafkaHelp = R"(Usage: clawvisor kafka <command> [flags]

Commands:
  init    create the commands, events and keys topics, or check existing ones

Run `clawvisor kafka <command> --help` for its flags.
)";

constexpr std::string_view kInitHelp =
    R"(Usage: clawvisor kafka init --bootstrap-servers HOST:PORT[,...] [flags]

Creates the topics clawvisor needs through Kafka's admin API, or checks that existing ones
are safe to use. Never changes an existing topic: a dangerous configuration (events that
expire or are compacted, too few replicas, another partition count, unclean leader election)
is reported and nothing is done (exit 65). Safe to run again.

Topics:
  clawvisor.events    the audit trail: retention.ms=-1, retention.bytes=-1 (kept forever),
                      cleanup.policy=delete (never compacted), min.insync.replicas
  clawvisor.commands  requests: retention.ms from --commands-retention-hours, delete policy,
                      min.insync.replicas
  clawvisor.keys      wrapped data keys, latest value per key: cleanup.policy=compact,
                      never expired; segment.ms 1 h and max.compaction.lag.ms 2 h, so a
                      destroyed key's bytes leave the brokers within hours; min.insync.replicas
All: the same partition count (an account's commands and events share a partition number),
unclean.leader.election.enable=false, message.timestamp.type=CreateTime.

Flags:
  --bootstrap-servers B        Kafka brokers (default $CLAWVISOR_KAFKA_BOOTSTRAP_SERVERS)
  --kafka-config F             librdkafka properties (TLS, SASL): key=value lines, a 0600 file
  --partitions N               partitions of each topic (default 12; fixed forever)
  --replication-factor N       replicas of each partition (default 3)
  --min-insync-replicas N      replicas that must acknowledge a write (default 2)
  --commands-retention-hours N how long commands are kept (default 168)
  --timeout-ms N               admin request timeout (default 30000)
)";

int Failed(const Error& error) {
  std::cerr << "clawvisor: " << error.ToString() << "\n";
  switch (error.code) {
    case Errc::kInvalidArgument:
      return kExitUsage;
    case Errc::kUnavailable:
    case Errc::kTimeout:
      return kExitUnavailable;
    default:
      return kExitFailure;
  }
}

int Init(const Args& args) {
  auto flags = Flags::Parse(args, {{"bootstrap-servers"},
                                   {"kafka-config"},
                                   {"partitions"},
                                   {"replication-factor"},
                                   {"min-insync-replicas"},
                                   {"commands-retention-hours"},
                                   {"timeout-ms"},
                                   {"help", false}});
  if (!flags) return UsageError(flags.error().message, kInitHelp);
  if (flags->Has("help")) {
    std::cout << kInitHelp;
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    return UsageError("unexpected argument " + flags->positional()[0], kInitHelp);
  }
  const std::string bootstrap = BootstrapServers(*flags);
  if (bootstrap.empty()) return UsageError("--bootstrap-servers is required", kInitHelp);
  auto partitions = flags->GetInt("partitions", 12, 1, 10000);
  if (!partitions) return UsageError(partitions.error().message, kInitHelp);
  auto rf = flags->GetInt("replication-factor", 3, 1, 32);
  if (!rf) return UsageError(rf.error().message, kInitHelp);
  auto isr = flags->GetInt("min-insync-replicas", 2, 1, 32);
  if (!isr) return UsageError(isr.error().message, kInitHelp);
  if (*isr > *rf) {
    return UsageError(
        "--min-insync-replicas cannot exceed --replication-factor (no write could "
        "ever be acknowledged)",
        kInitHelp);
  }
  auto retention = flags->GetInt("commands-retention-hours", 168, 1, 24 * 365 * 10);
  if (!retention) return UsageError(retention.error().message, kInitHelp);
  auto timeout = flags->GetInt("timeout-ms", 30000, 100, 600000);
  if (!timeout) return UsageError(timeout.error().message, kInitHelp);

  auto properties = KafkaConfigFlag(*flags);
  if (!properties) return UsageError(properties.error().message, kInitHelp);
  auto admin = KafkaAdmin::Connect(bootstrap, std::chrono::milliseconds(*timeout), *properties);
  if (!admin) return Failed(admin.error());
  auto brokers = (*admin)->BrokerCount();
  if (!brokers) return Failed(brokers.error());
  if (*brokers < *rf) {
    std::cerr << "clawvisor: --replication-factor " << *rf << " needs at least " << *rf
              << " brokers; the cluster has " << *brokers << "\n";
    return kExitUnavailable;
  }
  KafkaInitOptions options;
  options.partitions = static_cast<int32_t>(*partitions);
  options.replication_factor = static_cast<int16_t>(*rf);
  options.min_insync_replicas = static_cast<int16_t>(*isr);
  options.commands_retention = std::chrono::hours(*retention);
  const auto specs = ClawvisorTopics(options);

  // Check everything before creating anything: a refused run changes nothing.
  std::vector<const KafkaTopicSpec*> missing;
  std::vector<std::string> problems;
  for (const KafkaTopicSpec& spec : specs) {
    auto state = (*admin)->Describe(spec.name);
    if (!state && state.error().code == Errc::kNotFound) {
      missing.push_back(&spec);
      continue;
    }
    if (!state) return Failed(state.error());
    auto found = CheckTopic(spec, *state);
    problems.insert(problems.end(), found.begin(), found.end());
    if (found.empty()) std::cout << spec.name << ": exists, configuration is safe\n";
  }
  if (!problems.empty()) {
    std::cerr << "clawvisor: refusing to use the existing topics:\n";
    for (const std::string& p : problems) std::cerr << "  - " << p << "\n";
    std::cerr << "Fix them (kafka-configs.sh --alter) or point clawvisor at another cluster.\n";
    return kExitDataErr;
  }
  for (const KafkaTopicSpec* spec : missing) {
    Log(LogLevel::kInfo, "kafka", "creating topic",
        {{"topic", spec->name},
         {"partitions", spec->partitions},
         {"replication_factor", static_cast<int64_t>(spec->replication_factor)}});
    if (auto ok = (*admin)->Create(*spec); !ok) return Failed(ok.error());
    std::cout << spec->name << ": created (" << spec->partitions << " partitions, replication "
              << spec->replication_factor << ")\n";
  }
  return kExitOk;
}

}  // namespace

int KafkaCommand(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help" || args[0] == "-h") {
    std::cout << kKafkaHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "init") return Init({args.begin() + 1, args.end()});
  return UsageError("unknown kafka command " + args[0], kKafkaHelp);
}

}  // namespace clawvisor::cli
