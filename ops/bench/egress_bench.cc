// egress_bench: the egress gateway's data path (adapters/egress) beside a direct TLS connection
// to the same origin, measured side by side in the same run.
//
// The "internet" is a TLS server of this bench (OpenSSL, the API's own server context,
// MakeTlsServerContext) on a random loopback address that the gateway is told to treat as public,
// a thread per connection. A client (OpenSSL, one SSL_CTX, no session reuse: every connection is
// a full handshake) reaches it either
//   direct    a TCP connection to the origin, or
//   gateway   one end of an AF_UNIX socketpair handed to the gateway (HandOffConnection) as a
//             guest's connection to port 443, as a VM's network process hands it over and as the
//             gateway's tests do; the gateway reads the ClientHello, checks the SNI, resolves it
//             (static_hosts), dials the origin and pumps both ways.
//
//  1. Throughput, one stream: the client downloads (then uploads) N MiB; MiB/s and the gateway's
//     share of direct speed. Direct and gateway alternate in rounds so both see the same machine.
//     Peers for the download: a bare relay of this bench (two blocking threads, read/write) in
//     the gateway's place, with the gateway's 16 KiB pump buffer and with 256 KiB, to tell the
//     cost of relaying at all from the cost of the gateway's way of relaying. Then one download
//     through an instance with the default limit (8 MiB/s, 1 MiB burst) to show it holds.
//  2. Connection setup: connect (or socketpair + handoff) → TLS handshake → one-line request →
//     first response byte, for E sequential exchanges per path (alternating); p50, p99, ratio.
//  3. Concurrency: S parallel streams downloading N MiB between them, aggregate MiB/s, gateway
//     beside direct.
// CPU: the process's user+system time (getrusage) per MiB moved, which counts the client, the
// origin and (on the gateway path) the gateway's I/O thread; the difference is the gateway's.
// MiB/s is wall-clock and moves with other load on the machine; CPU per MiB varies far less.
//
// Usage: egress_bench [--mib N] [--exchanges N] [--streams N] [--limited-mib N] [--help]
//        (defaults 256 MiB, 1000 exchanges, 32 streams, 16 MiB through the limited instance)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/egress/egress_gateway.h"
#include "adapters/egress/handoff.h"
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
constexpr const char* kHost = "origin.bench.test";
const VmKey kOpenKey{"acc_bench", "ins-open"};        // no limit
const VmKey kLimitedKey{"acc_bench", "ins-limited"};  // the default 8 MiB/s

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "egress_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool SslWriteAll(SSL* ssl, const char* data, size_t n) {
  while (n > 0) {
    const int w = SSL_write(ssl, data, static_cast<int>(std::min(n, kIoChunk)));
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads `n` bytes (discarded); false when the stream ends first.
bool SslReadN(SSL* ssl, uint64_t n) {
  static thread_local std::vector<char> buffer(kIoChunk);
  while (n > 0) {
    const int r = SSL_read(ssl, buffer.data(), static_cast<int>(std::min<uint64_t>(n, kIoChunk)));
    if (r <= 0) return false;
    n -= static_cast<uint64_t>(r);
  }
  return true;
}

// Counts detached threads so their owner can wait for the last one before it goes.
class ThreadCount {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void Done() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  void WaitZero() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

// ---------------------------------------------------------------- the origin

// One request line per connection:
//   "D <n>\n"  the server sends n bytes;
//   "U <n>\n"  the server reads n bytes, then sends "k";
//   "P\n"      the server sends "p" (the short exchange).
class Origin {
 public:
  Origin(const std::string& address, const fs::path& dir) : address_(address) {
    auto ensured =
        openssl::EnsureSelfSignedCertificate(dir, {address}, std::chrono::system_clock::now());
    if (!ensured) Die(ensured.error().ToString());
    auto ctx = openssl::MakeTlsServerContext(ensured->files);
    if (!ctx) Die(ctx.error().ToString());
    ctx_ = std::move(*ctx);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &sin.sin_addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        ::listen(listen_fd_, 256) != 0) {
      Die("cannot listen on " + address);
    }
    socklen_t length = sizeof sin;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sin), &length);
    port_ = ntohs(sin.sin_port);
    payload_.assign(kIoChunk, 'x');
    acceptor_ = std::thread([this] { Serve(); });
  }
  ~Origin() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    connections_.WaitZero();
    ::close(listen_fd_);
  }

  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (true) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      connections_.Add();
      std::thread([this, fd] {
        Answer(fd);
        connections_.Done();
      }).detach();
    }
  }

  void Answer(int fd) {
    timeval timeout{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    SSL* ssl = SSL_new(ctx_.get());
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      std::string line;
      char c;
      while (line.size() < 64 && SSL_read(ssl, &c, 1) == 1 && c != '\n') line.push_back(c);
      if (line == "P") {
        SslWriteAll(ssl, "p", 1);
      } else if (line.size() > 2 && line[0] == 'D') {
        uint64_t n = std::strtoull(line.c_str() + 2, nullptr, 10);
        while (n > 0) {
          const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, payload_.size()));
          if (!SslWriteAll(ssl, payload_.data(), chunk)) break;
          n -= chunk;
        }
      } else if (line.size() > 2 && line[0] == 'U') {
        if (SslReadN(ssl, std::strtoull(line.c_str() + 2, nullptr, 10))) SslWriteAll(ssl, "k", 1);
      }
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ::close(fd);
  }

  std::string address_;
  openssl::SslCtxPtr ctx_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::string payload_;
  std::thread acceptor_;
  ThreadCount connections_;
};

