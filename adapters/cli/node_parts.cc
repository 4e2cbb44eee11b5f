#include "adapters/cli/node_parts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

#include "adapters/http/projected_session_resolver.h"
#include "adapters/http/service_token_authenticator.h"
#include "engine/logging.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "node";

}  // namespace

Status EnsurePrivateDir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable,
                     "cannot create data directory " + dir.string() + ": " + ec.message());
  }
  // The directory holds the key material and every customer's (sealed) data: it must be ours
  // (not a link, not someone else's directory we would then chmod and write into), owner only.
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return MakeError(Errc::kFailedPrecondition,
                     "data directory " + dir.string() + " is not a directory (or is a symlink)");
  }
  if (info.st_uid != ::geteuid()) {
    return MakeError(Errc::kPermissionDenied, "data directory " + dir.string() +
                                                  " belongs to another user; use a directory "
                                                  "owned by the user clawvisor runs as");
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return MakeError(Errc::kUnavailable, "cannot restrict data directory " + dir.string());
  }
  return {};
}

Status CatchUpProjections(Projector& projector, EventLog& log) {
  int64_t last_report = 0;
  return projector.CatchUp(log, [&](int64_t done, int64_t total) {
    if (done - last_report >= 100'000 || done == total) {
      last_report = done;
      Log(LogLevel::kInfo, kComponent, "projections catching up",
          {{"applied", done}, {"total", total}});
    }
  });
}

Result<AccessServices> MakeAccessServices(Projector& projector, Sealer& vault, Clock& clock,
                                          RandomSource& random, const Argon2Params& argon2) {
  AccessServices access;
  auto hasher = Argon2idPasswordHasher::Create(argon2);
  if (!hasher) return std::unexpected(hasher.error());
  access.hasher = std::move(*hasher);
  Projector* reads = &projector;
  access.passwords = std::make_unique<PasswordService>(
      *access.hasher, vault,
      [reads](std::string_view account) { return reads->GetPasswordCredential(account); },
      [reads](std::string_view email_hash) { return reads->FindAccountByEmailHash(email_hash); },
      &random,
      [reads](std::string_view token_hash) {
        return reads->FindAccountByResetTokenHash(token_hash);
      });
  access.totp = std::make_unique<TotpService>(vault, clock, [reads](std::string_view account) {
    return reads->GetTotpCredential(account);
  });
  access.sessions = std::make_shared<ProjectedSessionResolver>(projector, vault, clock);
  return access;
}

Status WireHttpAccess(HttpApiOptions& http, AccessServices& access,
                      const std::optional<std::filesystem::path>& service_tokens_file) {
  http.logins = access.passwords.get();
  http.sessions = access.sessions.get();
  if (service_tokens_file) {
    auto tokens =
        ServiceTokenAuthenticator::FromFile(service_tokens_file->string(), access.sessions);
    if (!tokens) return std::unexpected(tokens.error());
    http.authenticator = std::shared_ptr<Authenticator>(std::move(*tokens));
  }
  return {};
}

Result<ResolvedMasterKey> ResolveMasterKey(const std::optional<std::filesystem::path>& key_file,
                                           const std::optional<std::filesystem::path>& create_at,
                                           RandomSource& random) {
  // Where the master key comes from, first match wins: the flag, $CLAWVISOR_MASTER_KEY_FILE,
  // a systemd credential, the key itself in $CLAWVISOR_MASTER_KEY, else `create_at` (created on
  // first run).
  std::optional<std::filesystem::path> file = key_file;
  if (!file) {
    if (const char* f = std::getenv("CLAWVISOR_MASTER_KEY_FILE"); f && *f) file = f;
  }
  bool rewritable = file.has_value();
  if (!file) {
    if (const char* d = std::getenv("CREDENTIALS_DIRECTORY"); d && *d) {
      const auto credential = std::filesystem::path(d) / "master.key";
      if (std::filesystem::exists(credential)) file = credential;
    }
  }
  Result<MasterKey> master = MakeError(Errc::kNotFound, "no master key");
  std::string source;
  if (file) {
    master = LoadMasterKeyFile(*file);
    source = file->string();
  } else {
    master = LoadMasterKeyFromEnv();
    source = std::string("$") + std::string(kMasterKeyEnvVar);
    // The key must not linger in /proc/PID/environ or reach child processes.
    ::unsetenv(std::string(kMasterKeyEnvVar).c_str());
    if (!master && master.error().code == Errc::kNotFound && create_at) {
      file = *create_at;
      rewritable = true;
      master = LoadOrCreateMasterKeyFile(*file, random);
      source = file->string();
    }
  }
  if (!master) return std::unexpected(master.error());
  return ResolvedMasterKey{std::move(*master), std::move(source), rewritable ? file : std::nullopt};
}

