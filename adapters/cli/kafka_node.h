#pragma once

// KafkaNode: one of the three services of a Kafka deployment (#5), each its own process:
//
//   clawvisor processor   decides commands: a member of the processor group on the commands
//                         topic (KafkaGroupProcessor), deciding the partitions it owns
//   clawvisor project     keeps the read models: the events topic into DATA_DIR/projections
//                         (RocksDB), the only writer of that store
//   clawvisor api         the HTTP API of `serve`: appends commands to the commands topic and
//                         reads a projector's store on the same host as a RocksDB secondary;
//                         a command's outcome is answered once that store shows it
//                         (read-your-writes), and the audit exports are written here
//   clawvisor reconcile   a host's microVM reconciler: follows the events topic, reports what
//     --bootstrap-servers it observes as commands (answered like the API's), and opens instance
//                         secrets through the projector's store on the same host
//
// Every service shares the vault through the keys topic (projections/shared_vault_store.h):
//
//   DATA_DIR/vault/                   this process's copy of the keys topic (+ its own rows)
//   DATA_DIR/projections/             project: the read models
//   DATA_DIR/projections-secondary/   api: its RocksDB secondary's own state
//   DATA_DIR/exports/                 api: finished audit exports
//
// The master key must be the deployment's (flag, environment or systemd credential): a service
// never makes one up, since every process must unwrap the same keys.
// Thread-safety: Start/Stop from one thread.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "adapters/argon2/argon2_password_hasher.h"
#include "adapters/audit_export/file_audit_export_area.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/http/http_api.h"
#include "adapters/http/metrics_server.h"
#include "adapters/kafka/kafka_event_log.h"
#include "adapters/kafka/kafka_group_processor.h"
#include "adapters/openssl/key_vault.h"
#include "adapters/posix/os_random.h"
#include "adapters/rocksdb/rocksdb_store.h"
#include "engine/clock.h"
#include "engine/command/log_command_service.h"
#include "engine/command/outcome_board.h"
#include "engine/command/password_service.h"
#include "engine/command/processor.h"
#include "engine/command/totp_service.h"
#include "engine/metrics.h"
#include "projections/audit_export_worker.h"
#include "projections/projector.h"
#include "projections/shared_vault_store.h"

namespace clawvisor {

enum class KafkaRole { kApi, kProcessor, kProjector, kReconciler };

struct KafkaNodeOptions {
  KafkaRole role = KafkaRole::kApi;
  std::string bootstrap_servers;
  // The operator's librdkafka properties (TLS, SASL), from --kafka-config.
  std::vector<std::pair<std::string, std::string>> kafka_config;
  std::filesystem::path data_dir;
  std::optional<std::filesystem::path> master_key_file;
  // processor: the producer's transactional.id, stable across restarts of this processor (a
  // restart then fences its predecessor's open transaction at once). Empty: derived from the
  // host name.
  std::string transactional_id;
  ProcessorOptions processor;
  std::chrono::milliseconds group_session_timeout{6000};
  // api: the projector's store (its DATA_DIR/projections) on this host.
  std::filesystem::path projections_dir;
  std::optional<HttpApiOptions> http;
  Argon2Params argon2;
  std::optional<std::filesystem::path> service_tokens_file;
  // processor, project, reconcile: serve /metrics, /healthz and /readyz here (HOST, PORT; port
  // 0: any free one, logged in the "ready" line as metrics_port). The api serves them itself.
  std::optional<std::pair<std::string, uint16_t>> metrics_listen;
  // reconcile: this host's microVMs.
  std::optional<EmbeddedNodeOptions::Vms> vms;
  // api, reconcile: how often the read models are refreshed from the projector's store.
  std::chrono::milliseconds follow_interval{5};
  AuditExportWorkerOptions audit_exports;
};

class KafkaNode {
 public:
  // Connects to the brokers, opens the data directory and the shared vault.
  static Result<std::unique_ptr<KafkaNode>> Open(KafkaNodeOptions options);
  ~KafkaNode();  // Stop()s

  // Catches up (the projector reports progress) and starts the threads and the API.
  Status Start();
  void Stop();

  uint16_t http_port() const { return http_port_; }
  uint16_t metrics_port() const { return metrics_server_ ? metrics_server_->port() : 0; }

 private:
  explicit KafkaNode(KafkaNodeOptions options) : options_(std::move(options)) {}
  // api, reconcile: the projector's store as a secondary and the command service over it.
  Status OpenFollower();
  Status OpenApi();
  Status StartApi();
  Status StartReconciler();
  // api: refreshes the secondary store, advances the projected watermarks and posts the outcome
  // of every watched command that the store now shows.
  void FollowProjections(std::stop_token stop);

  KafkaNodeOptions options_;
  SystemClock clock_;
  OsRandom random_;
  MetricsRegistry metrics_;
  std::unique_ptr<KafkaEventLog> log_;
  std::unique_ptr<RocksDbStore> vault_copy_;
  std::unique_ptr<SharedVaultStore> vault_store_;
  std::unique_ptr<KeyVault> vault_;
  // processor
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<KafkaGroupProcessor> group_;
  // project
  std::unique_ptr<RocksDbStore> projection_store_;
  // api
  std::unique_ptr<RocksDbStore> projection_follower_;
  int32_t partitions_ = 0;
  OutcomeBoard board_;
  Watermarks projected_;
  std::unique_ptr<Projector> projector_;  // project: applies; api: reads only
  AccessServices access_;
  std::unique_ptr<LogCommandService> commands_;
  std::unique_ptr<FileAuditExportArea> export_area_;
  std::unique_ptr<AuditExportWorker> export_worker_;
  std::unique_ptr<HttpApi> http_;
  std::unique_ptr<MetricsServer> metrics_server_;
  // reconcile
  std::unique_ptr<ProjectedInstanceSecrets> instance_secrets_;
  std::unique_ptr<qemu::QemuMicrovmDriver> vm_driver_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<ReconcilerService> reconciler_service_;
  std::atomic<bool> ready_{false};
  uint16_t http_port_ = 0;
  // Declared last: stopped (joined) first, before what they use is destroyed.
  std::jthread vault_thread_;
  std::jthread follow_thread_;
  std::jthread work_thread_;    // the processor group, the projector, or the reconciler
  std::jthread export_thread_;  // api
};

}  // namespace clawvisor
