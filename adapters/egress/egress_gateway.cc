#include "adapters/egress/egress_gateway.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <cstring>
#include <mutex>
#include <thread>

#include "adapters/egress/handoff.h"
#include "engine/egress/client_hello.h"
#include "engine/egress/connect_request.h"
#include "engine/egress/token_bucket.h"
#include "engine/logging.h"

namespace clawvisor::egress {
namespace {

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;
using GuestSocket = asio::generic::stream_protocol::socket;
using boost::system::error_code;

constexpr std::string_view kComponent = "egress";
constexpr size_t kPumpBuffer = 16 * 1024;
constexpr auto kUsageFlushEvery = std::chrono::seconds(10);
constexpr auto kHandoffTimeout = std::chrono::seconds(2);

std::string InstanceLabel(const VmKey& key) { return key.account_id + "/" + key.instance_id; }

Tcp::endpoint ToEndpoint(const IpAddress& address, uint16_t port) {
  if (address.v6) {
    asio::ip::address_v6::bytes_type bytes;
    std::copy(address.bytes.begin(), address.bytes.end(), bytes.begin());
    return {asio::ip::address_v6(bytes), port};
  }
  asio::ip::address_v4::bytes_type bytes;
  std::copy(address.bytes.begin(), address.bytes.begin() + 4, bytes.begin());
  return {asio::ip::address_v4(bytes), port};
}

IpAddress FromAsio(const asio::ip::address& address) {
  IpAddress out;
  if (address.is_v6()) {
    out.v6 = true;
    auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  } else {
    auto bytes = address.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  }
  return out;
}

std::string ProxyReply(int status, std::string_view reason, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size() + 1) +
         "\r\nConnection: close\r\n\r\n" + std::string(body) + "\n";
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

struct InstanceState {
  uint32_t active = 0;
  TokenBucket bucket{0, 1};
};

class Tunnel;

}  // namespace

class EgressGateway::Impl {
 public:
  Impl(EgressGatewayOptions options, MetricsRegistry& metrics, EgressPolicyLookup policy,
       Clock& clock, InstanceTraffic& traffic)
      : options_(std::move(options)),
        metrics_(metrics),
        policy_(std::move(policy)),
        clock_(clock),
        traffic_(traffic),
        filter_(HostInterfaceAddresses(), options_.treat_as_public),
        acceptor_(io_) {}

