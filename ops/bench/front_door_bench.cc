// front_door_bench: the front door (adapters/front_door) beside a direct connection to the same
// upstream, measured side by side in the same run.
//
// The "instance's gateway" is an HTTP/1.1 server of this bench on 127.0.0.1 (blocking sockets, a
// fixed pool of threads each accepting and serving one connection at a time, so no thread is
// started per connection): `GET /big/<n>` answers n bytes, anything else a 100-byte body, both
// with Content-Length, kept alive unless the request says `Connection: close`. The same server
// also listens with TLS (OpenSSL, the front door's own server context, MakeTlsServerContext, a
// self-signed P-256 pair). A client (blocking sockets, TCP_NODELAY, raw OpenSSL, one SSL_CTX, no
// session reuse: every TLS connection is a full handshake) reaches it
//   direct        plain HTTP to the upstream port: what the VM's forwarded port is;
//   direct TLS    HTTPS to the same server: the TLS cost alone, without a proxy;
//   front door    HTTPS to a FrontDoor (path mode, `/instances/{id}/...`, `Authorization:
//                 Bearer <gateway token>`) over an in-bench FrontDoorBackend (one instance, the
//                 token compared in memory), which opens a new upstream connection per request.
// The front door runs with requests_per_second 1,000,000 and max_connections_per_instance 1,024
// so its limits do not throttle the measurement; a second FrontDoor with the default options
// (20 req/s, burst 40) shows the limit holds.
//
//  1. Latency: N sequential requests on one kept-alive connection per path, the paths taking
//     turns in 4 rounds; p50/p99/max and the front door's ratio to direct and to direct TLS.
//  2. Throughput: C client threads, each with one kept-alive connection, as many requests as
//     they can for S seconds per path (2 alternating rounds); requests/s and ratios.
//  3. New connections: connect (+ TLS handshake) + one request + response, E per path,
//     alternating; p50/p99.
//  4. Body streaming: one `GET` of B MiB per path per round (3 alternating rounds); MiB/s.
// CPU: the process's user+system time (getrusage) per request (or per MiB), which counts the
// client, the upstream and, on the front door's path, the front door's I/O and worker threads;
// the difference from a direct path is the front door's (plus TLS, against plain direct).
// Wall-clock figures move with other load on the machine (2 cores here); CPU per request varies
// far less. Not measured: a real microVM (`--vm` is not implemented), WebSockets, request bodies.
//
// Usage: front_door_bench [--requests N] [--clients C] [--seconds S] [--connections E]
//                         [--body-mib B] [--help]
//        (defaults 2000 requests, 16 clients, 2 s per path per round, 500 connections, 64 MiB)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/front_door/front_door.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/clock.h"
#include "engine/logging.h"
#include "engine/metrics.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr size_t kIoChunk = 64 * 1024;
constexpr size_t kSmallBody = 100;
constexpr const char* kConsoleId = "0a0a0a0a-0000-4000-8000-00000000000a";
constexpr const char* kGatewayToken = "bench-gateway-token-0123456789abcdef";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "front_door_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

void NoDelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void ReceiveTimeout(int fd, int seconds) {
  timeval timeout{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

// ---------------------------------------------------------------- a buffered HTTP stream

// A connected socket, plain or TLS (owns both), with a read buffer for parsing heads.
class Stream {
 public:
  // `quick_ack`: TCP_QUICKACK before every read (the kernel clears it), so this end never
  // delays an ACK: the diagnostic peer that shows what a Nagle-delayed write costs the other end.
  Stream(int fd, SSL* ssl, bool quick_ack = false)
      : fd_(fd), ssl_(ssl), quick_ack_(quick_ack), buffer_(kIoChunk) {}
  ~Stream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ::close(fd_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool Write(const char* data, size_t n) {
    while (n > 0) {
      const size_t chunk = std::min(n, kIoChunk * 4);
      ssize_t w;
      if (ssl_ != nullptr) {
        w = SSL_write(ssl_, data, static_cast<int>(chunk));
      } else {
        w = ::send(fd_, data, chunk, MSG_NOSIGNAL);
      }
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  bool Write(std::string_view s) { return Write(s.data(), s.size()); }

  // The next head (through "\r\n\r\n") into `head`; what follows stays buffered. False when the
  // stream ends or the head exceeds the buffer.
  bool ReadHead(std::string& head) {
    while (true) {
      const std::string_view data(buffer_.data() + begin_, end_ - begin_);
      const size_t at = data.find("\r\n\r\n");
      if (at != std::string_view::npos) {
        head.assign(data.substr(0, at + 4));
        begin_ += at + 4;
        return true;
      }
      if (!Fill()) return false;
    }
  }

  // Reads and discards `n` bytes (buffered ones first).
  bool Discard(uint64_t n) {
    while (n > 0) {
      if (begin_ == end_ && !Fill()) return false;
      const uint64_t take = std::min<uint64_t>(n, end_ - begin_);
      begin_ += static_cast<size_t>(take);
      n -= take;
    }
    return true;
  }

 private:
  bool Fill() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == buffer_.size()) {
      if (begin_ == 0) return false;  // a head larger than the buffer
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (quick_ack_) {
      const int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    char* at = buffer_.data() + end_;
    const size_t room = buffer_.size() - end_;
    ssize_t r;
    if (ssl_ != nullptr) {
      r = SSL_read(ssl_, at, static_cast<int>(room));
    } else {
      r = ::recv(fd_, at, room, 0);
    }
    if (r <= 0) return false;
    end_ += static_cast<size_t>(r);
    return true;
  }

  int fd_;
  SSL* ssl_;
  bool quick_ack_;
  std::vector<char> buffer_;
  size_t begin_ = 0, end_ = 0;
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The value of header `name` (lower-case) in `head`, or "".
std::string HeaderValue(const std::string& lower_head, std::string_view name) {
  const std::string needle = "\r\n" + std::string(name) + ":";
  const size_t at = lower_head.find(needle);
  if (at == std::string::npos) return "";
  size_t from = at + needle.size();
  while (from < lower_head.size() && lower_head[from] == ' ') ++from;
  return lower_head.substr(from, lower_head.find("\r\n", from) - from);
}

// ---------------------------------------------------------------- the upstream

// The instance's gateway: HTTP/1.1, plain or TLS, `threads` threads each accepting and serving
// one connection at a time.
class Upstream {
 public:
  Upstream(SSL_CTX* tls, int threads) : tls_(tls), payload_(kIoChunk * 4, 'x') {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        ::listen(listen_fd_, 1024) != 0) {
      Die("the upstream cannot listen");
    }
    socklen_t length = sizeof sin;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sin), &length);
    port_ = ntohs(sin.sin_port);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Serve(); });
  }
  ~Upstream() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    {
      std::lock_guard lock(mu_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& thread : threads_) thread.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  uint64_t connections() const { return connections_.load(); }
  uint64_t requests() const { return requests_.load(); }

 private:
  void Serve() {
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      NoDelay(fd);
      ReceiveTimeout(fd, 30);
      {
        std::lock_guard lock(mu_);
        open_.insert(fd);
      }
      ++connections_;
      SSL* ssl = nullptr;
      if (tls_ != nullptr) {
        ssl = SSL_new(tls_);
        SSL_set_fd(ssl, fd);
      }
      {
        // Forgotten before the stream closes the descriptor, so the destructor never shuts down
        // a number the process has reused.
        auto forget = [&] {
          std::lock_guard lock(mu_);
          open_.erase(fd);
        };
        Stream stream(fd, ssl);
        if (ssl == nullptr || SSL_accept(ssl) == 1) Answer(stream);
        forget();
      }
    }
  }

  void Answer(Stream& stream) {
    std::string head;
    while (stream.ReadHead(head)) {
      ++requests_;
      const std::string lower = Lower(head);
      const bool keep = lower.find(" http/1.1\r\n") != std::string::npos &&
                        HeaderValue(lower, "connection") != "close";
      const size_t space = head.find(' ');
      const std::string target = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
      uint64_t n = kSmallBody;
      if (target.starts_with("/big/")) n = std::strtoull(target.c_str() + 5, nullptr, 10);
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(n) +
          "\r\n" + (keep ? "" : "Connection: close\r\n") + "\r\n";
      if (n == kSmallBody) out.append(kSmallBody, 'p');  // one write: head and body
      if (!stream.Write(out)) return;
      if (n != kSmallBody) {
        while (n > 0) {
          const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, payload_.size()));
          if (!stream.Write(payload_.data(), chunk)) return;
          n -= chunk;
        }
      }
      if (!keep) return;
    }
  }

  SSL_CTX* tls_;
  std::string payload_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::set<int> open_;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> connections_{0}, requests_{0};
};

