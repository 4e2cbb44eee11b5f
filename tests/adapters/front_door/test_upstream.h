#pragma once

// TestUpstream: the front door tests' stand-in for an instance's OpenClaw gateway. A plain
// HTTP/1.1 server on 127.0.0.1 (Beast, a thread per connection) that records every request head
// it saw, answers "upstream <target> body=<bytes>" (GET /big: 2 MiB of 'x'), and echoes
// WebSocket messages on any upgrade.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace clawvisor::testing {

struct SeenRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  size_t body_bytes = 0;
};

class TestUpstream {
 public:
  TestUpstream();
  ~TestUpstream();
  uint16_t port() const { return port_; }
  std::vector<SeenRequest> seen() const;
  size_t count() const { return seen().size(); }

 private:
  void Accept();
  void Serve(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<SeenRequest> seen_;  // GUARDED_BY(mu_)
  std::vector<int> fds_;           // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace clawvisor::testing
