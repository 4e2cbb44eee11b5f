#include "tests/adapters/egress/tls_origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <stdexcept>

#include "adapters/openssl/tls_server_context.h"

namespace clawvisor::testing {

std::string RandomLoopbackAddress() {
  std::random_device seed;
  std::uniform_int_distribution<int> octet(2, 250);
  return "127." + std::to_string(octet(seed)) + "." + std::to_string(octet(seed)) + "." +
         std::to_string(octet(seed));
}

TlsOrigin::TlsOrigin(const std::string& address, const std::filesystem::path& dir) {
  auto ensured =
      openssl::EnsureSelfSignedCertificate(dir, {address}, std::chrono::system_clock::now());
  if (!ensured) throw std::runtime_error(ensured.error().ToString());
  auto ctx = openssl::MakeTlsServerContext(ensured->files);
  if (!ctx) throw std::runtime_error(ctx.error().ToString());
  ctx_ = ctx->release();
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &sin.sin_addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("TlsOrigin: cannot listen on " + address);
  }
  socklen_t length = sizeof sin;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sin), &length);
  port_ = ntohs(sin.sin_port);
  acceptor_ = std::thread([this] { Serve(); });
}

TlsOrigin::~TlsOrigin() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  for (auto& connection : connections_) connection.join();
  ::close(listen_fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

void TlsOrigin::Serve() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    ++accepted_;
    connections_.emplace_back([this, fd] { Answer(fd); });
  }
}

void TlsOrigin::Answer(int fd) {
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    if (request.find("\r\n\r\n") != std::string::npos) {
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      const std::string body = request.starts_with("GET /big ")
                                   ? std::string(2 << 20, 'x')
                                   : "hello " + std::string(sni != nullptr ? sni : "(no sni)");
      const std::string response =
          "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      size_t at = 0;
      while (at < response.size()) {
        const int n = SSL_write(ssl, response.data() + at, static_cast<int>(response.size() - at));
        if (n <= 0) break;
        at += static_cast<size_t>(n);
      }
      SSL_shutdown(ssl);
    }
  }
  SSL_free(ssl);
  ::close(fd);
}

}  // namespace clawvisor::testing