// ---------------------------------------------------------------- the backend

// One instance, its gateway token compared in memory; nothing else is ever granted.
class BenchBackend final : public front_door::FrontDoorBackend {
 public:
  explicit BenchBackend(uint16_t port) : route_{{"acc_bench", "ins_bench"}, port, false} {}

  std::optional<front_door::InstanceRoute> Route(std::string_view instance_id) override {
    if (instance_id != kConsoleId) return std::nullopt;
    return route_;
  }
  std::optional<front_door::InstanceRoute> RouteWebhook(std::string_view) override {
    return std::nullopt;
  }
  Result<front_door::Principal> Authorize(const VmKey& key,
                                          const front_door::Credentials& credentials) override {
    ++authorizations;
    if (key == route_.key && credentials.bearer == kGatewayToken) {
      return front_door::Principal{front_door::Principal::Kind::kGatewayToken, ""};
    }
    return MakeError(Errc::kNotFound, "no such credential");
  }
  Result<std::string> GatewayToken(const VmKey&) override { return std::string(kGatewayToken); }
  Result<std::string> HooksToken(const VmKey&) override { return std::string("no hooks"); }
  Result<front_door::ConsoleGrant> RedeemConsoleLink(const VmKey&, std::string_view,
                                                     const front_door::Credentials&) override {
    return MakeError(Errc::kPermissionDenied, "no links in the bench");
  }
  bool StillAllowed(const VmKey&, std::string_view) override { return false; }
  void RecordActivity(const VmKey&) override { ++activity; }
  Result<front_door::InstanceRoute> Wake(const VmKey&, std::chrono::milliseconds) override {
    return MakeError(Errc::kUnavailable, "never paused in the bench");
  }

  std::atomic<uint64_t> authorizations{0}, activity{0};

 private:
  front_door::InstanceRoute route_;
};

// ---------------------------------------------------------------- the client

enum class Path { kDirect, kDirectTls, kFrontDoor, kFrontDoorQuickAck, kLimited };

struct Endpoint {
  uint16_t port = 0;
  bool tls = false;
  std::string prefix;         // prepended to the path: "/instances/{id}" for the front door
  std::string authorization;  // the header line, or ""
  bool quick_ack = false;     // the client's TCP_QUICKACK (see Stream)
};

struct Bench {
  std::map<Path, Endpoint> endpoints;
  SSL_CTX* client_ctx = nullptr;
};

std::unique_ptr<Stream> Connect(const Bench& bench, Path path) {
  const Endpoint& e = bench.endpoints.at(path);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  NoDelay(fd);
  ReceiveTimeout(fd, 20);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(e.port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    Die("connect failed: " + std::string(std::strerror(errno)));
  }
  SSL* ssl = nullptr;
  if (e.tls) {
    ssl = SSL_new(bench.client_ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) Die("TLS handshake failed");
  }
  return std::make_unique<Stream>(fd, ssl, e.quick_ack);
}

// One GET of `path` on `stream`; the status, the body read and discarded. 0 when the stream
// ended (a closed kept-alive connection).
int Get(Stream& stream, const Bench& bench, Path path, std::string_view target,
        uint64_t* body_bytes = nullptr) {
  const Endpoint& e = bench.endpoints.at(path);
  std::string request = "GET " + e.prefix + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(e.port) + "\r\n" +
                        e.authorization + "User-Agent: front_door_bench\r\n\r\n";
  if (!stream.Write(request)) return 0;
  std::string head;
  if (!stream.ReadHead(head)) return 0;
  const int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  const std::string lower = Lower(head);
  if (!HeaderValue(lower, "transfer-encoding").empty()) Die("a chunked response: not expected");
  const uint64_t length = std::strtoull(HeaderValue(lower, "content-length").c_str(), nullptr, 10);
  if (!stream.Discard(length)) return 0;
  if (body_bytes != nullptr) *body_bytes = length;
  return status;
}

