#include "adapters/openssl/master_key.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "adapters/posix/os_random.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

class MasterKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv(std::string(kMasterKeyEnvVar).c_str()); }
  void TearDown() override { ::unsetenv(std::string(kMasterKeyEnvVar).c_str()); }

  static mode_t ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  static void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path) << text;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  testing::TempDir dir_;
  SeededRandom random_{7};
};

std::string Base64(std::span<const unsigned char> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A missing key file is created 0600 holding the key in hex; loading it again yields the same key.
TEST_F(MasterKeyFileTest, CreatesPrivateFileAndReloadsIt) {
  const std::string path = dir_.Sub("master.key");
  OsRandom os_random;
  auto created = LoadOrCreateMasterKeyFile(path, os_random);
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_EQ(ModeOf(path), 0600u);
  std::string text;
  std::getline(std::ifstream(path), text);
  EXPECT_EQ(text, created->ToHex());
  EXPECT_EQ(text.size(), 64u);

  auto again = LoadOrCreateMasterKeyFile(path, os_random);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id(), created->id());
  EXPECT_TRUE(std::ranges::equal(again->bytes(), created->bytes()));
  auto loaded = LoadMasterKeyFile(path);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->id(), created->id());
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()), {}), 1);
}

// Even under a permissive umask the file is created 0600.
TEST_F(MasterKeyFileTest, CreationIgnoresUmask) {
  const mode_t old = ::umask(0);
  auto created = LoadOrCreateMasterKeyFile(dir_.Sub("k"), random_);
  ::umask(old);
  ASSERT_TRUE(created);
  EXPECT_EQ(ModeOf(dir_.Sub("k")), 0600u);
}

// A key file readable by group or others is refused with the fix in the message, not the key.
TEST_F(MasterKeyFileTest, RefusesLoosePermissions) {
  const MasterKey key = MasterKey::Generate(random_);
  for (mode_t mode : {0644u, 0640u, 0604u, 0660u}) {
    const std::string path = dir_.Sub("loose.key");
    std::filesystem::remove(path);
    WriteFile(path, key.ToHex() + "\n", mode);
    auto loaded = LoadOrCreateMasterKeyFile(path, random_);
    ASSERT_FALSE(loaded) << std::oct << mode;
    EXPECT_EQ(loaded.error().code, Errc::kPermissionDenied);
    EXPECT_NE(loaded.error().message.find("chmod 600"), std::string::npos);
    EXPECT_EQ(loaded.error().message.find(key.ToHex()), std::string::npos);
    // The existing file was not replaced.
    std::string text;
    std::getline(std::ifstream(path), text);
    EXPECT_EQ(text, key.ToHex());
  }
  const std::string path = dir_.Sub("loose.key");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto loaded = LoadMasterKeyFile(path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("mode 0644"), std::string::npos);
}

// A world-writable directory is refused: someone else could swap the key.
TEST_F(MasterKeyFileTest, RefusesWorldWritableDirectory) {
  const std::string sub = dir_.Sub("open");
  ASSERT_TRUE(std::filesystem::create_directory(sub));
  ASSERT_EQ(::chmod(sub.c_str(), 0777), 0);
  auto created = LoadOrCreateMasterKeyFile(sub + "/master.key", random_);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::kPermissionDenied);
  EXPECT_NE(created.error().message.find("world-writable"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(sub + "/master.key"));
}

// A symbolic link in place of the key file is not followed.
TEST_F(MasterKeyFileTest, RefusesSymlink) {
  const std::string target = dir_.Sub("real.key");
  WriteFile(target, MasterKey::Generate(random_).ToHex(), 0600);
  const std::string link = dir_.Sub("link.key");
  std::filesystem::create_symlink(target, link);
  auto loaded = LoadOrCreateMasterKeyFile(link, random_);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::kPermissionDenied);
  EXPECT_NE(loaded.error().message.find("symbolic link"), std::string::npos);
}

