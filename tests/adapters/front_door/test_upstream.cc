#include "tests/adapters/front_door/test_upstream.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>

namespace clawvisor::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

TestUpstream::TestUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

TestUpstream::~TestUpstream() {
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
}

std::vector<SeenRequest> TestUpstream::seen() const {
  std::lock_guard lock(mu_);
  return seen_;
}

void TestUpstream::Accept() {
  while (true) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::lock_guard lock(mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TestUpstream::Serve(int fd) {
  asio::io_context ioc;
  tcp::socket socket(ioc, tcp::v4(), fd);
  beast::flat_buffer buffer;
  while (true) {
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) break;
    SeenRequest seen{
        std::string(req.method_string()), std::string(req.target()), {}, req.body().size()};
    for (const auto& field : req) {
      seen.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
    }
    {
      std::lock_guard lock(mu_);
      seen_.push_back(seen);
    }
    if (beast::websocket::is_upgrade(req)) {
      beast::websocket::stream<tcp::socket&> ws(socket);
      ws.accept(req, ec);
      while (!ec) {
        beast::flat_buffer message;
        ws.read(message, ec);
        if (ec) break;
        ws.text(ws.got_text());
        ws.write(message.data(), ec);
      }
      break;
    }
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    if (req.target() == "/big") {
      res.body() = std::string(2 << 20, 'x');
    } else {
      res.body() = "upstream " + seen.target + " body=" + std::to_string(seen.body_bytes);
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !req.keep_alive()) break;
  }
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  // Forgotten before the socket closes its descriptor, so the destructor never shuts down a
  // number the process has reused.
  std::lock_guard lock(mu_);
  std::erase(fds_, fd);
}

}  // namespace clawvisor::testing