  Status Listen();
  void Run() {
    thread_ = std::thread([this] { io_.run(); });
  }
  void Shutdown() {
    asio::post(io_, [this] {
      error_code ignored;
      acceptor_.close(ignored);
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
    ::unlink(options_.socket_path.c_str());
  }

  // --- used by tunnels, on the I/O thread ---
  asio::io_context& io() { return io_; }
  const EgressGatewayOptions& options() const { return options_; }
  const DestinationFilter& filter() const { return filter_; }
  std::optional<EgressPolicy> PolicyFor(const VmKey& key) { return policy_(key); }
  Clock& clock() { return clock_; }
  void Acquire(const VmKey& key, const EgressPolicy& policy) {
    ++StateFor(key, policy).active;
    metrics_
        .GetGauge("clawvisor_egress_active_tunnels", "Egress tunnels open now",
                  {{"instance", InstanceLabel(key)}})
        .Add(1);
  }
  InstanceState& StateFor(const VmKey& key, const EgressPolicy& policy) {
    auto [it, added] = instances_.try_emplace(key);
    if (added || it->second.bucket.bytes_per_second() != policy.bytes_per_second) {
      it->second.bucket = TokenBucket(policy.bytes_per_second, policy.burst_bytes);
    }
    return it->second;
  }
  void Release(const VmKey& key) {
    auto it = instances_.find(key);
    if (it != instances_.end() && it->second.active > 0 && --it->second.active == 0) {
      instances_.erase(it);
    }
    metrics_
        .GetGauge("clawvisor_egress_active_tunnels", "Egress tunnels open now",
                  {{"instance", InstanceLabel(key)}})
        .Add(-1);
  }
  void CountRefusal(const VmKey& key, std::string_view reason, std::string_view host,
                    std::string_view detail) {
    metrics_
        .GetCounter("clawvisor_egress_refused_total", "Egress connections refused, by reason",
                    {{"instance", key.account_id.empty() ? "unknown" : InstanceLabel(key)},
                     {"reason", std::string(reason)}})
        .Inc();
    Log(LogLevel::kInfo, kComponent, "egress refused",
        {{"account_id", key.account_id},
         {"instance_id", key.instance_id},
         {"reason", reason},
         {"host", host},
         {"detail", detail}});
    if (!key.account_id.empty()) Record(key, host, EgressTally{.refused = 1});
  }
  // Into the instance's tally for its activity and the audit trail's egress summary.
  void Record(const VmKey& key, std::string_view host, const EgressTally& tally) {
    traffic_.RecordEgress(key, host.empty() ? InstanceTraffic::kOtherHosts : host, tally,
                          clock_.NowUs());
  }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  void Accept();
  void ReadHandoff(std::shared_ptr<asio::local::stream_protocol::socket> socket);
  void StartTunnel(Handoff handoff);

  EgressGatewayOptions options_;
  MetricsRegistry& metrics_;
  EgressPolicyLookup policy_;
  Clock& clock_;
  InstanceTraffic& traffic_;
  DestinationFilter filter_;
  std::map<VmKey, InstanceState> instances_;  // I/O thread only
  // Last, so it goes first: destroying it ends the tunnels it still holds, which update the
  // members above as they go.
  asio::io_context io_;
  asio::local::stream_protocol::acceptor acceptor_;
  std::thread thread_;
};

namespace {

// One guest connection, from its first byte to its close.
//
//   [3128] read CONNECT ─▶ check ─▶ resolve ─▶ dial ─▶ "200" ─▶ read ClientHello (SNI = host)
//   [443]  read ClientHello ─▶ check SNI ─▶ resolve ─▶ dial
//   then: forward the ClientHello, pump both ways until both sides have closed.
class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  Tunnel(EgressGateway::Impl& gateway, Handoff handoff, EgressPolicy policy)
      : gw_(gateway),
        key_(std::move(handoff.key)),
        guest_port_(handoff.guest_port),
        policy_(std::move(policy)),
        guest_(gateway.io()),
        upstream_(gateway.io()),
        resolver_(gateway.io()),
        deadline_(gateway.io()),
        out_wait_(gateway.io()),
        in_wait_(gateway.io()) {
    gw_.Acquire(key_, policy_);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    ::getsockname(handoff.fd, reinterpret_cast<sockaddr*>(&address), &length);
    error_code ec;
    guest_.assign(asio::generic::stream_protocol(address.ss_family, SOCK_STREAM), handoff.fd, ec);
    if (ec) ::close(handoff.fd);
  }
  ~Tunnel() {
    gw_.Release(key_);
    if (out_bytes_ != nullptr) FlushUsage();
  }

  void Start(bool over_limit) {
    if (!guest_.is_open()) return;
    if (over_limit) return Refuse("connection_limit", 429, "too many open connections");
    ArmDeadline(gw_.options().handshake_timeout, "handshake_timeout", 408);
    ReadHead();
  }

 private:
  // `reason` names a refusal (with `status` for the proxy's answer), or "idle" for a tunnel.
  void ArmDeadline(std::chrono::milliseconds after, std::string_view reason, int status = 0) {
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), reason, status](error_code ec) {
      if (ec) return;
      if (self->spliced_) return self->Close();
      self->Refuse(reason, status, "timed out");
    });
  }

  void ReadHead() {
    const size_t at = head_.size();
    head_.resize(at + 4096);
    guest_.async_read_some(asio::buffer(head_.data() + at, 4096),
                           [self = shared_from_this(), at](error_code ec, size_t n) {
                             self->head_.resize(at + n);
                             if (ec) return self->Close();
                             self->OnHead();
                           });
  }

  void OnHead() {
    if (guest_port_ == kProxyPort && !proxied_) {
      const ConnectScan scan = ScanConnectRequest(
          std::string_view(reinterpret_cast<const char*>(head_.data()), head_.size()));
      if (scan.state == ConnectScanState::kNeedMore) return ReadHead();
      if (scan.state == ConnectScanState::kRefused) {
        return Refuse(scan.status == 403 && scan.problem.starts_with("only port") ? "port_not_443"
                                                                                  : "bad_connect",
                      scan.status, scan.problem);
      }
      host_ = scan.host;
      head_.erase(head_.begin(), head_.begin() + static_cast<ptrdiff_t>(scan.head_bytes));
      proxied_ = true;
      return CheckAndResolve();
    }
    const HelloScan scan = ScanClientHello(head_);
    switch (scan.state) {
      case HelloScanState::kNeedMore:
        if (head_.size() > kMaxClientHelloBytes) return Refuse("malformed_tls", 0, "too large");
        return ReadHead();
      case HelloScanState::kNotTls:
        return Refuse("not_tls", 0, scan.problem);
      case HelloScanState::kMalformed:
        return Refuse("malformed_tls", 0, scan.problem);
      case HelloScanState::kComplete:
        break;
    }
    if (scan.server_name.empty()) return Refuse("no_sni", 0, "ClientHello without server_name");
    if (proxied_) {
      // CONNECT named the host already; TLS must be to that very name.
      if (scan.server_name != host_) return Refuse("sni_mismatch", 0, "SNI differs from CONNECT");
      return Splice();
    }
    host_ = scan.server_name;
    CheckAndResolve();
  }

