#pragma once

// AtomicFile: the one way clawvisor writes a file that must never be seen half-written (keys,
// certificates, guest configuration, exports, data-disk images). Bytes go to a temporary beside
// the target (O_EXCL | O_NOFOLLOW, the requested mode set with fchmod whatever the umask), are
// fsynced, then renamed over the target (or linked, when an existing target must win), and the
// directory is fsynced: after a crash the target is either the old file, or none, or the whole
// new one.
//
// Thread-safety: one AtomicFile is one thread's. Two writers of the same target at once do not
// corrupt it: one of them fails.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "events/result.h"

namespace clawvisor {

struct AtomicWriteOptions {
  mode_t mode = 0600;
  // false: the target is created only if it does not exist (link(2)); an existing target is
  // left as it is and Commit answers kAlreadyExists. A concurrent creator is never replaced.
  bool replace_existing = true;
  // The temporary's name is the target's plus this suffix. With replace_existing, a stale
  // temporary (left by a crash) is removed first; otherwise the process id and a counter are
  // appended, so concurrent creators never share one.
  std::string_view temp_suffix = ".tmp";
};

class AtomicFile {
 public:
  static Result<AtomicFile> Create(std::filesystem::path path, AtomicWriteOptions options = {});

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Not committed: the temporary is removed and the target is untouched.
  ~AtomicFile();

  Status Write(std::string_view bytes);
  // Sets the temporary's size (ftruncate: a sparse extension), for a file another process fills
  // in through temporary_path(), such as a disk image given to mkfs. Commit's fsync covers what
  // that process wrote: fsync flushes the file, whichever descriptor wrote it.
  Status Resize(uint64_t bytes);
  // fsync, close, rename (or link) into place, fsync the directory. Once, after every Write.
  Status Commit();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temporary_path() const { return temp_; }

 private:
  AtomicFile(std::filesystem::path path, std::filesystem::path temp, int fd, bool replace);
  void Abandon();

  std::filesystem::path path_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool replace_ = true;
};

// Writes `contents` as the whole of `path`, atomically (above).
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           AtomicWriteOptions options = {});

// fsyncs a directory, so a rename, link or unlink in it is durable.
Status SyncDirectory(const std::filesystem::path& directory);

}  // namespace clawvisor
