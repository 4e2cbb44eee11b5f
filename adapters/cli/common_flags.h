#pragma once

// The flags several subcommands share, parsed in one place: --log-level, HOST:PORT addresses,
// the HTTP API's flags and its transport rules (serve, api), the sign-in decisions' flags
// (serve, processor) and how a service reaches Kafka (api, processor, project, reconcile,
// kafka init). Errors are kInvalidArgument with the message the user sees (exit 64).
// Thread-safety: plain functions; ResolveTlsFiles may write DATA_DIR/tls (one caller at a time).

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
#include "adapters/kafka/kafka_client_config.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/domain/decider.h"
#include "engine/logging.h"
#include "events/result.h"

namespace clawvisor::cli {

Result<LogLevel> ParseLogLevel(std::string_view s);
// Sets the process's log level from --log-level (default info).
Status ApplyLogLevelFlag(const Flags& flags);
// "HOST:PORT" (HOST may be [v6]; "localhost" becomes 127.0.0.1).
Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view s);

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

// --bootstrap-servers, else $CLAWVISOR_KAFKA_BOOTSTRAP_SERVERS; empty when neither is set.
std::string BootstrapServers(const Flags& flags);
// The librdkafka properties of --kafka-config (none without the flag).
Result<KafkaProperties> KafkaConfigFlag(const Flags& flags);

}  // namespace clawvisor::cli
