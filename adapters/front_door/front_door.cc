#include "adapters/front_door/front_door.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "adapters/front_door/connection.h"
#include "adapters/posix/os_random.h"
#include "engine/logging.h"

namespace clawvisor::front_door {
namespace {

constexpr std::string_view kComponent = "front_door";
constexpr auto kActivityEvery = std::chrono::seconds(1);

}  // namespace

class FrontDoor::Impl {
 public:
  Impl(FrontDoorOptions options, FrontDoorBackend& backend, MetricsRegistry& metrics, Clock& clock)
      : options_(std::move(options)),
        backend_(backend),
        metrics_(metrics),
        clock_(clock),
        sessions_(clock, random_, options_.session_idle, options_.session_absolute,
                  options_.max_sessions),
        limits_(options_.max_connections_per_instance, options_.requests_per_second,
                options_.request_burst),
        gatekeeper_(options_, backend, sessions_, limits_, clock),
        acceptor_(asio::make_strand(ioc_)),
        accept_retry_(acceptor_.get_executor()),
        active_(metrics.GetGauge("clawvisor_front_door_active_connections",
                                 "Client connections the front door holds open")),
        upstream_seconds_(metrics.GetHistogram(
            "clawvisor_front_door_upstream_seconds",
            "From the gateway connection to its response head (the VM's share of a request)")) {}
  ~Impl() { Stop(); }

  Status Start();
  void Stop();
  uint16_t port() const { return port_; }

  // ---- what a Connection asks of its host ----
  const FrontDoorOptions& Options() const { return options_; }
  Gatekeeper& gatekeeper() { return gatekeeper_; }
  bool stopping() const { return stopping_flag_.load(std::memory_order_acquire); }

  template <typename Work>
  bool PostWork(Work&& work) {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    asio::post(*pool_, std::forward<Work>(work));
    return true;
  }

  // A refusal: counted by reason, logged with it (never a token, cookie or query). `quiet`:
  // routine noise on a public port (failed TLS handshakes), logged at debug.
  void Refused(std::string_view reason, std::string_view instance_id, unsigned status,
               bool quiet = false) {
    metrics_
        .GetCounter("clawvisor_front_door_refused_total",
                    "Requests and connections the front door refused, by reason",
                    {{"reason", std::string(reason)}})
        .Inc();
    Log(quiet ? LogLevel::kDebug : LogLevel::kInfo, kComponent, "refused",
        {{"reason", reason}, {"instance", instance_id}, {"status", status}});
  }

  void UpstreamFailed(std::string_view what, std::string_view instance_id, std::string_view error) {
    Log(LogLevel::kWarn, kComponent, what, {{"instance", instance_id}, {"error", error}});
  }

  void CountResponse(unsigned status) {
    metrics_
        .GetCounter("clawvisor_front_door_requests_total",
                    "Responses the front door sent (its own and relayed), by status class",
                    {{"code", StatusClass(status)}})
        .Inc();
  }

  void ObserveUpstream(double seconds) { upstream_seconds_.Observe(seconds); }

  // A WebSocket chunk from the client: at most one RecordActivity per connection per second
  // (`last` is the connection's), on the worker pool.
  void RecordActivity(const VmKey& key, std::chrono::steady_clock::time_point& last) {
    const auto now = clock_.Monotonic();
    if (last != std::chrono::steady_clock::time_point{} && now - last < kActivityEvery) return;
    last = now;
    PostWork([this, key] { backend_.RecordActivity(key); });
  }

  enum class Admission { kAdmitted, kOverCapacity, kStopping };
  Admission Register(uint64_t& id, const std::shared_ptr<ConnectionBase>& connection) {
    std::lock_guard lock(mu_);
    if (stopping_) return Admission::kStopping;
    if (connections_.size() >= options_.max_connections) return Admission::kOverCapacity;
    id = ++next_id_;
    connections_.emplace(id, connection);
    active_.Set(static_cast<int64_t>(connections_.size()));
    return Admission::kAdmitted;
  }
  void Unregister(uint64_t id) {
    std::lock_guard lock(mu_);
    connections_.erase(id);
    active_.Set(static_cast<int64_t>(connections_.size()));
  }

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  template <typename ConnectionType>
  void Admit(const std::shared_ptr<ConnectionType>& connection);
  void RunIo();

  const FrontDoorOptions options_;
  FrontDoorBackend& backend_;
  MetricsRegistry& metrics_;
  Clock& clock_;
  OsRandom random_;
  SessionStore sessions_;
  // Declared before the io_context: connections (holding leases) die before it.
  InstanceLimits limits_;
  Gatekeeper gatekeeper_;
  uint16_t port_ = 0;

  std::mutex lifecycle_mu_;                                            // serialises Start and Stop
  enum class State { kNew, kRunning, kStopped } state_ = State::kNew;  // GUARDED_BY(lifecycle_mu_)

  std::mutex mu_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::atomic<bool> stopping_flag_{false};
  uint64_t next_id_ = 0;                                                     // GUARDED_BY(mu_)
  std::unordered_map<uint64_t, std::weak_ptr<ConnectionBase>> connections_;  // GUARDED_BY(mu_)

