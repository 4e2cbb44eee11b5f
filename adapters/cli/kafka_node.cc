#include "adapters/cli/kafka_node.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "adapters/cli/embedded_node.h"
#include "engine/logging.h"
#include "engine/partitioner.h"
#include "engine/run_loop.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "kafka_node";

std::string_view RoleName(KafkaRole role) {
  switch (role) {
    case KafkaRole::kApi:
      return "api";
    case KafkaRole::kProcessor:
      return "processor";
    case KafkaRole::kProjector:
      return "project";
    case KafkaRole::kReconciler:
      return "reconcile";
  }
  return "?";
}

// A processor's transactional.id when none is given: stable for this host and data directory,
// so a restarted processor fences its predecessor at once, and two processors of one host (on
// two data directories) do not fence each other.
std::string DefaultTransactionalId(const std::filesystem::path& data_dir) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, 8, "host");
  uint64_t h = 14695981039346656037ull;  // FNV-1a of the absolute data directory
  for (unsigned char c : std::filesystem::absolute(data_dir).string()) {
    h = (h ^ c) * 1099511628211ull;
  }
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(h));
  return std::string("clawvisor-processor-") + host + "-" + std::string(suffix, 8);
}

}  // namespace

Result<std::unique_ptr<KafkaNode>> KafkaNode::Open(KafkaNodeOptions options) {
  if (options.bootstrap_servers.empty()) {
    return MakeError(Errc::kInvalidArgument, "no Kafka bootstrap servers");
  }
  if (options.data_dir.empty()) return MakeError(Errc::kInvalidArgument, "no data directory");
  if (auto ok = EnsurePrivateDir(options.data_dir); !ok) return std::unexpected(ok.error());
  std::unique_ptr<KafkaNode> node(new KafkaNode(std::move(options)));
  const KafkaNodeOptions& o = node->options_;

  // Every process of the deployment must unwrap the same keys: never a key made up here.
  auto master = ResolveMasterKey(o.master_key_file, std::nullopt, node->random_);
  if (!master && master.error().code == Errc::kNotFound) {
    return MakeError(Errc::kInvalidArgument,
                     "a service on Kafka needs the deployment's master key (the same in every "
                     "process): --master-key-file, $CLAWVISOR_MASTER_KEY_FILE, a systemd "
                     "credential or $CLAWVISOR_MASTER_KEY");
  }
  if (!master) return std::unexpected(master.error());
  Log(LogLevel::kInfo, kComponent, "master key loaded",
      {{"master_key_id", master->key.id()}, {"source", master->source}});

  KafkaEventLogOptions log_options;
  log_options.bootstrap_servers = o.bootstrap_servers;
  log_options.extra_config = o.kafka_config;
  if (o.role == KafkaRole::kProcessor) {
    log_options.transactional_id =
        o.transactional_id.empty() ? DefaultTransactionalId(o.data_dir) : o.transactional_id;
  }
  auto log = KafkaEventLog::Open(log_options);
  if (!log) return std::unexpected(log.error());
  node->log_ = std::move(*log);

  auto copy = RocksDbStore::Open((o.data_dir / "vault").string());
  if (!copy) return std::unexpected(copy.error());
  node->vault_copy_ = std::move(*copy);
  SharedVaultStoreOptions shared_options;
  shared_options.authenticate = MakeRecordAuthenticator(master->key, "keys-topic");
  auto shared = SharedVaultStore::Open(*node->log_, *node->vault_copy_, shared_options);
  if (!shared) return std::unexpected(shared.error());
  node->vault_store_ = std::move(*shared);
  auto vault = KeyVault::Create(*node->vault_store_, node->random_, std::move(master->key));
  if (!vault) return std::unexpected(vault.error());
  node->vault_ = std::move(*vault);
  KeyVault* keys = node->vault_.get();
  node->vault_store_->OnAccountErased(
      [keys](std::string_view account) { keys->ForgetAccount(account); });

  switch (o.role) {
    case KafkaRole::kProcessor: {
      node->processor_ =
          std::make_unique<Processor>(*node->log_, *node->vault_, node->clock_, node->random_,
                                      node->metrics_, nullptr, o.processor);
      KafkaGroupOptions group;
      group.bootstrap_servers = o.bootstrap_servers;
      group.extra_config = o.kafka_config;
      group.group = o.processor.consumer_group;
      group.session_timeout = o.group_session_timeout;
      auto member = KafkaGroupProcessor::Create(*node->processor_, *node->log_, group);
      if (!member) return std::unexpected(member.error());
      node->group_ = std::move(*member);
      break;
    }
    case KafkaRole::kProjector: {
      auto store = RocksDbStore::Open((o.data_dir / "projections").string());
      if (!store) return std::unexpected(store.error());
      node->projection_store_ = std::move(*store);
      node->projector_ = std::make_unique<Projector>(*node->projection_store_, node->vault_.get(),
                                                     node->metrics_, nullptr, node->clock_);
      break;
    }
    case KafkaRole::kApi:
      if (auto ok = node->OpenFollower(); !ok) return std::unexpected(ok.error());
      if (auto ok = node->OpenApi(); !ok) return std::unexpected(ok.error());
      break;
    case KafkaRole::kReconciler:
      if (!o.vms) return MakeError(Errc::kInvalidArgument, "the reconciler needs its VM options");
      if (auto ok = node->OpenFollower(); !ok) return std::unexpected(ok.error());
      node->instance_secrets_ =
          std::make_unique<ProjectedInstanceSecrets>(*node->projector_, *node->vault_);
      break;
  }
  return node;
}

