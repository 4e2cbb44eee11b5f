#pragma once

// The rotation protocol of a master key kept in a file (design D4), in three durable steps:
//
//   1. a new key is drawn into KEY_FILE.next (0600, synced) before anything is wrapped under it;
//   2. every data key of the vault is re-wrapped under it (KeyVault::RotateMasterKey);
//   3. KEY_FILE.next is renamed over KEY_FILE and the directory is synced.
//
// A crash at any point leaves both keys on disk, so every record stays readable: the next start
// finds KEY_FILE.next (LoadMasterKeyRing), opens the vault with the new key current and the old
// one as previous (KeyVault::Create finishes step 2), then does step 3 (OpenKeyVault).
// A key from the environment or a systemd credential is not a file clawvisor may rewrite and
// is never rotated here (the callers pass no `key_file` for it).
//
// Thread-safety: RotateMasterKeyFile may run while the vault seals and opens on other threads;
// two rotations of one key file must not run at once (serve runs them on its signal thread).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/openssl/key_vault.h"
#include "adapters/openssl/master_key.h"
#include "engine/random.h"
#include "events/result.h"

namespace clawvisor {

struct MasterKeyRotation {
  std::string old_key_id;
  std::string new_key_id;
};

// KEY_FILE.next: where step 1 puts the new key.
std::filesystem::path NextMasterKeyPath(const std::filesystem::path& key_file);
// Step 3: renames KEY_FILE.next over KEY_FILE, durably.
Status InstallNextMasterKey(const std::filesystem::path& key_file);
// Steps 1 to 3 for the vault's key kept in `key_file`. Re-run after a failure midway, it resumes
// with the same new key (KEY_FILE.next is kept until step 3).
Result<MasterKeyRotation> RotateMasterKeyFile(KeyVault& vault,
                                              const std::filesystem::path& key_file,
                                              RandomSource& random);

// The master keys a vault opens with.
struct MasterKeyRing {
  MasterKey current;
  std::vector<MasterKey> previous;   // older keys still able to unwrap records
  bool unfinished_rotation = false;  // KEY_FILE.next was found: `current` is the new key
};
// `key` as read from `key_file` (nullopt: a key clawvisor may not rewrite). With KEY_FILE.next
// present, a rotation was interrupted: the next key becomes current, `key` previous.
Result<MasterKeyRing> LoadMasterKeyRing(MasterKey key,
                                        const std::optional<std::filesystem::path>& key_file);
// Opens the vault kept in `store` with `ring` (KeyVault::Create) and, if the ring's rotation was
// unfinished, installs KEY_FILE.next (step 3). `store` and `random` must outlive the vault.
Result<std::unique_ptr<KeyVault>> OpenKeyVault(
    KvStore& store, RandomSource& random, MasterKeyRing ring,
    const std::optional<std::filesystem::path>& key_file);

}  // namespace clawvisor