// ---------------------------------------------------------------- the paths

enum class Path { kDirect, kGateway, kLimited, kRelay16, kRelay256 };

int DialOrigin(const Origin& origin) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(origin.port());
  ::inet_pton(AF_INET, origin.address().c_str(), &sin.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) Die("connect failed");
  return fd;
}

// The bare relay peer: what a splice with blocking reads and writes of `buffer` bytes costs,
// a thread per direction, the same socketpair on the guest side and TCP to the origin.
class Relay {
 public:
  ~Relay() { threads_.WaitZero(); }

  void Serve(int guest, const Origin& origin, size_t buffer) {
    auto fds = std::shared_ptr<int[]>(new int[2]{guest, DialOrigin(origin)}, [](int* p) {
      ::close(p[0]);
      ::close(p[1]);
      delete[] p;
    });
    for (int from : {0, 1}) {
      threads_.Add();
      std::thread([this, fds, from, buffer] {
        std::vector<char> bytes(buffer);
        const int in = fds[from], out = fds[1 - from];
        while (true) {
          const ssize_t n = ::read(in, bytes.data(), bytes.size());
          if (n <= 0 || !WriteAll(out, bytes.data(), static_cast<size_t>(n))) break;
        }
        ::shutdown(out, SHUT_WR);
        threads_.Done();
      }).detach();
    }
  }

 private:
  ThreadCount threads_;
};

struct Bench {
  Origin* origin = nullptr;
  std::string socket_path;
  Relay* relay = nullptr;
  SSL_CTX* client_ctx = nullptr;
};

// The client's connected descriptor for `path`.
int Dial(const Bench& bench, Path path) {
  if (path == Path::kDirect) return DialOrigin(*bench.origin);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) Die("socketpair failed");
  if (path == Path::kRelay16 || path == Path::kRelay256) {
    bench.relay->Serve(pair[1], *bench.origin, path == Path::kRelay16 ? 16 << 10 : 256 << 10);
    return pair[0];
  }
  auto handed =
      egress::HandOffConnection(bench.socket_path, path == Path::kLimited ? kLimitedKey : kOpenKey,
                                egress::kTlsPort, pair[1], 5s);
  ::close(pair[1]);
  if (!handed) Die("handoff: " + handed.error().ToString());
  return pair[0];
}

// One connection: dial, handshake with SNI, send `request`; then `after` with the SSL.
template <typename After>
void Exchange(const Bench& bench, Path path, const std::string& request, After after) {
  const int fd = Dial(bench, path);
  timeval timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(bench.client_ctx);
  SSL_set_fd(ssl, fd);
  SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(kHost));
  if (SSL_connect(ssl) != 1) Die("TLS handshake failed");
  if (!SslWriteAll(ssl, request.data(), request.size())) Die("request write failed");
  after(ssl);
  SSL_free(ssl);
  ::close(fd);
}

