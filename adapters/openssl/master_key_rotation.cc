#include "adapters/openssl/master_key_rotation.h"

#include <system_error>
#include <utility>

#include "adapters/posix/atomic_file.h"
#include "engine/logging.h"

namespace clawvisor {
namespace {

// The component of the composition root, whose log lines these were before they moved here.
constexpr std::string_view kComponent = "node";

}  // namespace

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
  return SyncDirectory(key_file.has_parent_path() ? key_file.parent_path()
                                                  : std::filesystem::path("."));
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

Result<MasterKeyRing> LoadMasterKeyRing(MasterKey key,
                                        const std::optional<std::filesystem::path>& key_file) {
  if (!key_file || !std::filesystem::exists(NextMasterKeyPath(*key_file))) {
    return MasterKeyRing{std::move(key), {}, false};
  }
  // A rotation that was interrupted left its new key beside the old one: finish it first.
  auto next = LoadMasterKeyFile(NextMasterKeyPath(*key_file));
  if (!next) return std::unexpected(next.error());
  MasterKeyRing ring{std::move(*next), {}, true};
  ring.previous.push_back(std::move(key));
  Log(LogLevel::kWarn, kComponent, "finishing an interrupted master-key rotation",
      {{"master_key_id", ring.current.id()},
       {"previous_master_key_id", ring.previous.front().id()}});
  return ring;
}

Result<std::unique_ptr<KeyVault>> OpenKeyVault(
    KvStore& store, RandomSource& random, MasterKeyRing ring,
    const std::optional<std::filesystem::path>& key_file) {
  const bool install = ring.unfinished_rotation && key_file.has_value();
  auto vault = KeyVault::Create(store, random, std::move(ring.current), std::move(ring.previous));
  if (!vault) return std::unexpected(vault.error());
  if (install) {
    if (auto installed = InstallNextMasterKey(*key_file); !installed) {
      return std::unexpected(installed.error());
    }
  }
  return vault;
}

}  // namespace clawvisor
