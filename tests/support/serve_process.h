#pragma once

// Runs the real `clawvisor` binary as a child process for integration tests: starts
// `clawvisor serve` on a port chosen by the kernel, learns the port from its JSON "listening"
// log line, and stops it with SIGTERM (clean) or SIGKILL (crash).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace clawvisor::testing {

// The clawvisor binary under test (from the build tree).
std::string ClawvisorBinary();

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs `clawvisor args...` to completion.
RunResult RunClawvisor(const std::vector<std::string>& args);

class ServeProcess {
 public:
  ServeProcess(std::filesystem::path data_dir, std::filesystem::path log_file,
               std::vector<std::string> extra_args = {});
  ~ServeProcess();  // SIGKILLs if still running

  // Starts and waits until it serves (its "listening" line), or fails the test.
  void Start(std::chrono::seconds timeout = std::chrono::seconds(60));
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  int Wait();
  std::filesystem::path data_dir_;
  std::filesystem::path log_file_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace clawvisor::testing
