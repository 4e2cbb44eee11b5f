#include "adapters/posix/os_random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace clawvisor {

void OsRandom::Fill(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fputs("FATAL: getrandom failed; refusing to continue without randomness\n", stderr);
      std::abort();
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace clawvisor
