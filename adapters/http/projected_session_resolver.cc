#include "adapters/http/projected_session_resolver.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "engine/command/password_service.h"
#include "engine/domain/decider.h"

namespace clawvisor {
namespace {

// Forget last-use times of sessions unused for this long (longer than any idle timeout).
constexpr TimestampUs kForgetAfterUs = 24LL * 3600 * 1'000'000;

Error NoSession() { return Error{Errc::kInvalidArgument, "no such session"}; }

}  // namespace

Result<std::string> ProjectedSessionResolver::ResolveUser(std::string_view session_token) {
  if (!IsSessionTokenShape(session_token)) return std::unexpected(NoSession());
  auto hash = sealer_.LookupHash(kSessionTokenPurpose, session_token);
  if (!hash) return std::unexpected(hash.error());
  const std::string session_id = SessionIdFor(*hash);
  auto row = projector_.GetSession(session_id);
  if (!row) return std::unexpected(row.error());
  if (!row->has_value()) return std::unexpected(NoSession());
  const v1::SessionView& session = **row;
  if (session.token_hash().size() != hash->size() ||
      CRYPTO_memcmp(session.token_hash().data(), hash->data(), hash->size()) != 0) {
    return std::unexpected(NoSession());
  }
  auto account = projector_.GetAccount(session.account_id());
  if (!account) return std::unexpected(account.error());
  if (!account->has_value() || (*account)->status() != "active" ||
      session.account_version() <= (*account)->sessions_revoked_through_version()) {
    return std::unexpected(NoSession());  // erased, or revoked with all the account's sessions
  }
  const TimestampUs now = clock_.NowUs();
  if (now >= session.absolute_expires_at_us()) return std::unexpected(NoSession());
  std::lock_guard lock(mu_);
  auto [it, inserted] = last_used_.try_emplace(session_id, session.started_at_us());
  const TimestampUs last = std::max(it->second, session.started_at_us());
  if (now - last >= session.idle_timeout_us()) {
    last_used_.erase(it);
    return std::unexpected(NoSession());
  }
  it->second = now;
  if (inserted && last_used_.size() % 1024 == 0) {
    std::erase_if(last_used_, [&](const auto& kv) { return now - kv.second > kForgetAfterUs; });
  }
  return session.user_id();
}

}  // namespace clawvisor