void Download(const Bench& bench, Path path, uint64_t bytes) {
  Exchange(bench, path, "D " + std::to_string(bytes) + "\n", [&](SSL* ssl) {
    if (!SslReadN(ssl, bytes)) Die("download ended early");
  });
}

void Upload(const Bench& bench, Path path, uint64_t bytes) {
  static const std::string payload(kIoChunk, 'u');
  Exchange(bench, path, "U " + std::to_string(bytes) + "\n", [&](SSL* ssl) {
    uint64_t left = bytes;
    while (left > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, payload.size()));
      if (!SslWriteAll(ssl, payload.data(), chunk)) Die("upload write failed");
      left -= chunk;
    }
    if (!SslReadN(ssl, 1)) Die("upload not acknowledged");
  });
}

struct Figure {
  double bytes = 0;
  double seconds = 0;
  double cpu = 0;
  double MiBps() const { return bytes / kMiB / seconds; }
  double CpuMsPerMiB() const { return cpu * 1e3 / (bytes / kMiB); }
};

template <typename Work>
void Measure(Figure& figure, double bytes, Work work) {
  const double cpu0 = CpuSeconds();
  const auto t0 = SteadyClock::now();
  work();
  figure.seconds += Seconds(SteadyClock::now() - t0);
  figure.cpu += CpuSeconds() - cpu0;
  figure.bytes += bytes;
}

void Row(const char* what, const Figure& f, const Figure* peer) {
  std::printf("   %-46s %9.1f %12.2f", what, f.MiBps(), f.CpuMsPerMiB());
  if (peer != nullptr) std::printf(" %8.2f", f.MiBps() / peer->MiBps());
  std::printf("\n");
}

void Header() { std::printf("   %-46s %9s %12s %8s\n", "", "MiB/s", "CPU ms/MiB", "ratio"); }

// ---------------------------------------------------------------- 1. throughput

void Throughput(const Bench& bench, uint64_t mib, uint64_t limited_mib) {
  constexpr int kRounds = 4;
  const uint64_t per_round = std::max<uint64_t>(1, mib * (1 << 20) / kRounds);
  std::printf("\n1. Throughput, one stream, %llu MiB per path in %d alternating rounds\n",
              static_cast<unsigned long long>(per_round * kRounds >> 20), kRounds);
  std::printf(
      "   (ratio = this path's MiB/s / direct's; on a busy machine CPU ms/MiB is the steadier\n"
      "   figure: wall-clock MiB/s moves with the neighbours' load)\n");
  Header();
  Download(bench, Path::kDirect, 1 << 20);  // warm up: threads, page cache, code
  Download(bench, Path::kGateway, 1 << 20);

  const Path paths[] = {Path::kDirect, Path::kGateway, Path::kRelay16, Path::kRelay256};
  std::map<Path, Figure> down, up;
  for (int round = 0; round < kRounds; ++round) {
    for (Path path : paths) {
      Measure(down[path], static_cast<double>(per_round),
              [&] { Download(bench, path, per_round); });
    }
  }
  for (int round = 0; round < kRounds; ++round) {
    for (Path path : {Path::kDirect, Path::kGateway}) {
      Measure(up[path], static_cast<double>(per_round), [&] { Upload(bench, path, per_round); });
    }
  }
  Row("download direct (TCP to the origin)", down[Path::kDirect], nullptr);
  Row("download via the gateway (bytes_per_second 0)", down[Path::kGateway], &down[Path::kDirect]);
  Row("peer: bare relay, 16 KiB buffer, 2 threads", down[Path::kRelay16], &down[Path::kDirect]);
  Row("peer: bare relay, 256 KiB buffer, 2 threads", down[Path::kRelay256], &down[Path::kDirect]);
  Row("upload direct", up[Path::kDirect], nullptr);
  Row("upload via the gateway", up[Path::kGateway], &up[Path::kDirect]);

  Figure limited;
  const uint64_t bytes = limited_mib << 20;
  Measure(limited, static_cast<double>(bytes), [&] { Download(bench, Path::kLimited, bytes); });
  // The bucket starts full: the burst passes at once, the rest at the rate.
  const double expected =
      static_cast<double>(bytes) / kMiB / ((static_cast<double>(bytes) - kMiB) / (8 * kMiB));
  std::printf("   %-46s %9.2f %12s %8s\n", "download via the gateway, default 8 MiB/s limit",
              limited.MiBps(), "", "");
  std::printf("   %-46s %9.2f   (%llu MiB: 1 MiB burst, then 8 MiB/s)\n",
              "  expected from the token bucket", expected,
              static_cast<unsigned long long>(limited_mib));
}

