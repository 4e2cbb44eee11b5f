#pragma once

// The front door tests' world: a FrontDoor over real TLS on 127.0.0.1:0, a TestUpstream per
// instance, a FakeBackend, a ManualClock (sessions, request rates), and the log lines captured in
// a file. Conn is a blocking TLS client (raw OpenSSL, receive timeout 10 s) that speaks HTTP/1.1
// by hand, so a test controls every byte (slow heads, huge headers, WebSocket frames).

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/front_door/front_door.h"
#include "tests/adapters/front_door/fake_backend.h"
#include "tests/adapters/front_door/test_upstream.h"
#include "tests/support/temp_dir.h"

namespace clawvisor::front_door {

struct Reply {
  int status = 0;                              // 0: no response (closed, timed out, unparsable)
  std::map<std::string, std::string> headers;  // lower-case names
  std::vector<std::string> set_cookies;
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Call {
  std::string method = "GET";
  std::string target = "/";
  std::string host;  // empty: "127.0.0.1:<port>"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class Conn {
 public:
  // Connects and handshakes (SNI when `sni` is not empty); ok() says whether that worked.
  Conn(uint16_t port, const std::string& sni = "");
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return ok_; }
  bool Write(std::string_view bytes);
  Reply Send(const Call& call, uint16_t port);
  Reply ReadReply(bool head = false);
  // Whether the server closed the connection within `ms` (reads and discards what comes).
  bool ClosedWithin(int ms);
  // WebSocket after a 101: one masked text frame out, one frame's payload back ("" on failure).
  bool SendText(const std::string& text);
  std::string ReadFrame();

 private:
  bool Fill();  // reads more into pending_; false when closed or timed out
  int fd_ = -1;
  void* ctx_ = nullptr;  // SSL_CTX
  void* ssl_ = nullptr;  // SSL
  bool ok_ = false;
  std::string pending_;
};

class FrontDoorTest : public ::testing::Test {
 protected:
  static constexpr const char* kA = "0a0a0a0a-0000-4000-8000-00000000000a";
  static constexpr const char* kB = "0b0b0b0b-0000-4000-8000-00000000000b";
  static constexpr const char* kPaused = "0c0c0c0c-0000-4000-8000-00000000000c";
  static constexpr const char* kSleepy = "0d0d0d0d-0000-4000-8000-00000000000d";
  static constexpr const char* kDown = "0e0e0e0e-0000-4000-8000-00000000000e";
  static constexpr const char* kUnknown = "0f0f0f0f-0000-4000-8000-00000000000f";
  // Every secret carries CANARY, so one search shows none reached a log line or a metric.
  static constexpr const char* kTokenA = "CANARY-gateway-token-a";
  static constexpr const char* kTokenB = "CANARY-gateway-token-b";
  static constexpr const char* kMember = "CANARY-session-member-of-a";
  static constexpr const char* kOutsider = "CANARY-session-outsider";
  static constexpr const char* kDomain = "fd.test";

  void SetUp() override;
  void TearDown() override;

  // Defaults for tests: the limits, short timeouts where a test waits on one.
  FrontDoorOptions Options() const;
  void Start(FrontDoorOptions options);
  void Start() { Start(Options()); }

  uint16_t port() const { return front_door_->port(); }
  std::string Origin() const { return "https://127.0.0.1:" + std::to_string(port()); }
  // One request on a fresh connection.
  Reply Request(Call call, const std::string& sni = "");
  Reply Get(const std::string& target,
            std::vector<std::pair<std::string, std::string>> headers = {}) {
    Call call;
    call.target = target;
    call.headers = std::move(headers);
    return Request(std::move(call));
  }
  // Opens a console session on kA through a link; returns the Cookie header value ("" on
  // failure) and the Set-Cookie line in *set_cookie.
  std::string OpenSession(std::string* set_cookie = nullptr);
  std::string Logs() const;
  double Metric(const std::string& series) const;
  // Whether `series` reaches `value` within 10 s (for what the server counts after a close).
  bool EventuallyAtLeast(const std::string& series, double value) const;

  testing::TempDir dir_;
  openssl::TlsServerFiles tls_;
  ManualClock clock_;
  MetricsRegistry metrics_;
  FakeBackend backend_;
  testing::TestUpstream upstream_a_, upstream_b_, upstream_woken_;
  std::unique_ptr<FrontDoor> front_door_;
  int log_fd_ = -1;
  int links_ = 0;
};

}  // namespace clawvisor::front_door
