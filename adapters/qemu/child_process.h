#pragma once

// The processes the QEMU adapter runs (QEMU itself, qemu-img, mkfs) and the secrets it hands them.
//
// Every child starts in its own session with no inherited environment or descriptors, so no
// secret of this process reaches it by accident. A secret it needs (the guest's configuration,
// the disk's passphrase) goes in through a pipe: the child reads `/dev/fd/3`, `/dev/fd/4`, ...
// (SecretPath), so the secret is never an argument, an environment variable or a file, and
// nothing is left behind when either side dies.
// Thread-safety: free functions, safe from any thread.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace clawvisor::qemu {

// The whole of a small file ("" when it cannot be read).
std::string ReadFile(const std::string& path);
// The last `n` bytes of `text` (a log's tail for an error message).
std::string Tail(const std::string& text, size_t n);

// The path by which a child reads its `index`th secret (0: /dev/fd/3).
std::string SecretPath(size_t index);

// Spawns `argv` in a new session with no inherited environment or descriptors; stdout and
// stderr go to `log_path` (or /dev/null; a link there is refused), and each of `secrets` is
// readable once, to its end, at SecretPath(i). kInvalidArgument for a secret larger than a pipe
// holds (1 MiB). Returns the pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                    const std::vector<std::string_view>& secrets = {});
// Waits up to `timeout` for a child to exit; its wait status, or nullopt if still running.
std::optional<int> WaitChild(pid_t pid, std::chrono::milliseconds timeout);
// Runs a tool to its end: kUnavailable (with the tail of its log, which the tool's output
// fills and which is removed afterwards) when it fails, kTimeout (killed) past `timeout`.
Status RunTool(const std::vector<std::string>& argv, const std::string& log_path,
               std::chrono::milliseconds timeout,
               const std::vector<std::string_view>& secrets = {});

}  // namespace clawvisor::qemu
