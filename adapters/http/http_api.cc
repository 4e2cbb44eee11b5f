#include "adapters/http/http_api.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "adapters/http/api_handler.h"
#include "adapters/http/beast_request.h"
#include "adapters/http/request_parsing.h"
#include "adapters/http/router.h"
#include "adapters/http/transport_headers.h"
#include "engine/logging.h"

namespace clawvisor {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kComponent = "http";
// How long a connection closed after an error keeps draining what the client still sends, so
// the kernel does not answer that data with a RST that could destroy our error response
// before the client reads it (nginx's "lingering close").
constexpr std::chrono::milliseconds kMaxLinger{2'000};
constexpr size_t kMaxLingerBytes = 1 << 20;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// How long closing a TLS connection waits for the client's close_notify after sending ours.
constexpr std::chrono::milliseconds kMaxTlsShutdown{1'000};

std::string ToString(beast::string_view s) { return std::string(s.data(), s.size()); }

// The route label of a request whose header was parsed but that got no handler (413, 400...).
std::string_view RouteLabelOf(beast::string_view method, beast::string_view target) {
  const std::string_view t(target.data(), target.size());
  return MatchRoute(std::string_view(method.data(), method.size()), t.substr(0, t.find('?')))
      .path_template;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Asks the connection to close: now if idle, after its response if a request is in flight.
  virtual void Shutdown() = 0;
};

}  // namespace

class HttpApi::Impl {
 public:
  Impl(HttpApiOptions options, CommandService& commands, ReadModel& reads, MetricsRegistry& metrics,
       std::function<bool()> ready)
      : options_(std::move(options)),
        authenticator_(options_.authenticator ? options_.authenticator
                                              : std::make_shared<LocalServiceAuthenticator>()),
        clock_(options_.clock ? options_.clock : &system_clock_),
        metrics_(metrics),
        handler_(commands, reads, metrics, *authenticator_, *clock_, std::move(ready),
                 options_.command_wait, options_.logins, options_.sessions),
        acceptor_(asio::make_strand(ioc_)),
        accept_retry_(acceptor_.get_executor()),
        open_connections_(
            metrics.GetGauge("clawvisor_http_open_connections", "HTTP connections currently open")),
        rejected_connections_(
            metrics.GetCounter("clawvisor_http_connections_rejected_total",
                               "HTTP connections refused because max_connections were open")),
        tls_handshake_failures_(metrics.GetCounter(
            "clawvisor_http_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out (wrong protocol version, no shared cipher, "
            "plain HTTP on the HTTPS port, a client that stalls)")) {
    handler_.SetAuditExportArea(options_.audit_export_area);
  }

  ~Impl() { Stop(); }

  Result<uint16_t> Start();
  void Stop();

  const HttpApiOptions& options() const { return options_; }
  // Whether Stop has begun; responses written from then on say "Connection: close".
  bool stopping() const { return stopping_flag_.load(std::memory_order_acquire); }
  ApiHandler& handler() { return handler_; }
  MetricsRegistry& metrics() { return metrics_; }
  Counter& tls_handshake_failures() { return tls_handshake_failures_; }

  enum class Admission { kAdmitted, kOverCapacity, kStopping };
  Admission Register(uint64_t& id, const std::shared_ptr<SessionBase>& session) {
    std::lock_guard lock(mu_);
    if (stopping_) return Admission::kStopping;
    if (sessions_.size() >= options_.max_connections) return Admission::kOverCapacity;
    id = ++next_session_id_;
    sessions_.emplace(id, session);
    open_connections_.Set(static_cast<int64_t>(sessions_.size()));
    return Admission::kAdmitted;
  }
  void Unregister(uint64_t id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
    open_connections_.Set(static_cast<int64_t>(sessions_.size()));
  }

  // Queues `work` on the worker pool unless Stop has begun. Holding mu_ across the post orders
  // it before Stop's pool join, so no work is ever queued on a pool that has been joined.
  template <typename Work>
  bool PostWork(Work&& work) {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    asio::post(*pool_, std::forward<Work>(work));
    return true;
  }

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  template <typename SessionType>
  void Admit(const std::shared_ptr<SessionType>& session);
  void RunIo();

  HttpApiOptions options_;
  SystemClock system_clock_;
  std::shared_ptr<Authenticator> authenticator_;
  Clock* clock_;
  MetricsRegistry& metrics_;
  ApiHandler handler_;

  // Declared before the io_context: a session dying with it still unregisters here.
  std::mutex lifecycle_mu_;                                            // serialises Start and Stop
  enum class State { kNew, kRunning, kStopped } state_ = State::kNew;  // GUARDED_BY(lifecycle_mu_)

  std::mutex mu_;
  bool stopping_ = false;                   // GUARDED_BY(mu_)
  std::atomic<bool> stopping_flag_{false};  // stopping_, readable without mu_
  uint64_t next_session_id_ = 0;            // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, std::weak_ptr<SessionBase>> sessions_;  // GUARDED_BY(mu_)

  // Set by Start when options_.tls is; shared by every connection (OpenSSL allows that).
  // Declared before the io_context, so it outlives every connection that uses it.
  std::unique_ptr<asio::ssl::context> tls_context_;

  // Declared before everything that holds its executor, so it is destroyed after them.
  asio::io_context ioc_;
  tcp::acceptor acceptor_;           // on its own strand
  asio::steady_timer accept_retry_;  // on the acceptor's strand
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<asio::thread_pool> pool_;
  std::vector<std::thread> io_threads_;

  Gauge& open_connections_;
  Counter& rejected_connections_;
  Counter& tls_handshake_failures_;
};

namespace {

// One connection. Every member is touched only on the connection's strand, except `api_` (whose
// used parts are thread-safe) and the work posted to the pool, which gets its own copy of the
// request and reaches back only by posting to the strand.
//
// Written against beast::tcp_stream (plain HTTP) and beast::ssl_stream<beast::tcp_stream>
// (HTTPS). Under TLS the connection starts with a handshake bounded by handshake_timeout, and
// ends after a response with close_notify (async_shutdown, bounded by kMaxTlsShutdown) instead of
// the plain lingering close; a connection closed for any other reason (timeout, error, Stop
// while idle) is simply closed.
//
//   [TLS handshake] --> read header --(Expect: 100-continue)--> write 100 --> read body
//                          ^                                                      |
//                          |                                     handle (inline | pool)
//                          |                                                      |
//                          +------- keep-alive <------- write response <---------+
//                                                  \--> close / lingering close / TLS shutdown
//
// `Host` is HttpApi::Impl (a template parameter only because that class is private to HttpApi).
template <typename Stream, typename Host>
class Session final : public SessionBase,
                      public std::enable_shared_from_this<Session<Stream, Host>> {
 public:
  Session(Host& api, Stream stream, std::string peer_ip)
      : api_(api), stream_(std::move(stream)), peer_ip_(std::move(peer_ip)) {}

  ~Session() override {
    if (registered_) api_.Unregister(id_);
  }

  void SetRegistered(uint64_t id) {
    id_ = id;
    registered_ = true;
  }

  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  void Run() {
    if constexpr (kTls) {
      asio::dispatch(stream_.get_executor(),
                     beast::bind_front_handler(&Session::DoHandshake, this->shared_from_this()));
    } else {
      asio::dispatch(stream_.get_executor(),
                     beast::bind_front_handler(&Session::DoRead, this->shared_from_this()));
    }
  }

  // Refuses a connection beyond max_connections: a 503 it can read, then close.
  void RunOverCapacity() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      ApiResponse r = ApiHandler::Error(503, "too_many_connections",
                                        "the server has too many open connections; retry later");
      r.headers.emplace_back("Retry-After", "1");
      self->keep_alive_ = false;
      self->linger_after_write_ = true;
      self->started_ = std::chrono::steady_clock::now();
      self->Write(std::move(r));
    });
  }