  std::unique_ptr<asio::ssl::context> tls_context_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<asio::thread_pool> pool_;
  std::vector<std::thread> io_threads_;

  Gauge& active_;
  Histogram& upstream_seconds_;
};

Status FrontDoor::Impl::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (options_.io_threads == 0 || options_.worker_threads == 0 || options_.max_connections == 0 ||
      options_.max_connections_per_instance == 0) {
    return MakeError(Errc::kInvalidArgument,
                     "io_threads, worker_threads and the connection caps must be at least 1");
  }
  beast::error_code ec;
  asio::ip::make_address(options_.upstream_address, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "upstream address is not an IP address");
  const auto address = asio::ip::make_address(options_.listen_address, ec);
  if (ec) {
    return MakeError(Errc::kInvalidArgument,
                     "listen address '" + options_.listen_address + "' is not an IP address");
  }
  if (options_.tls) {
    auto ctx = openssl::MakeTlsServerContext(*options_.tls);
    if (!ctx) return std::unexpected(ctx.error());
    tls_context_ = std::make_unique<asio::ssl::context>(ctx->release());
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
  port_ = acceptor_.local_endpoint(ec).port();
  pool_ = std::make_unique<asio::thread_pool>(options_.worker_threads);
  work_.emplace(asio::make_work_guard(ioc_));
  asio::post(acceptor_.get_executor(), [this] { DoAccept(); });
  for (size_t i = 0; i < options_.io_threads; ++i) io_threads_.emplace_back([this] { RunIo(); });
  state_ = State::kRunning;
  Log(LogLevel::kInfo, kComponent, "listening",
      {{"address", options_.listen_address},
       {"port", port_},
       {"scheme", tls_context_ ? "https" : "http"},
       {"domain", options_.domain}});
  return {};
}

void FrontDoor::Impl::RunIo() {
  while (true) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      Log(LogLevel::kError, kComponent, "I/O handler threw", {{"what", e.what()}});
    }
  }
}

void FrontDoor::Impl::DoAccept() {
  acceptor_.async_accept(asio::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void FrontDoor::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open()) return;
  if (ec) {
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
  // The response head, its body and TLS records are separate writes: without this, Nagle holds
  // each small one behind the client's delayed ACK (40 ms a response, ops/bench/front_door_bench).
  socket.set_option(tcp::no_delay(true), peer_ec);
  if (tls_context_) {
    using TlsConnection = Connection<beast::ssl_stream<beast::tcp_stream>, Impl>;
    Admit(std::make_shared<TlsConnection>(
        *this,
        beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_context_),
        std::move(peer_ip)));
  } else {
    using PlainConnection = Connection<beast::tcp_stream, Impl>;
    Admit(std::make_shared<PlainConnection>(*this, beast::tcp_stream(std::move(socket)),
                                            std::move(peer_ip)));
  }
  if (!stopping()) DoAccept();
}

template <typename ConnectionType>
void FrontDoor::Impl::Admit(const std::shared_ptr<ConnectionType>& connection) {
  uint64_t id = 0;
  switch (Register(id, connection)) {
    case Admission::kAdmitted:
      connection->SetRegistered(id);
      connection->Run();
      break;
    case Admission::kOverCapacity:
      Refused("global_connections", "", 503);
      // Plain HTTP: a 503 the client can read. TLS: closed before any handshake work.
      if constexpr (!ConnectionType::kTls) connection->RunOverCapacity();
      break;
    case Admission::kStopping:
      break;
  }
}

void FrontDoor::Impl::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (state_ != State::kRunning) {
    state_ = State::kStopped;
    return;
  }
  std::vector<std::weak_ptr<ConnectionBase>> connections;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_release);
    for (const auto& [id, connection] : connections_) connections.push_back(connection);
  }
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
  });
  for (const auto& weak : connections) {
    if (auto connection = weak.lock()) connection->Shutdown();
  }
  connections.clear();
  pool_->join();  // backend calls in flight finish; their verdicts find closed connections
  work_.reset();
  for (auto& thread : io_threads_) thread.join();
  io_threads_.clear();
  state_ = State::kStopped;
  Log(LogLevel::kInfo, kComponent, "stopped");
}

Result<std::unique_ptr<FrontDoor>> FrontDoor::Start(FrontDoorOptions options,
                                                    FrontDoorBackend& backend,
                                                    MetricsRegistry& metrics, Clock& clock) {
  auto impl = std::make_unique<Impl>(std::move(options), backend, metrics, clock);
  if (auto started = impl->Start(); !started) return std::unexpected(started.error());
  return std::unique_ptr<FrontDoor>(new FrontDoor(std::move(impl)));
}

FrontDoor::FrontDoor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FrontDoor::~FrontDoor() { Stop(); }
uint16_t FrontDoor::port() const { return impl_->port(); }
void FrontDoor::Stop() { impl_->Stop(); }

}  // namespace clawvisor::front_door
