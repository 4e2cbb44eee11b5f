#pragma once

// ProjectedSessionResolver: turns a user's session token, forwarded by the web tier, into the
// user, from the sessions projection (projections/projector.h, `s|<session id>`).
//
// A token is live when: it has the shape of one; its keyed hash names a session row whose
// stored hash matches (constant-time); the account is not erased and its sessions were not all
// revoked after this one started (password change, reset, erasure: AllSessionsRevoked); the
// absolute timeout has not passed; and it was used within the idle timeout. Both timeouts read
// the injected Clock. Last use is kept in memory (a use is not an event: writing the log on
// every request would cost more than the request); after a restart a session's idle clock
// starts again from its login, i.e. the restart can only shorten a session, never lengthen it.
//
// Thread-safety: safe for concurrent use.

#include <mutex>
#include <string>
#include <unordered_map>

#include "adapters/http/authenticator.h"
#include "engine/clock.h"
#include "engine/sealer.h"
#include "projections/projector.h"

namespace clawvisor {

class ProjectedSessionResolver final : public SessionResolver {
 public:
  ProjectedSessionResolver(Projector& projector, Sealer& sealer, Clock& clock)
      : projector_(projector), sealer_(sealer), clock_(clock) {}

  Result<std::string> ResolveUser(std::string_view session_token) override;

 private:
  Projector& projector_;
  Sealer& sealer_;
  Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, TimestampUs> last_used_;  // GUARDED_BY(mu_)
};

}  // namespace clawvisor