Status KafkaNode::OpenFollower() {
  auto partitions = log_->PartitionCount(kCommandsTopic);
  if (!partitions) return std::unexpected(partitions.error());
  partitions_ = *partitions;
  // The read models decide who may do what (sessions, roles): only a directory of ours that no
  // one else may write.
  struct stat info {};
  if (::lstat(options_.projections_dir.c_str(), &info) == 0 &&
      (!S_ISDIR(info.st_mode) || info.st_uid != ::geteuid() || (info.st_mode & 022) != 0)) {
    return MakeError(Errc::kFailedPrecondition,
                     options_.projections_dir.string() +
                         " must be a directory of this user that no one else may write (not a "
                         "symlink)");
  }
  if (!std::filesystem::exists(options_.projections_dir / "CURRENT")) {
    return MakeError(Errc::kFailedPrecondition,
                     "no read models at " + options_.projections_dir.string() +
                         ": start `clawvisor project` on this host first and pass its "
                         "DATA_DIR/projections");
  }
  auto follower = RocksDbStore::OpenSecondary(
      options_.projections_dir.string(), (options_.data_dir / "projections-secondary").string());
  if (!follower) return std::unexpected(follower.error());
  projection_follower_ = std::move(*follower);
  projector_ =
      std::make_unique<Projector>(*projection_follower_, vault_.get(), metrics_, nullptr, clock_);
  if (options_.role == KafkaRole::kApi) {
    auto access = MakeAccessServices(*projector_, *vault_, clock_, random_, options_.argon2);
    if (!access) return std::unexpected(access.error());
    access_ = std::move(*access);
  }
  Projector* reads = projector_.get();
  commands_ = std::make_unique<LogCommandService>(
      *log_, board_,
      [reads](std::string_view account, std::string_view command) {
        return reads->FindDecidedOutcome(account, command);
      },
      projected_, *vault_, clock_, metrics_, access_.passwords.get(), access_.totp.get());
  return {};
}

Status KafkaNode::OpenApi() {
  if (options_.http) {
    if (auto wired = WireHttpAccess(*options_.http, access_, options_.service_tokens_file);
        !wired) {
      return wired;
    }
  }
  export_area_ = std::make_unique<FileAuditExportArea>(options_.data_dir / "exports");
  export_worker_ = std::make_unique<AuditExportWorker>(
      *log_, *vault_, *projector_, *commands_, *export_area_, metrics_, options_.audit_exports);
  return {};
}

