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

#include "adapters/cli/flags.h"
#include "adapters/cli/node_parts.h"
#include "adapters/http/http_api.h"
#include "adapters/openssl/key_vault.h"
#include "adapters/openssl/master_key_rotation.h"
#include "adapters/posix/os_random.h"
#include "adapters/rocksdb/local_event_log.h"
#include "adapters/rocksdb/rocksdb_store.h"
#include "engine/clock.h"
#include "engine/command/outcome_board.h"
#include "engine/command/processor.h"
#include "engine/metrics.h"
#include "engine/reconcile/reconciler.h"
#include "projections/projected_instance_secrets.h"
#include "projections/projector.h"

namespace clawvisor {

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
  using Vms = VmHostOptions;
  std::optional<Vms> vms;
  AuditExportWorkerOptions audit_exports;
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
  CommandService& commands() { return parts_->commands(); }
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
  VmDriver* vm_driver() { return parts_->vm_driver(); }
  Reconciler* reconciler() { return parts_->reconciler(); }

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
  std::unique_ptr<Processor> processor_;
  // The command service, the sign-in services, the audit exports, the API and the VMs.
  std::unique_ptr<NodeParts> parts_;
  std::jthread processor_thread_;
  std::jthread projector_thread_;
  std::atomic<bool> ready_{false};
  uint16_t http_port_ = 0;
};

// Opens the data directory's parts for offline tools (events dump, projections rebuild).
Result<std::unique_ptr<LocalEventLog>> OpenLocalLog(const std::filesystem::path& data_dir,
                                                    int32_t partitions, bool create);
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
// The same from an offline command's flags: --data-dir (default DefaultDataDir()) and
// --master-key-file.
std::filesystem::path DataDirFlag(const cli::Flags& flags);
Result<OfflineDataDir> OpenOfflineDataDir(const cli::Flags& flags, RandomSource& random);

}  // namespace clawvisor
