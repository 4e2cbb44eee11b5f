#pragma once

// The parts every composition root assembles the same way around an event log, a vault and a
// projector's read models: the sign-in services, the command service, the audit exports, the
// HTTP API and a host's microVMs (the driver and its reconciler). EmbeddedNode (`serve`,
// `reconcile` on the embedded log) and KafkaNode (`api`, `reconcile` on Kafka) differ only in
// where the log, the vault and the read models come from; what they build over them is here.
//
//   NodeParts parts(base);             the log, vault, projector, board, clock, ... it uses
//   parts.OpenCommands(argon2);         sign-in services (an API's) + the command service
//   parts.WireHttp(http, tokens);       the API's sign-in and its service tokens
//   parts.OpenAuditExports(dir, ...);   DATA_DIR/exports and the export worker
//   parts.StartAuditExports(); parts.StartHttp(...); parts.StartVmHost(...);
//   parts.Stop();                       the API, the reconciler, the export worker
//
// Thread-safety: Open*/Start*/Stop from one thread; the objects it hands out are thread-safe.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "adapters/argon2/argon2_password_hasher.h"
#include "adapters/audit_export/file_audit_export_area.h"
#include "adapters/cli/console_backend.h"
#include "adapters/cli/egress_flags.h"
#include "adapters/cli/front_door_flags.h"
#include "adapters/cli/vm_driver_factory.h"
#include "adapters/http/authenticator.h"
#include "adapters/http/http_api.h"
#include "adapters/openssl/master_key.h"
#include "engine/clock.h"
#include "engine/command/log_command_service.h"
#include "engine/command/outcome_board.h"
#include "engine/command/password_service.h"
#include "engine/command/totp_service.h"
#include "engine/metrics.h"
#include "engine/random.h"
#include "engine/reconcile/reconciler.h"
#include "engine/reconcile/reconciler_service.h"
#include "engine/sealer.h"
#include "projections/audit_export_worker.h"
#include "projections/projector.h"

namespace clawvisor {

// Creates `dir` if needed and checks that it is a directory of ours (not a symlink), mode 0700.
Status EnsurePrivateDir(const std::filesystem::path& dir);
// Catches the read models up with the events topic, logging progress every 100,000 events
// (serve's and the projector service's start).
Status CatchUpProjections(Projector& projector, EventLog& log);

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

// A host's microVMs (design D6/D7): which driver runs them and how the reconciler treats them.
struct VmHostOptions {
  cli::VmDriverOptions driver;
  ReconcilerOptions reconciler;  // its `images` points into `images`
  std::shared_ptr<const GuestImageCatalog> images;
  // The host's egress gateway (design D9), started before the VMs; nullopt: no way out.
  std::optional<cli::EgressSettings> egress;
  // The front door to the VMs' gateways (design D9), started after them; nullopt: none.
  std::optional<cli::FrontDoorSettings> front_door;
};

// What the parts are built over, owned by the root; every reference must outlive the parts.
struct NodeBase {
  EventLog& log;
  Sealer& vault;
  Projector& projector;  // the read models: the root's own store, or a follower's secondary
  OutcomeBoard& board;   // outcomes posted by the processor or the follower
  Watermarks& projected;
  Clock& clock;
  RandomSource& random;
  MetricsRegistry& metrics;
};

class NodeParts {
 public:
  explicit NodeParts(NodeBase base) : base_(base) {}
  ~NodeParts();  // Stop()s
  NodeParts(const NodeParts&) = delete;
  NodeParts& operator=(const NodeParts&) = delete;

  // The command service over the read models; with `argon2`, the sign-in services it prepares
  // passwords and TOTP secrets with (an API's; a headless reconciler needs none).
  Status OpenCommands(const std::optional<Argon2Params>& argon2);
  // REQUIRES: OpenCommands(argon2) with an `argon2`. See WireHttpAccess.
  Status WireHttp(HttpApiOptions& http,
                  const std::optional<std::filesystem::path>& service_tokens_file);
  // DATA_DIR/exports and the worker that writes the requested audit exports there.
  // REQUIRES: OpenCommands.
  void OpenAuditExports(const std::filesystem::path& data_dir,
                        const AuditExportWorkerOptions& options);

  // REQUIRES: OpenAuditExports.
  void StartAuditExports();
  // Serves the API (with the audit export area, if opened); returns the bound port.
  Result<uint16_t> StartHttp(HttpApiOptions http, std::function<bool()> ready);
  // Opens the VM driver (vm_driver_factory.h) and runs the reconciler on its own thread; then
  // the front door, if asked for (member sessions need OpenCommands with argon2: without the
  // sign-in services only gateway tokens and console links let callers in).
  Status StartVmHost(const VmHostOptions& vms, InstanceSecrets& secrets,
                     const std::filesystem::path& data_dir);
  // After StartVmHost with a front door: the port it listens on (0: none).
  uint16_t front_door_port() const;
  // Stops the API, then the reconciler (its VMs keep running; a restart re-adopts them), then
  // the export worker. The root stops its processor after: both wait on its outcomes.
  void Stop();

  CommandService& commands() { return *commands_; }
  AccessServices& access() { return access_; }
  // After StartVmHost; nullptr before or without it.
  VmDriver* vm_driver() { return vm_driver_.get(); }
  Reconciler* reconciler() { return reconciler_.get(); }
  InstanceTraffic& traffic() { return traffic_; }
  InstanceDirectory& directory() { return directory_; }

 private:
  Status StartFrontDoor(cli::FrontDoorSettings settings, InstanceSecrets& secrets,
                        const std::filesystem::path& data_dir);

  NodeBase base_;
  AccessServices access_;
  std::unique_ptr<LogCommandService> commands_;
  std::unique_ptr<FileAuditExportArea> export_area_;
  std::unique_ptr<AuditExportWorker> export_worker_;
  std::unique_ptr<HttpApi> http_;
  // What the doors see of each instance, and where the front door finds them (design D9).
  InstanceTraffic traffic_;
  InstanceDirectory directory_;
  std::unique_ptr<egress::EgressGateway> egress_;
  std::unique_ptr<cli::ConsoleBackend> console_backend_;
  std::unique_ptr<front_door::FrontDoor> front_door_;
  std::unique_ptr<VmDriver> vm_driver_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<ReconcilerService> reconciler_service_;
  // Declared last: joined first, before what they use is destroyed.
  std::jthread reconciler_thread_;
  std::jthread export_thread_;
};

}  // namespace clawvisor