  void CheckAndResolve() {
    if (!policy_.allowed_hosts.empty()) {
      const HostPattern* match = FirstMatch(policy_.allowed_hosts, host_);
      if (match == nullptr)
        return Refuse("not_allowed", 403, "host not in the instance's allowlist");
      destination_ = match->text();
    }
    const auto& statics = gw_.options().static_hosts;
    if (!statics.empty()) {
      auto it = statics.find(host_);
      if (it == statics.end()) return Refuse("resolve_failed", 502, "name does not resolve");
      return Dial(it->second);
    }
    resolver_.async_resolve(
        host_, "443",
        [self = shared_from_this()](error_code ec, Tcp::resolver::results_type results) {
          if (ec || results.empty()) {
            return self->Refuse("resolve_failed", 502, "name does not resolve");
          }
          std::vector<IpAddress> addresses;
          for (const auto& entry : results) {
            addresses.push_back(FromAsio(entry.endpoint().address()));
          }
          self->Dial(addresses);
        });
  }

  void Dial(const std::vector<IpAddress>& addresses) {
    std::vector<Tcp::endpoint> endpoints;
    for (const auto& address : addresses) {
      // Every address the name has must be public: a name that also points inside is refused
      // whole, rather than dialled at its public half (no mixed answers to play with).
      if (auto refusal = gw_.filter().Refusal(address)) {
        return Refuse("refused_range", 403, "resolves to a refused range (" + *refusal + ")");
      }
      endpoints.push_back(ToEndpoint(address, gw_.options().upstream_port));
    }
    if (endpoints.empty()) return Refuse("resolve_failed", 502, "name has no address");
    ArmDeadline(gw_.options().connect_timeout, "connect_timeout", 504);
    asio::async_connect(upstream_, endpoints,
                        [self = shared_from_this()](error_code ec, const Tcp::endpoint&) {
                          if (ec) return self->Refuse("connect_failed", 502, ec.message());
                          self->OnConnected();
                        });
  }

  void OnConnected() {
    if (!proxied_) return Splice();
    // The proxy's answer, then the ClientHello (which may already be in head_).
    reply_ = "HTTP/1.1 200 Connection Established\r\n\r\n";
    answered_ = true;
    ArmDeadline(gw_.options().handshake_timeout, "handshake_timeout");
    asio::async_write(guest_, asio::buffer(reply_),
                      [self = shared_from_this()](error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (self->head_.empty()) return self->ReadHead();
                        self->OnHead();
                      });
  }

  void Splice() {
    spliced_ = true;
    const std::string instance = InstanceLabel(key_);
    auto& metrics = gw_.metrics();
    metrics
        .GetCounter("clawvisor_egress_connections_total", "Egress tunnels established",
                    {{"instance", instance}, {"destination", destination_}})
        .Inc();
    out_bytes_ = &metrics.GetCounter("clawvisor_egress_bytes_total", "Egress bytes",
                                     {{"instance", instance}, {"direction", "out"}});
    in_bytes_ = &metrics.GetCounter("clawvisor_egress_bytes_total", "Egress bytes",
                                    {{"instance", instance}, {"direction", "in"}});
    gw_.Record(key_, host_, EgressTally{.connections = 1});
    last_flush_ = std::chrono::steady_clock::now();
    ArmDeadline(gw_.options().idle_timeout, "idle");
    // The ClientHello goes first, as it came.
    out_buffer_ = std::move(head_);
    asio::async_write(upstream_, asio::buffer(out_buffer_),
                      [self = shared_from_this()](error_code ec, size_t n) {
                        if (ec) return self->Close();
                        self->Count(true, n);
                        self->PumpOut();
                      });
    in_buffer_.resize(kPumpBuffer);
    PumpIn();
  }

