// The real OpenClaw in a microVM, through the engine (#15): `clawvisor serve --vms` with the
// production image (ops/guest/build-openclaw.sh) registered under two names, one instance booted
// on the first (TCG when KVM does not work: many minutes), seen RUNNING once the gateway's
// /readyz answers, reached through the HTTPS front door with its gateway token (401 without),
// a webhook delivered to OpenClaw's own /hooks, a canary model key in the gateway's environment
// inside the guest (read from the guest's memory) and nowhere on the host, then upgraded to the
// second name with its data disk kept (the disk's boot history and OpenClaw's state survive).

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/files.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::JsonStringMember;
using testing::ReadFile;
using testing::Shell;

// A boot of the real gateway under TCG on a loaded 2-core host takes many minutes.
constexpr auto kBootLimit = 40min;

class OpenClawE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = Shell(testing::SourceDir() + "/ops/guest/build-openclaw.sh 2>&1 | tail -1");
    ASSERT_TRUE(fs::exists(image_ + "/image.conf")) << image_;
    vm_dir_ = "/tmp/cvoc-" + std::to_string(::getpid());
    serve_ = std::make_unique<testing::ServeProcess>(
        dir_.path() / "data", dir_.path() / "serve.log",
        std::vector<std::string>{"--vms", "--host", "host-1", "--vm-dir", vm_dir_, "--guest-images",
                                 "oc-a=" + image_ + ",oc-b=" + image_, "--default-guest-image",
                                 "oc-a", "--front-door-listen", "127.0.0.1:0"});
    serve_->Start(120s);
    ASSERT_FALSE(HasFailure());
    front_port_ = testing::WaitForFrontDoorPort(*serve_, 60s);
    ASSERT_NE(front_port_, 0) << ReadFile(serve_->log_file());
    cert_ = (dir_.path() / "data" / "front-door" / "tls" / "certificate.pem").string();
  }
  void TearDown() override {
    if (serve_) serve_->Kill();
    testing::RemoveVmDir(vm_dir_);
    fs::remove(memory_dump_);
  }

  HttpResponse Post(const std::string& target, const std::string& body) {
    return HttpRequest(serve_->port(), "POST", target, body);
  }
  std::string Instance(const std::string& field) {
    return JsonStringMember(
        HttpRequest(serve_->port(), "GET", "/v1/accounts/" + account_ + "/instances/ins_oc").body,
        field);
  }
  // An HTTPS request to the front door with curl: {status, body}.
  std::pair<int, std::string> Door(const std::string& path,
                                   const std::vector<std::string>& headers = {},
                                   const std::string& method = "GET",
                                   const std::string& body = "") {
    const std::string out = (dir_.path() / "curl.out").string();
    fs::remove(out);
    std::string cmd = "curl -s -o " + out + " -w '%{http_code}' -X " + method + " --cacert " +
                      cert_ + " --max-time 60 'https://127.0.0.1:" + std::to_string(front_port_) +
                      path + "'";
    for (const auto& h : headers) cmd += " -H '" + h + "'";
    if (!body.empty()) cmd += " --data '" + body + "'";
    const std::string code = Shell(cmd + " 2>/dev/null");
    return {code.empty() ? 0 : std::atoi(code.c_str()), ReadFile(out)};
  }
  static std::string Tail(const std::string& text, size_t bytes) {
    return text.size() <= bytes ? text : text.substr(text.size() - bytes);
  }
  bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(1s);
    }
    return false;
  }
  bool WaitForRunningOn(const std::string& image) {
    return WaitFor(
        [&] {
          return Instance("observed_state") == "VM_STATE_RUNNING" &&
                 Instance("running_image") == image;
        },
        kBootLimit);
  }
  std::string VmDir() {
    if (!fs::exists(vm_dir_)) return "";
    for (const auto& e : fs::directory_iterator(vm_dir_)) {
      if (e.is_directory()) return e.path().string();
    }
    return "";
  }
  // One QMP command (a Python literal) to the VM's QEMU on a connection of its own, so the
  // reconciler's calls wait only as long as it runs; what QEMU answered, printed.
  std::string QmpCall(const std::string& command) {
    return Shell("python3 - '" + VmDir() + "/qmp.sock" +
                 "' <<'EOF' 2>&1\n"
                 "import json, socket, sys, time\n"
                 "for attempt in range(50):\n"
                 "    try:\n"
                 "        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); break\n"
                 "    except OSError:\n"
                 "        time.sleep(0.2)\n"
                 "f = s.makefile('rw')\n"
                 "def call(c):\n"
                 "    f.write(json.dumps(c) + '\\n'); f.flush()\n"
                 "    while True:\n"
                 "        r = json.loads(f.readline())\n"
                 "        if 'return' in r or 'error' in r: return r\n"
                 "f.readline()\n"
                 "call({'execute': 'qmp_capabilities'})\n"
                 "print(call(" +
                 command +
                 "))\n"
                 "EOF");
  }
  // The running instance's data disk as its guest sees it, copied out through its QEMU (QMP: a
  // read-only NBD export of the decrypted block node, read by qemu-img): the host's file is
  // encrypted, and only the VM's QEMU holds the key. "" if that failed.
  std::string PlainDataDisk() {
    const std::string nbd = VmDir() + "/peek.sock";
    const std::string out = (dir_.path() / "plain-disk.img").string();
    fs::remove(out);
    const std::string started = QmpCall(
        "{'execute': 'nbd-server-start', 'arguments': {'addr': {'type': 'unix', 'data': "
        "{'path': '" +
        nbd + "'}}}}");
    EXPECT_NE(started.find("'return'"), std::string::npos) << started;
    const std::string exported = QmpCall(
        "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', 'id': 'peek', "
        "'node-name': 'data', 'writable': False}}");
    EXPECT_NE(exported.find("'return'"), std::string::npos) << exported;
    const std::string copied = Shell("qemu-img convert -f raw 'nbd+unix:///data?socket=" + nbd +
                                     "' -O raw " + out + " 2>&1; echo rc=$?");
    EXPECT_NE(copied.find("rc=0"), std::string::npos) << copied;
    (void)QmpCall("{'execute': 'block-export-del', 'arguments': {'id': 'peek'}}");
    (void)QmpCall("{'execute': 'nbd-server-stop'}");
    return fs::exists(out) ? out : "";
  }
  // A file on that copy of the data disk, read with debugfs.
  static std::string DiskFile(const std::string& disk, const std::string& path) {
    return Shell("debugfs -c -R 'cat " + path + "' " + disk + " 2>/dev/null");
  }
  // The guest's RAM (QMP dump-guest-memory) searched for `needle`: how many times it occurs.
  int InGuestMemory(const std::string& needle) {
    memory_dump_ = dir_.path() / "guest-memory.elf";
    const std::string dumped = QmpCall(
        "{'execute': 'dump-guest-memory', 'arguments': {'paging': False, 'protocol': "
        "'file:" +
        memory_dump_.string() + "'}}");
    EXPECT_NE(dumped.find("'return'"), std::string::npos) << dumped;
    const std::string count =
        Shell("grep -a -o -F '" + needle + "' " + memory_dump_.string() + " | wc -l");
    fs::remove(memory_dump_);
    return std::atoi(count.c_str());
  }

  testing::TempDir dir_;
  std::string image_, vm_dir_, cert_, account_;
  fs::path memory_dump_;
  uint16_t front_port_ = 0;
  std::unique_ptr<testing::ServeProcess> serve_;
};

