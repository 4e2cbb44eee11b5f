#include "adapters/slirp/vm_network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "adapters/egress/handoff.h"
#include "engine/logging.h"

namespace clawvisor::slirp {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kComponent = "vm-network";
constexpr size_t kMaxFrame = 65536 + 4;      // QEMU's NET_BUFSIZE bounds a frame
constexpr size_t kMaxQueuedBytes = 4 << 20;  // toward QEMU, before frames are dropped
constexpr uint16_t kEgressPorts[] = {egress::kProxyPort, egress::kTlsPort};

int64_t NowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

in_addr Ipv4(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return a;
}

std::string Errno(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

struct UniqueFd {
  int fd = -1;
  UniqueFd() = default;
  explicit UniqueFd(int f) : fd(f) {}
  UniqueFd(UniqueFd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) ::close(fd);
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~UniqueFd() {
    if (fd >= 0) ::close(fd);
  }
};

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), std::min(path.size(), sizeof address.sun_path - 1));
  return address;
}

Result<UniqueFd> ConnectQemu(const std::string& path, std::chrono::milliseconds timeout) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return MakeError(Errc::kInvalidArgument, "QEMU socket path too long");
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un address = UnixAddress(path);
    if (::connect(fd.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      ::fcntl(fd.fd, F_SETFL, ::fcntl(fd.fd, F_GETFL) | O_NONBLOCK);
      return fd;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return MakeError(Errc::kUnavailable, Errno("QEMU network socket " + path));
    }
    std::this_thread::sleep_for(20ms);
  }
}