void MustGet(Stream& stream, const Bench& bench, Path path, std::string_view target = "/ping") {
  const int status = Get(stream, bench, path, target);
  if (status != 200)
    Die("expected 200, got " + std::to_string(status) + " for " + std::string(target));
}

const char* Name(Path path) {
  switch (path) {
    case Path::kDirect:
      return "direct (plain HTTP to the upstream port)";
    case Path::kDirectTls:
      return "peer: direct over TLS (same server, HTTPS)";
    case Path::kFrontDoor:
      return "front door (HTTPS, bearer, path mode)";
    case Path::kFrontDoorQuickAck:
      return "diagnostic: front door, client TCP_QUICKACK";
    case Path::kLimited:
      return "front door, default limits";
  }
  return "";
}

constexpr Path kPaths[] = {Path::kDirect, Path::kDirectTls, Path::kFrontDoor,
                           Path::kFrontDoorQuickAck};

// Every path gets the samples asked for. (Before the front door set TCP_NODELAY, its path waited
// ~40 ms per response, Nagle against the client's delayed ACK, and was sampled less; the
// TCP_QUICKACK row stays to show that stall does not come back.)
int SamplesFor(Path, int wanted) { return wanted; }

double Percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * p))];
}

struct Samples {
  std::vector<double> ms;
  double cpu = 0;
};

// p50, p99, max (ms), CPU ms per request; ratios of p50 and p99 to `peer`s.
void LatencyRow(const char* what, Samples& s, Samples* direct, Samples* tls) {
  const double p50 = Percentile(s.ms, 0.5), p99 = Percentile(s.ms, 0.99);
  std::printf("   %-44s %8.3f %8.3f %8.3f %9.4f", what, p50, p99, s.ms.back(),
              s.cpu * 1e3 / static_cast<double>(s.ms.size()));
  if (direct != nullptr) {
    std::printf("  %5.2f/%-5.2f", p50 / Percentile(direct->ms, 0.5),
                p99 / Percentile(direct->ms, 0.99));
  }
  if (tls != nullptr) {
    std::printf("  %5.2f/%-5.2f", p50 / Percentile(tls->ms, 0.5), p99 / Percentile(tls->ms, 0.99));
  }
  std::printf("\n");
}

void LatencyHeader() {
  std::printf("   %-44s %8s %8s %8s %9s  %-11s  %-11s\n", "", "p50", "p99", "max", "CPU ms/req",
              "/direct", "/direct TLS");
}

// ---------------------------------------------------------------- 1. latency

