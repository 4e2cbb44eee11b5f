// `clawvisor serve --vms` end to end with a real microVM: the commands a web tier sends (create,
// set a credential, start, delete) drive a real QEMU guest through the in-process reconciler,
// and the canary credential reaches the guest and nothing else: not serve's log, not QEMU's
// arguments or environment, not the VM directory, not a single event. Killing serve while the
// VM runs must neither reboot the VM nor leave it orphaned: the restarted serve adopts it.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/files.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using testing::JsonStringMember;
using testing::ReadFile;
using testing::Shell;
using namespace std::chrono_literals;
using testing::HttpRequest;
using testing::RunClawvisor;
using testing::ServeProcess;

class VmServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    guest_ = Shell(testing::SourceDir() + "/ops/guest/build.sh 2>&1 | tail -1");
    ASSERT_TRUE(fs::exists(guest_ + "/initramfs.cpio.gz")) << guest_;
    vm_dir_ = "/tmp/cvsv-" + std::to_string(::getpid());
  }
  void TearDown() override {
    if (serve_) serve_->Kill();
    // Nothing may outlive the test: end a QEMU left in our VM directory, by its pid file.
    if (fs::exists(vm_dir_)) {
      for (const auto& e : fs::directory_iterator(vm_dir_)) {
        const std::string pid = ReadFile(e.path() / "qemu.pid");
        if (pid.empty()) continue;
        const std::string cmdline =
            ReadFile("/proc/" + std::to_string(std::stoi(pid)) + "/cmdline");
        if (cmdline.find(vm_dir_) != std::string::npos) ::kill(std::stoi(pid), SIGKILL);
      }
    }
    fs::remove_all(vm_dir_);
  }
  void StartServe() {
    serve_ = std::make_unique<ServeProcess>(
        dir_.path() / "data", dir_.path() / ("serve-" + std::to_string(++starts_) + ".log"),
        std::vector<std::string>{"--vms", "--host", "host-1", "--vm-dir", vm_dir_, "--guest-dir",
                                 guest_, "--health-interval-ms", "500", "--boot-grace-ms",
                                 "20000"});
    serve_->Start(120s);
  }
  testing::HttpResponse Post(const std::string& target, const std::string& body) {
    return HttpRequest(serve_->port(), "POST", target, body);
  }
  std::string ObservedState() {
    auto r = HttpRequest(serve_->port(), "GET", "/v1/accounts/" + account_ + "/instances/ins_vm");
    return JsonStringMember(r.body, "observed_state");
  }
  bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
  // The single VM's directory under --vm-dir ("" if none).
  std::string VmDir() {
    if (!fs::exists(vm_dir_)) return "";
    for (const auto& e : fs::directory_iterator(vm_dir_)) {
      if (e.is_directory()) return e.path().string();
    }
    return "";
  }

  testing::TempDir dir_;
  std::string guest_, vm_dir_, account_;
  std::unique_ptr<ServeProcess> serve_;
  int starts_ = 0;
};