  void Shutdown() override {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stopping_ = true;
      if (!self->busy_) self->Close();
    });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void DoHandshake() {
    if (stopping_ || closed_) return Close();
    Lowest().expires_after(api_.options().handshake_timeout);
    stream_.async_handshake(
        asio::ssl::stream_base::server,
        beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      // Routine on a public port (scanners, old clients): counted, logged at debug only.
      api_.tls_handshake_failures().Inc();
      Log(LogLevel::kDebug, kComponent, "TLS handshake failed",
          {{"peer", peer_ip_}, {"error", ec.message()}});
      return Close();
    }
    DoRead();
  }

  void DoRead() {
    if (stopping_ || closed_) return Close();
    parser_.emplace();
    parser_->header_limit(
        static_cast<uint32_t>(std::min<size_t>(api_.options().max_header_bytes, UINT32_MAX)));
    parser_->body_limit(api_.options().max_body_bytes);
    Lowest().expires_after(api_.options().read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, this->shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    if (stopping_) return Close();
    const auto& req = parser_->get();
    if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = this->shared_from_this()](beast::error_code wec, size_t) {
                          if (wec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // The timer set before the header still runs: read_timeout bounds the whole request.
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, this->shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return WriteTransportError(431, "header_too_large", "the request header is too large");
    }
    if (ec == http::error::body_limit) {
      return WriteTransportError(
          413, "body_too_large",
          "the request body exceeds " + std::to_string(api_.options().max_body_bytes) + " bytes");
    }
    const bool peer_gone = ec == http::error::end_of_stream || ec == asio::error::eof ||
                           ec == http::error::partial_message ||
                           ec == asio::error::connection_reset ||
                           ec == asio::error::operation_aborted || ec == beast::error::timeout;
    // A TLS-level failure (bad record, truncation, an alert): the channel is gone, nothing more
    // can be said on it.
    const bool tls_broken = kTls && (ec == asio::ssl::error::stream_truncated ||
                                     ec.category() == asio::error::get_ssl_category());
    if (peer_gone || tls_broken || stopping_ || closed_) return Close();
    // Anything else is a message Beast cannot parse: say so, then close, since where the next
    // request would start is unknown.
    WriteTransportError(400, "bad_request", "the request is not valid HTTP/1.1");
  }

  void WriteTransportError(unsigned status, std::string_view code, std::string_view message) {
    ApiResponse r = ApiHandler::Error(status, code, message);
    if (parser_ && parser_->is_header_done()) {
      r.route = RouteLabelOf(parser_->get().method_string(), parser_->get().target());
    }
    version_ = 11;
    keep_alive_ = false;
    linger_after_write_ = true;
    started_ = std::chrono::steady_clock::now();
    Write(std::move(r));
  }

  void Dispatch() {
    auto req = parser_->release();
    parser_.reset();
    started_ = std::chrono::steady_clock::now();
    version_ = req.version();
    keep_alive_ = req.keep_alive();

    ApiRequest request = ToApiRequest(std::move(req), peer_ip_, kTls);

    busy_ = true;
    // A server on loopback answers only to loopback names: a web page that rebinds its own
    // DNS name to 127.0.0.1 (DNS rebinding) must not reach the API through the browser.
    if (IsLoopbackAddress(api_.options().listen_address) &&
        !IsLoopbackHostHeader(ToString(req[http::field::host]))) {
      keep_alive_ = false;
      return Write(ApiHandler::Error(421, "misdirected_request",
                                     "this server answers only to a loopback Host"));
    }
    if (ApiHandler::RunsInline(request.info.method, request.info.target)) {
      return Write(api_.handler().Handle(request));
    }
    auto strand = stream_.get_executor();
    const bool queued = api_.PostWork(
        [self = this->shared_from_this(), strand, request = std::move(request)]() mutable {
          ApiResponse response;
          try {
            response = self->api_.handler().Handle(request);
          } catch (const std::exception& e) {
            Log(LogLevel::kError, kComponent, "handler threw", {{"what", e.what()}});
            response = ApiHandler::Error(500, "internal", "internal error");
          }
          asio::post(strand, [self, response = std::move(response)]() mutable {
            self->Write(std::move(response));
          });
        });
    if (!queued) {
      keep_alive_ = false;
      ApiResponse r = ApiHandler::Error(503, "shutting_down", "the server is shutting down");
      r.headers.emplace_back("Retry-After", "1");
      Write(std::move(r));
    }
  }

  void Write(ApiResponse response) {
    if (closed_) return;
    busy_ = true;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    ApiHandler::RecordMetrics(api_.metrics(), response.route, response.status, seconds);
    if (response.status >= 500 && response.status != 503) {
      Log(LogLevel::kWarn, kComponent, "request failed",
          {{"route", response.route}, {"status", response.status}});
    }

    if (!response.body_file.empty()) {
      http::file_body::value_type file;
      beast::error_code ec;
      file.open(response.body_file.c_str(), beast::file_mode::scan, ec);
      if (!ec) {
        file_res_.emplace();
        Fill(*file_res_, response);
        file_res_->body() = std::move(file);
        file_res_->prepare_payload();
        Lowest().expires_after(api_.options().write_timeout);
        http::async_write(stream_, *file_res_,
                          beast::bind_front_handler(&Session::OnWrite, this->shared_from_this()));
        return;
      }
      response = ApiHandler::Error(404, "export_not_found", "the file is gone");
    }
    res_.emplace();
    Fill(*res_, response);
    res_->body() = std::move(response.body);
    res_->prepare_payload();
    Lowest().expires_after(api_.options().write_timeout);
    http::async_write(stream_, *res_,
                      beast::bind_front_handler(&Session::OnWrite, this->shared_from_this()));
  }

  template <typename Response>
  void Fill(Response& res, const ApiResponse& response) {
    res.version(version_);
    res.result(response.status);
    res.set(http::field::content_type, response.content_type);
    // Responses carry customer data; no cache (shared or private) should keep one, and no
    // browser should guess a type other than the one we send.
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    // Only over HTTPS: browsers ignore it on plain HTTP, and it would be a lie there.
    if constexpr (kTls) {
      res.set(http::field::strict_transport_security,
              beast::string_view(kHstsValue.data(), kHstsValue.size()));
    }
    for (const auto& [name, value] : response.headers) res.set(name, value);
    res.keep_alive(keep_alive_ && !stopping_ && !api_.stopping());
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    busy_ = false;
    const bool keep_alive = res_ ? res_->keep_alive() : file_res_ && file_res_->keep_alive();
    res_.reset();
    file_res_.reset();
    if (ec) return Close();
    if constexpr (kTls) {
      if (stopping_ || api_.stopping() || !keep_alive) return ShutdownTls();
    } else {
      if (stopping_ || api_.stopping()) return Close();
      if (!keep_alive) return linger_after_write_ ? Linger() : Close();
    }
    DoRead();
  }

  // Sends close_notify, so the client knows the response was not truncated, then waits (bounded)
  // for the client's own close_notify or its close. No read or write is pending when called.
  void ShutdownTls() {
    if (closed_) return;
    closed_ = true;
    Lowest().expires_after(std::min(kMaxTlsShutdown, api_.options().write_timeout));
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->CloseSocket(); });
    }
  }

  // Half-closes, then reads and discards until the client closes (or a bound is reached).
  void Linger() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    Lowest().expires_after(
        std::min<std::chrono::milliseconds>(kMaxLinger, api_.options().read_timeout));
    DrainSome();
  }
  void DrainSome() {
    Lowest().async_read_some(asio::buffer(drain_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->drained_ += n;
                               if (ec || self->stopping_ || self->drained_ > kMaxLingerBytes)
                                 return self->Close();
                               self->DrainSome();
                             });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    CloseSocket();
  }

  void CloseSocket() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  Host& api_;
  uint64_t id_ = 0;
  bool registered_ = false;
  Stream stream_;
  std::string peer_ip_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::file_body>> file_res_;  // a download (audit export)
  std::chrono::steady_clock::time_point started_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool busy_ = false;  // a request is being handled or its response written
  bool stopping_ = false;
  bool closed_ = false;
  bool linger_after_write_ = false;
  size_t drained_ = 0;
  std::array<char, 4096> drain_{};
};

}  // namespace

