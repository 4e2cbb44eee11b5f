#include "adapters/cli/embedded_node.h"

#include <unistd.h>

#include <system_error>

#include "adapters/cli/cli_support.h"
#include "adapters/openssl/master_key.h"
#include "adapters/openssl/master_key_rotation.h"
#include "engine/logging.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "node";

}  // namespace

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

Result<std::unique_ptr<KeyVault>> OpenVault(const std::filesystem::path& data_dir,
                                            const std::optional<std::filesystem::path>& key_file,
                                            RandomSource& random,
                                            std::unique_ptr<RocksDbStore>& store_out,
                                            std::optional<std::filesystem::path>* key_path_out) {
  auto resolved = ResolveMasterKey(key_file, data_dir / "master.key", random);
  if (!resolved) return std::unexpected(resolved.error());
  const std::optional<std::filesystem::path> file = resolved->rewritable_file;
  // A rotation that was interrupted left its new key beside the old one: it is finished here.
  auto ring = LoadMasterKeyRing(std::move(resolved->key), file);
  if (!ring) return std::unexpected(ring.error());
  Log(LogLevel::kInfo, kComponent, "master key loaded",
      {{"master_key_id", ring->current.id()}, {"source", resolved->source}});
  auto store = RocksDbStore::Open((data_dir / "vault").string());
  if (!store) return std::unexpected(store.error());
  auto vault = OpenKeyVault(**store, random, std::move(*ring), file);
  if (!vault) return std::unexpected(vault.error());
  store_out = std::move(*store);
  if (key_path_out != nullptr) *key_path_out = file;
  return vault;
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
  node->parts_ = std::make_unique<NodeParts>(NodeBase{*node->log_, *node->vault_, *node->projector_,
                                                      node->board_, node->projected_, node->clock_,
                                                      node->random_, node->metrics_});
  if (auto ok = node->parts_->OpenCommands(node->options_.argon2); !ok) {
    return std::unexpected(ok.error());
  }
  if (node->options_.http) {
    if (auto wired =
            node->parts_->WireHttp(*node->options_.http, node->options_.service_tokens_file);
        !wired) {
      return std::unexpected(wired.error());
    }
  }
  node->parts_->OpenAuditExports(dir, node->options_.audit_exports);
  return node;
}

Status EmbeddedNode::Start() {
  const auto started = clock_.Monotonic();
  if (auto ok = processor_->AssignAll(); !ok) return ok;
  if (auto caught_up = CatchUpProjections(*projector_, *log_); !caught_up) return caught_up;
  processor_thread_ = std::jthread([this](std::stop_token stop) { processor_->Run(stop); });
  projector_thread_ = std::jthread([this](std::stop_token stop) { projector_->Run(*log_, stop); });
  parts_->StartAuditExports();
  if (options_.http) {
    auto port = parts_->StartHttp(*options_.http, [this] { return ready_.load(); });
    if (!port) return std::unexpected(port.error());
    http_port_ = *port;
  }
  if (options_.vms) {
    if (auto ok = parts_->StartVmHost(*options_.vms, *instance_secrets_, options_.data_dir); !ok)
      return ok;
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
  // The API, the reconciler and the export worker first: they wait on the processor. The VMs
  // keep running (a restarted serve re-adopts them).
  if (parts_) parts_->Stop();
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

std::filesystem::path DataDirFlag(const cli::Flags& flags) {
  return flags.Get("data-dir").value_or(cli::DefaultDataDir().string());
}

Result<OfflineDataDir> OpenOfflineDataDir(const cli::Flags& flags, RandomSource& random) {
  std::optional<std::filesystem::path> key_file;
  if (auto k = flags.Get("master-key-file")) key_file = *k;
  return OpenOfflineDataDir(DataDirFlag(flags), key_file, random);
}

}  // namespace clawvisor
