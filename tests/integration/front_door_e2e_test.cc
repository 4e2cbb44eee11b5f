// The front door end to end (design D9, #14): `clawvisor serve --vms` with its HTTPS front door
// (the self-signed certificate it makes), a real microVM behind it, and real clients (curl and
// openssl s_client, as a browser or OpenClaw's CLI would connect). Nothing unauthenticated
// reaches the guest (the guest counts what it sees); the gateway token, a member's session and
// a browser cookie from a single-use console link get in; another instance's token and a
// non-member do not; a WebSocket round-trips; a webhook path the owner opens reaches the gateway
// until it is replaced or closed; an idle-paused VM is woken by a request; the audit trail records
// the console's opening, the webhook paths and the instance's activity, and no secret.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
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

const std::string kWebToken = "web-token-front-door-0123456789abcdef";
const std::string kPassword = "tangerine velvet orbit 42";

struct CurlReply {
  int status = 0;
  std::string headers;  // as received
  std::string lower;    // the same, lower-cased, to search
  std::string body;
};

class FrontDoorE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    guest_ = Shell(testing::SourceDir() + "/ops/guest/build.sh 2>&1 | tail -1");
    ASSERT_TRUE(fs::exists(guest_ + "/initramfs.cpio.gz")) << guest_;
    vm_dir_ = "/tmp/cvfd-" + std::to_string(::getpid());
    const std::string tokens = (dir_.path() / "service-tokens").string();
    {
      std::ofstream out(tokens);
      out << "web web-1 " << kWebToken << "\n";
    }
    fs::permissions(tokens, fs::perms::owner_read | fs::perms::owner_write);
    serve_ = std::make_unique<testing::ServeProcess>(
        dir_.path() / "data", dir_.path() / "serve.log",
        std::vector<std::string>{"--service-tokens-file", tokens, "--vms", "--host", "host-1",
                                 "--vm-dir", vm_dir_, "--guest-dir", guest_, "--health-interval-ms",
                                 "500", "--boot-grace-ms", "20000", "--idle-pause-min", "1",
                                 "--front-door-listen", "127.0.0.1:0"});
    serve_->Start(120s);
    ASSERT_FALSE(HasFailure());
    front_port_ = testing::WaitForFrontDoorPort(*serve_, 60s);
    ASSERT_NE(front_port_, 0) << ReadFile(serve_->log_file());
    cert_ = (dir_.path() / "data" / "front-door" / "tls" / "certificate.pem").string();
    ASSERT_TRUE(fs::exists(cert_));
  }
  void TearDown() override {
    if (serve_) serve_->Kill();
    testing::RemoveVmDir(vm_dir_);
  }

  HttpResponse Api(const std::string& method, const std::string& target, const std::string& body,
                   const std::string& session = "") {
    std::map<std::string, std::string> headers = {{"Authorization", "Bearer " + kWebToken}};
    if (!session.empty()) {
      headers["X-Clawvisor-Session"] = session;
      headers["X-Clawvisor-Client-Ip"] = "203.0.113.9";
    }
    return HttpRequest(serve_->port(), method, target, body, "application/json", headers);
  }
  // Registers an account with a password and signs its owner in: {account, session token}.
  std::pair<std::string, std::string> Owner(const std::string& tag) {
    const std::string email = tag + "@example.com";
    auto reg = Api("POST", "/v1/accounts",
                   R"({"command_id":"r-)" + tag + R"(","register_account":{"email":")" + email +
                       R"(","password":")" + kPassword + R"(","plan":"PLAN_STANDARD"}})");
    EXPECT_EQ(reg.status, 201) << reg.body;
    auto login = Api("POST", "/v1/sessions",
                     R"({"command_id":"l-)" + tag + R"(","login":{"email":")" + email +
                         R"(","password":")" + kPassword + R"("}})");
    EXPECT_EQ(login.status, 200) << login.body;
    return {JsonStringMember(reg.body, "account_id"),
            JsonStringMember(login.body, "session_token")};
  }

  // An HTTPS request to the front door with curl, checking the front door's certificate.
  CurlReply Door(const std::string& path, const std::vector<std::string>& headers = {},
                 const std::string& method = "GET") {
    const std::string out = (dir_.path() / "curl.out").string();
    std::string cmd = "curl -s -o " + out + " -D - -X " + method + " --cacert " + cert_ +
                      " --max-time 60 'https://127.0.0.1:" + std::to_string(front_port_) + path +
                      "'";
    for (const auto& h : headers) cmd += " -H '" + h + "'";
    CurlReply reply;
    reply.headers = Shell(cmd + " 2>&1");
    reply.lower = reply.headers;
    std::transform(reply.lower.begin(), reply.lower.end(), reply.lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    std::smatch m;
    if (std::regex_search(reply.lower, m, std::regex(R"(http/1\.1 (\d{3}))"))) {
      reply.status = std::stoi(m[1]);
    }
    reply.body = ReadFile(out);
    return reply;
  }
  // How many requests the guest has seen (this one included), asked on the VM's own port.
  int GuestSeen(uint16_t vm_port, const std::string& token) {
    auto r =
        HttpRequest(vm_port, "GET", "/v1/seen", "", "", {{"Authorization", "Bearer " + token}});
    std::smatch m;
    if (!std::regex_search(r.body, m, std::regex(R"("seen":\s*(\d+))"))) return -1;
    return std::stoi(m[1]);
  }
  std::string Instance(const std::string& account, const std::string& field) {
    return JsonStringMember(
        Api("GET", "/v1/accounts/" + account + "/instances/ins_fd", "", owner_session_).body,
        field);
  }
  bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(250ms);
    }
    return false;
  }
  std::string VmDir() {
    if (!fs::exists(vm_dir_)) return "";
    for (const auto& e : fs::directory_iterator(vm_dir_)) {
      if (e.is_directory()) return e.path().string();
    }
    return "";
  }

  testing::TempDir dir_;
  std::string guest_, vm_dir_, cert_;
  uint16_t front_port_ = 0;
  std::string owner_session_;  // the reads' caller
  std::unique_ptr<testing::ServeProcess> serve_;
};

