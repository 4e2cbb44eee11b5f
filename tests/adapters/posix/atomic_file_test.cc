// AtomicFile (adapters/posix/atomic_file.h): a target is the old file, none, or the whole new one;
// the mode is the one asked for; the temporary never follows a symlink and never outlives the
// writer.

#include "adapters/posix/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;

void Put(const fs::path& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Sets the process umask for one test and restores it.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

// Writing over an existing file replaces its whole contents and leaves no temporary behind.
TEST(AtomicFileTest, ReplacesAnExistingFile) {
  TempDir dir;
  const fs::path target = dir.path() / "config";
  Put(target, "the old contents, longer than the new");
  ASSERT_TRUE(WriteFileAtomically(target, "new"));
  EXPECT_EQ(ReadFile(target), "new");
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"config"});
}

// Several Writes land in order, in one file, only once committed.
TEST(AtomicFileTest, StreamsSeveralWritesThenCommits) {
  TempDir dir;
  const fs::path target = dir.path() / "export.csv";
  auto file = AtomicFile::Create(target, {.temp_suffix = ".partial"});
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->temporary_path(), dir.path() / "export.csv.partial");
  ASSERT_TRUE(file->Write("a,b\n"));
  ASSERT_TRUE(file->Write("1,2\n"));
  EXPECT_FALSE(fs::exists(target));
  ASSERT_TRUE(file->Commit());
  EXPECT_EQ(ReadFile(target), "a,b\n1,2\n");
  EXPECT_FALSE(fs::exists(dir.path() / "export.csv.partial"));
  // Once committed, the file takes no more bytes and no second Commit.
  EXPECT_EQ(file->Write("x").error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(file->Commit().error().code, Errc::kFailedPrecondition);
}

// Create-only (replace_existing = false) refuses an existing target with kAlreadyExists, keeps
// the old file as it was, and removes its own temporary.
TEST(AtomicFileTest, CreateOnlyLeavesAnExistingFile) {
  TempDir dir;
  const fs::path target = dir.path() / "master.key";
  Put(target, "old key");
  auto status = WriteFileAtomically(target, "new key", {.replace_existing = false});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(ReadFile(target), "old key");
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"master.key"});
}

// Create-only on a fresh name creates the file and leaves only it.
TEST(AtomicFileTest, CreateOnlyCreatesAFreshFile) {
  TempDir dir;
  const fs::path target = dir.path() / "master.key";
  ASSERT_TRUE(WriteFileAtomically(target, "key", {.replace_existing = false}));
  EXPECT_EQ(ReadFile(target), "key");
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"master.key"});
}

// An AtomicFile dropped before Commit leaves neither its temporary nor a target.
TEST(AtomicFileTest, AbandonedFileLeavesNothing) {
  TempDir dir;
  const fs::path target = dir.path() / "disk.img";
  for (const bool replace : {true, false}) {
    {
      auto file = AtomicFile::Create(target, {.replace_existing = replace});
      ASSERT_TRUE(file) << file.error().message;
      ASSERT_TRUE(fs::exists(file->temporary_path()));
      ASSERT_TRUE(file->Write("half of it"));
    }
    EXPECT_TRUE(Names(dir.path()).empty()) << "replace_existing=" << replace;
  }
}

// Resize sizes the temporary for another writer (a disk image for mkfs); what that writer puts
// through temporary_path() is what Commit places.
TEST(AtomicFileTest, ResizeThenAnotherWriterFillsTheTemporary) {
  TempDir dir;
  const fs::path target = dir.path() / "disk.img";
  auto file = AtomicFile::Create(target);
  ASSERT_TRUE(file);
  ASSERT_TRUE(file->Resize(1 << 20));
  EXPECT_EQ(fs::file_size(file->temporary_path()), 1u << 20);
  {
    std::fstream other(file->temporary_path(), std::ios::in | std::ios::out | std::ios::binary);
    other.seekp(4096);
    other << "superblock";
  }
  ASSERT_TRUE(file->Commit());
  EXPECT_EQ(fs::file_size(target), 1u << 20);
  EXPECT_EQ(ReadFile(target).substr(4096, 10), "superblock");
  EXPECT_EQ(ModeOf(target), 0600u);
  EXPECT_EQ(file->Resize(1).error().code, Errc::kFailedPrecondition);
}

