// The instance network on real microVMs (design D9): QEMU carries the guest's frames to its
// `clawvisor vm-network` helper (the real binary), whose only way out is the egress gateway
// running in this test; "the internet" is a real TLS server on a random loopback address that
// the gateway is told to treat as public. The guest is the test image, making HTTPS requests
// with OpenSSL's s_client from inside the VM.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "adapters/egress/egress_gateway.h"
#include "adapters/qemu/qemu_microvm_driver.h"
#include "engine/reconcile/guest_config.h"
#include "tests/adapters/egress/tls_origin.h"
#include "tests/support/files.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using egress::EgressGateway;
using egress::EgressPolicy;
using egress::IpAddress;
using testing::Shell;

std::string HttpGet(uint16_t port, const std::string& path, const std::string& token) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{40, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.0\r\nAuthorization: Bearer " + token + "\r\n\r\n";
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[1024];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

double Metric(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

class EgressMicroVmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    guest_dir_ =
        new std::string(Shell(testing::SourceDir() + "/ops/guest/build.sh 2>&1 | tail -1"));
  }
  static void TearDownTestSuite() { delete guest_dir_; }

  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    ASSERT_TRUE(fs::exists(*guest_dir_ + "/initramfs.cpio.gz")) << "guest build: " << *guest_dir_;
    dir_ = "/tmp/cveg-" + std::to_string(::getpid());
    fs::create_directories(dir_);
    internet_ = testing::RandomLoopbackAddress();
    origin_ = std::make_unique<testing::TlsOrigin>(internet_, dir_ + "/origin");

    egress::EgressGatewayOptions gateway;
    gateway.socket_path = dir_ + "/egress.sock";
    gateway.treat_as_public = {*egress::Cidr::Parse(internet_)};
    gateway.static_hosts = {
        {"api.example.test", {*IpAddress::Parse(internet_)}},
        {"metadata.example.test", {*IpAddress::Parse("169.254.169.254")}},
        {"self.example.test", {*IpAddress::Parse("127.0.0.1")}},
    };
    gateway.upstream_port = origin_->port();
    auto started = EgressGateway::Start(
        gateway, metrics_, [](const VmKey&) { return std::optional<EgressPolicy>(EgressPolicy{}); },
        clock_, traffic_);
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    gateway_ = std::move(*started);

    qemu::QemuOptions q;
    q.vm_dir = dir_ + "/vms";
    q.kernel = *guest_dir_ + "/kernel";
    q.initrd = *guest_dir_ + "/initramfs.cpio.gz";
    q.network_helper = testing::BuildDir() + "/adapters/cli/clawvisor";
    q.egress_socket = gateway.socket_path;
    auto driver = qemu::QemuMicrovmDriver::Open(q);
    ASSERT_TRUE(driver.has_value()) << driver.error().ToString();
    driver_ = std::move(*driver);
  }

  void TearDown() override {
    if (driver_) {
      if (auto vms = driver_->List(); vms) {
        for (const auto& vm : *vms) (void)driver_->Destroy(vm.key);
      }
    }
    gateway_.reset();
    origin_.reset();
    fs::remove_all(dir_);
  }

  // Boots a VM and waits until its gateway answers through the helper's forwarded port.
  void Boot(const VmKey& key) {
    VmSpec spec{key, 1, 1, 256, 64ull << 20, {}};
    const std::string volume_key = "volume-key-of-" + key.instance_id;
    ASSERT_TRUE(driver_->Create(spec, volume_key).has_value());
    InstanceSecretValues secrets;
    secrets.gateway_token = Token(key);
    ASSERT_TRUE(driver_
                    ->Start(spec,
                            GuestConfigJson({key.account_id, key.instance_id, 1, "h"}, secrets),
                            volume_key)
                    .has_value());
    WaitHealthy(key);
  }
  void WaitHealthy(const VmKey& key) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (!driver_->CheckHealth(key, HealthProbe{}).healthy) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "not healthy: " << testing::ReadFile(driver_->DirOf(key) + "/network.log")
          << testing::ReadFile(driver_->DirOf(key) + "/serial.log");
      std::this_thread::sleep_for(200ms);
    }
  }
  static std::string Token(const VmKey& key) {
    return "token-" + key.instance_id + "-0123456789abcdef";
  }
  // An HTTPS request made inside the guest; the body the guest received, or "" (refused).
  std::string GuestHttps(const VmKey& key, const std::string& query) {
    const std::string reply = HttpGet(driver_->PortOf(key), "/v1/https?" + query, Token(key));
    const size_t at = reply.find("{\"body\":\"");
    if (at == std::string::npos) return "<no answer: " + reply + ">";
    return reply.substr(at + 9, reply.find('"', at + 9) - at - 9);
  }
  bool GuestReaches(const VmKey& key, const std::string& address) {
    return HttpGet(driver_->PortOf(key), "/v1/connect?addr=" + address, Token(key))
               .find("\"reachable\":true") != std::string::npos;
  }
  double Refused(const VmKey& key, const std::string& reason) {
    return Metric("\n" + metrics_.RenderPrometheus(), "clawvisor_egress_refused_total{instance=\"" +
                                                          key.ToString() + "\",reason=\"" + reason +
                                                          "\"}");
  }
  double Tunnels(const VmKey& key) {
    return Metric("\n" + metrics_.RenderPrometheus(),
                  "clawvisor_egress_connections_total{instance=\"" + key.ToString() +
                      "\",destination=\"*\"}");
  }

  static std::string* guest_dir_;
  std::string dir_;
  std::string internet_;
  std::unique_ptr<testing::TlsOrigin> origin_;
  MetricsRegistry metrics_;
  SystemClock clock_;
  InstanceTraffic traffic_;
  std::unique_ptr<EgressGateway> gateway_;
  std::unique_ptr<qemu::QemuMicrovmDriver> driver_;
};
std::string* EgressMicroVmTest::guest_dir_ = nullptr;

