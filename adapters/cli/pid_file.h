#pragma once

// serve's pid file, DATA_DIR/serve.pid, locked (flock) for as long as serve runs: the lock, not
// the file's existence, says that serve runs, so a stale file or a reused pid cannot mislead the
// CLI (`vault rotate-master-key` signals a running serve instead of opening its stores).
// Thread-safety: plain functions over the file system.

#include <sys/types.h>

#include <filesystem>
#include <optional>

#include "events/result.h"

namespace clawvisor::cli {

std::filesystem::path ServePidFile(const std::filesystem::path& data_dir);
// Creates (0600, never through a symlink) and locks `path`, and writes this process's pid into
// it; the descriptor holds the lock until it is closed. kFailedPrecondition if another holds it.
Result<int> LockPidFile(const std::filesystem::path& path);
// The pid of the `clawvisor serve` that holds this data directory's pid-file lock, if any.
std::optional<pid_t> RunningServe(const std::filesystem::path& data_dir);

}  // namespace clawvisor::cli
