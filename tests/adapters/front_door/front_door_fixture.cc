#include "tests/adapters/front_door/front_door_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "engine/logging.h"

namespace clawvisor::front_door {
namespace {

namespace http = boost::beast::http;

SSL* Ssl(void* p) { return static_cast<SSL*>(p); }

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Conn::Conn(uint16_t port, const std::string& sni) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  timeval timeout{10, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ctx_ = ctx;
  SSL* ssl = SSL_new(ctx);
  ssl_ = ssl;
  SSL_set_fd(ssl, fd_);
  if (!sni.empty()) {
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(sni.c_str()));
  }
  ok_ = SSL_connect(ssl) == 1;
}

Conn::~Conn() {
  if (ssl_ != nullptr) SSL_free(Ssl(ssl_));
  if (ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
}

bool Conn::Write(std::string_view bytes) {
  if (!ok_) return false;
  return SSL_write(Ssl(ssl_), bytes.data(), static_cast<int>(bytes.size())) ==
         static_cast<int>(bytes.size());
}

bool Conn::Fill() {
  if (!ok_) return false;
  char buffer[65536];
  const int n = SSL_read(Ssl(ssl_), buffer, sizeof buffer);
  if (n <= 0) return false;
  pending_.append(buffer, static_cast<size_t>(n));
  return true;
}

Reply Conn::Send(const Call& call, uint16_t port) {
  std::string text = call.method + " " + call.target + " HTTP/1.1\r\nHost: " +
                     (call.host.empty() ? "127.0.0.1:" + std::to_string(port) : call.host) + "\r\n";
  for (const auto& [name, value] : call.headers) text += name + ": " + value + "\r\n";
  if (!call.body.empty() || call.method == "POST") {
    text += "Content-Length: " + std::to_string(call.body.size()) + "\r\n";
  }
  text += "\r\n" + call.body;
  if (!Write(text)) return {};
  return ReadReply(call.method == "HEAD");
}

Reply Conn::ReadReply(bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(head);
  while (!parser.is_done()) {
    if (pending_.empty() && !Fill()) {
      boost::beast::error_code ec;
      parser.put_eof(ec);
      if (ec || !parser.is_done()) return {};
      break;
    }
    boost::beast::error_code ec;
    const size_t n = parser.put(boost::asio::buffer(pending_.data(), pending_.size()), ec);
    pending_.erase(0, n);
    if (ec == http::error::need_more) {
      if (!Fill()) return {};
      continue;
    }
    if (ec) return {};
  }
  Reply reply;
  const auto& res = parser.get();
  reply.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    const std::string name = Lower(std::string(field.name_string()));
    if (name == "set-cookie") reply.set_cookies.emplace_back(field.value());
    reply.headers[name] = std::string(field.value());
  }
  reply.body = res.body();
  return reply;
}

bool Conn::ClosedWithin(int ms) {
  if (!ok_) return true;
  for (int waited = 0; waited < ms; waited += 50) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) == 1) {
      char buffer[4096];
      if (SSL_read(Ssl(ssl_), buffer, sizeof buffer) <= 0) return true;
    }
  }
  return false;
}

bool Conn::SendText(const std::string& text) {
  std::string frame;
  frame += static_cast<char>(0x81);
  frame += static_cast<char>(0x80 | text.size());  // short frames only
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(mask, 4);
  for (size_t i = 0; i < text.size(); ++i) frame += static_cast<char>(text[i] ^ mask[i % 4]);
  return Write(frame);
}

std::string Conn::ReadFrame() {
  while (pending_.size() < 2) {
    if (!Fill()) return "";
  }
  const size_t len = static_cast<unsigned char>(pending_[1]) & 0x7f;  // short frames only
  while (pending_.size() < 2 + len) {
    if (!Fill()) return "";
  }
  std::string payload = pending_.substr(2, len);
  pending_.erase(0, 2 + len);
  return payload;
}

