#include "adapters/cli/commands.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/cli/audit_command.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/kafka_commands.h"
#include "adapters/cli/kafka_services.h"
#include "adapters/cli/reconcile_command.h"
#include "adapters/cli/vm_flags.h"
#include "adapters/http/request_parsing.h"
#include "adapters/http/service_token_authenticator.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/logging.h"
#include "events/codec.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kVersion = "0.1.0";
constexpr std::string_view kDefaultListen = "127.0.0.1:8470";

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
  version               print the version

Run `clawvisor <command> --help` for a command's flags.

Exit codes: 0 ok, 1 failure, 64 usage error, 65 bad data, 69 dependency unavailable,
70 internal error, 73 cannot create output, 74 I/O error.
)";

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
  --health-interval-ms --boot-grace-ms --idle-pause-min
)";

constexpr std::string_view kEventsHelp = R"(Usage: clawvisor events dump|tail [flags]

Prints events of the embedded log as JSON lines: {"partition":P,"offset":O,"event":{...}}.
Sealed fields print as ciphertext; nothing is decrypted. Stop `clawvisor serve` first
(the log is opened exclusively).

Flags:
  --data-dir DIR         state directory (as for serve)
  --account ID           only this account's events
  --partition N          only this partition
  --from OFFSET          start offset in each partition (default 0; tail: the end)
  --limit N              stop after N events (dump)
  --help                 this help
)";

constexpr std::string_view kProjectionsHelp = R"(Usage: clawvisor projections rebuild|verify [flags]

rebuild   deletes the read models and replays the whole event log into new ones,
          showing progress on stderr
verify    replays the log into a scratch store and compares it with the read models;
          exit 0 when equal, 1 when they differ

Stop `clawvisor serve` first (the stores are opened exclusively).

Flags:
  --data-dir DIR         state directory (as for serve)
  --master-key-file F    as for serve
  --help                 this help
)";

constexpr std::string_view kVaultHelp = R"(Usage: clawvisor vault rotate-master-key [flags]

Draws a new master key and re-wraps every account's data key under it; sealed values are
untouched and stay readable throughout. The new key is written to KEY_FILE.next (0600) before
anything is re-wrapped and renamed over KEY_FILE at the end, so an interruption loses nothing:
the next start finishes the rotation.

While `clawvisor serve` runs on the data directory, the rotation happens inside it without
downtime (this command signals it, SIGUSR1, and waits for the new key); otherwise this command
rotates directly. Only a key kept in a file can be rotated this way (DATA_DIR/master.key,
--master-key-file or $CLAWVISOR_MASTER_KEY_FILE); a key from the environment or a systemd
credential is rotated by the operator's secret store.

Flags:
  --data-dir DIR         state directory (as for serve)
  --master-key-file F    as for serve
  --timeout-s N          how long to wait for a running serve (default 600)
  --help                 this help
)";

}  // namespace

void BlockServiceSignals(sigset_t& signals, bool usr1) {
  // Taken by sigwait on the calling thread; every thread started later inherits the mask.
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (usr1) sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int UsageError(std::string_view message, std::string_view help) {
  std::cerr << "clawvisor: " << message << "\n\n" << help;
  return kExitUsage;
}

Result<LogLevel> ParseLogLevel(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return MakeError(Errc::kInvalidArgument, "--log-level must be debug, info, warn or error");
}

Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return MakeError(Errc::kInvalidArgument, "--listen must be HOST:PORT");
  }
  std::string host(s.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text(s.substr(colon + 1));
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    return MakeError(Errc::kInvalidArgument, "--listen port must be 0..65535");
  }
  if (host == "localhost") host = "127.0.0.1";
  return std::pair{host, static_cast<uint16_t>(port)};
}

namespace {

// serve's pid file, locked (flock) for as long as serve runs: the lock, not the file's
// existence, says that serve runs, so a stale file or a reused pid cannot mislead the CLI.
// Opened without following a symlink, so a link planted in the data directory cannot make a
// root process write elsewhere.
Result<int> LockPidFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kUnavailable, "cannot open " + path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return MakeError(Errc::kFailedPrecondition,
                     "another clawvisor serve runs on this data directory (" + path.string() + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd);
    return MakeError(Errc::kUnavailable, "cannot write " + path.string());
  }
  return fd;
}

// The pid of the `clawvisor serve` that holds this data directory's pid-file lock, if any.
std::optional<pid_t> RunningServe(const std::filesystem::path& data_dir) {
  const auto path = data_dir / "serve.pid";
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<pid_t> running;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {  // held: serve runs
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    const long pid = n > 0 ? std::strtol(text, nullptr, 10) : 0;
    if (pid > 1) running = static_cast<pid_t>(pid);
  }
  ::close(fd);
  return running;
}

}  // namespace

