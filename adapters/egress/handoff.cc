#include "adapters/egress/handoff.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

#include "engine/domain/ids.h"

namespace clawvisor::egress {
namespace {

constexpr std::string_view kMagic = "clawvisor-egress/1";
constexpr size_t kMaxMessage = 512;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Status HandOffConnection(const std::string& socket_path, const VmKey& key, uint16_t guest_port,
                         int fd, std::chrono::milliseconds timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    return MakeError(Errc::kInvalidArgument, "egress socket path too long");
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  Fd sock{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0)
    return MakeError(Errc::kUnavailable, std::string("socket: ") + std::strerror(errno));
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return MakeError(Errc::kUnavailable,
                     "egress gateway at " + socket_path + ": " + std::strerror(errno));
  }
  const std::string message = std::string(kMagic) + " " + key.account_id + " " + key.instance_id +
                              " " + std::to_string(guest_port) + "\n";
  iovec iov{const_cast<char*>(message.data()), message.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  pollfd writable{sock.fd, POLLOUT, 0};
  if (::poll(&writable, 1, static_cast<int>(timeout.count())) != 1) {
    return MakeError(Errc::kTimeout, "egress gateway did not take the connection");
  }
  const ssize_t sent = ::sendmsg(sock.fd, &msg, MSG_NOSIGNAL);
  if (sent != static_cast<ssize_t>(message.size())) {
    return MakeError(Errc::kUnavailable, std::string("egress handoff: ") + std::strerror(errno));
  }
  return {};
}

Result<Handoff> ReceiveHandoff(int socket_fd) {
  char buffer[kMaxMessage];
  iovec iov{buffer, sizeof buffer};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(socket_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return MakeError(Errc::kUnavailable, "handoff not readable yet");
  }
  // Every descriptor that came is owned here; exactly one is kept.
  Fd passed;
  bool extra = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (passed.fd < 0) {
        passed.fd = fd;
      } else {
        ::close(fd);
        extra = true;
      }
    }
  }
  if (n <= 0) return MakeError(Errc::kInvalidArgument, "handoff closed without a message");
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || extra) {
    return MakeError(Errc::kInvalidArgument,
                     "handoff message too large or with several descriptors");
  }
  if (passed.fd < 0) return MakeError(Errc::kInvalidArgument, "handoff without a descriptor");
  int type = 0;
  socklen_t type_len = sizeof type;
  if (::getsockopt(passed.fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM) {
    return MakeError(Errc::kInvalidArgument, "handoff descriptor is not a stream socket");
  }
  std::string_view text(buffer, static_cast<size_t>(n));
  if (!text.ends_with('\n')) return MakeError(Errc::kInvalidArgument, "handoff message not a line");
  text.remove_suffix(1);
  std::string_view parts[4];
  for (size_t i = 0; i < 4; ++i) {
    const size_t space = text.find(' ');
    if ((space == std::string_view::npos) != (i == 3)) {
      return MakeError(Errc::kInvalidArgument, "handoff message malformed");
    }
    parts[i] = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
  }
  int port = 0;
  auto [end, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), port);
  if (parts[0] != kMagic || !IsValidResourceId(parts[1]) || !IsValidResourceId(parts[2]) ||
      ec != std::errc() || end != parts[3].data() + parts[3].size() ||
      (port != kProxyPort && port != kTlsPort)) {
    return MakeError(Errc::kInvalidArgument, "handoff message malformed");
  }
  Handoff handoff{
      {std::string(parts[1]), std::string(parts[2])}, static_cast<uint16_t>(port), passed.fd};
  passed.fd = -1;
  return handoff;
}

}  // namespace clawvisor::egress
