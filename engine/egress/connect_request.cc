#include "engine/egress/connect_request.h"

#include <charconv>

#include "engine/egress/host_name.h"

namespace clawvisor::egress {
namespace {

ConnectScan Refuse(int status, std::string problem) {
  ConnectScan scan;
  scan.state = ConnectScanState::kRefused;
  scan.status = status;
  scan.problem = std::move(problem);
  return scan;
}

}  // namespace

ConnectScan ScanConnectRequest(std::string_view bytes) {
  const size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (bytes.size() >= kMaxConnectHeadBytes) return Refuse(431, "request head too large");
    // Refuse what is not a CONNECT as soon as its first bytes show it.
    constexpr std::string_view kMethod = "CONNECT ";
    const size_t n = std::min(bytes.size(), kMethod.size());
    if (bytes.substr(0, n) != kMethod.substr(0, n)) return Refuse(405, "only CONNECT is served");
    return {};
  }
  if (end + 4 > kMaxConnectHeadBytes) return Refuse(431, "request head too large");
  const std::string_view line = bytes.substr(0, bytes.find("\r\n"));
  // CONNECT SP authority SP HTTP/1.x
  const size_t first = line.find(' ');
  const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
    return Refuse(400, "malformed request line");
  }
  if (line.substr(0, first) != "CONNECT") return Refuse(405, "only CONNECT is served");
  const std::string_view version = line.substr(second + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0")
    return Refuse(400, "unsupported HTTP version");
  const std::string_view authority = line.substr(first + 1, second - first - 1);
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return Refuse(400, "CONNECT target has no port");
  const std::string_view host_text = authority.substr(0, colon);
  const std::string_view port_text = authority.substr(colon + 1);
  int port = 0;
  auto [at, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || at != port_text.data() + port_text.size() || port < 1 || port > 65535) {
    return Refuse(400, "CONNECT target port is not a number");
  }
  auto host = NormalizeHostName(host_text);
  if (!host) return Refuse(403, "CONNECT target is not a host name (addresses are refused)");
  if (port != 443) return Refuse(403, "only port 443 is served (TLS)");
  ConnectScan scan;
  scan.state = ConnectScanState::kComplete;
  scan.host = std::move(*host);
  scan.port = static_cast<uint16_t>(port);
  scan.head_bytes = end + 4;
  return scan;
}

}  // namespace clawvisor::egress