// The transport rules of issue #4: HTTPS by default; plain HTTP only when asked for and only on
// loopback; a non-loopback address only with real caller authentication (without a tokens file
// every caller would act as the owner of every account).
Result<TransportFlags> ParseTransportFlags(const Flags& flags, const std::string& listen_host) {
  TransportFlags out;
  out.insecure_http = flags.Has("insecure-http");
  const auto cert = flags.Get("tls-cert");
  const auto key = flags.Get("tls-key");
  const bool loopback = IsLoopbackAddress(listen_host);
  if (out.insecure_http) {
    if (!loopback) {
      return MakeError(Errc::kInvalidArgument,
                       "--insecure-http serves plain HTTP and is allowed only on a loopback "
                       "--listen address (127.0.0.1, ::1, localhost); remove it to serve HTTPS");
    }
    if (cert || key) {
      return MakeError(Errc::kInvalidArgument,
                       "--insecure-http cannot be combined with --tls-cert or --tls-key");
    }
  }
  if (!loopback && !flags.Has("service-tokens-file")) {
    return MakeError(Errc::kInvalidArgument,
                     "--listen on a non-loopback address needs --service-tokens-file (without it "
                     "every caller acts as the owner of every account)");
  }
  if (cert.has_value() != key.has_value()) {
    return MakeError(Errc::kInvalidArgument, "--tls-cert and --tls-key must be given together");
  }
  if (cert) {
    if (auto mode = openssl::CheckPrivateKeyFileMode(*key); !mode) {
      return std::unexpected(mode.error());
    }
    out.given = openssl::TlsServerFiles{*cert, *key};
  }
  return out;
}

// The certificate and key HTTPS uses: the given pair, checked now (a bad file is a usage error
// before anything starts), or the self-signed pair kept in DATA_DIR/tls. Logs the certificate's
// SHA-256 fingerprint, which a client pins or compares (never anything of the key).
Result<openssl::TlsServerFiles> ResolveTlsFiles(const TransportFlags& transport,
                                                const std::filesystem::path& data_dir,
                                                const std::string& listen_host) {
  openssl::TlsServerFiles files;
  bool generated = false;
  if (transport.given) {
    auto ctx = openssl::MakeTlsServerContext(*transport.given);
    if (!ctx) return std::unexpected(ctx.error());
    files = *transport.given;
  } else {
    std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1"};
    if (listen_host == "0.0.0.0" || listen_host == "::") {
      char name[256] = {};
      if (::gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') hosts.emplace_back(name);
    } else if (std::find(hosts.begin(), hosts.end(), listen_host) == hosts.end()) {
      hosts.push_back(listen_host);
    }
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);  // 0700: the process umask is 077
    auto ensured = openssl::EnsureSelfSignedCertificate(data_dir / "tls", hosts,
                                                        std::chrono::system_clock::now());
    if (!ensured) return std::unexpected(ensured.error());
    files = ensured->files;
    generated = ensured->generated;
  }
  auto fingerprint = openssl::CertificateSha256Fingerprint(files.certificate_chain_file);
  if (!fingerprint) return std::unexpected(fingerprint.error());
  Log(LogLevel::kInfo, "serve",
      generated ? "generated a self-signed TLS certificate" : "TLS certificate",
      {{"certificate", files.certificate_chain_file.string()},
       {"sha256_fingerprint", *fingerprint},
       {"self_signed", transport.given ? "false" : "true"}});
  return files;
}

std::vector<FlagSpec> ApiFlagSpecs() {
  return {{"listen"},
          {"tls-cert"},
          {"tls-key"},
          {"insecure-http", false},
          {"service-tokens-file"},
          {"command-wait-ms"},
          {"argon2-memory-kib"},
          {"argon2-iterations"}};
}

