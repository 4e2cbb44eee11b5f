#pragma once

// The HTTP CONNECT request a guest's HTTPS client sends to the egress gateway's proxy port
// (Node's NODE_USE_ENV_PROXY, curl's HTTPS_PROXY): "CONNECT host:443 HTTP/1.1" and headers,
// nothing else. The target must be a host name (never an address: the gateway resolves names
// itself) and port 443; the gateway then requires the TLS ClientHello that follows to name the
// same host (design D9).
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace clawvisor::egress {

inline constexpr size_t kMaxConnectHeadBytes = 8 * 1024;

enum class ConnectScanState {
  kNeedMore,  // no blank line yet (and under kMaxConnectHeadBytes)
  kComplete,  // host, port and head_bytes are set
  kRefused,   // status and problem say why; answer with `status` and close
};

struct ConnectScan {
  ConnectScanState state = ConnectScanState::kNeedMore;
  std::string host;  // normalized host name
  uint16_t port = 0;
  size_t head_bytes = 0;  // bytes of the request head; anything after is the tunnel's
  int status = 0;         // 400, 403, 405, 431 when refused
  std::string problem;    // names the reason, never echoes more than the target
};

ConnectScan ScanConnectRequest(std::string_view bytes);

}  // namespace clawvisor::egress
