#include "tests/support/serve_process.h"
#include "tests/support/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace clawvisor::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

std::string ClawvisorBinary() { return BuildDir() + "/adapters/cli/clawvisor"; }

RunResult RunClawvisor(const std::vector<std::string>& args) {
  char out_path[] = "/tmp/clawvisor-run-out-XXXXXX";
  char err_path[] = "/tmp/clawvisor-run-err-XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  std::vector<std::string> full{ClawvisorBinary()};
  full.insert(full.end(), args.begin(), args.end());
  const pid_t pid = Spawn(full, out_fd, err_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out_fd);
  ::close(err_fd);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return r;
}

ServiceProcess::ServiceProcess(std::vector<std::string> args, std::filesystem::path log_file,
                               std::string ready_message)
    : args_(std::move(args)),
      log_file_(std::move(log_file)),
      ready_message_(std::move(ready_message)) {}

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) Kill();
}

namespace {

std::vector<std::string> ServeArgs(const std::filesystem::path& data_dir,
                                   const std::vector<std::string>& extra_args,
                                   ServeTransport transport) {
  std::vector<std::string> args{"serve", "--data-dir", data_dir.string(), "--listen",
                                "127.0.0.1:0"};
  if (transport == ServeTransport::kInsecureHttp) args.emplace_back("--insecure-http");
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return args;
}

}  // namespace

ServeProcess::ServeProcess(std::filesystem::path data_dir, std::filesystem::path log_file,
                           std::vector<std::string> extra_args, ServeTransport transport)
    : ServiceProcess(ServeArgs(data_dir, extra_args, transport), std::move(log_file)) {}

void ServiceProcess::Start(std::chrono::seconds timeout) {
  ASSERT_LE(pid_, 0) << "already running";
  // Append: the log of every run of this process in one file, for the canary searches.
  const int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ASSERT_GE(fd, 0);
  const auto start_size = std::filesystem::file_size(log_file_);
  std::vector<std::string> args{ClawvisorBinary()};
  args.insert(args.end(), args_.begin(), args_.end());
  pid_ = Spawn(args, fd, fd);
  ::close(fd);
  ASSERT_GT(pid_, 0);
  const std::string marker = "\"msg\":\"" + ready_message_ + "\"";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = ReadFile(log_file_).substr(start_size);
    if (const auto line = log.find(marker); line != std::string::npos) {
      const auto line_end = log.find('\n', line);
      if (line_end != std::string::npos) {
        const auto port = log.find("\"port\":", line);
        if (port != std::string::npos && port < line_end) {
          port_ = static_cast<uint16_t>(std::stoi(log.substr(port + 7)));
        }
        return;
      }
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL() << "clawvisor " << args_.front() << " exited during start-up:\n" << log;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "clawvisor " << args_.front() << " did not report " << ready_message_ << " in time";
}

int ServiceProcess::Wait() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ServiceProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return Wait();
}

void ServiceProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Wait();
}

uint16_t WaitForFrontDoorPort(const ServiceProcess& serve, std::chrono::seconds timeout) {
  const std::regex listening(R"("component":"front_door","msg":"listening"[^\n]*"port":(\d+))");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const std::string log = ReadFile(serve.log_file());
    if (std::smatch m; std::regex_search(log, m, listening)) {
      return static_cast<uint16_t>(std::stoi(m[1]));
    }
    if (std::chrono::steady_clock::now() >= deadline) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void RemoveVmDir(const std::string& vm_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(vm_dir, ec)) {
    for (const auto& e : fs::directory_iterator(vm_dir, ec)) {
      for (const char* file : {"qemu.pid", "network.pid"}) {
        const std::string pid = ReadFile(e.path() / file);
        if (pid.empty()) continue;
        const std::string cmdline =
            ReadFile("/proc/" + std::to_string(std::stoi(pid)) + "/cmdline");
        if (cmdline.find(vm_dir) != std::string::npos) ::kill(std::stoi(pid), SIGKILL);
      }
    }
  }
  fs::remove_all(vm_dir, ec);
}

}  // namespace clawvisor::testing
