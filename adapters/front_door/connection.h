#pragma once

// One client connection of the front door (front_door.cc's only user; a template because the
// plain and TLS streams differ, as HttpApi's Session). Every member is touched on the
// connection's strand only; the Gatekeeper runs on the worker pool with a copy of the facts and
// posts its Verdict back.
//
//   [TLS handshake] -> read head --> (pool) Gatekeeper --> reply (401, 303, 429...) --+
//                        ^                        |                                  |
//                        |                     forward: connect upstream,            |
//                        |                     head + body chunks up,                |
//                        |                     response head + chunks down           |
//                        |                        |            \-- 101: splice bytes both ways
//                        +---- keep-alive <-------+----------------------------------+
//                                                  \--> close (TLS close_notify / lingering)

#include <openssl/ssl.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <array>
#include <chrono>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "adapters/front_door/gatekeeper.h"
#include "adapters/front_door/proxy_headers.h"

namespace clawvisor::front_door {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void Shutdown() = 0;  // closes now, whatever is in flight
};

// `Host` is FrontDoor::Impl: Options(), gatekeeper(), PostWork(), Refused(), CountResponse(),
// ObserveUpstream(), RecordActivity(), Unregister().
template <typename Stream, typename Host>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream, Host>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  static constexpr size_t kChunk = 16 * 1024;

  Connection(Host& host, Stream stream, std::string peer_ip)
      : host_(host),
        opt_(host.Options()),
        stream_(std::move(stream)),
        peer_ip_(std::move(peer_ip)),
        idle_timer_(stream_.get_executor()) {}
  ~Connection() override {
    if (id_ != 0) host_.Unregister(id_);
  }
  void SetRegistered(uint64_t id) { id_ = id; }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Lowest().expires_after(self->opt_.handshake_timeout);
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) {
            self->host_.Refused("tls_handshake", "", 0, true);
            return self->Close();
          }
          self->ReadHead();
        });
      } else {
        self->ReadHead();
      }
    });
  }

  // Plain HTTP beyond the global cap: a 503 the client can read, then close.
  void RunOverCapacity() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->keep_alive_ = false;
      self->Reply(503, "too_many_connections", {{"Retry-After", "1"}});
    });
  }

  void Shutdown() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  using RequestParser = http::request_parser<http::buffer_body>;
  using ResponseParser = http::response_parser<http::buffer_body>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  auto& Lowest() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  std::string Sni() {
    if constexpr (kTls) {
      const char* name = SSL_get_servername(stream_.native_handle(), TLSEXT_NAMETYPE_host_name);
      return name != nullptr ? name : "";
    }
    return "";
  }

  // ---- the request head ----

  void ReadHead() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opt_.max_header_bytes));
    // Streamed, never held whole. (Not boost::none: Boost 1.74 compares a length with an empty
    // optional and refuses every body.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    const auto timeout = first_ ? opt_.header_timeout : opt_.keepalive_timeout;
    head_deadline_ = std::chrono::steady_clock::now() + timeout;
    Lowest().expires_after(timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Connection::OnHead, this->shared_from_this()));
  }

  void OnHead(beast::error_code ec, size_t) {
    if (closed_) return;
    if (ec == http::error::header_limit) {
      host_.Refused("header_too_large", "", 431);
      keep_alive_ = false;
      return Reply(431, "header_too_large");
    }
    // Under TLS the stream's timeout reaches us as an SSL error: the deadline tells.
    if (ec == beast::error::timeout || (ec && std::chrono::steady_clock::now() >= head_deadline_)) {
      // An idle kept-alive connection timing out is routine; a head that never completes is not.
      if (first_ || buffer_.size() > 0) host_.Refused("header_timeout", "", 0);
      return Close();
    }
    if (ec) {
      const bool gone = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == http::error::partial_message || ec == asio::error::connection_reset ||
                        ec == asio::error::operation_aborted ||
                        ec == asio::ssl::error::stream_truncated ||
                        ec.category() == asio::error::get_ssl_category();
      if (gone) return Close();
      keep_alive_ = false;
      host_.Refused("bad_request", "", 400);
      return Reply(400, "bad_request");
    }
    first_ = false;
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    method_ = Str(req.method_string());
    const std::string host_header = Str(req[http::field::host]);
    target_ = ResolveTarget(host_header, Sni(), Str(req.target()), opt_.domain);
    switch (target_.kind) {
      case Target::Kind::kHealth:
        return Reply(200, "ok");
      case Target::Kind::kRedirect:
        return Reply(308, "", {{"Location", target_.location}});
      case Target::Kind::kNotFound:
        host_.Refused("not_found", "", 404);
        return Reply(404, "not_found");
      case Target::Kind::kMisdirected:
        host_.Refused("sni_mismatch", "", 421);
        keep_alive_ = false;
        return Reply(421, "misdirected_request");
      case Target::Kind::kInstance:
      case Target::Kind::kWebhook:
        break;
    }
    RequestFacts facts;
    facts.method = method_;
    facts.target = target_;
    facts.websocket = beast::websocket::is_upgrade(req);
    facts.authorization = Str(req[http::field::authorization]);
    facts.cookie_header = Str(req[http::field::cookie]);
    facts.origin = Str(req[http::field::origin]);
    facts.own_origin = std::string(kTls ? "https://" : "http://") + host_header;
    facts.client_ip = peer_ip_;
    facts.user_agent = Str(req[http::field::user_agent]);
    if (lease_) facts.leased = lease_->key();
    websocket_ = facts.websocket;
    auto strand = stream_.get_executor();
    const bool queued = host_.PostWork(
        [self = this->shared_from_this(), strand, facts = std::move(facts)]() mutable {
          Verdict verdict;
          try {
            verdict = self->host_.gatekeeper().Decide(facts);
          } catch (const std::exception&) {
            verdict.status = 500;
            verdict.reason = "internal";
          }
          asio::post(strand, [self, verdict = std::move(verdict)]() mutable {
            self->OnVerdict(std::move(verdict));
          });
        });
    if (!queued) {
      keep_alive_ = false;
      Reply(503, "shutting_down", {{"Retry-After", "1"}});
    }
  }

  void OnVerdict(Verdict verdict) {
    if (closed_) return;
    if (verdict.lease) lease_ = std::move(verdict.lease);
    if (verdict.status != 0) {
      if (!verdict.reason.empty()) {
        host_.Refused(verdict.reason, target_.instance_id, verdict.status);
      }
      return Reply(verdict.status, verdict.reason.empty() ? "see_other" : verdict.reason,
                   std::move(verdict.headers));
    }
    key_ = verdict.key;
    auto& req = parser_->get();
    expect_continue_ = beast::iequals(req[http::field::expect], "100-continue");
    RewriteRequest(req, verdict, websocket_);
    upstream_.emplace(stream_.get_executor());
    upstream_->expires_after(opt_.connect_timeout);
    beast::error_code ec;
    const auto address = asio::ip::make_address(opt_.upstream_address, ec);
    upstream_->async_connect(
        tcp::endpoint(address, verdict.port),
        beast::bind_front_handler(&Connection::OnUpstreamConnected, this->shared_from_this()));
  }

  // ---- the request, up ----

  void OnUpstreamConnected(beast::error_code ec) {
    if (closed_) return;
    if (ec) return UpstreamFailed(ec, "upstream_connect_failed");
    // Heads and bodies go out as separate writes: without this, Nagle holds the second behind
    // the peer's delayed ACK (40 ms a response, measured by ops/bench/front_door_bench).
    upstream_->socket().set_option(tcp::no_delay(true), ec);
    upstream_started_ = std::chrono::steady_clock::now();
    if (expect_continue_) {
      Lowest().expires_after(opt_.write_timeout);
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = this->shared_from_this()](beast::error_code wec, size_t) {
                                 if (self->closed_) return;
                                 if (wec) return self->Close();
                                 self->SendRequestHead();
                               });
    }
    SendRequestHead();
  }

  void SendRequestHead() {
    auto& body = parser_->get().body();
    body.data = nullptr;
    body.size = 0;
    body.more = !parser_->is_done();
    req_sr_.emplace(parser_->get());
    upstream_->expires_after(opt_.upstream_timeout);
    http::async_write_header(*upstream_, *req_sr_,
                             [self = this->shared_from_this()](beast::error_code wec, size_t) {
                               if (self->closed_) return;
                               if (wec) return self->UpstreamFailed(wec, "upstream_write_failed");
                               if (self->req_sr_->is_done()) return self->ReadResponseHead();
                               self->ReadRequestChunk();
                             });
  }

  void ReadRequestChunk() {
    auto& body = parser_->get().body();
    if (parser_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      return WriteRequestChunk();
    }
    body.data = up_.data();
    body.size = up_.size();
    Lowest().expires_after(opt_.body_timeout);
    head_deadline_ = std::chrono::steady_clock::now() + opt_.body_timeout;
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec == http::error::need_buffer) ec = {};
                       if (ec) {
                         if (ec == beast::error::timeout ||
                             std::chrono::steady_clock::now() >= self->head_deadline_) {
                           self->host_.Refused("body_timeout", self->target_.instance_id, 0);
                         }
                         return self->Close();
                       }
                       auto& b = self->parser_->get().body();
                       b.size = self->up_.size() - b.size;
                       b.data = self->up_.data();
                       b.more = !self->parser_->is_done();
                       self->WriteRequestChunk();
                     });
  }

  void WriteRequestChunk() {
    upstream_->expires_after(opt_.upstream_timeout);
    http::async_write(*upstream_, *req_sr_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (self->closed_) return;
                        if (ec == http::error::need_buffer) ec = {};
                        if (ec) return self->UpstreamFailed(ec, "upstream_write_failed");
                        if (self->req_sr_->is_done()) return self->ReadResponseHead();
                        self->ReadRequestChunk();
                      });
  }

  // ---- the response, down ----

  void ReadResponseHead() {
    res_parser_.emplace();
    res_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    res_parser_->header_limit(64 * 1024);
    if (method_ == "HEAD") res_parser_->skip(true);
    upstream_->expires_after(opt_.upstream_timeout);
    http::async_read_header(
        *upstream_, upstream_buffer_, *res_parser_,
        beast::bind_front_handler(&Connection::OnResponseHead, this->shared_from_this()));
  }

  void OnResponseHead(beast::error_code ec, size_t) {
    if (closed_) return;
    if (ec) return UpstreamFailed(ec, "upstream_read_failed");
    host_.ObserveUpstream(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - upstream_started_)
            .count());
    auto& res = res_parser_->get();
    const bool upgraded = websocket_ && res.result() == http::status::switching_protocols;
    const bool client_keeps = keep_alive_ && parser_->is_done() && !upgraded;
    keep_alive_ = RewriteResponse(res, *res_parser_, kTls, upgraded, client_keeps, version_,
                                  method_ == "HEAD", target_.kind == Target::Kind::kWebhook);
    host_.CountResponse(res.result_int());
    auto& body = res.body();
    body.data = nullptr;
    body.size = 0;
    body.more = !res_parser_->is_done();
    res_sr_.emplace(res);
    Lowest().expires_after(opt_.write_timeout);
    http::async_write_header(
        stream_, *res_sr_,
        [self = this->shared_from_this(), upgraded](beast::error_code wec, size_t) {
          if (self->closed_) return;
          if (wec) return self->Close();
          if (upgraded) return self->Splice();
          if (self->res_sr_->is_done()) return self->Finish();
          self->ReadResponseChunk();
        });
  }

  void ReadResponseChunk() {
    auto& body = res_parser_->get().body();
    if (res_parser_->is_done()) {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
      return WriteResponseChunk();
    }
    body.data = down_.data();
    body.size = down_.size();
    upstream_->expires_after(opt_.upstream_timeout);
    http::async_read(*upstream_, upstream_buffer_, *res_parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec == http::error::need_buffer) ec = {};
                       if (ec) return self->Close();  // the head is out: only a cut can say it
                       auto& b = self->res_parser_->get().body();
                       b.size = self->down_.size() - b.size;
                       b.data = self->down_.data();
                       b.more = !self->res_parser_->is_done();
                       self->WriteResponseChunk();
                     });
  }

  void WriteResponseChunk() {
    Lowest().expires_after(opt_.write_timeout);
    http::async_write(stream_, *res_sr_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (self->closed_) return;
                        if (ec == http::error::need_buffer) ec = {};
                        if (ec) return self->Close();
                        if (self->res_sr_->is_done()) return self->Finish();
                        self->ReadResponseChunk();
                      });
  }

  void Finish() {
    DropUpstream();
    if (keep_alive_ && !host_.stopping()) return ReadHead();
    CloseGracefully();
  }

  // Before any byte of a response reached the client: 504 for a timeout, 502 for the rest.
  void UpstreamFailed(beast::error_code ec, std::string_view what) {
    const bool timeout = ec == beast::error::timeout;
    host_.UpstreamFailed(what, target_.instance_id, timeout ? "timeout" : ec.message());
    DropUpstream();
    keep_alive_ = false;
    Reply(timeout ? 504 : 502, timeout ? "upstream_timeout" : "bad_gateway");
  }

  // ---- WebSocket: bytes both ways after the 101 ----

  void Splice() {
    Lowest().expires_never();
    upstream_->expires_never();
    last_byte_ = std::chrono::steady_clock::now();
    ArmIdleTimer(opt_.websocket_idle_timeout);
    PumpUp();
    PumpDown();
  }

  void ArmIdleTimer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      const auto idle = std::chrono::steady_clock::now() - self->last_byte_;
      if (idle >= self->opt_.websocket_idle_timeout) {
        self->host_.Refused("websocket_idle", self->target_.instance_id, 0);
        return self->Close();
      }
      self->ArmIdleTimer(self->opt_.websocket_idle_timeout - idle);
    });
  }

  // Client to gateway; what the parser read past the upgrade request goes first.
  void PumpUp() {
    if (buffer_.size() > 0) return ForwardUp();
    stream_.async_read_some(buffer_.prepare(kChunk),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (self->closed_) return;
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ForwardUp();
                            });
  }
  void ForwardUp() {
    last_byte_ = std::chrono::steady_clock::now();
    host_.RecordActivity(key_, last_activity_);
    asio::async_write(*upstream_, buffer_.data(),
                      [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                        if (self->closed_) return;
                        if (ec) return self->Close();
                        self->buffer_.consume(n);
                        self->PumpUp();
                      });
  }
  void PumpDown() {
    if (upstream_buffer_.size() > 0) return ForwardDown();
    upstream_->async_read_some(upstream_buffer_.prepare(kChunk),
                               [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                                 if (self->closed_) return;
                                 if (ec) return self->Close();
                                 self->upstream_buffer_.commit(n);
                                 self->ForwardDown();
                               });
  }
  void ForwardDown() {
    last_byte_ = std::chrono::steady_clock::now();
    asio::async_write(stream_, upstream_buffer_.data(),
                      [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                        if (self->closed_) return;
                        if (ec) return self->Close();
                        self->upstream_buffer_.consume(n);
                        self->PumpDown();
                      });
  }

  // ---- the front door's own answers ----

  void Reply(unsigned status, std::string_view code, Headers headers = {}) {
    if (closed_) return;
    host_.CountResponse(status);
    own_.emplace();
    own_->version(version_);
    own_->result(status);
    AddOwnHeaders(*own_, kTls);
    for (auto& [name, value] : headers) own_->set(name, value);
    if (status == 200) {
      own_->set(http::field::content_type, "text/plain");
      own_->body() = "ok\n";
    } else if (!code.empty() && status != 303 && status != 308) {
      own_->set(http::field::content_type, "application/json");
      own_->body() = "{\"error\":\"" + std::string(code) + "\"}\n";
    }
    // A body the client is still sending would be read as the next request: close after this.
    const bool unread_body = parser_ && parser_->is_header_done() && !parser_->is_done();
    own_->keep_alive(keep_alive_ && !unread_body && !host_.stopping());
    own_->prepare_payload();
    Lowest().expires_after(opt_.write_timeout);
    http::async_write(stream_, *own_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (self->closed_) return;
                        const bool keep = self->own_->keep_alive();
                        self->own_.reset();
                        if (ec) return self->Close();
                        if (keep) return self->ReadHead();
                        self->CloseGracefully();
                      });
  }

  // After a last response: TLS sends close_notify; plain HTTP half-closes and drains what the
  // client still sends, so a RST does not destroy the response before the client reads it.
  void CloseGracefully() {
    if (closed_) return;
    Lowest().expires_after(std::chrono::seconds(1));
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return Close();
      Drain();
    }
  }
  void Drain() {
    Lowest().async_read_some(asio::buffer(down_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->drained_ += n;
                               if (ec || self->closed_ || self->drained_ > (1u << 20)) {
                                 return self->Close();
                               }
                               self->Drain();
                             });
  }

  void DropUpstream() {
    if (!upstream_) return;
    beast::error_code ec;
    upstream_->socket().shutdown(tcp::socket::shutdown_both, ec);
    upstream_->close();
    upstream_.reset();
    upstream_buffer_.clear();
    req_sr_.reset();
    res_sr_.reset();
    res_parser_.reset();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    idle_timer_.cancel();
    if (upstream_) {
      beast::error_code ec;
      upstream_->socket().shutdown(tcp::socket::shutdown_both, ec);
      upstream_->close();
    }
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  Host& host_;
  const FrontDoorOptions& opt_;
  uint64_t id_ = 0;
  Stream stream_;
  std::string peer_ip_;
  beast::flat_buffer buffer_;  // from the client
  std::optional<RequestParser> parser_;
  std::optional<http::request_serializer<http::buffer_body>> req_sr_;
  std::optional<beast::tcp_stream> upstream_;
  beast::flat_buffer upstream_buffer_;
  std::optional<ResponseParser> res_parser_;
  std::optional<http::response_serializer<http::buffer_body>> res_sr_;
  std::optional<http::response<http::string_body>> own_;
  std::optional<InstanceLimits::Lease> lease_;
  asio::steady_timer idle_timer_;
  Target target_;
  VmKey key_;
  std::string method_;
  unsigned version_ = 11;
  bool first_ = true;
  bool keep_alive_ = false;
  bool websocket_ = false;
  bool expect_continue_ = false;
  bool closed_ = false;
  size_t drained_ = 0;
  std::chrono::steady_clock::time_point head_deadline_;  // of the read in progress
  std::chrono::steady_clock::time_point upstream_started_;
  std::chrono::steady_clock::time_point last_byte_;
  std::chrono::steady_clock::time_point last_activity_{};  // RecordActivity's throttle
  std::array<char, kChunk> up_{};
  std::array<char, kChunk> down_{};
};

}  // namespace clawvisor::front_door
