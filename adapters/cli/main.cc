// The `clawvisor` binary: hardens the process, then dispatches on the first word to one of the
// subcommands (subcommands.h, one file each).

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/subcommands.h"
#include "events/codec.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kVersion = "0.1.0";

constexpr std::string_view kTopHelp =
    R"(clawvisor — the control plane of per-customer AI-agent microVMs

Usage: clawvisor <command> [flags]

Commands:
  serve                 run the API, the processor and the projections in one process
                        on the embedded event log
  events dump           print stored events as JSON lines
  events tail           print events as they are appended
  projections rebuild   rebuild the read models from the event log
  projections verify    check the read models equal a fresh replay of the log
  reconcile             run this host's microVM reconciler as a service
  vault rotate-master-key
                        re-wrap every data key under a new master key (online or offline)
  kafka init            create or check the Kafka topics (the production event log)
  processor             decide commands from Kafka (one of a consumer group)
  project               keep the read models from Kafka's events topic
  api                   serve the HTTP API over Kafka, reading a projector's read models
  audit export          write an account's audit trail as CSV
  egress                run this host's egress gateway (its microVMs' one way out)
  vm-network            one microVM's network stack (started by the QEMU driver)
  version               print the version

Run `clawvisor <command> --help` for a command's flags.

Exit codes: 0 ok, 1 failure, 64 usage error, 65 bad data, 69 dependency unavailable,
70 internal error, 73 cannot create output, 74 I/O error.
)";

// The process holds the master key and, while deciding, customers' secrets: no core dump may
// write them to disk, no other process of this user may ptrace them, and every file it creates
// is its owner's alone.
void HardenProcess() {
  ::umask(077);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int Main(int argc, char** argv) {
  HardenProcess();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kTopHelp;
    return kExitUsage;
  }
  const std::string command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kTopHelp;
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    std::cout << "clawvisor " << kVersion << " (event schema v" << kSchemaVersion << ")\n";
    return kExitOk;
  }
  if (command == "serve") return Serve(rest);
  if (command == "vm-network") return VmNetwork(rest);
  if (command == "egress") return Egress(rest);
  if (command == "events") return Events(rest);
  if (command == "projections") return Projections(rest);
  if (command == "vault") return Vault(rest);
  if (command == "reconcile") return Reconcile(rest);
  if (command == "kafka") return KafkaCommand(rest);
  if (command == "api") return ApiService(rest);
  if (command == "processor") return ProcessorService(rest);
  if (command == "project") return ProjectService(rest);
  if (command == "audit") return Audit(rest);
  return UsageError("unknown command " + command, kTopHelp);
}

}  // namespace
}  // namespace clawvisor::cli

int main(int argc, char** argv) { return clawvisor::cli::Main(argc, argv); }