// ---------------------------------------------------------------- 2. connection setup

double Percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * p))];
}

void Setup(const Bench& bench, int exchanges) {
  std::map<Path, std::vector<double>> took;
  for (int i = 0; i < exchanges; ++i) {
    for (Path path : {Path::kDirect, Path::kGateway}) {
      const auto t0 = SteadyClock::now();
      Exchange(bench, path, "P\n", [&](SSL* ssl) {
        if (!SslReadN(ssl, 1)) Die("no answer to the short exchange");
        took[path].push_back(Seconds(SteadyClock::now() - t0) * 1e3);
      });
    }
  }
  std::printf(
      "\n2. Connection setup: connect -> TLS handshake -> request -> first response byte,\n"
      "   %d sequential exchanges per path, alternating (ms; ratio = gateway / direct)\n",
      exchanges);
  std::printf("   %-46s %9s %9s %9s\n", "", "p50", "p99", "max");
  auto& direct = took[Path::kDirect];
  auto& gateway = took[Path::kGateway];
  const double d50 = Percentile(direct, 0.5), d99 = Percentile(direct, 0.99);
  const double g50 = Percentile(gateway, 0.5), g99 = Percentile(gateway, 0.99);
  std::printf("   %-46s %9.3f %9.3f %9.3f\n", "direct (TCP connect)", d50, d99, direct.back());
  std::printf("   %-46s %9.3f %9.3f %9.3f\n", "via the gateway (socketpair + handoff)", g50, g99,
              gateway.back());
  std::printf("   %-46s %9.2f %9.2f\n", "ratio", g50 / d50, g99 / d99);
  std::printf("   %-46s %9.3f %9.3f\n", "added by the gateway", g50 - d50, g99 - d99);
}

// ---------------------------------------------------------------- 3. concurrency

void Concurrency(const Bench& bench, uint64_t mib, int streams) {
  const uint64_t per_stream = std::max<uint64_t>(1, (mib << 20) / static_cast<uint64_t>(streams));
  const double total = static_cast<double>(per_stream) * streams;
  constexpr int kRounds = 2;
  std::map<Path, Figure> figures;
  for (int round = 0; round < kRounds; ++round) {
    for (Path path : {Path::kDirect, Path::kGateway}) {
      Measure(figures[path], total, [&] {
        std::vector<std::thread> clients;
        for (int s = 0; s < streams; ++s) {
          clients.emplace_back([&] { Download(bench, path, per_stream); });
        }
        for (auto& client : clients) client.join();
      });
    }
  }
  std::printf("\n3. Concurrency: %d parallel downloads of %.1f MiB each, %d alternating rounds\n",
              streams, static_cast<double>(per_stream) / kMiB, kRounds);
  std::printf("   (aggregate; ratio = gateway / direct)\n");
  Header();
  Row("direct", figures[Path::kDirect], nullptr);
  Row("via the gateway (one instance, one I/O thread)", figures[Path::kGateway],
      &figures[Path::kDirect]);
}

// ---------------------------------------------------------------- main

std::string RandomLoopbackAddress() {
  std::random_device seed;
  std::uniform_int_distribution<int> octet(2, 250);
  return "127." + std::to_string(octet(seed)) + "." + std::to_string(octet(seed)) + "." +
         std::to_string(octet(seed));
}