TEST_F(VmServeTest, CommandsDriveARealMicroVmAndTheCanaryStaysInside) {
  const std::string canary = "sk-canary-" + std::to_string(::getpid()) + "Zq9";
  StartServe();
  ASSERT_FALSE(HasFailure());
  auto reg = Post(
      "/v1/accounts",
      R"({"command_id":"reg-1","register_account":{"email":"o@example.com","plan":"PLAN_STANDARD"}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  account_ = JsonStringMember(reg.body, "account_id");
  auto created = Post(
      "/v1/accounts/" + account_ + "/instances",
      R"({"command_id":"mk","create_instance":{"instance_id":"ins_vm","name":"bot","spec":{"memory_mib":256,"disk_mib":64}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string token = JsonStringMember(created.body, "gateway_token");
  ASSERT_FALSE(token.empty()) << created.body;
  auto cred = Post(
      "/v1/accounts/" + account_ + "/instances/ins_vm/credentials",
      R"({"command_id":"cred","set_credential":{"name":"openai","kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":")" +
          canary + R"("}})");
  ASSERT_EQ(cred.status, 200) << cred.body;
  auto start =
      Post("/v1/accounts/" + account_ + "/instances/ins_vm/start", R"({"command_id":"go"})");
  ASSERT_EQ(start.status, 200) << start.body;

  ASSERT_TRUE(WaitFor([&] { return ObservedState() == "VM_STATE_RUNNING"; }, 150s))
      << ObservedState() << "\n"
      << ReadFile(dir_.path() / "serve-1.log");
  const std::string vm = VmDir();
  ASSERT_FALSE(vm.empty());
  const auto port = static_cast<uint16_t>(std::stoi(ReadFile(vm + "/port")));
  const int qemu_pid = std::stoi(ReadFile(vm + "/qemu.pid"));
  // serve registered its host, and the registry placed the instance on it.
  EXPECT_EQ(
      JsonStringMember(
          HttpRequest(serve_->port(), "GET", "/v1/accounts/" + account_ + "/instances/ins_vm").body,
          "host_id"),
      "host-1");

  // The guest serves the gateway contract with the token the API showed once.
  EXPECT_EQ(HttpRequest(port, "GET", "/healthz").status, 200);
  EXPECT_EQ(HttpRequest(port, "GET", "/").status, 401);
  EXPECT_EQ(HttpRequest(port, "GET", "/", "", "", {{"Authorization", "Bearer " + token}}).status,
            200);
  // The canary is inside (its hash, asked with the token)...
  const std::string sha = Shell("printf '%s' '" + canary + "' | sha256sum | cut -d' ' -f1");
  auto inside = HttpRequest(port, "GET", "/v1/credentials/openai", "", "",
                            {{"Authorization", "Bearer " + token}});
  EXPECT_NE(inside.body.find(sha), std::string::npos) << inside.body;
  // ...and not in QEMU's arguments or environment.
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(qemu_pid) + "/cmdline").find(canary),
            std::string::npos);
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(qemu_pid) + "/environ").find(canary),
            std::string::npos);
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(qemu_pid) + "/cmdline").find(token),
            std::string::npos);

  // Kill serve while the VM runs: the VM survives, and the restarted serve adopts it.
  serve_->Kill();
  EXPECT_EQ(::kill(qemu_pid, 0), 0);
  StartServe();
  ASSERT_FALSE(HasFailure());
  std::this_thread::sleep_for(3s);  // several health rounds of the new reconciler
  EXPECT_EQ(::kill(qemu_pid, 0), 0);
  EXPECT_EQ(std::stoi(ReadFile(vm + "/qemu.pid")), qemu_pid);
  const std::string console = ReadFile(vm + "/serial.log");
  size_t boots = 0;
  for (size_t at = 0; (at = console.find("gateway listening", at)) != std::string::npos; ++at) {
    ++boots;
  }
  EXPECT_EQ(boots, 1u) << console;
  EXPECT_EQ(ObservedState(), "VM_STATE_RUNNING");

  // Delete: the VM ends and its directory and disk are gone.
  auto del =
      Post("/v1/accounts/" + account_ + "/instances/ins_vm/delete", R"({"command_id":"rm"})");
  ASSERT_EQ(del.status, 200) << del.body;
  ASSERT_TRUE(WaitFor([&] { return VmDir().empty(); }, 60s));
  EXPECT_TRUE(WaitFor([&] { return ::kill(qemu_pid, 0) != 0; }, 10s));
  ASSERT_EQ(serve_->Stop(), 0);

  // No host log, and no event, holds the canary; the events record the VM's life.
  for (int i = 1; i <= starts_; ++i) {
    const std::string log = ReadFile(dir_.path() / ("serve-" + std::to_string(i) + ".log"));
    EXPECT_EQ(log.find(canary), std::string::npos) << "serve-" << i << ".log";
    EXPECT_EQ(log.find(token), std::string::npos) << "serve-" << i << ".log";
  }
  auto dump = RunClawvisor({"events", "dump", "--data-dir", (dir_.path() / "data").string()});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(dump.out.find(canary), std::string::npos);
  EXPECT_NE(dump.out.find("instance_started"), std::string::npos);
  EXPECT_NE(dump.out.find("instance_deleted"), std::string::npos);
}

}  // namespace
}  // namespace clawvisor
