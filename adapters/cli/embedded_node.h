#pragma once

// EmbeddedNode: everything `clawvisor serve` runs, in one process on the embedded log (design
// D8), built from one data directory:
//
//   DATA_DIR/log/          LocalEventLog (commands and events topics)
//   DATA_DIR/projections/  RocksDbStore of the read models
//   DATA_DIR/vault/        RocksDbStore of the wrapped data keys
//   DATA_DIR/master.key    the master key (0600), unless given by path or environment
//   DATA_DIR/exports/      finished audit exports, <account>/<export id>.csv (0600)
//
// Tests and benchmarks use it too, so what they measure is what serve runs.
// Thread-safety: Start/Stop from one thread; the accessors' objects are thread-safe.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "adapters/argon2/argon2_password_hasher.h"
#include "adapters/audit_export/file_audit_export_area.h"
#include "adapters/http/authenticator.h"
#include "adapters/http/http_api.h"
#include "adapters/openssl/key_vault.h"
#include "adapters/posix/os_random.h"
#include "adapters/qemu/qemu_microvm_driver.h"
#include "adapters/rocksdb/local_event_log.h"
#include "adapters/rocksdb/rocksdb_store.h"
#include "engine/clock.h"
#include "engine/command/log_command_service.h"
#include "engine/command/outcome_board.h"
#include "engine/command/password_service.h"
#include "engine/command/processor.h"
#include "engine/command/totp_service.h"
#include "engine/metrics.h"
#include "engine/reconcile/reconciler.h"
#include "engine/reconcile/reconciler_service.h"
#include "projections/audit_export_worker.h"
#include "projections/projected_instance_secrets.h"
#include "projections/projector.h"

namespace clawvisor {

// The sign-in machinery of an HTTP API (serve, and the api service on Kafka): Argon2id password
// hashing, TOTP and the session resolver, all reading the projector's read models.
struct AccessServices {
  std::unique_ptr<Argon2idPasswordHasher> hasher;
  std::unique_ptr<PasswordService> passwords;
  std::unique_ptr<TotpService> totp;
  std::shared_ptr<SessionResolver> sessions;
};
// `projector`, `vault`, `clock` and `random` must outlive the result.
Result<AccessServices> MakeAccessServices(Projector& projector, Sealer& vault, Clock& clock,
                                          RandomSource& random, const Argon2Params& argon2);
// Points `http` at the sign-in services and, given a tokens file, authenticates callers as
// services with its bearer tokens.
Status WireHttpAccess(HttpApiOptions& http, AccessServices& access,
                      const std::optional<std::filesystem::path>& service_tokens_file);
// Catches the read models up with the events topic, logging progress every 100,000 events
// (serve's and the projector service's start).
Status CatchUpProjections(Projector& projector, EventLog& log);
// Creates `dir` if needed and checks that it is a directory of ours (not a symlink), mode 0700.
Status EnsurePrivateDir(const std::filesystem::path& dir);

struct EmbeddedNodeOptions {
  std::filesystem::path data_dir;
  int32_t partitions = 16;  // fixed when the data directory is created
  bool sync = true;         // synced appends; off only for benchmarks of the upper bound
  // Master key: a file path, else $CLAWVISOR_MASTER_KEY, else DATA_DIR/master.key (created).
  std::optional<std::filesystem::path> master_key_file;
  // HTTP: nullopt runs no API (tests that drive the CommandService directly).
  std::optional<HttpApiOptions> http;
  ProcessorOptions processor;
  // Argon2id cost of new password hashes (never below OWASP's minimum); a stored hash made with
  // weaker parameters is rehashed at the next login.
  Argon2Params argon2;
  // Service bearer tokens (ServiceTokenAuthenticator); unset: the loopback development caller.
  std::optional<std::filesystem::path> service_tokens_file;
  // Session timeouts (also in processor.decide, which this overrides when set).
  std::optional<int64_t> session_idle_timeout_us;
  std::optional<int64_t> session_absolute_timeout_us;
  // The in-process reconciler of this host's microVMs (design D6/D7); nullopt runs none.
  struct Vms {
    qemu::QemuOptions qemu;
    ReconcilerOptions reconciler;
  };
  std::optional<Vms> vms;
  AuditExportWorkerOptions audit_exports;
};

struct MasterKeyRotation {
  std::string old_key_id;
  std::string new_key_id;
};

class EmbeddedNode {
 public:
  static Result<std::unique_ptr<EmbeddedNode>> Open(EmbeddedNodeOptions options);
  ~EmbeddedNode();  // Stop()s

  // Recovers the processor's state, catches the projections up, starts the threads and the API.
  Status Start();
  void Stop();