Status KafkaNode::Start() {
  const auto started = clock_.Monotonic();
  vault_thread_ = std::jthread([this](std::stop_token stop) { vault_store_->Run(stop); });
  switch (options_.role) {
    case KafkaRole::kProcessor:
      work_thread_ = std::jthread([this](std::stop_token stop) { group_->Run(stop); });
      break;
    case KafkaRole::kProjector:
      if (auto caught_up = CatchUpProjections(*projector_, *log_); !caught_up) return caught_up;
      work_thread_ = std::jthread([this](std::stop_token stop) { projector_->Run(*log_, stop); });
      break;
    case KafkaRole::kApi:
      if (auto ok = StartApi(); !ok) return ok;
      break;
    case KafkaRole::kReconciler:
      if (auto ok = StartReconciler(); !ok) return ok;
      break;
  }
  if (options_.metrics_listen) {
    auto server =
        MetricsServer::Start(options_.metrics_listen->first, options_.metrics_listen->second,
                             metrics_, [this] { return ready_.load(); });
    if (!server) return std::unexpected(server.error());
    metrics_server_ = std::move(*server);
  }
  ready_ = true;
  Log(LogLevel::kInfo, kComponent, "ready",
      {{"role", std::string(RoleName(options_.role))},
       {"metrics_port", static_cast<int64_t>(metrics_port())},
       {"startup_ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic() - started)
            .count()}});
  return {};
}

Status KafkaNode::StartApi() {
  follow_thread_ = std::jthread([this](std::stop_token stop) { FollowProjections(stop); });
  export_thread_ = std::jthread([this](std::stop_token stop) { export_worker_->Run(stop); });
  if (!options_.http) return {};
  HttpApiOptions http_options = *options_.http;
  http_options.audit_export_area = export_area_.get();
  http_ = std::make_unique<HttpApi>(http_options, *commands_, *projector_, metrics_,
                                    [this] { return ready_.load(); });
  auto port = http_->Start();
  if (!port) return std::unexpected(port.error());
  http_port_ = *port;
  return {};
}

Status KafkaNode::StartReconciler() {
  follow_thread_ = std::jthread([this](std::stop_token stop) { FollowProjections(stop); });
  auto driver = qemu::QemuMicrovmDriver::Open(options_.vms->qemu);
  if (!driver) return std::unexpected(driver.error());
  vm_driver_ = std::move(*driver);
  reconciler_ = std::make_unique<Reconciler>(*vm_driver_, *commands_, *instance_secrets_, clock_,
                                             metrics_, options_.vms->reconciler);
  reconciler_service_ = std::make_unique<ReconcilerService>(*log_, *reconciler_, clock_);
  work_thread_ = std::jthread([this](std::stop_token stop) { reconciler_service_->Run(stop); });
  return {};
}

void KafkaNode::FollowProjections(std::stop_token stop) {
  RunUntilStopped(
      stop, "projection_follower",
      [this]() -> Result<bool> {
        if (auto ok = projection_follower_->CatchUpWithPrimary(); !ok) {
          return std::unexpected(ok.error());
        }
        for (int32_t p = 0; p < partitions_; ++p) {
          auto next = projector_->NextOffset(p);
          if (!next) return std::unexpected(next.error());
          projected_.Advance(p, *next);
        }
        // A watched command is answered from the store, which then already shows its events.
        for (const auto& [account, command] : board_.Watched()) {
          auto outcome = projector_->FindDecidedOutcome(account, command);
          if (!outcome) return std::unexpected(outcome.error());
          if (*outcome) {
            // An erasure is answered once this process's vault shows the account's keys gone
            // (the processor destroys them right after its commit), as `serve` answers it.
            if (std::ranges::find((*outcome)->event_types(), "account_erased") !=
                (*outcome)->event_types().end()) {
              auto gone = vault_store_->HasTombstone(account);
              if (!gone) return std::unexpected(gone.error());
              if (!*gone) continue;
            }
            board_.Publish(**outcome);
            continue;
          }
          // The processor refuses an erased account's commands without recording them, so no
          // outcome will ever show here: answer as it does.
          auto erased = projector_->IsAccountErased(account);
          if (!erased) return std::unexpected(erased.error());
          if (*erased) {
            board_.Publish(AccountErasedOutcome(
                account, command, PartitionFor(account, partitions_), clock_.NowUs(), ""));
          }
        }
        return true;  // idle: wait the follow interval
      },
      options_.follow_interval);
}

void KafkaNode::Stop() {
  ready_ = false;
  if (http_) http_->Stop();
  metrics_server_.reset();
  export_thread_ = {};
  work_thread_ = {};  // before the follower: a reconciler's last report is answered through it
  follow_thread_ = {};
  vault_thread_ = {};
}

KafkaNode::~KafkaNode() { Stop(); }

}  // namespace clawvisor
