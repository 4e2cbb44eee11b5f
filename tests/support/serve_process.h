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

// Runs `clawvisor ARGS...` as a long-running child (serve, api, processor, project), its stdout
// and stderr appended to `log_file`. Start waits for the log line whose "msg" is `ready_message`
// and takes the port from it when it has one.
class ServiceProcess {
 public:
  ServiceProcess(std::vector<std::string> args, std::filesystem::path log_file,
                 std::string ready_message = "listening");
  virtual ~ServiceProcess();  // SIGKILLs if still running

  // Starts and waits until it is ready, or fails the test.
  void Start(std::chrono::seconds timeout = std::chrono::seconds(60));
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::filesystem::path& log_file() const { return log_file_; }

 private:
  int Wait();
  std::vector<std::string> args_;
  std::filesystem::path log_file_;
  std::string ready_message_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// `clawvisor serve --data-dir DATA_DIR --listen 127.0.0.1:0 [--insecure-http] EXTRA...`.
class ServeProcess : public ServiceProcess {
 public:
  ServeProcess(std::filesystem::path data_dir, std::filesystem::path log_file,
               std::vector<std::string> extra_args = {},
               ServeTransport transport = ServeTransport::kInsecureHttp);
};

// The front door's port, from serve's "listening" line of component front_door (it starts after
// the VM host, whose KVM probe may take seconds). 0 if the line did not appear within `timeout`.
uint16_t WaitForFrontDoorPort(const ServiceProcess& serve, std::chrono::seconds timeout);

// SIGKILLs what a `serve --vms` killed mid-test left running under `vm_dir` (each VM's QEMU and
// network helper, only processes whose command line names the directory), then removes it.
void RemoveVmDir(const std::string& vm_dir);

}  // namespace clawvisor::testing
