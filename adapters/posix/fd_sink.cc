#include "adapters/posix/fd_sink.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace clawvisor {

Status FdSink::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return MakeError(Errc::kUnavailable, std::string("write failed: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace clawvisor