void Latency(const Bench& bench, int requests) {
  constexpr int kRounds = 4;
  const int per_round = std::max(1, requests / kRounds);
  std::map<Path, std::unique_ptr<Stream>> streams;
  for (Path path : kPaths) {
    streams[path] = Connect(bench, path);
    for (int i = 0; i < 50; ++i) MustGet(*streams[path], bench, path);  // warm up
  }
  std::map<Path, Samples> samples;
  for (int round = 0; round < kRounds; ++round) {
    for (Path path : kPaths) {
      Samples& s = samples[path];
      const double cpu0 = CpuSeconds();
      const int n = SamplesFor(path, per_round * kRounds) / kRounds;
      for (int i = 0; i < n; ++i) {
        const auto t0 = SteadyClock::now();
        MustGet(*streams[path], bench, path);
        s.ms.push_back(Seconds(SteadyClock::now() - t0) * 1e3);
      }
      s.cpu += CpuSeconds() - cpu0;
    }
  }
  std::printf(
      "\n1. Latency: %d sequential GETs (%zu-byte body) per path on one kept-alive connection,\n"
      "   %d alternating rounds (ms; ratios are p50/p99 against the peer)\n",
      per_round * kRounds, kSmallBody, kRounds);
  LatencyHeader();
  LatencyRow(Name(Path::kDirect), samples[Path::kDirect], nullptr, nullptr);
  LatencyRow(Name(Path::kDirectTls), samples[Path::kDirectTls], &samples[Path::kDirect], nullptr);
  for (Path path : {Path::kFrontDoor, Path::kFrontDoorQuickAck}) {
    LatencyRow(Name(path), samples[path], &samples[Path::kDirect], &samples[Path::kDirectTls]);
  }
  for (Path path : {Path::kFrontDoor, Path::kFrontDoorQuickAck}) {
    std::printf(
        "   %-44s %8.3f %8.3f\n",
        path == Path::kFrontDoor ? "added by the front door over direct TLS"
                                 : "  the same, client TCP_QUICKACK",
        Percentile(samples[path].ms, 0.5) - Percentile(samples[Path::kDirectTls].ms, 0.5),
        Percentile(samples[path].ms, 0.99) - Percentile(samples[Path::kDirectTls].ms, 0.99));
  }
}

// ---------------------------------------------------------------- 2. throughput

struct Rate {
  double requests = 0;
  double seconds = 0;
  double cpu = 0;
  double PerSecond() const { return requests / seconds; }
  double CpuMsPerRequest() const { return cpu * 1e3 / requests; }
};

void Hammer(const Bench& bench, Path path, int clients, double seconds, Rate& rate) {
  std::vector<std::unique_ptr<Stream>> streams;
  for (int c = 0; c < clients; ++c) {
    streams.push_back(Connect(bench, path));
    MustGet(*streams.back(), bench, path);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  const double cpu0 = CpuSeconds();
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        MustGet(*streams[static_cast<size_t>(c)], bench, path);
        ++n;
      }
      done += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& thread : threads) thread.join();
  rate.seconds += Seconds(SteadyClock::now() - t0);
  rate.cpu += CpuSeconds() - cpu0;
  rate.requests += static_cast<double>(done.load());
}

void Throughput(const Bench& bench, int clients, double seconds) {
  constexpr int kRounds = 2;
  std::map<Path, Rate> rates;
  for (int round = 0; round < kRounds; ++round) {
    for (Path path : kPaths) Hammer(bench, path, clients, seconds, rates[path]);
  }
  std::printf(
      "\n2. Throughput: %d clients, one kept-alive connection each, %.1f s per path in %d\n"
      "   alternating rounds (ratio = this path's requests/s / the peer's)\n",
      clients, seconds * kRounds, kRounds);
  std::printf("   %-44s %10s %10s %9s %11s\n", "", "req/s", "CPU ms/req", "/direct", "/direct TLS");
  for (Path path : kPaths) {
    const Rate& r = rates[path];
    std::printf("   %-44s %10.0f %10.4f", Name(path), r.PerSecond(), r.CpuMsPerRequest());
    if (path != Path::kDirect)
      std::printf(" %9.3f", r.PerSecond() / rates[Path::kDirect].PerSecond());
    if (path == Path::kFrontDoor || path == Path::kFrontDoorQuickAck) {
      std::printf(" %11.3f", r.PerSecond() / rates[Path::kDirectTls].PerSecond());
    }
    std::printf("\n");
  }
}

// ---------------------------------------------------------------- 3. new connections

