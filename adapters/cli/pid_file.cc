#include "adapters/cli/pid_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace clawvisor::cli {

std::filesystem::path ServePidFile(const std::filesystem::path& data_dir) {
  return data_dir / "serve.pid";
}

// Opened without following a symlink, so a link planted in the data directory cannot make a
// root process write elsewhere.
Result<int> LockPidFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kUnavailable, "cannot open " + path.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return MakeError(Errc::kFailedPrecondition,
                     "another clawvisor serve runs on this data directory (" + path.string() + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd);
    return MakeError(Errc::kUnavailable, "cannot write " + path.string());
  }
  return fd;
}

std::optional<pid_t> RunningServe(const std::filesystem::path& data_dir) {
  const auto path = ServePidFile(data_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<pid_t> running;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {  // held: serve runs
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    const long pid = n > 0 ? std::strtol(text, nullptr, 10) : 0;
    if (pid > 1) running = static_cast<pid_t>(pid);
  }
  ::close(fd);
  return running;
}

}  // namespace clawvisor::cli
