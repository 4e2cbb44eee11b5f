// The egress gateway on real sockets (design D9): guest connections handed off over its Unix
// socket as a VM's network process hands them, real TLS clients (OpenSSL) as the guest, and a
// real TLS server on a loopback address standing in for the internet.
#include "adapters/egress/egress_gateway.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "adapters/egress/handoff.h"
#include "tests/adapters/egress/tls_origin.h"
#include "tests/support/temp_dir.h"

namespace clawvisor::egress {
namespace {

using namespace std::chrono_literals;

const VmKey kOpen{"acc_egress", "ins-open"};            // no allowlist
const VmKey kListed{"acc_egress", "ins-listed"};        // allowlist, one connection at a time
const VmKey kThrottled{"acc_egress", "ins-throttled"};  // 4 MiB/s

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) ::close(fd);
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads until `fd` closes or 5 s pass; returns what came.
std::string ReadAll(int fd) {
  std::string out;
  char buffer[65536];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) break;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// Reads an HTTP response head from `fd` (the proxy's answer); returns its status code.
int ReadStatus(int fd, std::string* head_out = nullptr) {
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1 || ::read(fd, &c, 1) != 1) return -1;
    head.push_back(c);
  }
  if (head_out != nullptr) *head_out = head;
  return std::stoi(head.substr(9, 3));
}

void Write(int fd, std::string_view bytes) {
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

// A TLS client over `fd`: handshake (with SNI unless null), "GET path", the response's body.
// Empty with *error set when the handshake or the exchange fails.
std::string TlsGet(int fd, const char* sni, const std::string& path = "/",
                   bool* handshake_ok = nullptr) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (sni != nullptr) {
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(sni));
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string body;
  const bool ok = SSL_connect(ssl) == 1;
  if (handshake_ok != nullptr) *handshake_ok = ok;
  if (ok) {
    const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    std::string response;
    char buffer[65536];
    int n;
    while ((n = SSL_read(ssl, buffer, sizeof buffer)) > 0)
      response.append(buffer, static_cast<size_t>(n));
    const size_t end = response.find("\r\n\r\n");
    if (end != std::string::npos) body = response.substr(end + 4);
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return body;
}

// The value of the series `series` (name and labels, as rendered) in `text`, or -1.
double Metric(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class EgressGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The guests' TLS clients write alerts to connections the gateway has closed.
    ::signal(SIGPIPE, SIG_IGN);
    internet_address_ = testing::RandomLoopbackAddress();
    origin_ = std::make_unique<testing::TlsOrigin>(internet_address_, dir_.path() / "origin");
    const IpAddress internet = *IpAddress::Parse(internet_address_);
    options_.socket_path = dir_.Sub("egress.sock");
    options_.treat_as_public = {*Cidr::Parse(internet_address_)};
    options_.static_hosts = {
        {"api.example.test", {internet}},
        {"other.example.test", {internet}},
        {"metadata.example.test", {*IpAddress::Parse("169.254.169.254")}},
        {"private.example.test", {*IpAddress::Parse("10.0.0.5")}},
        {"cgnat.example.test", {*IpAddress::Parse("100.64.1.1")}},
        {"ula.example.test", {*IpAddress::Parse("fd12::1")}},
        {"mixed.example.test", {internet, *IpAddress::Parse("192.168.0.1")}},
        {"self.example.test", {*IpAddress::Parse("127.0.0.1")}},
    };
    options_.upstream_port = origin_->port();
    options_.handshake_timeout = 1500ms;
    policies_[kOpen] = EgressPolicy{};
    EgressPolicy listed;
    listed.allowed_hosts = *ParseHostPatterns("api.example.test");
    listed.max_connections = 1;
    policies_[kListed] = listed;
    EgressPolicy throttled;
    throttled.bytes_per_second = 4 << 20;
    throttled.burst_bytes = 64 << 10;
    policies_[kThrottled] = throttled;
  }

  void StartGateway() {
    auto started = EgressGateway::Start(
        options_, metrics_,
        [this](const VmKey& key) -> std::optional<EgressPolicy> {
          auto it = policies_.find(key);
          if (it == policies_.end()) return std::nullopt;
          return it->second;
        },
        clock_, traffic_);
    ASSERT_TRUE(started.has_value()) << started.error().ToString();
    gateway_ = std::move(*started);
  }

  // A guest's connection to the gateway's `port`, as the VM's network process hands it over.
  Fd Connect(const VmKey& key, uint16_t port) {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    Fd guest(pair[0]);
    Fd gateway_side(pair[1]);
    auto handed = HandOffConnection(options_.socket_path, key, port, gateway_side.fd, 2s);
    EXPECT_TRUE(handed.has_value()) << handed.error().ToString();
    return guest;
  }

  // CONNECT through the proxy port; the proxy's status. The write may fail when the gateway
  // refused at once (over the cap) and closed: its answer is still there to read.
  int ProxyConnect(const Fd& guest, const std::string& target) {
    const std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
    [[maybe_unused]] ssize_t ignored = ::write(guest.fd, request.data(), request.size());
    return ReadStatus(guest.fd);
  }

  std::string Metrics() { return "\n" + metrics_.RenderPrometheus(); }
  double Refused(const VmKey& key, const std::string& reason) {
    return Metric(Metrics(), "clawvisor_egress_refused_total{instance=\"" + key.ToString() +
                                 "\",reason=\"" + reason + "\"}");
  }

  testing::TempDir dir_;
  std::string internet_address_;
  std::unique_ptr<testing::TlsOrigin> origin_;
  EgressGatewayOptions options_;
  std::map<VmKey, EgressPolicy> policies_;
  MetricsRegistry metrics_;
  ManualClock clock_;
  InstanceTraffic traffic_;
  std::unique_ptr<EgressGateway> gateway_;
};