Result<uint16_t> HttpApi::Impl::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (state_ != State::kNew) {
    return MakeError(Errc::kFailedPrecondition, "HttpApi::Start called more than once");
  }
  if (options_.io_threads == 0 || options_.worker_threads == 0 || options_.max_connections == 0) {
    return MakeError(Errc::kInvalidArgument,
                     "io_threads, worker_threads and max_connections must be at least 1");
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(options_.listen_address, ec);
  if (ec) {
    return MakeError(Errc::kInvalidArgument,
                     "listen address '" + options_.listen_address + "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return MakeError(Errc::kUnavailable, "cannot listen on " + options_.listen_address + ":" +
                                             std::to_string(options_.port) + ": " + ec.message());
  }
  const uint16_t port = acceptor_.local_endpoint(ec).port();
  if (options_.tls) {
    auto ctx = openssl::MakeTlsServerContext(*options_.tls);
    if (!ctx) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return std::unexpected(ctx.error());
    }
    // asio::ssl::context adopts the SSL_CTX and frees it.
    tls_context_ = std::make_unique<asio::ssl::context>(ctx->release());
  }

  pool_ = std::make_unique<asio::thread_pool>(options_.worker_threads);
  work_.emplace(asio::make_work_guard(ioc_));
  asio::post(acceptor_.get_executor(), [this] { DoAccept(); });
  for (size_t i = 0; i < options_.io_threads; ++i) io_threads_.emplace_back([this] { RunIo(); });
  state_ = State::kRunning;
  Log(LogLevel::kInfo, kComponent, "listening",
      {{"address", options_.listen_address},
       {"port", port},
       {"scheme", tls_context_ ? "https" : "http"}});
  return port;
}

