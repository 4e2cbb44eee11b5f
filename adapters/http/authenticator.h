#pragma once

// Authenticator: who is calling the HTTP API. The API asks it once per /v1 request and writes the
// Actor it returns into every command it submits (a client never chooses its own actor), so the
// audit trail records the authenticated caller, not a claim in the body.
//
// This is the seam for issue #4 (TLS and authentication): a session-token or mTLS authenticator
// implements this interface and is passed in HttpApiOptions::authenticator; nothing else in the
// adapter changes. RequestInfo carries only what an authenticator may need, copied out of the
// request so it can outlive the connection's buffers.
//
// Thread-safety: Authenticate is called concurrently from the API's worker threads;
// implementations must be safe for concurrent use.

#include <string>
#include <string_view>

#include "clawvisor/v1/common.pb.h"
#include "events/result.h"

namespace clawvisor {

struct RequestInfo {
  std::string method;         // "GET", "POST"
  std::string target;         // path and query, as sent
  std::string authorization;  // the Authorization header, empty when absent
  std::string user_agent;     // the User-Agent header, raw (sanitize before storing)
  std::string peer_ip;        // the TCP peer's address
  bool tls = false;           // whether the request arrived over TLS (always false for now)
  // When TLS lands: the verified client certificate's subject, for mTLS authenticators.
  std::string client_cert_subject;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The caller's Actor, or kPermissionDenied (-> 403) / any other error (-> 401).
  virtual Result<v1::Actor> Authenticate(const RequestInfo& request) = 0;
};

// The default while the API listens on loopback only: every caller is the local web tier, acting
// as a service with the owner role. Source IP and user agent still come from the connection so
// the audit trail says where a request came from.
class LocalServiceAuthenticator final : public Authenticator {
 public:
  Result<v1::Actor> Authenticate(const RequestInfo& request) override;
};

// The longest User-Agent the API records, in bytes.
inline constexpr size_t kMaxUserAgentBytes = 256;

// A User-Agent fit for the audit trail: valid UTF-8 only (invalid bytes dropped), no control
// characters (C0, DEL, C1), at most kMaxUserAgentBytes, never cut inside a character.
std::string SanitizeUserAgent(std::string_view raw);

}  // namespace clawvisor
