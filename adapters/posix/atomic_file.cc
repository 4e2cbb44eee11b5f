#include "adapters/posix/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

namespace clawvisor {
namespace {

std::string Errno(int err) { return std::strerror(err); }

std::filesystem::path DirectoryOf(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

}  // namespace

Status SyncDirectory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(Errc::kUnavailable, "cannot open " + directory.string() + ": " + Errno(errno));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return MakeError(Errc::kUnavailable, "cannot sync " + directory.string() + ": " + Errno(err));
  }
  return {};
}

Result<AtomicFile> AtomicFile::Create(std::filesystem::path path, AtomicWriteOptions options) {
  std::string temp = path.string() + std::string(options.temp_suffix);
  if (options.replace_existing) {
    ::unlink(temp.c_str());
  } else {
    static std::atomic<uint64_t> counter{0};
    temp += "-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  }
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, options.mode);
  if (fd < 0) {
    const int err = errno;
    return MakeError(Errc::kUnavailable, "cannot create " + temp + ": " + Errno(err));
  }
  // The umask cannot loosen the mode, but fchmod states it whatever the umask was.
  if (::fchmod(fd, options.mode) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return MakeError(Errc::kUnavailable, "cannot set the mode of " + temp + ": " + Errno(err));
  }
  return AtomicFile(std::move(path), std::filesystem::path(temp), fd, options.replace_existing);
}

AtomicFile::AtomicFile(std::filesystem::path path, std::filesystem::path temp, int fd, bool replace)
    : path_(std::move(path)), temp_(std::move(temp)), fd_(fd), replace_(replace) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_(std::move(other.temp_)),
      fd_(std::exchange(other.fd_, -1)),
      replace_(other.replace_) {
  other.temp_.clear();
}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Abandon();
    path_ = std::move(other.path_);
    temp_ = std::move(other.temp_);
    other.temp_.clear();
    fd_ = std::exchange(other.fd_, -1);
    replace_ = other.replace_;
  }
  return *this;
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_.empty()) {
    ::unlink(temp_.c_str());
    temp_.clear();
  }
}

Status AtomicFile::Write(std::string_view bytes) {
  if (fd_ < 0) return MakeError(Errc::kFailedPrecondition, "file already committed");
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return MakeError(Errc::kUnavailable, "cannot write " + temp_.string() + ": " + Errno(err));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status AtomicFile::Resize(uint64_t bytes) {
  if (fd_ < 0) return MakeError(Errc::kFailedPrecondition, "file already committed");
  if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    return MakeError(Errc::kUnavailable, "cannot size " + temp_.string() + ": " + Errno(err));
  }
  return {};
}

Status AtomicFile::Commit() {
  if (fd_ < 0) return MakeError(Errc::kFailedPrecondition, "file already committed");
  const int synced = ::fsync(fd_);
  int err = errno;
  const int closed = ::close(fd_);
  if (synced == 0) err = errno;  // report the close's failure when the sync succeeded
  fd_ = -1;
  if (synced != 0 || closed != 0) {
    Abandon();
    return MakeError(Errc::kUnavailable, "cannot sync " + path_.string() + ": " + Errno(err));
  }
  const int placed =
      replace_ ? ::rename(temp_.c_str(), path_.c_str()) : ::link(temp_.c_str(), path_.c_str());
  err = errno;
  if (placed != 0) {
    Abandon();
    return MakeError(err == EEXIST ? Errc::kAlreadyExists : Errc::kUnavailable,
                     "cannot write " + path_.string() + ": " + Errno(err));
  }
  if (replace_) {
    temp_.clear();  // renamed: nothing left to remove
  } else {
    Abandon();  // linked: drop the temporary name
  }
  return SyncDirectory(DirectoryOf(path_));
}

Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           AtomicWriteOptions options) {
  auto file = AtomicFile::Create(path, options);
  if (!file) return std::unexpected(file.error());
  if (auto written = file->Write(contents); !written) return written;
  return file->Commit();
}

}  // namespace clawvisor