Result<UniqueFd> ListenUnix(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return MakeError(Errc::kInvalidArgument, "egress listener path too long: " + path);
  }
  ::unlink(path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  const sockaddr_un address = UnixAddress(path);
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(fd.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  ::umask(old_mask);
  if (bound != 0 || ::listen(fd.fd, 64) != 0) return MakeError(Errc::kUnavailable, Errno(path));
  return fd;
}

struct Timer {
  SlirpTimerId id;
  void* cb_opaque;
  int64_t expire_ms = -1;  // -1: not armed
};

class Stack {
 public:
  Stack(const VmNetworkOptions& options, UniqueFd qemu)
      : options_(options), qemu_(std::move(qemu)) {}
  ~Stack() {
    if (slirp_ != nullptr) slirp_cleanup(slirp_);
    for (uint16_t port : kEgressPorts) ::unlink(ListenerPath(port).c_str());
  }

  Status Open();
  Status Run(int stop_fd);

 private:
  std::string ListenerPath(uint16_t port) const {
    return options_.listen_dir + "/egress-" + std::to_string(port) + ".sock";
  }

  // --- libslirp's callbacks ---
  static ssize_t SendPacket(const void* buf, size_t len, void* opaque) {
    return static_cast<Stack*>(opaque)->QueueFrame(static_cast<const uint8_t*>(buf), len);
  }
  static void GuestError(const char* msg, void* opaque) {
    Log(LogLevel::kWarn, kComponent, "guest network error",
        {{"instance", static_cast<Stack*>(opaque)->options_.key.ToString()}, {"detail", msg}});
  }
  static int64_t ClockNs(void*) { return NowNs(); }
  static void* TimerNew(SlirpTimerId id, void* cb_opaque, void* opaque) {
    auto* self = static_cast<Stack*>(opaque);
    self->timers_.push_back(std::make_unique<Timer>(Timer{id, cb_opaque}));
    return self->timers_.back().get();
  }
  static void TimerFree(void* timer, void* opaque) {
    auto& timers = static_cast<Stack*>(opaque)->timers_;
    std::erase_if(timers, [timer](const auto& t) { return t.get() == timer; });
  }
  static void TimerMod(void* timer, int64_t expire_ms, void*) {
    static_cast<Timer*>(timer)->expire_ms = expire_ms;
  }
  static void PollFdChanged(int, void*) {}
  static void Notify(void*) {}
  static int AddPoll(int fd, int events, void* opaque) {
    auto& fds = static_cast<Stack*>(opaque)->pollfds_;
    short want = 0;
    if (events & SLIRP_POLL_IN) want |= POLLIN;
    if (events & SLIRP_POLL_OUT) want |= POLLOUT;
    if (events & SLIRP_POLL_PRI) want |= POLLPRI;
    fds.push_back({fd, want, 0});
    return static_cast<int>(fds.size() - 1);
  }
  static int GetREvents(int index, void* opaque) {
    const short got = static_cast<Stack*>(opaque)->pollfds_[static_cast<size_t>(index)].revents;
    int events = 0;
    if (got & POLLIN) events |= SLIRP_POLL_IN;
    if (got & POLLOUT) events |= SLIRP_POLL_OUT;
    if (got & POLLPRI) events |= SLIRP_POLL_PRI;
    if (got & POLLERR) events |= SLIRP_POLL_ERR;
    if (got & POLLHUP) events |= SLIRP_POLL_HUP;
    return events;
  }

  ssize_t QueueFrame(const uint8_t* frame, size_t len) {
    if (queued_bytes_ + len + 4 > kMaxQueuedBytes) return static_cast<ssize_t>(len);  // dropped
    // QEMU's stream framing: a 4-byte big-endian length, then the frame.
    std::vector<uint8_t> record = {static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                                   static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
    record.insert(record.end(), frame, frame + len);
    queued_bytes_ += record.size();
    out_.push_back(std::move(record));
    return static_cast<ssize_t>(len);
  }

  Status FlushToQemu();
  Status ReadFromQemu(bool* closed);
  void AcceptEgress(int listener, uint16_t port);
  void FireTimers();

  const VmNetworkOptions& options_;
  UniqueFd qemu_;
  Slirp* slirp_ = nullptr;
  SlirpCb callbacks_{};
  std::vector<std::unique_ptr<Timer>> timers_;
  std::vector<pollfd> pollfds_;
  std::vector<UniqueFd> listeners_;  // parallel to kEgressPorts
  std::deque<std::vector<uint8_t>> out_;
  size_t out_offset_ = 0;  // into out_.front()
  size_t queued_bytes_ = 0;
  std::vector<uint8_t> in_;  // a partial frame from QEMU
};

Status Stack::Open() {
  SlirpConfig config{};
  config.version = 4;
  config.restricted = 1;  // nothing leaves but what is forwarded below
  config.in_enabled = true;
  config.vnetwork = Ipv4("10.0.2.0");
  config.vnetmask = Ipv4("255.255.255.0");
  config.vhost = Ipv4("10.0.2.2");
  config.in6_enabled = false;
  config.vdhcp_start = Ipv4(kGuestAddress);
  config.vnameserver = Ipv4("10.0.2.3");
  config.disable_host_loopback = true;
  config.enable_emu = false;
  config.disable_dns = true;
  config.disable_dhcp = true;
  callbacks_.send_packet = &Stack::SendPacket;
  callbacks_.guest_error = &Stack::GuestError;
  callbacks_.clock_get_ns = &Stack::ClockNs;
  callbacks_.timer_free = &Stack::TimerFree;
  callbacks_.timer_mod = &Stack::TimerMod;
  callbacks_.register_poll_fd = &Stack::PollFdChanged;
  callbacks_.unregister_poll_fd = &Stack::PollFdChanged;
  callbacks_.notify = &Stack::Notify;
  callbacks_.timer_new_opaque = &Stack::TimerNew;
  slirp_ = slirp_new(&config, &callbacks_, this);
  if (slirp_ == nullptr) return MakeError(Errc::kInternal, "slirp_new failed");

  if (slirp_add_hostfwd(slirp_, 0, Ipv4("127.0.0.1"), options_.forward_port, Ipv4(kGuestAddress),
                        kGuestGatewayPort) != 0) {
    return MakeError(Errc::kUnavailable,
                     "cannot forward 127.0.0.1:" + std::to_string(options_.forward_port));
  }
  if (options_.egress_socket.empty()) return {};
  in_addr egress = Ipv4(kEgressAddress);
  for (uint16_t port : kEgressPorts) {
    auto listener = ListenUnix(ListenerPath(port));
    if (!listener) return std::unexpected(listener.error());
    if (slirp_add_unix(slirp_, ListenerPath(port).c_str(), &egress, port) != 0) {
      return MakeError(Errc::kInternal, "slirp_add_unix failed for port " + std::to_string(port));
    }
    listeners_.push_back(std::move(*listener));
  }
  return {};
}

Status Stack::FlushToQemu() {
  while (!out_.empty()) {
    const auto& front = out_.front();
    const ssize_t n = ::send(qemu_.fd, front.data() + out_offset_, front.size() - out_offset_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {};
      return MakeError(Errc::kUnavailable, Errno("write to QEMU"));
    }
    out_offset_ += static_cast<size_t>(n);
    if (out_offset_ == front.size()) {
      queued_bytes_ -= front.size();
      out_.pop_front();
      out_offset_ = 0;
    }
  }
  return {};
}

Status Stack::ReadFromQemu(bool* closed) {
  uint8_t buffer[65536];
  while (true) {
    const ssize_t n = ::read(qemu_.fd, buffer, sizeof buffer);
    if (n == 0) {
      *closed = true;
      return {};
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      return MakeError(Errc::kUnavailable, Errno("read from QEMU"));
    }
    in_.insert(in_.end(), buffer, buffer + n);
  }
  size_t at = 0;
  while (in_.size() - at >= 4) {
    uint32_t be;
    std::memcpy(&be, in_.data() + at, 4);
    const size_t len = ntohl(be);
    if (len == 0 || len > kMaxFrame) {
      return MakeError(Errc::kCorruption, "QEMU sent a frame of " + std::to_string(len) + " bytes");
    }
    if (in_.size() - at - 4 < len) break;
    slirp_input(slirp_, in_.data() + at + 4, static_cast<int>(len));
    at += 4 + len;
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<ptrdiff_t>(at));
  return {};
}

void Stack::AcceptEgress(int listener, uint16_t port) {
  while (true) {
    UniqueFd connection(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (connection.fd < 0) return;
    // The gateway takes the descriptor; this copy closes when `connection` goes.
    auto handed =
        egress::HandOffConnection(options_.egress_socket, options_.key, port, connection.fd, 2s);
    if (!handed) {
      Log(LogLevel::kWarn, kComponent, "egress handoff failed",
          {{"instance", options_.key.ToString()}, {"error", handed.error().message}});
    }
  }
}

void Stack::FireTimers() {
  const int64_t now_ms = NowNs() / 1'000'000;
  // A handler may arm, free or create timers: collect first, then fire.
  std::vector<std::pair<SlirpTimerId, void*>> due;
  for (auto& timer : timers_) {
    if (timer->expire_ms >= 0 && timer->expire_ms <= now_ms) {
      timer->expire_ms = -1;
      due.emplace_back(timer->id, timer->cb_opaque);
    }
  }
  for (auto [id, cb_opaque] : due) slirp_handle_timer(slirp_, id, cb_opaque);
}

Status Stack::Run(int stop_fd) {
  while (true) {
    pollfds_.clear();
    pollfds_.push_back({qemu_.fd, static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0});
    pollfds_.push_back({stop_fd, POLLIN, 0});
    for (const auto& listener : listeners_) pollfds_.push_back({listener.fd, POLLIN, 0});
    const size_t fixed = pollfds_.size();
    uint32_t timeout_ms = 1000;
    slirp_pollfds_fill(slirp_, &timeout_ms, &Stack::AddPoll, this);
    const int64_t now_ms = NowNs() / 1'000'000;
    for (const auto& timer : timers_) {
      if (timer->expire_ms >= 0) {
        timeout_ms = static_cast<uint32_t>(
            std::min<int64_t>(timeout_ms, std::max<int64_t>(0, timer->expire_ms - now_ms)));
      }
    }
    const int ready = ::poll(pollfds_.data(), pollfds_.size(), static_cast<int>(timeout_ms));
    if (ready < 0 && errno != EINTR) return MakeError(Errc::kInternal, Errno("poll"));
    slirp_pollfds_poll(slirp_, ready < 0 ? 1 : 0, &Stack::GetREvents, this);
    FireTimers();
    if (ready > 0) {
      if (pollfds_[1].revents != 0) return {};
      for (size_t i = 2; i < fixed; ++i) {
        if (pollfds_[i].revents & POLLIN) AcceptEgress(pollfds_[i].fd, kEgressPorts[i - 2]);
      }
      if (pollfds_[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        bool closed = false;
        if (auto read = ReadFromQemu(&closed); !read) return read;
        if (closed) return {};
      }
    }
    if (auto flushed = FlushToQemu(); !flushed) return flushed;
  }
}

}  // namespace

Status RunVmNetwork(const VmNetworkOptions& options, int stop_fd) {
  if (options.forward_port == 0) return MakeError(Errc::kInvalidArgument, "no forward port");
  auto qemu = ConnectQemu(options.qemu_socket, options.connect_timeout);
  if (!qemu) return std::unexpected(qemu.error());
  Stack stack(options, std::move(*qemu));
  if (auto opened = stack.Open(); !opened) return opened;
  Log(LogLevel::kInfo, kComponent, "VM network up",
      {{"instance", options.key.ToString()},
       {"forward_port", options.forward_port},
       {"egress", options.egress_socket.empty() ? "none" : options.egress_socket}});
  return stack.Run(stop_fd);
}

}  // namespace clawvisor::slirp
