#include "adapters/cli/kafka_node.h"

#include <unistd.h>

#include <cstdio>

#include "engine/logging.h"

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
  if (auto ok = node->OpenShared(); !ok) return std::unexpected(ok.error());
  Status opened;
  switch (node->options_.role) {
    case KafkaRole::kProcessor:
      opened = node->OpenProcessor();
      break;
    case KafkaRole::kProjector:
      opened = node->OpenProjector();
      break;
    case KafkaRole::kApi:
      opened = node->OpenApi();
      break;
    case KafkaRole::kReconciler:
      opened = node->OpenReconciler();
      break;
  }
  if (!opened) return std::unexpected(opened.error());
  return node;
}

Status KafkaNode::OpenShared() {
  const KafkaNodeOptions& o = options_;
  // Every process of the deployment must unwrap the same keys: never a key made up here.
  auto master = ResolveMasterKey(o.master_key_file, std::nullopt, random_);
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
  log_ = std::move(*log);

  auto copy = RocksDbStore::Open((o.data_dir / "vault").string());
  if (!copy) return std::unexpected(copy.error());
  vault_copy_ = std::move(*copy);
  SharedVaultStoreOptions shared_options;
  shared_options.authenticate = MakeRecordAuthenticator(master->key, "keys-topic");
  auto shared = SharedVaultStore::Open(*log_, *vault_copy_, shared_options);
  if (!shared) return std::unexpected(shared.error());
  vault_store_ = std::move(*shared);
  auto vault = KeyVault::Create(*vault_store_, random_, std::move(master->key));
  if (!vault) return std::unexpected(vault.error());
  vault_ = std::move(*vault);
  KeyVault* keys = vault_.get();
  vault_store_->OnAccountErased([keys](std::string_view account) { keys->ForgetAccount(account); });
  return {};
}

Status KafkaNode::OpenProcessor() {
  processor_ = std::make_unique<Processor>(*log_, *vault_, clock_, random_, metrics_, nullptr,
                                           options_.processor);
  KafkaGroupOptions group;
  group.bootstrap_servers = options_.bootstrap_servers;
  group.extra_config = options_.kafka_config;
  group.group = options_.processor.consumer_group;
  group.session_timeout = options_.group_session_timeout;
  auto member = KafkaGroupProcessor::Create(*processor_, *log_, group);
  if (!member) return std::unexpected(member.error());
  group_ = std::move(*member);
  return {};
}

Status KafkaNode::OpenProjector() {
  auto store = RocksDbStore::Open((options_.data_dir / "projections").string());
  if (!store) return std::unexpected(store.error());
  projection_store_ = std::move(*store);
  projector_ =
      std::make_unique<Projector>(*projection_store_, vault_.get(), metrics_, nullptr, clock_);
  return {};
}

Status KafkaNode::OpenFollower() {
  auto partitions = log_->PartitionCount(kCommandsTopic);
  if (!partitions) return std::unexpected(partitions.error());
  auto secondary = ProjectionFollower::OpenSecondary(options_.projections_dir,
                                                     options_.data_dir / "projections-secondary");
  if (!secondary) return std::unexpected(secondary.error());
  projection_store_ = std::move(*secondary);
  projector_ =
      std::make_unique<Projector>(*projection_store_, vault_.get(), metrics_, nullptr, clock_);
  follower_ = std::make_unique<ProjectionFollower>(*projection_store_, *projector_, *vault_store_,
                                                   board_, projected_, clock_, *partitions);
  parts_ = std::make_unique<NodeParts>(
      NodeBase{*log_, *vault_, *projector_, board_, projected_, clock_, random_, metrics_});
  return {};
}

Status KafkaNode::OpenApi() {
  if (auto ok = OpenFollower(); !ok) return ok;
  if (auto ok = parts_->OpenCommands(options_.argon2); !ok) return ok;
  if (options_.http) {
    if (auto wired = parts_->WireHttp(*options_.http, options_.service_tokens_file); !wired) {
      return wired;
    }
  }
  parts_->OpenAuditExports(options_.data_dir, options_.audit_exports);
  return {};
}

Status KafkaNode::OpenReconciler() {
  if (!options_.vms)
    return MakeError(Errc::kInvalidArgument, "the reconciler needs its VM options");
  if (auto ok = OpenFollower(); !ok) return ok;
  // A reconciler's reports carry no password or TOTP secret: no sign-in services.
  if (auto ok = parts_->OpenCommands(std::nullopt); !ok) return ok;
  instance_secrets_ = std::make_unique<ProjectedInstanceSecrets>(*projector_, *vault_);
  return {};
}

Status KafkaNode::Start() {
  const auto started = clock_.Monotonic();
  vault_thread_ = std::jthread([this](std::stop_token stop) { vault_store_->Run(stop); });
  Status role_started;
  switch (options_.role) {
    case KafkaRole::kProcessor:
      role_started = StartProcessor();
      break;
    case KafkaRole::kProjector:
      role_started = StartProjector();
      break;
    case KafkaRole::kApi:
      role_started = StartApi();
      break;
    case KafkaRole::kReconciler:
      role_started = StartReconciler();
      break;
  }
  if (!role_started) return role_started;
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

Status KafkaNode::StartProcessor() {
  work_thread_ = std::jthread([this](std::stop_token stop) { group_->Run(stop); });
  return {};
}

Status KafkaNode::StartProjector() {
  if (auto caught_up = CatchUpProjections(*projector_, *log_); !caught_up) return caught_up;
  work_thread_ = std::jthread([this](std::stop_token stop) { projector_->Run(*log_, stop); });
  return {};
}

Status KafkaNode::StartApi() {
  follow_thread_ = std::jthread(
      [this](std::stop_token stop) { follower_->Run(stop, options_.follow_interval); });
  parts_->StartAuditExports();
  if (!options_.http) return {};
  auto port = parts_->StartHttp(*options_.http, [this] { return ready_.load(); });
  if (!port) return std::unexpected(port.error());
  http_port_ = *port;
  return {};
}

Status KafkaNode::StartReconciler() {
  follow_thread_ = std::jthread(
      [this](std::stop_token stop) { follower_->Run(stop, options_.follow_interval); });
  return parts_->StartVmHost(*options_.vms, *instance_secrets_, options_.data_dir);
}

void KafkaNode::Stop() {
  ready_ = false;
  // The API, then the reconciler (its last report is answered through the follower) and the
  // export worker.
  if (parts_) parts_->Stop();
  metrics_server_.reset();
  work_thread_ = {};
  follow_thread_ = {};
  vault_thread_ = {};
}

KafkaNode::~KafkaNode() { Stop(); }

}  // namespace clawvisor