void NewConnections(const Bench& bench, int exchanges) {
  std::map<Path, Samples> samples;
  for (int i = 0; i < exchanges; ++i) {
    for (Path path : kPaths) {
      if (i >= SamplesFor(path, exchanges)) continue;
      Samples& s = samples[path];
      const double cpu0 = CpuSeconds();
      const auto t0 = SteadyClock::now();
      {
        auto stream = Connect(bench, path);
        MustGet(*stream, bench, path);
        s.ms.push_back(Seconds(SteadyClock::now() - t0) * 1e3);
      }
      s.cpu += CpuSeconds() - cpu0;
    }
  }
  std::printf(
      "\n3. New connections: connect (+ TLS handshake, full, no resumption) + one GET + its\n"
      "   response, %d per path, alternating (ms; ratios are p50/p99 against the peer)\n",
      exchanges);
  LatencyHeader();
  LatencyRow("direct: connect + GET", samples[Path::kDirect], nullptr, nullptr);
  LatencyRow("peer: direct TLS: connect + handshake + GET", samples[Path::kDirectTls],
             &samples[Path::kDirect], nullptr);
  LatencyRow("front door: connect + handshake + GET", samples[Path::kFrontDoor],
             &samples[Path::kDirect], &samples[Path::kDirectTls]);
  LatencyRow("diagnostic: the same, client TCP_QUICKACK", samples[Path::kFrontDoorQuickAck],
             &samples[Path::kDirect], &samples[Path::kDirectTls]);
}

// ---------------------------------------------------------------- 4. body streaming

void Body(const Bench& bench, uint64_t mib) {
  constexpr int kRounds = 3;
  const uint64_t bytes = mib << 20;
  const std::string target = "/big/" + std::to_string(bytes);
  struct Figure {
    double seconds = 0, cpu = 0, mib = 0;
  };
  std::map<Path, Figure> figures;
  for (Path path : kPaths) {  // warm up
    auto stream = Connect(bench, path);
    MustGet(*stream, bench, path, "/big/1048576");
  }
  for (int round = 0; round < kRounds; ++round) {
    for (Path path : kPaths) {
      auto stream = Connect(bench, path);
      Figure& f = figures[path];
      const double cpu0 = CpuSeconds();
      const auto t0 = SteadyClock::now();
      uint64_t got = 0;
      if (Get(*stream, bench, path, target, &got) != 200 || got != bytes) {
        Die("the body download failed");
      }
      f.seconds += Seconds(SteadyClock::now() - t0);
      f.cpu += CpuSeconds() - cpu0;
      f.mib += static_cast<double>(bytes) / kMiB;
    }
  }
  std::printf(
      "\n4. Body streaming: one GET of a %llu MiB response body per path, %d alternating rounds\n"
      "   (time from the request to the last byte)\n",
      static_cast<unsigned long long>(mib), kRounds);
  std::printf("   %-44s %10s %10s %9s %11s\n", "", "MiB/s", "CPU ms/MiB", "/direct", "/direct TLS");
  for (Path path : kPaths) {
    const Figure& f = figures[path];
    const double rate = f.mib / f.seconds;
    std::printf("   %-44s %10.1f %10.3f", Name(path), rate, f.cpu * 1e3 / f.mib);
    if (path != Path::kDirect) {
      std::printf(" %9.3f", rate / (figures[Path::kDirect].mib / figures[Path::kDirect].seconds));
    }
    if (path == Path::kFrontDoor || path == Path::kFrontDoorQuickAck) {
      std::printf(" %11.3f",
                  rate / (figures[Path::kDirectTls].mib / figures[Path::kDirectTls].seconds));
    }
    std::printf("\n");
  }
}

// ---------------------------------------------------------------- 5. the default limit

// As fast as one connection goes for `seconds` through a front door with the default options:
// how many got 200 and how many 429, beside what the token bucket allows.
void DefaultLimit(const Bench& bench, double seconds) {
  uint64_t ok = 0, limited = 0, other = 0;
  auto stream = Connect(bench, Path::kLimited);
  const auto t0 = SteadyClock::now();
  while (Seconds(SteadyClock::now() - t0) < seconds) {
    const int status = Get(*stream, bench, Path::kLimited, "/ping");
    if (status == 0) {
      stream = Connect(bench, Path::kLimited);
      continue;
    }
    ++(status == 200 ? ok : status == 429 ? limited : other);
  }
  const double took = Seconds(SteadyClock::now() - t0);
  front_door::FrontDoorOptions defaults;
  const double expected = static_cast<double>(defaults.request_burst) +
                          static_cast<double>(defaults.requests_per_second) * took;
  std::printf(
      "\n5. The default limit (%llu req/s, burst %llu): one connection as fast as it goes for %.1f "
      "s\n",
      static_cast<unsigned long long>(defaults.requests_per_second),
      static_cast<unsigned long long>(defaults.request_burst), took);
  std::printf("   %-44s %8llu 200, %llu 429, %llu other\n", Name(Path::kLimited),
              static_cast<unsigned long long>(ok), static_cast<unsigned long long>(limited),
              static_cast<unsigned long long>(other));
  std::printf("   %-44s %8.0f 200 (burst + rate x seconds)\n", "  expected from the token bucket",
              expected);
}