void FrontDoorTest::SetUp() {
  // The test's client writes to sockets the front door may have closed (slowloris, limits).
  ::signal(SIGPIPE, SIG_IGN);
  auto ensured = openssl::EnsureSelfSignedCertificate(dir_.path() / "tls", {"127.0.0.1"},
                                                      std::chrono::system_clock::now());
  ASSERT_TRUE(ensured.has_value()) << ensured.error().ToString();
  tls_ = ensured->files;
  log_fd_ = ::open(dir_.Sub("log").c_str(), O_CREAT | O_RDWR | O_APPEND, 0600);
  SetLogFd(log_fd_);
  SetLogLevel(LogLevel::kDebug);

  backend_.AddInstance(kA, {{{"acc_a", "ins_a"}, upstream_a_.port(), false}, kTokenA, 0});
  backend_.AddInstance(kB, {{{"acc_b", "ins_b"}, upstream_b_.port(), false}, kTokenB, 0});
  backend_.AddInstance(
      kPaused,
      {{{"acc_a", "ins_paused"}, 0, true}, "CANARY-gateway-token-paused", upstream_woken_.port()});
  backend_.AddInstance(kSleepy, {{{"acc_a", "ins_sleepy"}, 0, true}, "CANARY-token-sleepy", 0});
  // A port nothing listens on: bind one, then close it.
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(probe);
  backend_.AddInstance(
      kDown, {{{"acc_a", "ins_down"}, ntohs(addr.sin_port), false}, "CANARY-token-down", 0});
  backend_.AddMember(kMember, "usr_member", "acc_a");
  backend_.AddMember(kOutsider, "usr_outsider", "acc_elsewhere");
}

void FrontDoorTest::TearDown() {
  front_door_.reset();
  if (HasFailure()) std::cerr << "front door log:\n" << Logs();
  SetLogFd(2);
  SetLogLevel(LogLevel::kInfo);
  if (log_fd_ >= 0) ::close(log_fd_);
}

FrontDoorOptions FrontDoorTest::Options() const {
  FrontDoorOptions options;
  options.domain = kDomain;
  options.tls = tls_;
  options.io_threads = 2;
  options.worker_threads = 4;
  options.wake_timeout = std::chrono::milliseconds(1'000);
  return options;
}

void FrontDoorTest::Start(FrontDoorOptions options) {
  auto started = FrontDoor::Start(std::move(options), backend_, metrics_, clock_);
  ASSERT_TRUE(started.has_value()) << started.error().ToString();
  front_door_ = std::move(*started);
}

Reply FrontDoorTest::Request(Call call, const std::string& sni) {
  Conn conn(port(), sni);
  if (!conn.ok()) return {};
  return conn.Send(call, port());
}

std::string FrontDoorTest::OpenSession(std::string* set_cookie) {
  const std::string link = "CANARY-link-" + std::to_string(++links_);
  backend_.AddLink(link, kA, "usr_member",
                   std::chrono::microseconds(clock_.NowUs() + 3'600'000'000LL));
  const Reply reply = Get(std::string("/instances/") + kA + "/_clawvisor/session?link=" + link);
  if (reply.status != 303 || reply.set_cookies.size() != 1) return "";
  if (set_cookie != nullptr) *set_cookie = reply.set_cookies[0];
  return reply.set_cookies[0].substr(0, reply.set_cookies[0].find(';'));
}

std::string FrontDoorTest::Logs() const {
  std::ifstream in(dir_.Sub("log"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double FrontDoorTest::Metric(const std::string& series) const {
  const std::string text = metrics_.RenderPrometheus();
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace clawvisor::front_door

namespace clawvisor::front_door {

bool FrontDoorTest::EventuallyAtLeast(const std::string& series, double value) const {
  for (int i = 0; i < 1000; ++i) {
    if (Metric(series) >= value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace clawvisor::front_door