TEST_F(EgressGatewayTest, AProxiedHttpsRequestReachesTheInternetAndIsCounted) {
  StartGateway();
  Fd guest = Connect(kOpen, kProxyPort);
  ASSERT_EQ(ProxyConnect(guest, "api.example.test:443"), 200);
  EXPECT_EQ(TlsGet(guest.fd, "api.example.test"), "hello api.example.test");
  EXPECT_EQ(origin_->accepted(), 1);

  const std::string text = Metrics();
  EXPECT_EQ(Metric(text,
                   "clawvisor_egress_connections_total{instance=\"acc_egress/ins-open\","
                   "destination=\"*\"}"),
            1);
  EXPECT_GT(Metric(text,
                   "clawvisor_egress_bytes_total{instance=\"acc_egress/ins-open\","
                   "direction=\"out\"}"),
            200);  // at least the ClientHello
  EXPECT_GT(Metric(text,
                   "clawvisor_egress_bytes_total{instance=\"acc_egress/ins-open\","
                   "direction=\"in\"}"),
            200);
  // The usage for the audit summary: the host, never a path.
  guest = Fd();
  TrafficTally usage;
  for (int i = 0; i < 100 && usage.egress["api.example.test"].bytes_in == 0; ++i) {
    if (auto more = traffic_.Take(kOpen)) {
      usage.since_us = more->since_us;
      usage.last_activity_us = more->last_activity_us;
      for (const auto& [host, tally] : more->egress) usage.egress[host] += tally;
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(usage.egress.size(), 1u);
  EXPECT_EQ(usage.egress.begin()->first, "api.example.test");
  EXPECT_EQ(usage.egress["api.example.test"].connections, 1u);
  EXPECT_GT(usage.egress["api.example.test"].bytes_in, 0u);
  EXPECT_EQ(usage.last_activity_us, clock_.NowUs());
}

TEST_F(EgressGatewayTest, RawTlsIsRoutedByItsServerName) {
  StartGateway();
  Fd guest = Connect(kOpen, kTlsPort);
  EXPECT_EQ(TlsGet(guest.fd, "other.example.test"), "hello other.example.test");
  EXPECT_EQ(origin_->accepted(), 1);
}

TEST_F(EgressGatewayTest, RefusedTargetsNeverReachTheInternet) {
  StartGateway();
  const std::pair<std::string, std::string> refused[] = {
      {"api.example.test:80", "port_not_443"},
      {"169.254.169.254:443", "bad_connect"},  // an address, not a name
      {"metadata.example.test:443", "refused_range"},
      {"private.example.test:443", "refused_range"},
      {"cgnat.example.test:443", "refused_range"},
      {"ula.example.test:443", "refused_range"},
      {"mixed.example.test:443", "refused_range"},
      {"self.example.test:443", "refused_range"},
      {"nowhere.example.test:443", "resolve_failed"},
  };
  for (const auto& [target, reason] : refused) {
    Fd guest = Connect(kOpen, kProxyPort);
    const int status = ProxyConnect(guest, target);
    EXPECT_TRUE(status == 403 || status == 502) << target << ": " << status;
  }
  EXPECT_EQ(Refused(kOpen, "port_not_443"), 1);
  EXPECT_EQ(Refused(kOpen, "bad_connect"), 1);
  EXPECT_EQ(Refused(kOpen, "refused_range"), 6);
  EXPECT_EQ(Refused(kOpen, "resolve_failed"), 1);
  // Anything but CONNECT.
  Fd plain = Connect(kOpen, kProxyPort);
  Write(plain.fd, "GET http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n\r\n");
  EXPECT_EQ(ReadStatus(plain.fd), 405);
  EXPECT_EQ(origin_->accepted(), 0);
}

TEST_F(EgressGatewayTest, TheRefusalSaysWhyAndWhichRange) {
  StartGateway();
  Fd guest = Connect(kOpen, kProxyPort);
  Write(guest.fd, "CONNECT metadata.example.test:443 HTTP/1.1\r\n\r\n");
  std::string head;
  ASSERT_EQ(ReadStatus(guest.fd, &head), 403);
  EXPECT_NE(ReadAll(guest.fd).find("refused_range: resolves to a refused range (link-local)"),
            std::string::npos);
}

TEST_F(EgressGatewayTest, OnlyTlsWithAServerNamePasses) {
  StartGateway();
  // Raw port: plain HTTP, and TLS without SNI, are closed unanswered.
  Fd http = Connect(kOpen, kTlsPort);
  Write(http.fd, "GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n");
  EXPECT_EQ(ReadAll(http.fd), "");
  Fd no_sni = Connect(kOpen, kTlsPort);
  bool handshake_ok = true;
  EXPECT_EQ(TlsGet(no_sni.fd, nullptr, "/", &handshake_ok), "");
  EXPECT_FALSE(handshake_ok);
  EXPECT_EQ(origin_->accepted(), 0);
  EXPECT_EQ(Refused(kOpen, "not_tls"), 1);
  EXPECT_EQ(Refused(kOpen, "no_sni"), 1);

  // Through the proxy: after the 200, the bytes must be TLS to the very host CONNECT named.
  Fd plain = Connect(kOpen, kProxyPort);
  ASSERT_EQ(ProxyConnect(plain, "api.example.test:443"), 200);
  Write(plain.fd, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(ReadAll(plain.fd), "");
  Fd other = Connect(kOpen, kProxyPort);
  ASSERT_EQ(ProxyConnect(other, "api.example.test:443"), 200);
  EXPECT_EQ(TlsGet(other.fd, "other.example.test", "/", &handshake_ok), "");
  EXPECT_FALSE(handshake_ok);
  EXPECT_EQ(Refused(kOpen, "not_tls"), 2);
  EXPECT_EQ(Refused(kOpen, "sni_mismatch"), 1);
}

TEST_F(EgressGatewayTest, AnAllowlistAndAConnectionCapHoldPerInstance) {
  StartGateway();
  Fd denied = Connect(kListed, kProxyPort);
  EXPECT_EQ(ProxyConnect(denied, "other.example.test:443"), 403);
  denied = Fd();
  EXPECT_EQ(Refused(kListed, "not_allowed"), 1);

  // One tunnel open (TLS up, no request yet) takes the instance's one slot.
  Fd held = Connect(kListed, kProxyPort);
  ASSERT_EQ(ProxyConnect(held, "api.example.test:443"), 200);
  Fd second = Connect(kListed, kProxyPort);
  EXPECT_EQ(ProxyConnect(second, "api.example.test:443"), 429);
  EXPECT_EQ(Refused(kListed, "connection_limit"), 1);
  // Another instance is not affected by this one's cap.
  Fd neighbour = Connect(kOpen, kProxyPort);
  ASSERT_EQ(ProxyConnect(neighbour, "api.example.test:443"), 200);
  EXPECT_EQ(TlsGet(neighbour.fd, "api.example.test"), "hello api.example.test");
  // The slot is free again once the held tunnel closes.
  held = Fd();
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    Fd again = Connect(kListed, kProxyPort);
    status = ProxyConnect(again, "api.example.test:443");
    if (status == 200) {
      EXPECT_EQ(TlsGet(again.fd, "api.example.test"), "hello api.example.test");
    }
  }
  EXPECT_EQ(status, 200);
}

TEST_F(EgressGatewayTest, AThrottledInstanceStillGetsEveryByte) {
  StartGateway();
  Fd guest = Connect(kThrottled, kProxyPort);
  ASSERT_EQ(ProxyConnect(guest, "api.example.test:443"), 200);
  EXPECT_EQ(TlsGet(guest.fd, "api.example.test", "/big"), std::string(2 << 20, 'x'));
}

TEST_F(EgressGatewayTest, UnknownInstancesBadHandoffsAndSilentGuestsAreRefused) {
  StartGateway();
  Fd ghost = Connect({"acc_egress", "ins-ghost"}, kProxyPort);
  EXPECT_EQ(ReadAll(ghost.fd), "");
  EXPECT_EQ(Refused({"acc_egress", "ins-ghost"}, "unknown_instance"), 1);

  // A handoff without a descriptor, and one with a malformed line.
  for (std::string message :
       {std::string("clawvisor-egress/1 acc_egress ins-open 3128\n"), std::string("hello\n")}) {
    Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, options_.socket_path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::connect(sock.fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    Write(sock.fd, message);
    EXPECT_EQ(ReadAll(sock.fd), "");
  }
  // A malformed message is refused when it is read, which may be after the sender's read ended.
  const std::string bad =
      "clawvisor_egress_refused_total{instance=\"unknown\",reason=\"bad_handoff\"}";
  for (int i = 0; i < 100 && Metric(Metrics(), bad) < 2; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(Metric(Metrics(), bad), 2) << Metrics();

  // A guest that says nothing is answered 408 when the handshake deadline passes.
  Fd silent = Connect(kOpen, kProxyPort);
  EXPECT_EQ(ReadStatus(silent.fd), 408);
  EXPECT_EQ(Refused(kOpen, "handshake_timeout"), 1);

  // And the gateway still serves.
  Fd guest = Connect(kOpen, kProxyPort);
  ASSERT_EQ(ProxyConnect(guest, "api.example.test:443"), 200);
  EXPECT_EQ(TlsGet(guest.fd, "api.example.test"), "hello api.example.test");
}

TEST_F(EgressGatewayTest, TheHandoffSocketIsTheOwnersAlone) {
  StartGateway();
  struct stat st {};
  ASSERT_EQ(::stat(options_.socket_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

}  // namespace
}  // namespace clawvisor::egress
