#pragma once

// ServiceTokenAuthenticator: callers are services, each with its own bearer token from a file.
//
// The tokens file holds one service per line, `KIND ID TOKEN`, where KIND is `web`, `operator`
// or `reconciler`, ID follows the resource-id rule, and TOKEN is 32..256 printable ASCII
// characters; blank lines and lines starting with '#' are skipped. The file must be a regular
// file that neither its group nor others can read (like an SSH key), and no token may appear
// twice. Only SHA-256 digests of the tokens are kept in memory.
//
// A request carries `Authorization: Bearer TOKEN`. The presented token's digest is compared with
// every known digest in constant time (CRYPTO_memcmp, no early exit), so neither the match nor
// its position leaks through timing. The web tier acts for a user by adding the user's session
// token (kSessionHeader), resolved by the SessionResolver into a user actor, and the user's
// address and browser (kClientIpHeader, kClientUserAgentHeader) for the audit trail. Any other
// service sending those headers is refused: only the web tier speaks for users.
//
// Thread-safety: immutable after construction; Authenticate is safe for concurrent use if the
// SessionResolver is.

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/authenticator.h"

namespace clawvisor {

class ServiceTokenAuthenticator final : public Authenticator {
 public:
  // `sessions` may be null: then a forwarded session is refused (401).
  static Result<std::unique_ptr<ServiceTokenAuthenticator>> FromFile(
      const std::string& path, std::shared_ptr<SessionResolver> sessions);
  // Parses the file's text (errors name the line, never quote a token).
  static Result<std::unique_ptr<ServiceTokenAuthenticator>> FromText(
      std::string_view text, std::shared_ptr<SessionResolver> sessions);

  Result<v1::Actor> Authenticate(const RequestInfo& request) override;

  size_t service_count() const { return services_.size(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Service {
    v1::Actor::Kind kind;
    std::string id;
    Digest digest;
  };
  ServiceTokenAuthenticator(std::vector<Service> services,
                            std::shared_ptr<SessionResolver> sessions)
      : services_(std::move(services)), sessions_(std::move(sessions)) {}

  std::vector<Service> services_;
  std::shared_ptr<SessionResolver> sessions_;
};

// Whether `text` is an IPv4 or IPv6 address literal (what a forwarded client address must be).
bool IsIpLiteral(std::string_view text);

}  // namespace clawvisor