  uint16_t http_port() const { return http_port_; }
  bool ready() const { return ready_.load(); }
  CommandService& commands() { return *commands_; }
  Projector& projector() { return *projector_; }
  LocalEventLog& log() { return *log_; }
  KeyVault& vault() { return *vault_; }
  // Rotates the master key while serving (seals and opens carry on): draws a new key into
  // KEY_FILE.next, re-wraps every data key under it, then renames it over KEY_FILE. Only for a
  // key kept in a file (DATA_DIR/master.key or --master-key-file); kFailedPrecondition else.
  Result<MasterKeyRotation> RotateMasterKey();
  // The reconciler's one way to an instance's plaintext secrets (engine/instance_secrets.h).
  InstanceSecrets& instance_secrets() { return *instance_secrets_; }
  MetricsRegistry& metrics() { return metrics_; }
  // The microVM driver and reconciler, when options.vms is set (after Start).
  qemu::QemuMicrovmDriver* vm_driver() { return vm_driver_.get(); }
  Reconciler* reconciler() { return reconciler_.get(); }

 private:
  explicit EmbeddedNode(EmbeddedNodeOptions options) : options_(std::move(options)) {}

  EmbeddedNodeOptions options_;
  SystemClock clock_;
  OsRandom random_;
  MetricsRegistry metrics_;
  OutcomeBoard board_;
  Watermarks projected_;
  std::unique_ptr<LocalEventLog> log_;
  std::unique_ptr<RocksDbStore> projection_store_;
  std::unique_ptr<RocksDbStore> vault_store_;
  std::unique_ptr<KeyVault> vault_;
  std::optional<std::filesystem::path> master_key_path_;  // set when the key is a rewritable file
  std::unique_ptr<Projector> projector_;
  std::unique_ptr<ProjectedInstanceSecrets> instance_secrets_;
  AccessServices access_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<LogCommandService> commands_;
  std::unique_ptr<FileAuditExportArea> export_area_;
  std::unique_ptr<AuditExportWorker> export_worker_;
  std::unique_ptr<HttpApi> http_;
  std::unique_ptr<qemu::QemuMicrovmDriver> vm_driver_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<ReconcilerService> reconciler_service_;
  std::jthread reconciler_thread_;
  std::jthread processor_thread_;
  std::jthread projector_thread_;
  std::jthread export_thread_;
  std::atomic<bool> ready_{false};
  uint16_t http_port_ = 0;
};

// Opens the data directory's parts for offline tools (events dump, projections rebuild).
Result<std::unique_ptr<LocalEventLog>> OpenLocalLog(const std::filesystem::path& data_dir,
                                                    int32_t partitions, bool create);
// A master key and where it came from: `key_file`, $CLAWVISOR_MASTER_KEY_FILE,
// $CREDENTIALS_DIRECTORY/master.key (systemd), $CLAWVISOR_MASTER_KEY (unset once read), else
// `create_at` (created 0600 on first run; nullopt: kNotFound instead).
struct ResolvedMasterKey {
  MasterKey key;
  std::string source;  // a path or "$CLAWVISOR_MASTER_KEY", for logs (never the key)
  std::optional<std::filesystem::path> rewritable_file;  // a file clawvisor may rotate
};
Result<ResolvedMasterKey> ResolveMasterKey(const std::optional<std::filesystem::path>& key_file,
                                           const std::optional<std::filesystem::path>& create_at,
                                           RandomSource& random);

// `key_path_out`, if given, receives the master key's file when clawvisor may rewrite it (the
// data directory's key or one named by flag or $CLAWVISOR_MASTER_KEY_FILE), else nullopt.
// Finishes a master-key rotation that a crash interrupted (KEY_FILE.next present).
Result<std::unique_ptr<KeyVault>> OpenVault(
    const std::filesystem::path& data_dir, const std::optional<std::filesystem::path>& key_file,
    RandomSource& random, std::unique_ptr<RocksDbStore>& store_out,
    std::optional<std::filesystem::path>* key_path_out = nullptr);

// A data directory opened by an offline tool (serve stopped: the log is exclusive): its log and
// its vault. Members are destroyed in reverse order, the vault before the store it reads.
struct OfflineDataDir {
  std::unique_ptr<LocalEventLog> log;
  std::unique_ptr<RocksDbStore> vault_store;
  std::unique_ptr<KeyVault> vault;
};
// `random` must outlive the result (the vault draws from it).
Result<OfflineDataDir> OpenOfflineDataDir(const std::filesystem::path& data_dir,
                                          const std::optional<std::filesystem::path>& key_file,
                                          RandomSource& random);

// Master-key rotation of a key kept in `key_file` (see EmbeddedNode::RotateMasterKey).
Result<MasterKeyRotation> RotateMasterKeyFile(KeyVault& vault,
                                              const std::filesystem::path& key_file,
                                              RandomSource& random);
std::filesystem::path NextMasterKeyPath(const std::filesystem::path& key_file);
// Renames KEY_FILE.next over KEY_FILE, durably.
Status InstallNextMasterKey(const std::filesystem::path& key_file);

}  // namespace clawvisor