// Two VMs serve every check: what passes, what does not, attribution, isolation, and a network
// helper that dies and is started again.
TEST_F(EgressMicroVmTest, TheGatewayIsTheGuestsOnlyWayOut) {
  const VmKey a{"acc-eg", "ins-a"};
  const VmKey b{"acc-eg", "ins-b"};
  Boot(a);
  Boot(b);

  // HTTPS through the proxy port (what Node's NODE_USE_ENV_PROXY does) and as raw TLS by SNI.
  EXPECT_EQ(GuestHttps(a, "via=proxy&host=api.example.test"), "hello api.example.test");
  EXPECT_EQ(GuestHttps(a, "via=tls&host=api.example.test"), "hello api.example.test");
  EXPECT_EQ(Tunnels(a), 2);
  EXPECT_EQ(origin_->accepted(), 2);
  // Another instance's traffic is its own.
  EXPECT_EQ(GuestHttps(b, "via=tls&host=api.example.test"), "hello api.example.test");
  EXPECT_EQ(Tunnels(b), 1);
  EXPECT_EQ(Tunnels(a), 2);

  // Plain HTTP, TLS without SNI, another port, a refused range: nothing reaches the internet.
  EXPECT_EQ(GuestHttps(a, "via=plain&host=api.example.test"), "");
  EXPECT_EQ(GuestHttps(a, "via=nosni&host=api.example.test"), "");
  EXPECT_EQ(GuestHttps(a, "via=proxy&host=api.example.test&port=80"), "");
  EXPECT_EQ(GuestHttps(a, "via=proxy&host=metadata.example.test"), "");
  EXPECT_EQ(GuestHttps(a, "via=tls&host=self.example.test"), "");
  EXPECT_EQ(origin_->accepted(), 3);
  EXPECT_EQ(Refused(a, "not_tls"), 1);
  EXPECT_EQ(Refused(a, "no_sni"), 1);
  EXPECT_EQ(Refused(a, "port_not_443"), 1);
  EXPECT_EQ(Refused(a, "refused_range"), 2);

  // No other way out: not the other VM's forwarded port, not the host, not the internet's
  // address directly; the gateway's address answers only on its two ports.
  EXPECT_FALSE(GuestReaches(a, "10.0.2.2:" + std::to_string(driver_->PortOf(b))));
  EXPECT_FALSE(GuestReaches(a, "10.0.2.2:" + std::to_string(driver_->PortOf(a))));
  EXPECT_FALSE(GuestReaches(a, internet_ + ":" + std::to_string(origin_->port())));
  EXPECT_FALSE(GuestReaches(a, "10.0.2.100:80"));
  EXPECT_TRUE(GuestReaches(a, "10.0.2.100:3128"));  // the probe can succeed

  // The usage for the audit trail: per instance and host.
  auto usage_a = traffic_.Take(a);
  auto usage_b = traffic_.Take(b);
  ASSERT_TRUE(usage_a.has_value());
  ASSERT_TRUE(usage_b.has_value());
  EXPECT_EQ(usage_a->egress["api.example.test"].connections, 2u);
  EXPECT_GT(usage_a->egress["api.example.test"].bytes_in, 0u);
  EXPECT_EQ(usage_a->egress["metadata.example.test"].refused, 1u);
  EXPECT_EQ(usage_b->egress["api.example.test"].connections, 1u);
  EXPECT_GT(usage_a->last_activity_us, 0);

  // A network helper that dies is started again by the next health check.
  const std::string pid = testing::ReadFile(driver_->DirOf(a) + "/network.pid");
  ASSERT_FALSE(pid.empty());
  ::kill(std::stoi(pid), SIGKILL);
  std::this_thread::sleep_for(200ms);
  WaitHealthy(a);
  EXPECT_NE(testing::ReadFile(driver_->DirOf(a) + "/network.pid"), pid);
  EXPECT_EQ(GuestHttps(a, "via=tls&host=api.example.test"), "hello api.example.test");
}

}  // namespace
}  // namespace clawvisor