  void Count(bool out, size_t n) {
    (out ? out_total_ : in_total_) += n;
    (out ? out_bytes_ : in_bytes_)->Inc(n);
    ArmDeadline(gw_.options().idle_timeout, "idle");
    // A long-lived tunnel (a chat platform's WebSocket) is activity while it carries bytes, not
    // only when it ends.
    if (std::chrono::steady_clock::now() - last_flush_ >= kUsageFlushEvery) FlushUsage();
  }
  void FlushUsage() {
    if (out_total_ == 0 && in_total_ == 0) return;
    gw_.Record(key_, host_, EgressTally{.bytes_out = out_total_, .bytes_in = in_total_});
    out_total_ = in_total_ = 0;
    last_flush_ = std::chrono::steady_clock::now();
  }

  // Guest → destination.
  void PumpOut() {
    out_buffer_.resize(kPumpBuffer);
    guest_.async_read_some(
        asio::buffer(out_buffer_), [self = shared_from_this()](error_code ec, size_t n) {
          if (ec) return self->HalfClose(true);
          asio::async_write(self->upstream_, asio::buffer(self->out_buffer_.data(), n),
                            [self](error_code ec2, size_t written) {
                              if (ec2) return self->Close();
                              self->Count(true, written);
                              self->Throttle(true, written);
                            });
        });
  }

  // Destination → guest.
  void PumpIn() {
    upstream_.async_read_some(
        asio::buffer(in_buffer_), [self = shared_from_this()](error_code ec, size_t n) {
          if (ec) return self->HalfClose(false);
          asio::async_write(self->guest_, asio::buffer(self->in_buffer_.data(), n),
                            [self](error_code ec2, size_t written) {
                              if (ec2) return self->Close();
                              self->Count(false, written);
                              self->Throttle(false, written);
                            });
        });
  }

  // The instance's byte rate, shared by its tunnels: wait out the debt before the next read.
  void Throttle(bool out, size_t n) {
    InstanceState& state = gw_.StateFor(key_, policy_);
    // Rates are measured on the monotonic clock: the injected clock dates usage, it does not pace.
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
    const int64_t wait_us = state.bucket.Take(now_us, n);
    auto next = [self = shared_from_this(), out] { out ? self->PumpOut() : self->PumpIn(); };
    if (wait_us <= 0) return next();
    auto& timer = out ? out_wait_ : in_wait_;
    timer.expires_after(std::chrono::microseconds(wait_us));
    timer.async_wait([next](error_code ec) {
      if (!ec) next();
    });
  }

  void HalfClose(bool out) {
    error_code ignored;
    if (out) {
      out_done_ = true;
      upstream_.shutdown(Tcp::socket::shutdown_send, ignored);
    } else {
      in_done_ = true;
      guest_.shutdown(GuestSocket::shutdown_send, ignored);
    }
    if (out_done_ && in_done_) Close();
  }

  // `status` 0: close without an answer (TLS, or after the proxy's 200).
  void Refuse(std::string_view reason, int status, std::string detail) {
    if (closed_) return;
    gw_.CountRefusal(key_, reason, host_, detail);
    if (guest_port_ != kProxyPort || answered_ || status == 0) return Close();
    reply_ = ProxyReply(status, StatusReason(status), std::string(reason) + ": " + detail);
    answered_ = true;
    asio::async_write(guest_, asio::buffer(reply_),
                      [self = shared_from_this()](error_code, size_t) { self->Close(); });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    deadline_.cancel();
    out_wait_.cancel();
    in_wait_.cancel();
    resolver_.cancel();
    guest_.close(ignored);
    upstream_.close(ignored);
  }

  EgressGateway::Impl& gw_;
  VmKey key_;
  uint16_t guest_port_;
  EgressPolicy policy_;
  GuestSocket guest_;
  Tcp::socket upstream_;
  Tcp::resolver resolver_;
  asio::steady_timer deadline_;
  asio::steady_timer out_wait_;
  asio::steady_timer in_wait_;
  std::vector<uint8_t> head_;
  std::vector<uint8_t> out_buffer_;
  std::vector<uint8_t> in_buffer_;
  std::string reply_;
  std::string host_;
  std::string destination_ = "*";
  Counter* out_bytes_ = nullptr;
  Counter* in_bytes_ = nullptr;
  uint64_t out_total_ = 0;  // since the last FlushUsage
  uint64_t in_total_ = 0;
  std::chrono::steady_clock::time_point last_flush_;
  bool proxied_ = false;
  bool spliced_ = false;
  bool answered_ = false;  // the proxy's status line went out: no other answer can follow
  bool closed_ = false;
  bool out_done_ = false;
  bool in_done_ = false;
};

}  // namespace