// The sum and count of a Prometheus series family `name` in `text` (all label sets).
std::pair<double, double> SumAndCount(const std::string& text, const std::string& name) {
  double sum = 0, count = 0;
  size_t at = 0;
  while ((at = text.find(name, at)) != std::string::npos) {
    const size_t line_end = text.find('\n', at);
    const std::string line = text.substr(at, line_end - at);
    at = line_end;
    const double value = std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    if (line.starts_with(name + "_sum")) sum += value;
    if (line.starts_with(name + "_count")) count += value;
  }
  return {sum, count};
}

// ---------------------------------------------------------------- main

constexpr const char* kUsage =
    "usage: front_door_bench [--requests N] [--clients C] [--seconds S] [--connections E]\n"
    "                        [--body-mib B]\n"
    "\n"
    "The front door (adapters/front_door, HTTPS reverse proxy) beside a direct connection to the\n"
    "same loopback upstream, plain HTTP (the VM's forwarded port) and HTTPS (the TLS cost alone),\n"
    "in the same run: p50/p99/max of --requests (default 2000) sequential GETs on one kept-alive\n"
    "connection; requests/s of --clients (default 16) kept-alive clients for --seconds (default\n"
    "2) per path in each of 2 rounds; p50/p99 of --connections (default 500) new connections with\n"
    "one GET each; MiB/s of a --body-mib (default 64) response; and the default 20 req/s limit.\n"
    "CPU is the process's getrusage per request. See the head of ops/bench/front_door_bench.cc.\n";

