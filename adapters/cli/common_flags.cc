#include "adapters/cli/common_flags.h"

#include "adapters/cli/guest_image_flags.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "adapters/http/request_parsing.h"
#include "adapters/http/service_token_authenticator.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kDefaultListen = "127.0.0.1:8470";

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warn") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return MakeError(Errc::kInvalidArgument, "--log-level must be debug, info, warn or error");
}

Status ApplyLogLevelFlag(const Flags& flags) {
  auto level = ParseLogLevel(flags.GetOr("log-level", "info"));
  if (!level) return std::unexpected(level.error());
  SetLogLevel(*level);
  return {};
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
  // The images instances may name (#15): the processor refuses any other.
  auto images = ParseGuestImageFlags(flags);
  if (!images) return std::unexpected(images.error());
  if (*images) UseGuestImages(decide, **images);
  return {};
}

std::string BootstrapServers(const Flags& flags) {
  std::string servers = flags.GetOr("bootstrap-servers", "");
  if (servers.empty()) {
    if (const char* env = std::getenv("CLAWVISOR_KAFKA_BOOTSTRAP_SERVERS"); env && *env) {
      servers = env;
    }
  }
  return servers;
}

Result<KafkaProperties> KafkaConfigFlag(const Flags& flags) {
  auto config = flags.Get("kafka-config");
  if (!config) return KafkaProperties{};
  return LoadKafkaClientConfig(*config);
}

}  // namespace clawvisor::cli
