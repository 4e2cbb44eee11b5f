// The encrypted data disk, checked with tools that share no code with ours: cryptsetup reads
// its LUKS header and tries passphrases, e2fsck checks the filesystem qemu-img decrypts.

#include "adapters/qemu/encrypted_disk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/files.h"
#include "tests/support/luks_check.h"

namespace clawvisor::qemu {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::Shell;

class EncryptedDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cvdisk-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ::chmod(dir_.c_str(), 0700);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  bool Opens(const std::string& disk, const std::string& passphrase) {
    return testing::CryptsetupOpens(disk, passphrase, dir_.string());
  }

  fs::path dir_;
};

TEST_F(EncryptedDiskTest, IsLuksSparseAndHoldsACleanFilesystemOnlyItsKeyOpens) {
  const std::string passphrase = "k3y-of-the-volume_0123456789abcdefghijklmnop";
  const std::string disk = Path("disk.img");
  auto made = CreateEncryptedDisk({}, disk, 256ull << 20, passphrase, dir_.string());
  ASSERT_TRUE(made.has_value()) << made.error().ToString();
  // Nothing but the disk is left: no scratch filesystem, no half disk, no file of the passphrase.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename(), "disk.img");
  }

  // LUKS, as an independent reader sees it: version 1 (all QEMU writes), AES-XTS.
  EXPECT_EQ(Shell("qemu-img info " + disk + " | sed -n 's/^file format: //p'"), "qcow2");
  const std::string dump = testing::LuksDump(disk, dir_.string());
  EXPECT_NE(dump.find("Version:       \t1"), std::string::npos) << dump;
  EXPECT_NE(dump.find("xts-plain64"), std::string::npos) << dump;
  EXPECT_NE(dump.find("Key Slot 0: ENABLED"), std::string::npos) << dump;
  EXPECT_TRUE(Opens(disk, passphrase));
  EXPECT_FALSE(Opens(disk, passphrase + "x"));

  // Sparse: the headers and the filesystem's metadata, not the 256 MiB.
  struct stat st {};
  ASSERT_EQ(::stat(disk.c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 16ull << 20);
  EXPECT_EQ(
      Shell("qemu-img info " + disk + " | sed -n 's/^virtual size: .*(\\([0-9]*\\) bytes)/\\1/p'"),
      std::to_string(256ull << 20));

  // The filesystem inside is whole: decrypted by qemu-img, checked by e2fsck (forced, no
  // changes); and it is not in the file's bytes (the label is the plaintext's only known text).
  std::ofstream(Path("check.key"), std::ios::binary) << passphrase;
  const std::string plain = Path("plain.img");
  ASSERT_EQ(Shell("qemu-img convert --object secret,id=k,file=" + Path("check.key") +
                  ",format=raw --image-opts driver=qcow2,encrypt.key-secret=k,file.filename=" +
                  disk + " -O raw " + plain + " 2>&1; echo $?"),
            "0");
  EXPECT_EQ(Shell("e2fsck -fn " + plain + " >/dev/null 2>&1; echo $?"), "0");
  EXPECT_EQ(Shell("blkid -o value -s LABEL " + plain), "clawvisor-data");
  EXPECT_NE(ReadFile(plain).find("clawvisor-data"), std::string::npos);
  EXPECT_EQ(ReadFile(disk).find("clawvisor-data"), std::string::npos);

  // Shredded, no passphrase opens it any more: not the one it was made with either.
  ASSERT_TRUE(ShredEncryptedDisk(disk).has_value());
  EXPECT_FALSE(Opens(disk, passphrase));
  EXPECT_EQ(testing::LuksDump(disk, dir_.string()).find("Key Slot 0: ENABLED"), std::string::npos);
  EXPECT_TRUE(ShredEncryptedDisk(Path("absent.img")).has_value());
}

// A header that points the key material elsewhere (tampered, or not QEMU's) does not make the
// shredding a no-op: the file's first 8 MiB, where QEMU keeps it, are destroyed instead.
TEST_F(EncryptedDiskTest, ShreddingIgnoresAnImplausibleHeader) {
  const std::string disk = Path("disk.img");
  ASSERT_TRUE(
      CreateEncryptedDisk({}, disk, 64ull << 20, "passphrase-passphrase-passphrase", dir_.string())
          .has_value());
  ASSERT_TRUE(testing::CryptsetupOpens(disk, "passphrase-passphrase-passphrase", dir_.string()));
  const std::string before = ReadFile(disk).substr(0, 4 << 20);
  const size_t magic = before.find("LUKS\xba\xbe");
  ASSERT_NE(magic, std::string::npos);
  // Every 8-byte big-endian field equal to the header's offset becomes 2^63.
  std::string bytes = ReadFile(disk);
  std::string offset(8, '\0');
  for (int i = 0; i < 8; ++i) offset[7 - i] = static_cast<char>((magic >> (8 * i)) & 0xff);
  const size_t field = bytes.find(offset);
  ASSERT_NE(field, std::string::npos);
  ASSERT_LT(field, 4096u);
  std::ofstream(disk, std::ios::binary | std::ios::in | std::ios::out)
      .seekp(static_cast<std::streamoff>(field))
      .put('\x80');
  ASSERT_TRUE(ShredEncryptedDisk(disk).has_value());
  EXPECT_EQ(ReadFile(disk).substr(0, 4 << 20).find("LUKS\xba\xbe"), std::string::npos);
}

// A disk is made only whole: a tool that fails leaves nothing under the disk's name.
TEST_F(EncryptedDiskTest, AFailedCreateLeavesNoDisk) {
  DiskTools broken;
  broken.mkfs = "/bin/false";
  auto made = CreateEncryptedDisk(broken, Path("disk.img"), 64ull << 20,
                                  "passphrase-passphrase-passphrase", dir_.string());
  ASSERT_FALSE(made.has_value());
  EXPECT_NE(made.error().message.find("mkfs"), std::string::npos) << made.error().message;
  EXPECT_FALSE(fs::exists(Path("disk.img")));
  EXPECT_FALSE(fs::exists(Path("disk.img.tmp")));
  EXPECT_FALSE(fs::exists(Path("format.img")));
}

}  // namespace
}  // namespace clawvisor::qemu
