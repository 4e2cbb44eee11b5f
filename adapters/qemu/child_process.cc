#include "adapters/qemu/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace clawvisor::qemu {

using namespace std::chrono_literals;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

std::string SecretPath(size_t index) { return "/dev/fd/" + std::to_string(3 + index); }

namespace {

// Where the read ends wait in the parent until the child takes them to 3, 4, ...: above any
// descriptor the file actions write to.
constexpr int kSecretFdBase = 64;
constexpr int kMaxPipeBytes = 1 << 20;

// The read ends of pipes already holding each secret (write ends closed), at descriptors from
// kSecretFdBase up; closed when the object goes.
struct SecretPipes {
  std::vector<int> fds;
  ~SecretPipes() {
    for (int fd : fds) ::close(fd);
  }
};

Status FillPipes(const std::vector<std::string_view>& secrets, SecretPipes& out) {
  for (std::string_view secret : secrets) {
    if (secret.size() > static_cast<size_t>(kMaxPipeBytes)) {
      return MakeError(Errc::kInvalidArgument, "a secret for a child is larger than 1 MiB");
    }
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
      return MakeError(Errc::kUnavailable, "pipe: " + std::string(std::strerror(errno)));
    }
    if (secret.size() > 65536) (void)::fcntl(ends[1], F_SETPIPE_SZ, kMaxPipeBytes);
    const int high = ::fcntl(ends[0], F_DUPFD_CLOEXEC, kSecretFdBase);
    ::close(ends[0]);
    size_t written = 0;
    while (high >= 0 && written < secret.size()) {
      const ssize_t n = ::write(ends[1], secret.data() + written, secret.size() - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    ::close(ends[1]);
    if (high < 0 || written != secret.size()) {
      if (high >= 0) ::close(high);
      return MakeError(Errc::kUnavailable, "could not hand a secret to a child through a pipe");
    }
    out.fds.push_back(high);
  }
  return {};
}

}  // namespace

Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                    const std::vector<std::string_view>& secrets) {
  SecretPipes pipes;
  if (auto filled = FillPipes(secrets, pipes); !filled) return std::unexpected(filled.error());
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = log_path.empty() ? "/dev/null" : log_path;
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  for (size_t i = 0; i < pipes.fds.size(); ++i) {
    posix_spawn_file_actions_adddup2(&actions, pipes.fds[i], 3 + static_cast<int>(i));
  }
  posix_spawn_file_actions_addclosefrom_np(&actions, 3 + static_cast<int>(pipes.fds.size()));
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char* empty_env[] = {nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), empty_env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return MakeError(Errc::kUnavailable, "spawn " + argv[0] + ": " + std::strerror(rc));
  }
  return pid;
}

std::optional<int> WaitChild(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

Status RunTool(const std::vector<std::string>& argv, const std::string& log_path,
               std::chrono::milliseconds timeout, const std::vector<std::string_view>& secrets) {
  ::unlink(log_path.c_str());
  auto pid = Spawn(argv, log_path, secrets);
  if (!pid) return std::unexpected(pid.error());
  const auto status = WaitChild(*pid, timeout);
  if (!status) {
    ::kill(*pid, SIGKILL);
    (void)WaitChild(*pid, 5s);
    ::unlink(log_path.c_str());
    return MakeError(Errc::kTimeout, argv[0] + " did not finish in time");
  }
  const bool ok = WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  const std::string log = ok ? std::string() : Tail(ReadFile(log_path), 300);
  ::unlink(log_path.c_str());
  if (!ok) return MakeError(Errc::kUnavailable, argv[0] + " failed: " + log);
  return {};
}

}  // namespace clawvisor::qemu