// A moved-from AtomicFile owns nothing: only the moved-to one commits, and the temporary is
// removed once, by whichever is dropped uncommitted.
TEST(AtomicFileTest, MoveTransfersTheTemporary) {
  TempDir dir;
  const fs::path target = dir.path() / "moved";
  auto file = AtomicFile::Create(target);
  ASSERT_TRUE(file);
  AtomicFile moved = std::move(*file);
  ASSERT_TRUE(moved.Write("moved"));
  ASSERT_TRUE(moved.Commit());
  EXPECT_EQ(ReadFile(target), "moved");
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"moved"});
}

// The file has the requested mode whatever the umask: a umask cannot loosen or tighten it.
TEST(AtomicFileTest, ModeIsTheRequestedOneWhateverTheUmask) {
  TempDir dir;
  {
    ScopedUmask mask(0777);
    ASSERT_TRUE(WriteFileAtomically(dir.path() / "a", "a"));
    ASSERT_TRUE(WriteFileAtomically(dir.path() / "b", "b", {.replace_existing = false}));
  }
  EXPECT_EQ(ModeOf(dir.path() / "a"), 0600u);
  EXPECT_EQ(ModeOf(dir.path() / "b"), 0600u);
  {
    ScopedUmask mask(0);
    ASSERT_TRUE(WriteFileAtomically(dir.path() / "c", "c"));
    ASSERT_TRUE(WriteFileAtomically(dir.path() / "d", "d", {.mode = 0640}));
  }
  EXPECT_EQ(ModeOf(dir.path() / "c"), 0600u);
  EXPECT_EQ(ModeOf(dir.path() / "d"), 0640u);
  // Replacing a 0644 file gives the new file the requested mode, not the old one's.
  Put(dir.path() / "e", "old");
  fs::permissions(dir.path() / "e", fs::perms(0644));
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "e", "new"));
  EXPECT_EQ(ModeOf(dir.path() / "e"), 0600u);
}

// A temporary left by a crash (other contents, a looser mode) is replaced, not appended to.
TEST(AtomicFileTest, StaleTemporaryFromACrashIsReplaced) {
  TempDir dir;
  const fs::path target = dir.path() / "guest.json";
  const fs::path stale = dir.path() / "guest.json.tmp";
  Put(stale, "a much longer half-written file from before the crash");
  fs::permissions(stale, fs::perms(0666));
  ASSERT_TRUE(WriteFileAtomically(target, "{}"));
  EXPECT_EQ(ReadFile(target), "{}");
  EXPECT_EQ(ModeOf(target), 0600u);
  EXPECT_FALSE(fs::exists(stale));
}

// A symlink planted at the temporary's name is not followed: the file it points at keeps its
// contents, and the target gets the new bytes.
TEST(AtomicFileTest, SymlinkAtTheTemporaryIsNotFollowed) {
  TempDir dir;
  const fs::path victim = dir.path() / "victim";
  Put(victim, "precious");
  const fs::path target = dir.path() / "cert.pem";
  fs::create_symlink(victim, dir.path() / "cert.pem.tmp");
  ASSERT_TRUE(WriteFileAtomically(target, "certificate"));
  EXPECT_EQ(ReadFile(victim), "precious");
  EXPECT_EQ(ReadFile(target), "certificate");
  EXPECT_FALSE(fs::is_symlink(target));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir.path() / "cert.pem.tmp")));
}

// A target in a missing directory is an error, and nothing is created.
TEST(AtomicFileTest, MissingDirectoryIsAnError) {
  TempDir dir;
  auto status = WriteFileAtomically(dir.path() / "no" / "such" / "file", "x");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::kUnavailable);
  EXPECT_TRUE(Names(dir.path()).empty());
}

// SyncDirectory accepts a directory and refuses what is not one.
TEST(AtomicFileTest, SyncDirectory) {
  TempDir dir;
  EXPECT_TRUE(SyncDirectory(dir.path()));
  Put(dir.path() / "file", "x");
  EXPECT_FALSE(SyncDirectory(dir.path() / "file"));
  EXPECT_FALSE(SyncDirectory(dir.path() / "missing"));
}

}  // namespace
}  // namespace clawvisor