constexpr const char* kUsage =
    "usage: egress_bench [--mib N] [--exchanges N] [--streams N] [--limited-mib N]\n"
    "\n"
    "The egress gateway (adapters/egress) beside a direct TLS connection to the same loopback\n"
    "origin, in the same run: one-stream download and upload MiB/s (--mib, default 256, per\n"
    "path and direction; bare-relay peers for the download), a download through the default\n"
    "8 MiB/s limit (--limited-mib, default 16), p50/p99 connect-to-first-byte of short TLS\n"
    "exchanges (--exchanges, default 1000 per path) and the aggregate MiB/s of parallel\n"
    "streams (--streams, default 32, sharing --mib). CPU is the process's getrusage per MiB.\n"
    "See the head of ops/bench/egress_bench.cc for what each figure counts.\n";

int Main(int argc, char** argv) {
  uint64_t mib = 256, limited_mib = 16;
  int exchanges = 1000, streams = 32;
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
    if (arg == "--mib") {
      mib = static_cast<uint64_t>(number(1, 1 << 20));
    } else if (arg == "--exchanges") {
      exchanges = static_cast<int>(number(1, 1'000'000));
    } else if (arg == "--streams") {
      streams = static_cast<int>(number(1, 64));  // the default policy's connection cap
    } else if (arg == "--limited-mib") {
      limited_mib = static_cast<uint64_t>(number(2, 1024));
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  SetLogLevel(LogLevel::kWarn);

  char dir_template[] = "/tmp/egress_bench.XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) Die("mkdtemp failed");
  const fs::path dir = dir_template;
  {
    Origin origin(RandomLoopbackAddress(), dir / "origin");
    egress::EgressGatewayOptions options;
    options.socket_path = (dir / "egress.sock").string();
    options.treat_as_public = {*egress::Cidr::Parse(origin.address())};
    options.static_hosts = {{kHost, {*egress::IpAddress::Parse(origin.address())}}};
    options.upstream_port = origin.port();
    std::map<VmKey, egress::EgressPolicy> policies;
    policies[kOpenKey] = egress::EgressPolicy{};  // bytes_per_second 0: unlimited
    egress::EgressPolicy limited;
    limited.bytes_per_second = 8192 * 1024;  // --egress-bandwidth-kib's default
    policies[kLimitedKey] = limited;
    MetricsRegistry metrics;
    SystemClock clock;
    InstanceTraffic traffic;
    auto started = egress::EgressGateway::Start(
        options, metrics,
        [&policies](const VmKey& key) -> std::optional<egress::EgressPolicy> {
          auto it = policies.find(key);
          if (it == policies.end()) return std::nullopt;
          return it->second;
        },
        clock, traffic);
    if (!started) Die(started.error().ToString());
    std::unique_ptr<egress::EgressGateway> gateway = std::move(*started);

    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
    Relay relay;
    const Bench bench{&origin, options.socket_path, &relay, client_ctx};

    // What the handshake settles on, to name it in the header.
    std::string cipher;
    Exchange(bench, Path::kDirect, "P\n", [&](SSL* ssl) {
      cipher = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
      SslReadN(ssl, 1);
    });
    std::printf("egress_bench: the egress gateway beside a direct TLS connection, same run\n");
    std::printf("origin %s:%u (%s), %u cores; guest side: AF_UNIX socketpair handed off as :443\n",
                origin.address().c_str(), origin.port(), cipher.c_str(),
                std::thread::hardware_concurrency());

    Throughput(bench, mib, limited_mib);
    Setup(bench, exchanges);
    Concurrency(bench, mib, streams);

    // The gateway's own count, to show the bytes did pass through it.
    double in = 0, out = 0, tunnels = 0;
    std::this_thread::sleep_for(200ms);  // the last tunnels record as they close
    for (const VmKey& key : {kOpenKey, kLimitedKey}) {
      auto tally = traffic.Take(key);
      if (!tally) continue;
      for (const auto& [host, usage] : tally->egress) {
        in += static_cast<double>(usage.bytes_in);
        out += static_cast<double>(usage.bytes_out);
        tunnels += static_cast<double>(usage.connections);
      }
    }
    std::printf("\n   the gateway's usage: %.0f tunnels, %.1f MiB in, %.1f MiB out\n", tunnels,
                in / kMiB, out / kMiB);
    gateway.reset();
    SSL_CTX_free(client_ctx);
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return 0;
}

}  // namespace
}  // namespace clawvisor

int main(int argc, char** argv) { return clawvisor::Main(argc, argv); }
