#include "adapters/cli/reconcile_command.h"

#include <signal.h>

#include <iostream>

#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/vm_flags.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;
constexpr int kExitFailure = 1;

const std::string kHelp = std::string(R"(Usage: clawvisor reconcile --host ID [flags]

Runs this host's reconciler as a service: it follows the events, boots, pauses, stops and
deletes the microVMs of the instances placed on this host, probes their health, watches their
disks, runs the lifecycle timers (idle pause, trial end, cancelled subscriptions, inactivity)
and reports what it sees as RecordObservation commands. Its VMs outlive it: a restarted
reconciler re-adopts them through their QMP sockets.

On the embedded event log (this build) the log belongs to one process, so `reconcile` runs the
headless node: processor and projections with the reconciler, without the HTTP API. `serve
--vms` runs the same reconciler inside serve. SIGINT or SIGTERM stops it; the VMs keep running.

Flags:
  --data-dir DIR         state directory (as for serve)
  --master-key-file F    as for serve
)") + std::string(kVmFlagsHelp) +
                          R"(  --log-level L          debug | info | warn | error (default info)
  --help                 this help
)";

int Usage(std::string_view message) {
  std::cerr << "clawvisor: " << message << "\n\n" << kHelp;
  return kExitUsage;
}

std::filesystem::path DataDir(const Flags& flags) {
  if (auto dir = flags.Get("data-dir")) return *dir;
  if (const char* env = std::getenv("CLAWVISOR_DATA_DIR")) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"))
    return std::filesystem::path(xdg) / "clawvisor";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : "/root") / ".local/share/clawvisor";
}

}  // namespace

int Reconcile(const std::vector<std::string>& args) {
  std::vector<FlagSpec> specs = VmFlagSpecs();
  specs.insert(specs.end(), {{"data-dir"}, {"master-key-file"}, {"log-level"}, {"help", false}});
  auto flags = Flags::Parse(args, specs);
  if (!flags) return Usage(flags.error().message);
  if (flags->Has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (!flags->positional().empty()) return Usage("unexpected argument " + flags->positional()[0]);
  if (!flags->Has("host")) return Usage("--host is required");
  const std::string level = flags->GetOr("log-level", "info");
  if (level == "debug") {
    SetLogLevel(LogLevel::kDebug);
  } else if (level == "warn") {
    SetLogLevel(LogLevel::kWarn);
  } else if (level == "error") {
    SetLogLevel(LogLevel::kError);
  } else if (level != "info") {
    return Usage("--log-level must be debug, info, warn or error");
  }

  EmbeddedNodeOptions options;
  options.data_dir = DataDir(*flags);
  if (auto key = flags->Get("master-key-file")) options.master_key_file = *key;
  auto vms = ParseVmFlags(*flags, options.data_dir);
  if (!vms) return Usage(vms.error().message);
  options.vms = *vms;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto node = EmbeddedNode::Open(options);
  if (!node) {
    std::cerr << "clawvisor: " << node.error().ToString() << "\n";
    return node.error().code == Errc::kUnavailable ? kExitUnavailable : kExitFailure;
  }
  if (auto ok = (*node)->Start(); !ok) {
    std::cerr << "clawvisor: " << ok.error().ToString() << "\n";
    return ok.error().code == Errc::kInvalidArgument ? kExitUsage : kExitUnavailable;
  }
  Log(LogLevel::kInfo, "reconcile", "running", {{"host", options.vms->reconciler.host_id}});
  int received = 0;
  sigwait(&signals, &received);
  Log(LogLevel::kInfo, "reconcile", "stopping", {{"signal", received}});
  (*node)->Stop();
  return kExitOk;
}

}  // namespace clawvisor::cli
