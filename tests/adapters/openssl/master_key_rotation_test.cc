#include "adapters/openssl/master_key_rotation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "adapters/openssl/key_vault.h"
#include "adapters/openssl/master_key.h"
#include "adapters/posix/os_random.h"
#include "projections/memory_kv_store.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

class MasterKeyRotationTest : public ::testing::Test {
 protected:
  std::filesystem::path KeyFile() const { return dir_.path() / "master.key"; }

  // A vault over `store_` with the key file's key (created on first use), resuming a rotation.
  std::unique_ptr<KeyVault> OpenVault() {
    auto key = LoadOrCreateMasterKeyFile(KeyFile(), random_);
    EXPECT_TRUE(key.has_value());
    auto ring = LoadMasterKeyRing(*key, KeyFile());
    EXPECT_TRUE(ring.has_value());
    auto vault = OpenKeyVault(store_, random_, std::move(*ring), KeyFile());
    EXPECT_TRUE(vault.has_value()) << vault.error().ToString();
    return std::move(*vault);
  }

  testing::TempDir dir_;
  SeededRandom random_{11};
  MemoryKvStore store_;
  const SealContext context_{"acct", "evt-1", "test.field"};
};

// A rotation installs the new key over KEY_FILE, leaves no KEY_FILE.next, and a vault opened
// with the new key alone still opens what the old key's data keys sealed.
TEST_F(MasterKeyRotationTest, RotatesTheKeyFileAndKeepsSealedValuesReadable) {
  auto vault = OpenVault();
  auto sealed = vault->Seal(context_, "secret");
  ASSERT_TRUE(sealed.has_value());
  auto rotation = RotateMasterKeyFile(*vault, KeyFile(), random_);
  ASSERT_TRUE(rotation.has_value()) << rotation.error().ToString();
  EXPECT_NE(rotation->old_key_id, rotation->new_key_id);
  EXPECT_FALSE(std::filesystem::exists(NextMasterKeyPath(KeyFile())));
  auto on_disk = LoadMasterKeyFile(KeyFile());
  ASSERT_TRUE(on_disk.has_value());
  EXPECT_EQ(on_disk->id(), rotation->new_key_id);

  vault.reset();
  auto reopened = OpenVault();
  EXPECT_EQ(reopened->current_master_key_id(), rotation->new_key_id);
  auto opened = reopened->Open(context_, *sealed);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(*opened, "secret");
}

// A crash after KEY_FILE.next was drawn (step 1) is finished at the next open: the new key is
// current, installed over KEY_FILE, and the old seals still open.
TEST_F(MasterKeyRotationTest, AnInterruptedRotationIsFinishedAtTheNextOpen) {
  auto vault = OpenVault();
  const std::string old_id = vault->current_master_key_id();
  auto sealed = vault->Seal(context_, "secret");
  ASSERT_TRUE(sealed.has_value());
  vault.reset();
  auto next = LoadOrCreateMasterKeyFile(NextMasterKeyPath(KeyFile()), random_);
  ASSERT_TRUE(next.has_value());

  auto key = LoadMasterKeyFile(KeyFile());
  ASSERT_TRUE(key.has_value());
  auto ring = LoadMasterKeyRing(*key, KeyFile());
  ASSERT_TRUE(ring.has_value());
  EXPECT_TRUE(ring->unfinished_rotation);
  EXPECT_EQ(ring->current.id(), next->id());
  ASSERT_EQ(ring->previous.size(), 1u);
  EXPECT_EQ(ring->previous.front().id(), old_id);
  auto resumed = OpenKeyVault(store_, random_, std::move(*ring), KeyFile());
  ASSERT_TRUE(resumed.has_value()) << resumed.error().ToString();
  EXPECT_FALSE(std::filesystem::exists(NextMasterKeyPath(KeyFile())));
  auto installed = LoadMasterKeyFile(KeyFile());
  ASSERT_TRUE(installed.has_value());
  EXPECT_EQ(installed->id(), next->id());
  auto opened = (*resumed)->Open(context_, *sealed);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(*opened, "secret");
}

// A key clawvisor may not rewrite (no key file) never looks for KEY_FILE.next.
TEST_F(MasterKeyRotationTest, AKeyWithoutAFileIsTakenAsItIs) {
  auto key = LoadOrCreateMasterKeyFile(KeyFile(), random_);
  ASSERT_TRUE(key.has_value());
  ASSERT_TRUE(LoadOrCreateMasterKeyFile(NextMasterKeyPath(KeyFile()), random_).has_value());
  auto ring = LoadMasterKeyRing(*key, std::nullopt);
  ASSERT_TRUE(ring.has_value());
  EXPECT_FALSE(ring->unfinished_rotation);
  EXPECT_EQ(ring->current.id(), key->id());
  EXPECT_TRUE(ring->previous.empty());
}

}  // namespace
}  // namespace clawvisor
