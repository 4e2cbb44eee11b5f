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
  bool tls = false;           // whether the request arrived over TLS
  // For an mTLS authenticator (not built; see ARCHITECTURE.md, known limits): the verified
  // client certificate's subject. Empty.
  std::string client_cert_subject;
  // What the web tier forwards when it acts for a user (trusted only from a web-tier caller):
  std::string session_token;         // kSessionHeader: the user's session token
  std::string forwarded_client_ip;   // kClientIpHeader: the user's address
  std::string forwarded_user_agent;  // kClientUserAgentHeader: the user's browser
};

inline constexpr std::string_view kSessionHeader = "X-Clawvisor-Session";
inline constexpr std::string_view kClientIpHeader = "X-Clawvisor-Client-Ip";
inline constexpr std::string_view kClientUserAgentHeader = "X-Clawvisor-Client-User-Agent";

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The caller's Actor, or kPermissionDenied (-> 403) / any other error (-> 401).
  virtual Result<v1::Actor> Authenticate(const RequestInfo& request) = 0;
};

// The default without --service-tokens-file, which serve allows on loopback only: every caller
// is the local web tier, acting as a service with the owner role. Source IP and user agent still
// come from the connection so the audit trail says where a request came from.
class LocalServiceAuthenticator final : public Authenticator {
 public:
  Result<v1::Actor> Authenticate(const RequestInfo& request) override;
};

// Turns a user's session token into the user it belongs to (issue #4, sessions: the session
// projection looks the token up by its keyed hash and checks its idle and absolute expiry).
class SessionResolver {
 public:
  virtual ~SessionResolver() = default;
  // The user id of a live session, or an error (-> 401).
  virtual Result<std::string> ResolveUser(std::string_view session_token) = 0;
};

// The longest User-Agent the API records, in bytes.
inline constexpr size_t kMaxUserAgentBytes = 256;

// A User-Agent fit for the audit trail: valid UTF-8 only (invalid bytes dropped), no control
// characters (C0, DEL, C1), at most kMaxUserAgentBytes, never cut inside a character.
std::string SanitizeUserAgent(std::string_view raw);

}  // namespace clawvisor