TEST_F(FrontDoorE2eTest, OnlyTheInstancesOwnCallersReachItsGateway) {
  const auto [account, session] = Owner("owner");
  const auto [other_account, other_session] = Owner("stranger");
  owner_session_ = session;
  const std::string base = "/v1/accounts/" + account + "/instances";
  auto created = Api(
      "POST", base,
      R"({"command_id":"mk","create_instance":{"instance_id":"ins_fd","name":"bot","spec":{"memory_mib":256,"disk_mib":64}}})",
      session);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string token = JsonStringMember(created.body, "gateway_token");
  auto other =
      Api("POST", base,
          R"({"command_id":"mk2","create_instance":{"instance_id":"ins_other","name":"other"}})",
          session);
  ASSERT_EQ(other.status, 201) << other.body;
  const std::string other_token = JsonStringMember(other.body, "gateway_token");
  ASSERT_EQ(Api("POST", base + "/ins_fd/start", R"({"command_id":"go"})", session).status, 200);
  ASSERT_TRUE(
      WaitFor([&] { return Instance(account, "observed_state") == "VM_STATE_RUNNING"; }, 150s))
      << ReadFile(serve_->log_file());
  const std::string console_id = Instance(account, "console_id");
  ASSERT_FALSE(console_id.empty());
  const std::string root = "/instances/" + console_id;
  const auto vm_port = static_cast<uint16_t>(std::stoi(ReadFile(VmDir() + "/port")));
  // The front door learns the instance is ready from the reconciler's next round.
  ASSERT_TRUE(WaitFor(
      [&] { return Door(root + "/", {"Authorization: Bearer " + token}).status == 200; }, 30s));

  // No credential, a wrong one, another instance's token: refused, and the guest saw nothing.
  const int seen = GuestSeen(vm_port, token);
  EXPECT_EQ(Door(root + "/").status, 401);
  EXPECT_EQ(Door(root + "/v1/credentials/x", {"Authorization: Bearer not-the-token"}).status, 401);
  EXPECT_EQ(Door(root + "/", {"Authorization: Bearer " + other_token}).status, 401);
  EXPECT_EQ(Door(root + "/?token=" + other_token).status, 401);
  EXPECT_EQ(Door("/instances/00000000-0000-7000-8000-000000000000/").status, 401);
  EXPECT_EQ(GuestSeen(vm_port, token), seen + 1);  // only the count's own request

  // The gateway token (header, or query for a browser's WebSocket), and a member's session.
  auto by_token = Door(root + "/", {"Authorization: Bearer " + token});
  EXPECT_EQ(by_token.status, 200);
  EXPECT_NE(by_token.body.find("clawvisor-test-guest"), std::string::npos) << by_token.body;
  EXPECT_NE(by_token.lower.find("strict-transport-security"), std::string::npos);
  EXPECT_NE(by_token.lower.find("x-content-type-options: nosniff"), std::string::npos);
  EXPECT_EQ(Door(root + "/?token=" + token).status, 200);
  EXPECT_EQ(Door(root + "/", {"Authorization: Bearer " + session}).status, 200);
  EXPECT_EQ(Door(root + "/", {"Authorization: Bearer " + other_session}).status, 403);

  // A browser: a single-use link, exchanged once for a cookie scoped to this instance.
  auto link = Api("POST", base + "/ins_fd/console-link", R"({"command_id":"link-1"})", session);
  ASSERT_EQ(link.status, 200) << link.body;
  const std::string link_token = JsonStringMember(link.body, "console_link");
  ASSERT_EQ(link_token.size(), 43u) << link.body;
  auto exchanged =
      Door(root + "/_clawvisor/session?link=" + link_token, {"User-Agent: Firefox/140"});
  EXPECT_EQ(exchanged.status, 303) << exchanged.headers << exchanged.body;
  std::smatch cookie;
  ASSERT_TRUE(
      std::regex_search(exchanged.headers, cookie,
                        std::regex(R"([Ss]et-[Cc]ookie: ([^=]+)=([A-Za-z0-9_-]+);([^\r\n]*))")))
      << exchanged.headers;
  std::string attributes = cookie[3];
  std::transform(attributes.begin(), attributes.end(), attributes.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  EXPECT_NE(attributes.find("httponly"), std::string::npos);
  EXPECT_NE(attributes.find("secure"), std::string::npos);
  EXPECT_NE(attributes.find("samesite=strict"), std::string::npos);
  const std::string jar = "Cookie: " + std::string(cookie[1]) + "=" + std::string(cookie[2]);
  auto browser = Door(root + "/", {jar});
  EXPECT_EQ(browser.status, 200) << browser.headers << browser.body;
  EXPECT_EQ(Door(root + "/_clawvisor/session?link=" + link_token).status, 403);  // spent
  // A state-changing request with the cookie needs the instance's own origin (CSRF).
  EXPECT_EQ(Door(root + "/", {jar}, "POST").status, 403);

  // A WebSocket (the gateway's RPC) round-trips through the door.
  const std::string ws = Shell(
      "printf 'GET " + root +
      "/v1/ws HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n"
      "Authorization: Bearer " +
      token + "\\r\\n\\r\\nping-through-the-door' | timeout 20 openssl s_client -quiet -CAfile " +
      cert_ + " -connect 127.0.0.1:" + std::to_string(front_port_) + " 2>/dev/null");
  EXPECT_NE(ws.find("101"), std::string::npos) << ws;
  EXPECT_NE(ws.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << ws;
  EXPECT_NE(ws.find("ping-through-the-door"), std::string::npos) << ws;

  // A webhook path, opened by the owner: a sender with no credential reaches the gateway's
  // /hooks/... (which gets the gateway token); the owner replaces it (the old one is 404 and
  // reaches nothing) and closes it.
  auto hook =
      Api("POST", base + "/ins_fd/rotate-webhook-path", R"({"command_id":"hook-1"})", session);
  ASSERT_EQ(hook.status, 200) << hook.body;
  const std::string hook_path = JsonStringMember(hook.body, "webhook_path");
  ASSERT_EQ(hook_path.size(), std::string("/hooks//").size() + 43) << hook.body;
  EXPECT_NE(hook.body.find("webhook_path_rotated"), std::string::npos) << hook.body;
  // The front door learns of it from the reconciler, which reads the event.
  ASSERT_TRUE(WaitFor([&] { return Door(hook_path + "telegram", {}, "POST").status == 200; }, 30s));
  auto delivered = Door(hook_path + "telegram", {"Content-Type: application/json"}, "POST");
  EXPECT_EQ(delivered.status, 200);
  EXPECT_NE(delivered.body.find(R"("hook":"/hooks/telegram","method":"POST")"), std::string::npos)
      << delivered.body;
  EXPECT_FALSE(Instance(account, "webhook_id").empty());
  // The guest's webhook ingress takes the hooks token the front door sent, not the gateway token.
  EXPECT_EQ(HttpRequest(vm_port, "POST", "/hooks/telegram", "", "",
                        {{"Authorization", "Bearer " + token}})
                .status,
            401);
  auto stranger_rotate = Api("POST", base + "/ins_fd/rotate-webhook-path",
                             R"({"command_id":"hook-x"})", other_session);
  EXPECT_EQ(stranger_rotate.status, 403) << stranger_rotate.body;
  auto rotated =
      Api("POST", base + "/ins_fd/rotate-webhook-path", R"({"command_id":"hook-2"})", session);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string new_hook_path = JsonStringMember(rotated.body, "webhook_path");
  ASSERT_NE(new_hook_path, hook_path);
  ASSERT_TRUE(WaitFor([&] { return Door(new_hook_path + "x", {}, "POST").status == 200; }, 30s));
  int before_old = GuestSeen(vm_port, token);
  EXPECT_EQ(Door(hook_path + "telegram", {}, "POST").status, 404);
  EXPECT_EQ(GuestSeen(vm_port, token), before_old + 1);  // the old path reached nothing
  ASSERT_EQ(
      Api("POST", base + "/ins_fd/disable-webhook-path", R"({"command_id":"hook-off"})", session)
          .status,
      200);
  ASSERT_TRUE(WaitFor([&] { return Door(new_hook_path + "x", {}, "POST").status == 404; }, 30s));
  EXPECT_TRUE(Instance(account, "webhook_id").empty());

  // Idle for the idle time (a minute here): paused; a request wakes it and is answered.
  ASSERT_TRUE(WaitFor([&] { return Instance(account, "desired_state") == "paused"; }, 200s))
      << Instance(account, "desired_state");
  ASSERT_TRUE(
      WaitFor([&] { return Instance(account, "observed_state") == "VM_STATE_PAUSED"; }, 30s));
  auto woken = Door(root + "/", {"Authorization: Bearer " + token});
  EXPECT_EQ(woken.status, 200) << woken.headers << woken.body;
  EXPECT_EQ(Instance(account, "desired_state"), "running");

  // The audit trail: the console's opening (who, from where) and the activity; no secret.
  ASSERT_EQ(serve_->Stop(), 0);
  auto dump = testing::RunClawvisor(
      {"events", "dump", "--data-dir", (dir_.path() / "data").string(), "--account", account});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.out.find("console_session_opened"), std::string::npos);
  EXPECT_NE(dump.out.find("Firefox/140"), std::string::npos);
  EXPECT_NE(dump.out.find("instance_activity_observed"), std::string::npos);
  EXPECT_NE(dump.out.find("webhook_path_rotated"), std::string::npos);
  EXPECT_NE(dump.out.find("webhook_path_disabled"), std::string::npos);
  const std::string hook_token = hook_path.substr(7, 43);
  const std::string new_hook_token = new_hook_path.substr(7, 43);
  for (const std::string& secret :
       {token, other_token, session, link_token, hook_token, new_hook_token}) {
    EXPECT_EQ(dump.out.find(secret), std::string::npos);
    EXPECT_EQ(ReadFile(serve_->log_file()).find(secret), std::string::npos);
  }
  // Nothing of the other account's owner opened this console.
  EXPECT_EQ(dump.out.find(other_account), std::string::npos);
}

}  // namespace
}  // namespace clawvisor
