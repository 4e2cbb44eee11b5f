#pragma once

// Runs the real `clawvisor` binary as a child process for integration tests: starts
// `clawvisor serve` on a port chosen by the kernel, learns the port from its JSON "listening"
// log line, and stops it with SIGTERM (clean) or SIGKILL (crash).
//
// Transport: most tests exercise the API, not TLS, and talk through the plain client of
// http_client.h, so by default serve runs with --insecure-http on 127.0.0.1. Tests of the
// transport itself (tests/integration/tls_e2e_test.cc) ask for kHttps and talk to the server
// with independent TLS clients (curl, openssl s_client).

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

enum class ServeTransport {
  kInsecureHttp,  // --insecure-http
  kHttps,         // serve's default: HTTPS (TLS flags, if any, in extra_args)
};

class ServeProcess {
 public:
  ServeProcess(std::filesystem::path data_dir, std::filesystem::path log_file,
               std::vector<std::string> extra_args = {},
               ServeTransport transport = ServeTransport::kInsecureHttp);
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
  ServeTransport transport_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace clawvisor::testing
