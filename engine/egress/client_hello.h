#pragma once

// Reads the server name (SNI) out of the first bytes a TLS client sends, without terminating
// TLS: the egress gateway decides where a guest's connection may go from the name the guest's
// own TLS stack will verify the certificate against (design D9). Nothing but the record and
// handshake framing and the server_name extension is interpreted; the bytes are passed on as
// they came.
//
// A ClientHello may span several TLS records; the scan reassembles up to kMaxClientHelloBytes.
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace clawvisor::egress {

inline constexpr size_t kMaxClientHelloBytes = 64 * 1024;

enum class HelloScanState {
  kNeedMore,   // a prefix of a well-formed ClientHello: read more bytes and scan again
  kComplete,   // server_name holds the SNI host name (lower-cased), or is empty if none was sent
  kNotTls,     // the bytes are not a TLS handshake record (plain HTTP, SSH, ...)
  kMalformed,  // TLS framing, but not a ClientHello this gateway accepts (problem says why)
};

struct HelloScan {
  HelloScanState state = HelloScanState::kNeedMore;
  std::string server_name;
  std::string problem;
};

// Scans `bytes`, the connection's first bytes so far.
HelloScan ScanClientHello(std::span<const uint8_t> bytes);

}  // namespace clawvisor::egress
