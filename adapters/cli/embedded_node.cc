#include "adapters/cli/embedded_node.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <system_error>

#include "adapters/http/projected_session_resolver.h"
#include "adapters/http/service_token_authenticator.h"
#include "adapters/openssl/master_key.h"
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

Result<std::unique_ptr<LocalEventLog>> OpenLocalLog(const std::filesystem::path& data_dir,
                                                    int32_t partitions, bool create) {
  const auto path = data_dir / "log";
  const bool exists = std::filesystem::exists(path / "CURRENT");
  if (!exists && !create) {
    return MakeError(Errc::kNotFound, "no event log under " + data_dir.string() +
                                          " (is --data-dir right? `clawvisor serve` creates it)");
  }
  if (partitions < 1 || partitions > 1024) {
    return MakeError(Errc::kInvalidArgument, "partitions must be between 1 and 1024");
  }
  LocalEventLogOptions options;
  options.path = path.string();
  // An existing log keeps the partition count it was created with.
  if (!exists) {
    options.topics = {{std::string(kCommandsTopic), partitions},
                      {std::string(kEventsTopic), partitions}};
  }
  return LocalEventLog::Open(options);
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

Result<std::unique_ptr<KeyVault>> OpenVault(const std::filesystem::path& data_dir,
                                            const std::optional<std::filesystem::path>& key_file,
                                            RandomSource& random,
                                            std::unique_ptr<RocksDbStore>& store_out,
                                            std::optional<std::filesystem::path>* key_path_out) {
  auto resolved = ResolveMasterKey(key_file, data_dir / "master.key", random);
  if (!resolved) return std::unexpected(resolved.error());
  Result<MasterKey> master = std::move(resolved->key);
  const std::string source = resolved->source;
  const std::optional<std::filesystem::path> file = resolved->rewritable_file;
  const bool rewritable = file.has_value();
  // A rotation that was interrupted left its new key beside the old one: finish it first.
  std::vector<MasterKey> previous;
  std::optional<std::filesystem::path> next_path;
  if (rewritable && std::filesystem::exists(NextMasterKeyPath(*file))) {
    next_path = NextMasterKeyPath(*file);
    auto next = LoadMasterKeyFile(*next_path);
    if (!next) return std::unexpected(next.error());
    previous.push_back(std::move(*master));
    master = std::move(*next);
    Log(LogLevel::kWarn, kComponent, "finishing an interrupted master-key rotation",
        {{"master_key_id", master->id()}, {"previous_master_key_id", previous.front().id()}});
  }
  Log(LogLevel::kInfo, kComponent, "master key loaded",
      {{"master_key_id", master->id()}, {"source", source}});
  auto store = RocksDbStore::Open((data_dir / "vault").string());
  if (!store) return std::unexpected(store.error());
  auto vault = KeyVault::Create(**store, random, std::move(*master), std::move(previous));
  if (!vault) return std::unexpected(vault.error());
  if (next_path) {
    if (auto installed = InstallNextMasterKey(*file); !installed) {
      return std::unexpected(installed.error());
    }
  }
  store_out = std::move(*store);
  if (key_path_out != nullptr) {
    *key_path_out = rewritable ? file : std::nullopt;
  }
  return vault;
}

std::filesystem::path NextMasterKeyPath(const std::filesystem::path& key_file) {
  return std::filesystem::path(key_file.string() + ".next");
}

Status InstallNextMasterKey(const std::filesystem::path& key_file) {
  std::error_code ec;
  std::filesystem::rename(NextMasterKeyPath(key_file), key_file, ec);
  if (ec) {
    return MakeError(Errc::kUnavailable, "cannot install the new master key at " +
                                             key_file.string() + ": " + ec.message());
  }
  // The rename must survive a crash: sync the directory that holds both names.
  const int dir = ::open(key_file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0 || ::fsync(dir) != 0) {
    if (dir >= 0) ::close(dir);
    return MakeError(Errc::kUnavailable, "cannot sync " + key_file.parent_path().string());
  }
  ::close(dir);
  return {};
}

Result<MasterKeyRotation> RotateMasterKeyFile(KeyVault& vault,
                                              const std::filesystem::path& key_file,
                                              RandomSource& random) {
  MasterKeyRotation rotation;
  rotation.old_key_id = vault.current_master_key_id();
  // The new key is on disk (0600, synced) before any record is wrapped under it, so a crash
  // at any point leaves both keys readable; the next start finishes the rotation.
  auto next = LoadOrCreateMasterKeyFile(NextMasterKeyPath(key_file), random);
  if (!next) return std::unexpected(next.error());
  rotation.new_key_id = next->id();
  // The same id: a rotation that failed midway left this key current; re-wrapping resumes it.
  Log(LogLevel::kInfo, kComponent, "rotating the master key",
      {{"master_key_id", rotation.old_key_id}, {"new_master_key_id", rotation.new_key_id}});
  if (auto rotated = vault.RotateMasterKey(std::move(*next)); !rotated) {
    return std::unexpected(rotated.error());
  }
  if (auto installed = InstallNextMasterKey(key_file); !installed) {
    return std::unexpected(installed.error());
  }
  Log(LogLevel::kInfo, kComponent, "master key rotated",
      {{"master_key_id", rotation.new_key_id}, {"previous_master_key_id", rotation.old_key_id}});
  return rotation;
}

Result<std::unique_ptr<EmbeddedNode>> EmbeddedNode::Open(EmbeddedNodeOptions options) {
  if (options.data_dir.empty()) return MakeError(Errc::kInvalidArgument, "no data directory");
  if (auto ok = EnsurePrivateDir(options.data_dir); !ok) return std::unexpected(ok.error());
  std::unique_ptr<EmbeddedNode> node(new EmbeddedNode(std::move(options)));
  const auto& dir = node->options_.data_dir;

  auto log = OpenLocalLog(dir, node->options_.partitions, /*create=*/true);
  if (!log) return std::unexpected(log.error());
  node->log_ = std::move(*log);

  auto vault = OpenVault(dir, node->options_.master_key_file, node->random_, node->vault_store_,
                         &node->master_key_path_);
  if (!vault) return std::unexpected(vault.error());
  node->vault_ = std::move(*vault);

  auto projections = RocksDbStore::Open((dir / "projections").string());
  if (!projections) return std::unexpected(projections.error());
  node->projection_store_ = std::move(*projections);

  node->projector_ = std::make_unique<Projector>(*node->projection_store_, node->vault_.get(),
                                                 node->metrics_, &node->projected_, node->clock_);
  node->instance_secrets_ =
      std::make_unique<ProjectedInstanceSecrets>(*node->projector_, *node->vault_);
  if (node->options_.session_idle_timeout_us) {
    node->options_.processor.decide.session_idle_timeout_us =
        *node->options_.session_idle_timeout_us;
  }
  if (node->options_.session_absolute_timeout_us) {
    node->options_.processor.decide.session_absolute_timeout_us =
        *node->options_.session_absolute_timeout_us;
  }
  node->processor_ =
      std::make_unique<Processor>(*node->log_, *node->vault_, node->clock_, node->random_,
                                  node->metrics_, &node->board_, node->options_.processor);
  auto access = MakeAccessServices(*node->projector_, *node->vault_, node->clock_, node->random_,
                                   node->options_.argon2);
  if (!access) return std::unexpected(access.error());
  node->access_ = std::move(*access);
  if (node->options_.http) {
    if (auto wired =
            WireHttpAccess(*node->options_.http, node->access_, node->options_.service_tokens_file);
        !wired) {
      return std::unexpected(wired.error());
    }
  }
  Projector* projector = node->projector_.get();
  node->commands_ = std::make_unique<LogCommandService>(
      *node->log_, node->board_,
      [projector](std::string_view account, std::string_view command) {
        return projector->FindDecidedOutcome(account, command);
      },
      node->projected_, *node->vault_, node->clock_, node->metrics_, node->access_.passwords.get(),
      node->access_.totp.get());
  node->export_area_ = std::make_unique<FileAuditExportArea>(dir / "exports");
  node->export_worker_ = std::make_unique<AuditExportWorker>(
      *node->log_, *node->vault_, *node->projector_, *node->commands_, *node->export_area_,
      node->metrics_, node->options_.audit_exports);
  return node;
}

Status EmbeddedNode::Start() {
  const auto started = clock_.Monotonic();
  if (auto ok = processor_->AssignAll(); !ok) return ok;
  if (auto caught_up = CatchUpProjections(*projector_, *log_); !caught_up) return caught_up;
  processor_thread_ = std::jthread([this](std::stop_token stop) { processor_->Run(stop); });
  projector_thread_ = std::jthread([this](std::stop_token stop) { projector_->Run(*log_, stop); });
  export_thread_ = std::jthread([this](std::stop_token stop) { export_worker_->Run(stop); });
  if (options_.http) {
    HttpApiOptions http_options = *options_.http;
    http_options.audit_export_area = export_area_.get();
    http_ = std::make_unique<HttpApi>(http_options, *commands_, *projector_, metrics_,
                                      [this] { return ready_.load(); });
    auto port = http_->Start();
    if (!port) return std::unexpected(port.error());
    http_port_ = *port;
  }
  if (options_.vms) {
    auto driver = qemu::QemuMicrovmDriver::Open(options_.vms->qemu);
    if (!driver) return std::unexpected(driver.error());
    vm_driver_ = std::move(*driver);
    reconciler_ = std::make_unique<Reconciler>(*vm_driver_, *commands_, *instance_secrets_, clock_,
                                               metrics_, options_.vms->reconciler);
    reconciler_service_ = std::make_unique<ReconcilerService>(*log_, *reconciler_, clock_);
    reconciler_thread_ =
        std::jthread([this](std::stop_token stop) { reconciler_service_->Run(stop); });
  }
  ready_ = true;
  Log(LogLevel::kInfo, kComponent, "ready",
      {{"http_port", static_cast<int64_t>(http_port_)},
       {"startup_ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic() - started)
            .count()}});
  return {};
}

void EmbeddedNode::Stop() {
  ready_ = false;
  if (http_) http_->Stop();
  // The reconciler first: its reports wait on the processor. Its VMs keep running (a restarted
  // serve re-adopts them).
  reconciler_thread_ = {};
  export_thread_ = {};     // before the processor: it may be waiting on a command's outcome
  processor_thread_ = {};  // request_stop + join
  projector_thread_ = {};
}

Result<MasterKeyRotation> EmbeddedNode::RotateMasterKey() {
  if (!master_key_path_) {
    return MakeError(Errc::kFailedPrecondition,
                     "the master key comes from the environment or a systemd credential, which "
                     "clawvisor cannot rewrite; stop serve and run `clawvisor vault "
                     "rotate-master-key --master-key-file PATH` with a writable key file");
  }
  return RotateMasterKeyFile(*vault_, *master_key_path_, random_);
}

EmbeddedNode::~EmbeddedNode() { Stop(); }

Result<OfflineDataDir> OpenOfflineDataDir(const std::filesystem::path& data_dir,
                                          const std::optional<std::filesystem::path>& key_file,
                                          RandomSource& random) {
  OfflineDataDir dir;
  auto log = OpenLocalLog(data_dir, 16, /*create=*/false);
  if (!log) return std::unexpected(log.error());
  dir.log = std::move(*log);
  auto vault = OpenVault(data_dir, key_file, random, dir.vault_store);
  if (!vault) return std::unexpected(vault.error());
  dir.vault = std::move(*vault);
  return dir;
}

}  // namespace clawvisor
