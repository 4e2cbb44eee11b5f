#include "adapters/http/metrics_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <thread>

#include "engine/logging.h"

namespace clawvisor {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(5);

// One connection: read a request, answer it, read the next, until the peer closes or stalls.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, MetricsRegistry& metrics, const std::function<bool()>& ready)
      : stream_(std::move(socket)), metrics_(metrics), ready_(ready) {}

  void Read() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(0);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->Answer();
                     });
  }

 private:
  void Answer() {
    const auto& request = parser_->get();
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(request.version());
    response->keep_alive(request.keep_alive());
    response->set(http::field::content_type, "text/plain; charset=utf-8");
    response->set(http::field::cache_control, "no-store");
    response->set("X-Content-Type-Options", "nosniff");
    const std::string_view target(request.target().data(), request.target().size());
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response->result(http::status::method_not_allowed);
      response->set(http::field::allow, "GET, HEAD");
      response->body() = "method not allowed\n";
    } else if (target == "/metrics") {
      response->result(http::status::ok);
      response->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response->body() = metrics_.RenderPrometheus();
    } else if (target == "/healthz") {
      response->result(http::status::ok);
      response->body() = "ok\n";
    } else if (target == "/readyz") {
      const bool ok = ready_ && ready_();
      response->result(ok ? http::status::ok : http::status::service_unavailable);
      response->body() = ok ? "ready\n" : "not ready\n";
    } else {
      response->result(http::status::not_found);
      response->body() = "not found\n";
    }
    if (request.method() == http::verb::head) response->body().clear();
    response->prepare_payload();
    stream_.expires_after(kRequestTimeout);
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, size_t) {
                        if (ec || !response->keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  MetricsRegistry& metrics_;
  const std::function<bool()>& ready_;
};

}  // namespace

class MetricsServer::Impl {
 public:
  Impl(MetricsRegistry& metrics, std::function<bool()> ready)
      : metrics_(metrics), ready_(std::move(ready)), acceptor_(io_) {}

  ~Impl() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Listen(const std::string& address, uint16_t port) {
    beast::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec) return MakeError(Errc::kInvalidArgument, "metrics address " + address + " is invalid");
    const tcp::endpoint endpoint(ip, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return MakeError(Errc::kUnavailable, "cannot listen for metrics on " + address + ":" +
                                               std::to_string(port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] {
      try {
        io_.run();
      } catch (const std::exception& e) {
        Log(LogLevel::kError, "metrics", "metrics server stopped", {{"error", e.what()}});
      }
    });
    return {};
  }

  uint16_t port() const { return port_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) std::make_shared<Session>(std::move(socket), metrics_, ready_)->Read();
      if (acceptor_.is_open()) Accept();
    });
  }

  MetricsRegistry& metrics_;
  const std::function<bool()> ready_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsServer::~MetricsServer() = default;

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                            uint16_t port, MetricsRegistry& metrics,
                                                            std::function<bool()> ready) {
  auto impl = std::make_unique<Impl>(metrics, std::move(ready));
  if (auto ok = impl->Listen(address, port); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

uint16_t MetricsServer::port() const { return impl_->port(); }

}  // namespace clawvisor