void HttpApi::Impl::RunIo() {
  // A handler that throws would otherwise end this thread and leave its connections hanging.
  while (true) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      Log(LogLevel::kError, kComponent, "I/O handler threw", {{"what", e.what()}});
    }
  }
}

void HttpApi::Impl::DoAccept() {
  acceptor_.async_accept(asio::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void HttpApi::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open()) return;  // Stop closed it
  if (ec) {
    // EMFILE and friends: back off briefly instead of spinning on a failing accept.
    Log(LogLevel::kWarn, kComponent, "accept failed", {{"error", ec.message()}});
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor_.is_open()) DoAccept();
    });
    return;
  }
  beast::error_code peer_ec;
  const auto peer = socket.remote_endpoint(peer_ec);
  std::string peer_ip = peer_ec ? "" : peer.address().to_string();

  if (tls_context_) {
    using TlsSession = Session<beast::ssl_stream<beast::tcp_stream>, Impl>;
    Admit(std::make_shared<TlsSession>(
        *this,
        beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_context_),
        std::move(peer_ip)));
  } else {
    using PlainSession = Session<beast::tcp_stream, Impl>;
    Admit(std::make_shared<PlainSession>(*this, beast::tcp_stream(std::move(socket)),
                                         std::move(peer_ip)));
  }
  if (!stopping()) DoAccept();
}