int Main(int argc, char** argv) {
  int requests = 2000, clients = 16, connections = 500;
  double seconds = 2;
  uint64_t body_mib = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    auto number = [&](long min, long max) {
      if (i + 1 >= argc) Die(std::string(arg) + " needs a value");
      const long v = std::strtol(argv[++i], nullptr, 10);
      if (v < min || v > max) {
        Die(std::string(arg) + " must be in [" + std::to_string(min) + ", " + std::to_string(max) +
            "]");
      }
      return v;
    };
    if (arg == "--requests") {
      requests = static_cast<int>(number(4, 1'000'000));
    } else if (arg == "--clients") {
      clients = static_cast<int>(number(1, 256));
    } else if (arg == "--seconds") {
      seconds = static_cast<double>(number(1, 600));
    } else if (arg == "--connections") {
      connections = static_cast<int>(number(1, 100'000));
    } else if (arg == "--body-mib") {
      body_mib = static_cast<uint64_t>(number(1, 1 << 14));
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  SetLogLevel(LogLevel::kError);  // the default-limit row's 429s would log each refusal

  char dir_template[] = "/tmp/front_door_bench.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) Die("mkdtemp failed");
  const fs::path dir = dir_template;
  {
    auto ensured = openssl::EnsureSelfSignedCertificate(dir / "tls", {"127.0.0.1"},
                                                        std::chrono::system_clock::now());
    if (!ensured) Die(ensured.error().ToString());
    auto server_ctx = openssl::MakeTlsServerContext(ensured->files);
    if (!server_ctx) Die(server_ctx.error().ToString());

    // Enough threads for every client connection at once plus the front door's own.
    const int upstream_threads = std::max(48, clients * 2 + 16);
    Upstream plain(nullptr, upstream_threads);
    Upstream tls(server_ctx->get(), clients + 16);

    BenchBackend backend(plain.port());
    MetricsRegistry metrics, limited_metrics;
    SystemClock clock;
    front_door::FrontDoorOptions options;
    options.tls = ensured->files;
    options.requests_per_second = 1'000'000;
    options.request_burst = 1'000'000;
    options.max_connections_per_instance = 1024;
    auto started = front_door::FrontDoor::Start(options, backend, metrics, clock);
    if (!started) Die(started.error().ToString());
    std::unique_ptr<front_door::FrontDoor> front_door = std::move(*started);
    front_door::FrontDoorOptions default_options;
    default_options.tls = ensured->files;
    auto limited_started =
        front_door::FrontDoor::Start(default_options, backend, limited_metrics, clock);
    if (!limited_started) Die(limited_started.error().ToString());
    std::unique_ptr<front_door::FrontDoor> limited_door = std::move(*limited_started);

    Bench bench;
    bench.client_ctx = SSL_CTX_new(TLS_client_method());
    const std::string prefix = std::string("/instances/") + kConsoleId;
    const std::string bearer = std::string("Authorization: Bearer ") + kGatewayToken + "\r\n";
    bench.endpoints[Path::kDirect] = {plain.port(), false, "", bearer};
    bench.endpoints[Path::kDirectTls] = {tls.port(), true, "", bearer};
    bench.endpoints[Path::kFrontDoor] = {front_door->port(), true, prefix, bearer};
    bench.endpoints[Path::kFrontDoorQuickAck] = {front_door->port(), true, prefix, bearer, true};
    // Quick ACKs, so the ~40 ms stall does not hold the client under the limit by itself.
    bench.endpoints[Path::kLimited] = {limited_door->port(), true, prefix, bearer, true};

    // What the handshake settles on, to name it in the header.
    std::string cipher;
    {
      auto probe = Connect(bench, Path::kFrontDoor);
      MustGet(*probe, bench, Path::kFrontDoor);
    }
    {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(front_door->port());
      sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) Die("connect failed");
      SSL* ssl = SSL_new(bench.client_ctx);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) != 1) Die("TLS handshake failed");
      cipher = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
      Stream stream(fd, ssl);
    }
    std::printf("front_door_bench: the front door beside a direct connection to its upstream\n");
    std::printf(
        "upstream 127.0.0.1:%u (plain) and :%u (TLS), front door :%u (%s, ECDSA P-256),\n"
        "%zu I/O threads, %zu workers, %u cores; upstream: a pool of blocking threads\n",
        plain.port(), tls.port(), front_door->port(), cipher.c_str(), options.io_threads,
        options.worker_threads, std::thread::hardware_concurrency());

    const double cpu0 = CpuSeconds();
    const auto t0 = SteadyClock::now();
    Latency(bench, requests);
    Throughput(bench, clients, seconds);
    NewConnections(bench, connections);
    Body(bench, body_mib);
    DefaultLimit(bench, 2.0);

    // The front door's own counts, to show the requests did pass through it.
    const uint64_t plain_connections = plain.connections();
    const uint64_t plain_requests = plain.requests();
    const auto [upstream_sum, upstream_count] =
        SumAndCount(metrics.RenderPrometheus(), "clawvisor_front_door_upstream_seconds");
    std::printf(
        "\n   the front door: %.0f upstream exchanges, mean %.3f ms from upstream connect to the\n"
        "   response head (its upstream_seconds histogram); %llu Authorize calls, %llu activity\n"
        "   records; the plain upstream served %llu requests on %llu connections (one per request\n"
        "   through the front door); %.1f s, %.1f CPU s in all\n",
        upstream_count, upstream_count > 0 ? upstream_sum / upstream_count * 1e3 : 0.0,
        static_cast<unsigned long long>(backend.authorizations.load()),
        static_cast<unsigned long long>(backend.activity.load()),
        static_cast<unsigned long long>(plain_requests),
        static_cast<unsigned long long>(plain_connections), Seconds(SteadyClock::now() - t0),
        CpuSeconds() - cpu0);
    limited_door.reset();
    front_door.reset();
    SSL_CTX_free(bench.client_ctx);
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}

}  // namespace
}  // namespace clawvisor

int main(int argc, char** argv) { return clawvisor::Main(argc, argv); }
