#pragma once

#include <signal.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/argon2/argon2_password_hasher.h"
#include "adapters/cli/flags.h"
#include "adapters/http/http_api.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/domain/decider.h"
#include "engine/logging.h"

#include "events/result.h"

namespace clawvisor::cli {

// Exit codes (sysexits-style, documented in README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // the work failed (environment, I/O)
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad flags or arguments
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: input data is invalid
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: a dependency is down
inline constexpr int kExitSoftware = 70;     // EX_SOFTWARE: internal error
inline constexpr int kExitCantCreat = 73;    // EX_CANTCREAT: cannot create an output file
inline constexpr int kExitIoErr = 74;        // EX_IOERR

int Main(int argc, char** argv);

// Shared by the subcommands: the default --data-dir, and an error's message and exit code.
std::filesystem::path DefaultDataDir();
int Fail(const Error& error);

// Prints "clawvisor: MESSAGE", then the command's help, to stderr; returns kExitUsage.
int UsageError(std::string_view message, std::string_view help);
Result<LogLevel> ParseLogLevel(std::string_view s);
// "HOST:PORT" (HOST may be [v6]; "localhost" becomes 127.0.0.1).
Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view s);

// Blocks SIGINT and SIGTERM (and SIGUSR1 when `usr1`) in this thread and every thread started
// after it, so a long-running command takes them with sigwait(&signals); ignores SIGPIPE.
void BlockServiceSignals(sigset_t& signals, bool usr1 = false);

// How an HTTP API listens (serve, api): --insecure-http, --tls-cert, --tls-key.
struct TransportFlags {
  bool insecure_http = false;
  std::optional<openssl::TlsServerFiles> given;  // --tls-cert and --tls-key
};
// The transport rules of issue #4: HTTPS by default; plain HTTP only when asked for and only on
// loopback; a non-loopback address only with --service-tokens-file.
Result<TransportFlags> ParseTransportFlags(const Flags& flags, const std::string& listen_host);
// The certificate and key HTTPS uses: the given pair, checked now, or the self-signed pair kept
// in DATA_DIR/tls (made on first use). Logs the certificate's SHA-256 fingerprint.
Result<openssl::TlsServerFiles> ResolveTlsFiles(const TransportFlags& transport,
                                                const std::filesystem::path& data_dir,
                                                const std::string& listen_host);

// The HTTP API's flags (serve, api): --listen, the transport's, --service-tokens-file,
// --command-wait-ms, --argon2-memory-kib, --argon2-iterations.
std::vector<FlagSpec> ApiFlagSpecs();
struct ApiFlags {
  HttpApiOptions http;  // listen address, port, command wait
  TransportFlags transport;
  Argon2Params argon2;
  std::optional<std::filesystem::path> service_tokens_file;
};
Result<ApiFlags> ParseApiFlags(const Flags& flags);

// The sign-in decisions' flags (serve, processor): --session-idle-minutes,
// --session-absolute-hours, --login-free-failures, --login-lockout-failures.
std::vector<FlagSpec> DecisionFlagSpecs();
Status ParseDecisionFlags(const Flags& flags, DecideOptions& decide);

}  // namespace clawvisor::cli