template <typename SessionType>
void HttpApi::Impl::Admit(const std::shared_ptr<SessionType>& session) {
  uint64_t id = 0;
  switch (Register(id, session)) {
    case Admission::kAdmitted:
      session->SetRegistered(id);
      session->Run();
      break;
    case Admission::kOverCapacity:
      rejected_connections_.Inc();
      // Plain HTTP: a 503 the client can read. TLS: closed before any handshake work.
      if constexpr (!SessionType::kTls) session->RunOverCapacity();
      break;
    case Admission::kStopping:
      break;  // dropping the session closes the socket
  }
}

void HttpApi::Impl::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (state_ != State::kRunning) {
    state_ = State::kStopped;
    return;
  }
  std::vector<std::weak_ptr<SessionBase>> sessions;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_release);
    for (const auto& [id, session] : sessions_) sessions.push_back(session);
  }
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
  });
  for (const auto& weak : sessions) {
    if (auto session = weak.lock()) session->Shutdown();
  }
  sessions.clear();
  // Handlers already queued or running finish (Submit is bounded by command_wait) and post
  // their responses to their connections, which the I/O threads still serve.
  pool_->join();
  work_.reset();
  for (auto& thread : io_threads_) thread.join();
  io_threads_.clear();
  state_ = State::kStopped;
  Log(LogLevel::kInfo, kComponent, "stopped");
}

HttpApi::HttpApi(HttpApiOptions options, CommandService& commands, ReadModel& reads,
                 MetricsRegistry& metrics, std::function<bool()> ready)
    : impl_(
          std::make_unique<Impl>(std::move(options), commands, reads, metrics, std::move(ready))) {}

HttpApi::~HttpApi() = default;

Result<uint16_t> HttpApi::Start() { return impl_->Start(); }

void HttpApi::Stop() { impl_->Stop(); }

}  // namespace clawvisor