TEST_F(OpenClawE2eTest, BootsReachesAndUpgradesTheRealGateway) {
  const std::string canary = "sk-canary-openclaw-" + std::to_string(::getpid()) + "Qx7";
  auto reg = Post(
      "/v1/accounts",
      R"({"command_id":"reg","register_account":{"email":"o@example.com","plan":"PLAN_STANDARD"}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  account_ = JsonStringMember(reg.body, "account_id");
  const std::string base = "/v1/accounts/" + account_ + "/instances";
  auto created = Post(
      base,
      R"({"command_id":"mk","create_instance":{"instance_id":"ins_oc","name":"agent","spec":{"vcpus":2,"memory_mib":2048,"disk_mib":1024}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string token = JsonStringMember(created.body, "gateway_token");
  // The instance records the default image and the OpenClaw version it runs.
  EXPECT_EQ(Instance("image"), "oc-a");
  EXPECT_EQ(Instance("openclaw_version"), "2026.9.6");
  auto cred = Post(
      base + "/ins_oc/credentials",
      R"({"command_id":"cred","set_credential":{"name":"openai","kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":")" +
          canary + R"("}})");
  ASSERT_EQ(cred.status, 200) << cred.body;
  ASSERT_EQ(Post(base + "/ins_oc/start", R"({"command_id":"go"})").status, 200);

  ASSERT_TRUE(WaitForRunningOn("oc-a")) << Instance("observed_state") << "\n"
                                        << ReadFile(serve_->log_file()) << "\n"
                                        << ReadFile(VmDir() + "/serial.log");
  const std::string vm = VmDir();
  const int qemu_pid = std::stoi(ReadFile(vm + "/qemu.pid"));
  const auto vm_port = static_cast<uint16_t>(std::stoi(ReadFile(vm + "/port")));

  // Through the front door: the gateway's own /healthz with the token, 401 without.
  const std::string root = "/instances/" + Instance("console_id");
  ASSERT_TRUE(WaitFor(
      [&] { return Door(root + "/healthz", {"Authorization: Bearer " + token}).first == 200; },
      60s));
  auto health = Door(root + "/healthz", {"Authorization: Bearer " + token});
  EXPECT_NE(health.second.find(R"("ok":true)"), std::string::npos) << health.second;
  EXPECT_EQ(Door(root + "/healthz").first, 401);
  EXPECT_EQ(Door(root + "/healthz", {"Authorization: Bearer not-the-token"}).first, 401);
  // OpenClaw's own authentication behind it: its tools API takes the gateway token only.
  const std::string invoke = R"({"tool":"sessions_list","args":{}})";
  EXPECT_EQ(HttpRequest(vm_port, "POST", "/tools/invoke", invoke).status, 401);
  EXPECT_EQ(HttpRequest(vm_port, "POST", "/tools/invoke", invoke, "application/json",
                        {{"Authorization", "Bearer " + token}})
                .status,
            200);

  // A webhook path reaches OpenClaw's /hooks with the derived hooks token (the gateway token is
  // not valid there).
  auto hook = Post(base + "/ins_oc/rotate-webhook-path", R"({"command_id":"hook"})");
  ASSERT_EQ(hook.status, 200) << hook.body;
  const std::string hook_path = JsonStringMember(hook.body, "webhook_path");
  std::pair<int, std::string> woken;
  ASSERT_TRUE(WaitFor(
      [&] {
        woken = Door(hook_path + "wake", {"Content-Type: application/json"}, "POST",
                     R"({"text":"hello from the front door"})");
        return woken.first == 200;
      },
      60s))
      << woken.first << " " << woken.second << "\n"
      << Tail(ReadFile(serve_->log_file()), 3000) << "\n"
      << Tail(ReadFile(vm + "/serial.log"), 3000);
  EXPECT_NE(woken.second.find(R"("ok":true)"), std::string::npos) << woken.second;
  EXPECT_EQ(HttpRequest(vm_port, "POST", "/hooks/wake", R"({"text":"x"})", "application/json",
                        {{"Authorization", "Bearer " + token}})
                .status,
            401);

  // The canary is in the gateway's environment inside the guest (as the launcher exec'd it)...
  EXPECT_GT(InGuestMemory("OPENAI_API_KEY=" + canary), 0);
  // ...and not in QEMU's arguments or environment, nor on the console.
  for (const std::string& secret : {canary, token}) {
    EXPECT_EQ(ReadFile("/proc/" + std::to_string(qemu_pid) + "/cmdline").find(secret),
              std::string::npos);
    EXPECT_EQ(ReadFile("/proc/" + std::to_string(qemu_pid) + "/environ").find(secret),
              std::string::npos);
    EXPECT_EQ(ReadFile(vm + "/serial.log").find(secret), std::string::npos);
  }
  const std::string first_boots = DiskFile(PlainDataDisk(), "/.clawvisor/boots");
  ASSERT_NE(first_boots.find("openclaw 2026.9.6"), std::string::npos) << first_boots;
  const std::string first_boot = first_boots.substr(0, first_boots.find('\n'));

  // Upgrade: an unregistered image is refused; a registered one reboots the VM onto it with
  // its data disk kept.
  auto unknown = Post(base + "/ins_oc/upgrade",
                      R"({"command_id":"up-x","upgrade_instance":{"image":"oc-nope"}})");
  EXPECT_GE(unknown.status, 400) << unknown.body;
  auto upgraded =
      Post(base + "/ins_oc/upgrade", R"({"command_id":"up","upgrade_instance":{"image":"oc-b"}})");
  ASSERT_EQ(upgraded.status, 200) << upgraded.body;
  EXPECT_EQ(Instance("image"), "oc-b");
  ASSERT_TRUE(WaitForRunningOn("oc-b")) << Instance("observed_state") << "\n"
                                        << ReadFile(serve_->log_file()) << "\n"
                                        << ReadFile(VmDir() + "/serial.log");
  EXPECT_NE(std::stoi(ReadFile(vm + "/qemu.pid")), qemu_pid);  // a new boot
  ASSERT_TRUE(WaitFor(
      [&] { return Door(root + "/healthz", {"Authorization: Bearer " + token}).first == 200; },
      60s));

  // The first boot's line and OpenClaw's state are still on the disk the upgrade kept (as the
  // guest sees it), and no secret is in the host's file (encrypted), stopped.
  const std::string plain = PlainDataDisk();
  const std::string boots = DiskFile(plain, "/.clawvisor/boots");
  EXPECT_EQ(boots.rfind(first_boot, 0), 0u) << boots;
  // One line per boot, each naming the image's OpenClaw (the second one: the upgrade's boot).
  size_t lines = 0;
  for (size_t at = boots.find("openclaw 2026.9.6"); at != std::string::npos;
       at = boots.find("openclaw 2026.9.6", at + 1)) {
    ++lines;
  }
  EXPECT_GE(lines, 2u) << boots;
  EXPECT_NE(Shell("debugfs -c -R 'ls -l /.openclaw/state' " + plain + " 2>/dev/null")
                .find("openclaw.sqlite"),
            std::string::npos);
  fs::remove(plain);
  ASSERT_EQ(Post(base + "/ins_oc/stop", R"({"command_id":"stop"})").status, 200);
  ASSERT_TRUE(WaitFor([&] { return Instance("observed_state") == "VM_STATE_STOPPED"; }, 120s));
  for (const std::string& secret : {canary, token}) {
    EXPECT_EQ(Shell("grep -a -c -F '" + secret + "' " + vm + "/disk.img"), "0");
  }
  ASSERT_EQ(serve_->Stop(), 0);

  // No host log, file of serve's data directory or event holds the canary in plaintext.
  EXPECT_EQ(ReadFile(serve_->log_file()).find(canary), std::string::npos);
  EXPECT_EQ(ReadFile(serve_->log_file()).find(token), std::string::npos);
  EXPECT_EQ(Shell("grep -r -a -l -F '" + canary + "' " + (dir_.path() / "data").string() + " " +
                  vm_dir_ + " | wc -l"),
            "0");
  auto dump =
      testing::RunClawvisor({"events", "dump", "--data-dir", (dir_.path() / "data").string()});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(dump.out.find(canary), std::string::npos);
  EXPECT_NE(dump.out.find("instance_upgrade_requested"), std::string::npos);
  EXPECT_NE(dump.out.find("oc-b"), std::string::npos);
}

}  // namespace
}  // namespace clawvisor