// A file that does not hold a key is reported as such, and never replaced by a new key.
TEST_F(MasterKeyFileTest, RefusesMalformedFile) {
  const std::string path = dir_.Sub("bad.key");
  for (const std::string& text :
       std::vector<std::string>{"", "abc", std::string(63, 'a'), std::string(4096, 'a')}) {
    std::filesystem::remove(path);
    WriteFile(path, text, 0600);
    auto loaded = LoadOrCreateMasterKeyFile(path, random_);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, Errc::kCorruption);
    EXPECT_EQ(std::filesystem::file_size(path), text.size());
  }
}

// LoadMasterKeyFile does not create a missing file.
TEST_F(MasterKeyFileTest, LoadDoesNotCreate) {
  auto loaded = LoadMasterKeyFile(dir_.Sub("absent.key"));
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("absent.key")));
}

// CLAWVISOR_MASTER_KEY accepts hex and base64 of the same 32 bytes and yields the same key.
TEST_F(MasterKeyFileTest, LoadsFromEnvironmentInHexOrBase64) {
  const MasterKey key = MasterKey::Generate(random_);
  const std::string var(kMasterKeyEnvVar);
  auto unset = LoadMasterKeyFromEnv();
  ASSERT_FALSE(unset);
  EXPECT_EQ(unset.error().code, Errc::kNotFound);

  ASSERT_EQ(::setenv(var.c_str(), key.ToHex().c_str(), 1), 0);
  auto from_hex = LoadMasterKeyFromEnv();
  ASSERT_TRUE(from_hex) << from_hex.error().ToString();
  EXPECT_EQ(from_hex->id(), key.id());

  ASSERT_EQ(::setenv(var.c_str(), (" " + Base64(key.bytes()) + "\n").c_str(), 1), 0);
  auto from_base64 = LoadMasterKeyFromEnv();
  ASSERT_TRUE(from_base64) << from_base64.error().ToString();
  EXPECT_EQ(from_base64->id(), key.id());
  EXPECT_TRUE(std::ranges::equal(from_base64->bytes(), key.bytes()));

  const std::string garbage = "not-a-key-" + key.ToHex().substr(0, 20);
  ASSERT_EQ(::setenv(var.c_str(), garbage.c_str(), 1), 0);
  auto bad = LoadMasterKeyFromEnv();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().message.find(garbage), std::string::npos);
}

// Parse accepts exactly 32 bytes, in either case of hex; nothing shorter or longer.
TEST(MasterKeyTest, ParseAcceptsOnlyThirtyTwoBytes) {
  SeededRandom random(1);
  const MasterKey key = MasterKey::Generate(random);
  std::string upper = key.ToHex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto parsed = MasterKey::Parse(upper);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id(), key.id());
  EXPECT_FALSE(MasterKey::Parse(key.ToHex().substr(2)));
  EXPECT_FALSE(MasterKey::Parse(key.ToHex() + "00"));
  std::array<unsigned char, 31> short_key{};
  EXPECT_FALSE(MasterKey::Parse(Base64(short_key)));
  std::array<unsigned char, 33> long_key{};
  EXPECT_FALSE(MasterKey::Parse(Base64(long_key)));
  EXPECT_FALSE(MasterKey::FromBytes(std::as_bytes(std::span(short_key))));
}

// The key id is stable, looks like "mk_" + 16 hex digits, and differs between keys.
TEST(MasterKeyTest, IdIsStableAndDistinct) {
  SeededRandom random(2);
  const MasterKey a = MasterKey::Generate(random);
  const MasterKey b = MasterKey::Generate(random);
  EXPECT_EQ(a.id().size(), 3u + 16u);
  EXPECT_TRUE(a.id().starts_with("mk_"));
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(MasterKey::Parse(a.ToHex())->id(), a.id());
}

}  // namespace
}  // namespace clawvisor