NodeParts::~NodeParts() { Stop(); }

Status NodeParts::OpenCommands(const std::optional<Argon2Params>& argon2) {
  if (argon2) {
    auto access =
        MakeAccessServices(base_.projector, base_.vault, base_.clock, base_.random, *argon2);
    if (!access) return std::unexpected(access.error());
    access_ = std::move(*access);
  }
  Projector* reads = &base_.projector;
  commands_ = std::make_unique<LogCommandService>(
      base_.log, base_.board,
      [reads](std::string_view account, std::string_view command) {
        return reads->FindDecidedOutcome(account, command);
      },
      base_.projected, base_.vault, base_.clock, base_.metrics, access_.passwords.get(),
      access_.totp.get());
  return {};
}

Status NodeParts::WireHttp(HttpApiOptions& http,
                           const std::optional<std::filesystem::path>& service_tokens_file) {
  return WireHttpAccess(http, access_, service_tokens_file);
}

void NodeParts::OpenAuditExports(const std::filesystem::path& data_dir,
                                 const AuditExportWorkerOptions& options) {
  export_area_ = std::make_unique<FileAuditExportArea>(data_dir / "exports");
  export_worker_ = std::make_unique<AuditExportWorker>(
      base_.log, base_.vault, base_.projector, *commands_, *export_area_, base_.metrics, options);
}

void NodeParts::StartAuditExports() {
  export_thread_ = std::jthread([this](std::stop_token stop) { export_worker_->Run(stop); });
}

Result<uint16_t> NodeParts::StartHttp(HttpApiOptions http, std::function<bool()> ready) {
  http.audit_export_area = export_area_.get();
  http_ = std::make_unique<HttpApi>(std::move(http), *commands_, base_.projector, base_.metrics,
                                    std::move(ready));
  return http_->Start();
}

Status NodeParts::StartVmHost(const VmHostOptions& vms, InstanceSecrets& secrets,
                              const std::filesystem::path& data_dir) {
  if (vms.egress) {
    auto gateway = cli::StartEgressGateway(*vms.egress, base_.metrics, base_.clock, traffic_);
    if (!gateway) return std::unexpected(gateway.error());
    egress_ = std::move(*gateway);
  }
  auto driver = cli::OpenVmDriver(vms.driver);
  if (!driver) return std::unexpected(driver.error());
  vm_driver_ = std::move(*driver);
  ReconcilerOptions reconciler_options = vms.reconciler;
  reconciler_options.traffic = &traffic_;
  reconciler_options.directory = &directory_;
  reconciler_ = std::make_unique<Reconciler>(*vm_driver_, *commands_, secrets, base_.clock,
                                             base_.metrics, std::move(reconciler_options));
  reconciler_service_ = std::make_unique<ReconcilerService>(base_.log, *reconciler_, base_.clock);
  reconciler_thread_ =
      std::jthread([this](std::stop_token stop) { reconciler_service_->Run(stop); });
  if (vms.front_door) return StartFrontDoor(*vms.front_door, secrets, data_dir);
  return {};
}

namespace {
// Without the sign-in services (a headless reconciler) no session is valid here.
class NoSessions final : public SessionResolver {
 public:
  Result<std::string> ResolveUser(std::string_view) override {
    return MakeError(Errc::kPermissionDenied, "member sessions are not served here");
  }
};
}  // namespace

Status NodeParts::StartFrontDoor(cli::FrontDoorSettings settings, InstanceSecrets& secrets,
                                 const std::filesystem::path& data_dir) {
  if (auto tls = cli::ResolveFrontDoorTls(settings, data_dir); !tls) return tls;
  if (!access_.sessions) access_.sessions = std::make_shared<NoSessions>();
  console_backend_ = std::make_unique<cli::ConsoleBackend>(
      cli::ConsoleBackendParts{directory_, traffic_, secrets, base_.projector, *access_.sessions,
                               *commands_, base_.log, base_.clock, base_.random, base_.vault});
  auto door =
      front_door::FrontDoor::Start(settings.options, *console_backend_, base_.metrics, base_.clock);
  if (!door) return std::unexpected(door.error());
  front_door_ = std::move(*door);
  return {};
}

uint16_t NodeParts::front_door_port() const { return front_door_ ? front_door_->port() : 0; }

void NodeParts::Stop() {
  front_door_.reset();  // before the reconciler: its requests wait on the directory
  if (http_) http_->Stop();
  reconciler_thread_ = {};  // request_stop + join; its reports wait on the processor
  export_thread_ = {};      // it may be waiting on a command's outcome
}

}  // namespace clawvisor
