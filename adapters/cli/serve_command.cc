#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/common_flags.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/pid_file.h"
#include "adapters/cli/subcommands.h"
#include "adapters/cli/vm_flags.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kServeHelp = R"(Usage: clawvisor serve [flags]

Runs the HTTP API, the processor and the projections in one process on the embedded
(RocksDB) event log. Logs are JSON lines on stderr. SIGINT or SIGTERM stops it cleanly;
SIGUSR1 rotates the master key while serving (see `clawvisor vault --help`). The process id
is kept, locked, in DATA_DIR/serve.pid.

Flags:
  --data-dir DIR         state directory (default: $CLAWVISOR_DATA_DIR, else
                         $XDG_DATA_HOME/clawvisor, else ~/.local/share/clawvisor)
  --listen HOST:PORT     API address (default 127.0.0.1:8470); an address other than
                         loopback needs --service-tokens-file
  --tls-cert FILE        HTTPS certificate chain (PEM: the server's certificate first, then
                         intermediates); with --tls-key
  --tls-key FILE         its private key (PEM, unencrypted, mode 0600 or 0400: a key other
                         users may read is refused); with --tls-cert
                         Without both, serve keeps a self-signed ECDSA P-256 pair in
                         DATA_DIR/tls (made on first run, renewed 30 days before it expires
                         or when the listen host changes) and logs its SHA-256 fingerprint
  --insecure-http        plain HTTP instead of HTTPS; refused unless --listen is loopback
                         (for tests and a local TLS-terminating proxy)
  --partitions N         partitions of a new data directory (default 16; fixed afterwards)
  --master-key-file F    master key file (default: $CLAWVISOR_MASTER_KEY_FILE, else
                         $CREDENTIALS_DIRECTORY/master.key (systemd LoadCredential), else
                         the key in $CLAWVISOR_MASTER_KEY, else DATA_DIR/master.key,
                         created 0600 on first run)
  --command-wait-ms N    how long a command request waits for its decision before
                         answering 202 (default 5000)
  --service-tokens-file F
                         authenticate callers as services with bearer tokens from F (lines
                         `web|operator|reconciler ID TOKEN`, file mode 0600); without it every
                         loopback caller acts as the owner of every account (development only)
  --argon2-memory-kib N  Argon2id memory of new password hashes (default 19456, the minimum)
  --argon2-iterations N  Argon2id passes of new password hashes (default 2, the minimum);
                         a stored hash made weaker is rehashed at its next login
  --session-idle-minutes N
                         a session unused this long is over (default 30)
  --session-absolute-hours N
                         every session is over this long after its login (default 12)
  --login-free-failures N
                         failed sign-ins of an account without delay (default 4); each
                         further one locks sign-in for a delay doubling from 1 s
  --login-lockout-failures N
                         consecutive failures that lock sign-in until an operator sends
                         unlock_login (default 10; more than the free ones, at most 100)
  --log-level L          debug | info | warn | error (default info)
  --vms                  also run this host's microVMs: the reconciler in-process, with
                         the flags below (see `clawvisor reconcile --help`)
  --help                 this help
VM flags (with --vms): --host --vm-dir --guest-dir --guest-kernel --guest-rootfs --accel
  --guest-images NAME=DIR,... --default-guest-image NAME (also read without --vms: the images
  instances may name),
  --health-interval-ms --boot-grace-ms --idle-pause-min, the egress gateway's --egress-* and
  the front door's --front-door-* (on 127.0.0.1:8471 by default)
)";

}  // namespace

int Serve(const Args& args) {
  std::vector<FlagSpec> specs = {{"data-dir"},  {"partitions"}, {"master-key-file"},
                                 {"log-level"}, {"vms", false}, {"help", false}};
  for (auto& spec : ApiFlagSpecs()) specs.push_back(spec);
  for (auto& spec : DecisionFlagSpecs()) specs.push_back(spec);
  for (auto& spec : VmFlagSpecs()) specs.push_back(spec);
  auto flags = Flags::Parse(args, specs);
  if (!flags) return UsageError(flags.error().message, kServeHelp);
  if (flags->Has("help")) {
    std::cout << kServeHelp;
    return kExitOk;
  }
  if (!flags->positional().empty()) {
    return UsageError("unexpected argument " + flags->positional()[0], kServeHelp);
  }
  auto level = ParseLogLevel(flags->GetOr("log-level", "info"));
  if (!level) return UsageError(level.error().message, kServeHelp);
  SetLogLevel(*level);
  auto api = ParseApiFlags(*flags);
  if (!api) return UsageError(api.error().message, kServeHelp);
  auto partitions = flags->GetInt("partitions", 16, 1, 1024);
  if (!partitions) return UsageError(partitions.error().message, kServeHelp);

  EmbeddedNodeOptions options;
  if (auto decide = ParseDecisionFlags(*flags, options.processor.decide); !decide) {
    return UsageError(decide.error().message, kServeHelp);
  }
  options.argon2 = api->argon2;
  options.data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  options.partitions = static_cast<int32_t>(*partitions);
  if (auto key = flags->Get("master-key-file")) options.master_key_file = *key;
  options.http = api->http;
  options.service_tokens_file = api->service_tokens_file;
  const auto listen = std::pair{api->http.listen_address, api->http.port};
  const auto transport = &api->transport;
  if (flags->Has("vms")) {
    auto vms = ParseVmFlags(*flags, options.data_dir, "127.0.0.1:8471");
    if (!vms) return UsageError(vms.error().message, kServeHelp);
    options.vms = *vms;
  }

  // Last of the checks, as it may write the self-signed pair: a refused start changes nothing.
  if (!transport->insecure_http) {
    auto tls = ResolveTlsFiles(*transport, options.data_dir, listen.first);
    if (!tls) return Fail(tls.error());
    options.http->tls = *tls;
  }

  sigset_t signals;
  BlockServiceSignals(signals, /*usr1=*/true);

  auto node = EmbeddedNode::Open(options);
  if (!node) return Fail(node.error());
  if (auto ok = (*node)->Start(); !ok) return Fail(ok.error());
  Log(LogLevel::kInfo, "serve", "listening",
      {{"address", listen.first},
       {"port", static_cast<int64_t>((*node)->http_port())},
       {"scheme", transport->insecure_http ? "http" : "https"},
       {"data_dir", options.data_dir.string()}});
  const auto pid_file = ServePidFile(options.data_dir);
  auto pid_lock = LockPidFile(pid_file);
  if (!pid_lock) return Fail(pid_lock.error());
  int received = 0;
  while (sigwait(&signals, &received) == 0 && received == SIGUSR1) {
    // Seals and opens carry on meanwhile: the API keeps serving on its own threads.
    if (auto rotated = (*node)->RotateMasterKey(); !rotated) {
      Log(LogLevel::kError, "serve", "master-key rotation failed",
          {{"error", rotated.error().ToString()}});
    }
  }
  Log(LogLevel::kInfo, "serve", "stopping", {{"signal", received}});
  (*node)->Stop();
  std::error_code ignored;
  std::filesystem::remove(pid_file, ignored);
  ::close(*pid_lock);
  Log(LogLevel::kInfo, "serve", "stopped");
  return kExitOk;
}

}  // namespace clawvisor::cli
