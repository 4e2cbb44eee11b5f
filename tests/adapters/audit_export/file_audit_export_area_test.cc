// FileAuditExportArea (adapters/audit_export): <root>/<account>/<export>.csv appears only once
// committed, with its SHA-256 and size, owner-only; ids that are not ids are refused.

#include "adapters/audit_export/file_audit_export_area.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "adapters/openssl/aes_gcm.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The file is written as .partial, published on Commit with the digest and size of exactly the
// bytes written, 0600 in a 0700 account directory; PathOf finds it and Remove deletes it.
TEST(FileAuditExportAreaTest, CommitPublishesTheHashedFile) {
  TempDir dir;
  FileAuditExportArea area(dir.path() / "exports");
  auto file = area.Create("acct-1", "exp-1");
  ASSERT_TRUE(file) << file.error().message;
  const fs::path final_path = dir.path() / "exports" / "acct-1" / "exp-1.csv";
  ASSERT_TRUE((*file)->Write("a,b\n"));
  ASSERT_TRUE((*file)->Write("1,2\n"));
  EXPECT_TRUE(fs::exists(final_path.string() + ".partial"));
  EXPECT_EQ(area.PathOf("acct-1", "exp-1").error().code, Errc::kNotFound);
  auto committed = (*file)->Commit();
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(committed->bytes, 8u);
  auto expected = openssl::Sha256(openssl::AsBytes("a,b\n1,2\n"));
  ASSERT_TRUE(expected);
  EXPECT_EQ(committed->sha256,
            std::string(reinterpret_cast<const char*>(expected->data()), expected->size()));
  EXPECT_EQ(ReadFile(final_path), "a,b\n1,2\n");
  EXPECT_FALSE(fs::exists(final_path.string() + ".partial"));
  EXPECT_EQ(ModeOf(final_path), 0600u);
  EXPECT_EQ(ModeOf(final_path.parent_path()), 0700u);
  EXPECT_EQ(area.PathOf("acct-1", "exp-1"), final_path.string());
  EXPECT_EQ((*file)->Commit().error().code, Errc::kFailedPrecondition);
  ASSERT_TRUE(area.Remove("acct-1", "exp-1"));
  EXPECT_FALSE(fs::exists(final_path));
  EXPECT_TRUE(area.Remove("acct-1", "exp-1"));  // none: fine
}

// A file dropped without Commit leaves nothing; a stale .partial from a crash is replaced.
TEST(FileAuditExportAreaTest, AbandonedAndStalePartials) {
  TempDir dir;
  FileAuditExportArea area(dir.path());
  {
    auto file = area.Create("acct-1", "exp-1");
    ASSERT_TRUE(file);
    ASSERT_TRUE((*file)->Write("half"));
  }
  EXPECT_TRUE(fs::is_empty(dir.path() / "acct-1"));
  std::ofstream(dir.path() / "acct-1" / "exp-2.csv.partial") << "left by a crash, long";
  auto file = area.Create("acct-1", "exp-2");
  ASSERT_TRUE(file);
  ASSERT_TRUE((*file)->Write("new"));
  ASSERT_TRUE((*file)->Commit());
  EXPECT_EQ(ReadFile(dir.path() / "acct-1" / "exp-2.csv"), "new");
  EXPECT_FALSE(fs::exists(dir.path() / "acct-1" / "exp-2.csv.partial"));
}

// Ids become path components: anything that is not a valid id is refused before any I/O.
TEST(FileAuditExportAreaTest, RefusesIdsThatAreNotIds) {
  TempDir dir;
  FileAuditExportArea area(dir.path());
  for (const std::string_view bad : {"..", ".", "a/b", ""}) {
    EXPECT_EQ(area.Create(bad, "exp-1").error().code, Errc::kInvalidArgument) << bad;
    EXPECT_EQ(area.Create("acct-1", bad).error().code, Errc::kInvalidArgument) << bad;
    EXPECT_EQ(area.PathOf(bad, "exp-1").error().code, Errc::kInvalidArgument) << bad;
    EXPECT_EQ(area.Remove("acct-1", bad).error().code, Errc::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace clawvisor