Status EgressGateway::Impl::Listen() {
  const std::string& path = options_.socket_path;
  if (path.empty()) return MakeError(Errc::kInvalidArgument, "egress socket path is empty");
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return MakeError(Errc::kInvalidArgument, "egress socket path " + path + " is not a socket");
    }
    ::unlink(path.c_str());
  }
  error_code ec;
  asio::local::stream_protocol::endpoint endpoint(path);
  acceptor_.open(endpoint.protocol(), ec);
  // The socket is created owner-only: bind honours the umask.
  const mode_t old_mask = ::umask(0177);
  if (!ec) acceptor_.bind(endpoint, ec);
  ::umask(old_mask);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return MakeError(Errc::kUnavailable, "egress socket " + path + ": " + ec.message());
  Accept();
  return {};
}

void EgressGateway::Impl::Accept() {
  auto socket = std::make_shared<asio::local::stream_protocol::socket>(io_);
  acceptor_.async_accept(*socket, [this, socket](error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) ReadHandoff(socket);
    Accept();
  });
}

void EgressGateway::Impl::ReadHandoff(
    std::shared_ptr<asio::local::stream_protocol::socket> socket) {
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(socket->native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    CountRefusal({}, "bad_handoff", "", "handoff from another user");
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(io_, kHandoffTimeout);
  timer->async_wait([socket](error_code ec) {
    if (!ec) socket->close(ec);
  });
  socket->async_wait(asio::socket_base::wait_read, [this, socket, timer](error_code ec) {
    timer->cancel();
    if (ec) return;
    auto handoff = ReceiveHandoff(socket->native_handle());
    // Counted before the close, so whoever sees the close sees the count.
    if (!handoff) CountRefusal({}, "bad_handoff", "", handoff.error().message);
    socket->close(ec);
    if (!handoff) return;
    StartTunnel(std::move(*handoff));
  });
}

void EgressGateway::Impl::StartTunnel(Handoff handoff) {
  auto policy = PolicyFor(handoff.key);
  if (!policy) {
    CountRefusal(handoff.key, "unknown_instance", "", "no such instance on this host");
    ::close(handoff.fd);  // after the count: whoever sees the close sees the count
    return;
  }
  // Over the cap, the tunnel still starts, to answer: a proxy client sees 429, not a bare close.
  const bool over_limit = StateFor(handoff.key, *policy).active >= policy->max_connections;
  std::make_shared<Tunnel>(*this, std::move(handoff), *policy)->Start(over_limit);
}

EgressGateway::EgressGateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EgressGateway::~EgressGateway() { impl_->Shutdown(); }

Result<std::unique_ptr<EgressGateway>> EgressGateway::Start(EgressGatewayOptions options,
                                                            MetricsRegistry& metrics,
                                                            EgressPolicyLookup policy, Clock& clock,
                                                            InstanceTraffic& traffic) {
  auto impl =
      std::make_unique<Impl>(std::move(options), metrics, std::move(policy), clock, traffic);
  if (auto listening = impl->Listen(); !listening) return std::unexpected(listening.error());
  impl->Run();
  Log(LogLevel::kInfo, kComponent, "egress gateway listening",
      {{"socket", impl->options().socket_path}});
  return std::unique_ptr<EgressGateway>(new EgressGateway(std::move(impl)));
}

const std::string& EgressGateway::socket_path() const { return impl_->options().socket_path; }

std::vector<IpAddress> HostInterfaceAddresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) continue;
    IpAddress address;
    if (it->ifa_addr->sa_family == AF_INET) {
      std::memcpy(address.bytes.data(), &reinterpret_cast<sockaddr_in*>(it->ifa_addr)->sin_addr, 4);
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      address.v6 = true;
      std::memcpy(address.bytes.data(), &reinterpret_cast<sockaddr_in6*>(it->ifa_addr)->sin6_addr,
                  16);
    } else {
      continue;
    }
    out.push_back(address);
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace clawvisor::egress