Result<ApiFlags> ParseApiFlags(const Flags& flags) {
  ApiFlags out;
  auto listen = ParseListen(flags.GetOr("listen", std::string(kDefaultListen)));
  if (!listen) return std::unexpected(listen.error());
  auto transport = ParseTransportFlags(flags, listen->first);
  if (!transport) return std::unexpected(transport.error());
  out.transport = std::move(*transport);
  auto wait_ms = flags.GetInt("command-wait-ms", 5000, 1, 60'000);
  if (!wait_ms) return std::unexpected(wait_ms.error());
  auto argon2_memory = flags.GetInt("argon2-memory-kib", kOwaspMinimumArgon2.memory_kib,
                                    kOwaspMinimumArgon2.memory_kib, 4 * 1024 * 1024);
  if (!argon2_memory) return std::unexpected(argon2_memory.error());
  auto argon2_iterations = flags.GetInt("argon2-iterations", kOwaspMinimumArgon2.iterations,
                                        kOwaspMinimumArgon2.iterations, 64);
  if (!argon2_iterations) return std::unexpected(argon2_iterations.error());
  out.argon2.memory_kib = static_cast<uint32_t>(*argon2_memory);
  out.argon2.iterations = static_cast<uint32_t>(*argon2_iterations);
  out.http.listen_address = listen->first;
  out.http.port = listen->second;
  out.http.command_wait = std::chrono::milliseconds(*wait_ms);
  if (auto tokens_file = flags.Get("service-tokens-file")) {
    // Checked here for a usage error; the node loads it again with its session resolver.
    auto tokens = ServiceTokenAuthenticator::FromFile(*tokens_file, nullptr);
    if (!tokens) return std::unexpected(tokens.error());
    Log(LogLevel::kInfo, "serve", "service tokens loaded",
        {{"services", static_cast<int64_t>((*tokens)->service_count())}});
    out.service_tokens_file = *tokens_file;
  }
  return out;
}

std::vector<FlagSpec> DecisionFlagSpecs() {
  return {{"session-idle-minutes"},
          {"session-absolute-hours"},
          {"login-free-failures"},
          {"login-lockout-failures"}};
}

Status ParseDecisionFlags(const Flags& flags, DecideOptions& decide) {
  auto idle_minutes = flags.GetInt("session-idle-minutes", 30, 1, 24 * 60);
  if (!idle_minutes) return std::unexpected(idle_minutes.error());
  auto absolute_hours = flags.GetInt("session-absolute-hours", 12, 1, 24 * 30);
  if (!absolute_hours) return std::unexpected(absolute_hours.error());
  // NIST SP 800-63B 5.2.2: at most 100 consecutive failures before the account is locked.
  auto free_failures = flags.GetInt("login-free-failures", 4, 0, 99);
  if (!free_failures) return std::unexpected(free_failures.error());
  auto lockout_failures = flags.GetInt("login-lockout-failures", 10, 1, 100);
  if (!lockout_failures) return std::unexpected(lockout_failures.error());
  if (*lockout_failures <= *free_failures) {
    return MakeError(Errc::kInvalidArgument,
                     "--login-lockout-failures must be more than --login-free-failures");
  }
  decide.login_free_failures = static_cast<uint32_t>(*free_failures);
  decide.login_lockout_failures = static_cast<uint32_t>(*lockout_failures);
  decide.session_idle_timeout_us = *idle_minutes * 60 * 1'000'000;
  decide.session_absolute_timeout_us = *absolute_hours * 3600 * 1'000'000;
  return {};
}

namespace {

int Serve(const std::vector<std::string>& args) {
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
    auto vms = ParseVmFlags(*flags, options.data_dir);
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
  const auto pid_file = options.data_dir / "serve.pid";
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

int Events(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kEventsHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string verb = args[0];
  if (verb != "dump" && verb != "tail")
    return UsageError("unknown events command " + verb, kEventsHelp);
  auto flags = Flags::Parse(
      {args.begin() + 1, args.end()},
      {{"data-dir"}, {"account"}, {"partition"}, {"from"}, {"limit"}, {"help", false}});
  if (!flags) return UsageError(flags.error().message, kEventsHelp);
  if (flags->Has("help")) {
    std::cout << kEventsHelp;
    return kExitOk;
  }
  auto limit = flags->GetInt("limit", INT64_MAX, 1, INT64_MAX);
  if (!limit) return UsageError(limit.error().message, kEventsHelp);
  auto from = flags->GetInt("from", verb == "tail" ? -1 : 0, 0, INT64_MAX);
  if (!from) return UsageError(from.error().message, kEventsHelp);
  const auto data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  auto log = OpenLocalLog(data_dir, 16, /*create=*/false);
  if (!log) return Fail(log.error());
  auto count = (*log)->PartitionCount(kEventsTopic);
  if (!count) return Fail(count.error());
  auto only_partition = flags->GetInt("partition", -1, 0, *count - 1);
  if (!only_partition) return UsageError(only_partition.error().message, kEventsHelp);
  const auto account = flags->Get("account");

  std::vector<Position> positions;
  for (int32_t p = 0; p < *count; ++p) {
    if (*only_partition >= 0 && p != *only_partition) continue;
    const TopicPartition tp{std::string(kEventsTopic), p};
    int64_t start = *from;
    if (start < 0) {
      auto end = (*log)->EndOffset(tp);
      if (!end) return Fail(end.error());
      start = *end;
    }
    positions.push_back({tp, start});
  }
  if (verb == "tail") {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    ::signal(SIGPIPE, SIG_IGN);
  }
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  int64_t printed = 0;
  while (printed < *limit) {
    auto records = verb == "tail" ? (*log)->Poll(positions, 1024, std::chrono::milliseconds(500))
                                  : (*log)->Poll(positions, 1024, std::chrono::milliseconds(0));
    if (!records) return Fail(records.error());
    if (records->empty()) {
      if (verb == "dump") break;
      continue;
    }
    for (const Record& r : *records) {
      for (auto& pos : positions)
        if (pos.tp.partition == r.partition) pos.next_offset = r.offset + 1;
      auto event = DecodeEnvelope(r.value);
      if (!event) return Fail(event.error());
      if (account && event->account_id() != *account) continue;
      std::string body;
      (void)google::protobuf::util::MessageToJsonString(*event, &body, json);
      std::cout << "{\"partition\":" << r.partition << ",\"offset\":" << r.offset
                << ",\"event\":" << body << "}\n";
      if (!std::cout) return kExitIoErr;
      if (++printed >= *limit) break;
    }
    std::cout.flush();
  }
  return kExitOk;
}

// Progress on stderr: a live line on a terminal, a JSON log line every 5% otherwise.
class Progress {
 public:
  explicit Progress(std::string_view what) : what_(what), tty_(::isatty(2) == 1) {}
  void Update(int64_t done, int64_t total) {
    const int percent = total > 0 ? static_cast<int>(done * 100 / total) : 100;
    if (tty_) {
      std::fprintf(stderr, "\r%s: %lld / %lld events (%d%%)", what_.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total), percent);
    } else if (percent >= last_percent_ + 5 || done == total) {
      Log(LogLevel::kInfo, "projections", what_, {{"applied", done}, {"total", total}});
    }
    last_percent_ = std::max(last_percent_, percent);
  }
  void Finish() {
    if (tty_) std::fputc('\n', stderr);
  }

 private:
  std::string what_;
  bool tty_;
  int last_percent_ = -5;
};

int Projections(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kProjectionsHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string verb = args[0];
  if (verb != "rebuild" && verb != "verify") {
    return UsageError("unknown projections command " + verb, kProjectionsHelp);
  }
  auto flags = Flags::Parse({args.begin() + 1, args.end()},
                            {{"data-dir"}, {"master-key-file"}, {"help", false}});
  if (!flags) return UsageError(flags.error().message, kProjectionsHelp);
  if (flags->Has("help")) {
    std::cout << kProjectionsHelp;
    return kExitOk;
  }
  const std::filesystem::path data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  OsRandom random;
  std::optional<std::filesystem::path> key_file;
  if (auto k = flags->Get("master-key-file")) key_file = *k;
  auto opened = OpenOfflineDataDir(data_dir, key_file, random);
  if (!opened) return Fail(opened.error());
  auto& [log, vault_store, vault] = *opened;
  MetricsRegistry metrics;

  const auto started = std::chrono::steady_clock::now();
  const auto target = data_dir / (verb == "rebuild" ? "projections" : "projections-verify");
  if (auto ok = RocksDbStore::Destroy(target.string()); !ok) return Fail(ok.error());
  int64_t applied = 0;
  std::string fingerprint;
  {
    // No write-ahead log while rebuilding: an interrupted rebuild is simply run again.
    RocksDbStoreOptions rebuild_options;
    rebuild_options.disable_wal = true;
    auto store = RocksDbStore::Open(target.string(), rebuild_options);
    if (!store) return Fail(store.error());
    SystemClock projector_clock;
    Projector projector(**store, vault.get(), metrics, nullptr, projector_clock);
    Progress progress(verb == "rebuild" ? "rebuilding projections" : "replaying for verify");
    auto ok = projector.CatchUp(*log, [&](int64_t done, int64_t total) {
      applied = done;
      progress.Update(done, total);
    });
    progress.Finish();
    if (!ok) return Fail(ok.error());
    if (verb == "verify") {
      auto fp = projector.Fingerprint();
      if (!fp) return Fail(fp.error());
      fingerprint = std::move(*fp);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (verb == "rebuild") {
    std::printf("rebuilt projections: %lld events in %.2f s (%.0f events/s)\n",
                static_cast<long long>(applied), seconds, seconds > 0 ? applied / seconds : 0.0);
    return kExitOk;
  }
  (void)RocksDbStore::Destroy(target.string());
  auto current_store = RocksDbStore::Open((data_dir / "projections").string());
  if (!current_store) return Fail(current_store.error());
  SystemClock projector_clock;
  Projector current(**current_store, vault.get(), metrics, nullptr, projector_clock);
  auto current_fp = current.Fingerprint();
  if (!current_fp) return Fail(current_fp.error());
  if (*current_fp != fingerprint) {
    std::printf("projections DIFFER from a fresh replay of %lld events\n",
                static_cast<long long>(applied));
    return kExitFailure;
  }
  std::printf("projections equal a fresh replay of %lld events\n", static_cast<long long>(applied));
  return kExitOk;
}

int Vault(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kVaultHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "rotate-master-key") {
    return UsageError("unknown vault command " + args[0], kVaultHelp);
  }
  auto flags = Flags::Parse({args.begin() + 1, args.end()},
                            {{"data-dir"}, {"master-key-file"}, {"timeout-s"}, {"help", false}});
  if (!flags) return UsageError(flags.error().message, kVaultHelp);
  if (flags->Has("help")) {
    std::cout << kVaultHelp;
    return kExitOk;
  }
  auto timeout_s = flags->GetInt("timeout-s", 600, 1, 86'400);
  if (!timeout_s) return UsageError(timeout_s.error().message, kVaultHelp);
  const std::filesystem::path data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  std::optional<std::filesystem::path> key_file;
  if (auto k = flags->Get("master-key-file")) key_file = *k;

  if (auto pid = RunningServe(data_dir)) {
    // Online: serve rotates on SIGUSR1; the key file changes when it is done. The key file is
    // found as serve finds it (flag, $CLAWVISOR_MASTER_KEY_FILE, DATA_DIR/master.key).
    if (!key_file) {
      if (const char* f = std::getenv("CLAWVISOR_MASTER_KEY_FILE"); f && *f) key_file = f;
    }
    const std::filesystem::path path = key_file.value_or(data_dir / "master.key");
    auto before = LoadMasterKeyFile(path);
    if (!before) return Fail(before.error());
    if (::kill(*pid, SIGUSR1) != 0) {
      return Fail(
          Error{Errc::kUnavailable, "cannot signal serve (pid " + std::to_string(*pid) + ")"});
    }
    std::cerr << "clawvisor: asked serve (pid " << *pid << ") to rotate master key " << before->id()
              << "\n";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (std::filesystem::exists(NextMasterKeyPath(path))) continue;
      auto after = LoadMasterKeyFile(path);
      if (after && after->id() != before->id()) {
        std::cout << "master key rotated: " << before->id() << " -> " << after->id() << "\n";
        return kExitOk;
      }
    }
    return Fail(Error{Errc::kTimeout,
                      "serve did not finish the rotation in time; see its log (a key from the "
                      "environment or a systemd credential cannot be rotated in place)"});
  }
  // Offline: open the vault directly.
  OsRandom random;
  std::unique_ptr<RocksDbStore> vault_store;
  std::optional<std::filesystem::path> rewritable;
  auto vault = OpenVault(data_dir, key_file, random, vault_store, &rewritable);
  if (!vault) return Fail(vault.error());
  if (!rewritable) {
    return Fail(Error{Errc::kFailedPrecondition,
                      "the master key comes from the environment or a systemd credential; "
                      "give a writable key file with --master-key-file"});
  }
  auto rotated = RotateMasterKeyFile(**vault, *rewritable, random);
  if (!rotated) return Fail(rotated.error());
  std::cout << "master key rotated: " << rotated->old_key_id << " -> " << rotated->new_key_id
            << "\n";
  return kExitOk;
}

}  // namespace

int Fail(const Error& error) {
  std::cerr << "clawvisor: " << error.ToString() << "\n";
  switch (error.code) {
    case Errc::kInvalidArgument:
      return kExitUsage;
    case Errc::kCorruption:
    case Errc::kUnsupported:
      return kExitDataErr;
    case Errc::kUnavailable:
      return kExitUnavailable;
    case Errc::kInternal:
      return kExitSoftware;
    default:
      return kExitFailure;
  }
}

std::filesystem::path DefaultDataDir() {
  if (const char* d = std::getenv("CLAWVISOR_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    return std::filesystem::path(x) / "clawvisor";
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return std::filesystem::path(h) / ".local/share/clawvisor";
  }
  return "/var/lib/clawvisor";
}

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

}  // namespace clawvisor::cli
