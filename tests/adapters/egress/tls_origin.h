#pragma once

// TlsOrigin: the egress tests' stand-in for a server on the internet. An OpenSSL server on a
// loopback address of the test's choosing (the gateway is told to treat it as public), a thread
// per connection. It answers one HTTP/1.0 request per connection:
//   GET /big   → 2 MiB of 'x'
//   anything   → "hello <SNI it saw>"
// and counts the TCP connections it accepted, so a test can show a refused connection never
// reached it.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace clawvisor::testing {

class TlsOrigin {
 public:
  // Listens on `address`:0 with a self-signed certificate made in `dir`.
  TlsOrigin(const std::string& address, const std::filesystem::path& dir);
  ~TlsOrigin();

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void Serve();
  void Answer(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  void* ctx_ = nullptr;  // SSL_CTX
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

// A random address in 127.0.0.0/8 other than 127.0.0.1, so parallel tests do not meet.
std::string RandomLoopbackAddress();

}  // namespace clawvisor::testing
