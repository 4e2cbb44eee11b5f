#include "adapters/front_door/session_store.h"

#include <algorithm>
#include <cstdlib>

#include "adapters/openssl/aes_gcm.h"
#include "engine/command/generated_values.h"
#include "engine/hex.h"

namespace clawvisor::front_door {

SessionStore::SessionStore(Clock& clock, RandomSource& random, std::chrono::milliseconds idle,
                           std::chrono::milliseconds absolute, size_t max_sessions)
    : clock_(clock),
      random_(random),
      idle_us_(std::chrono::duration_cast<std::chrono::microseconds>(idle).count()),
      absolute_us_(std::chrono::duration_cast<std::chrono::microseconds>(absolute).count()),
      max_sessions_(std::max<size_t>(max_sessions, 1)) {}

std::string SessionStore::Digest(std::string_view cookie) {
  auto digest = openssl::Sha256(
      std::span(reinterpret_cast<const unsigned char*>(cookie.data()), cookie.size()));
  if (!digest) std::abort();  // SHA-256 does not fail on a working OpenSSL
  return HexEncode(std::span<const unsigned char>(*digest));
}

bool SessionStore::Expired(const Entry& e, TimestampUs now) const {
  return now >= e.session.absolute_expiry_us || now - e.last_used_us >= idle_us_;
}

void SessionStore::MakeRoom(TimestampUs now) {
  if (sessions_.size() < max_sessions_) return;
  std::erase_if(sessions_, [&](const auto& kv) { return Expired(kv.second, now); });
  while (sessions_.size() >= max_sessions_) {
    auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.last_used_us < b.second.last_used_us; });
    sessions_.erase(oldest);
  }
}

std::string SessionStore::Open(std::string_view instance_id, ConsoleSession session) {
  // The gateway tokens' generator: 32 bytes from the RandomSource, base64url (43 characters).
  std::string cookie = NewGatewayToken(random_);
  const TimestampUs now = clock_.NowUs();
  session.absolute_expiry_us = std::min(session.absolute_expiry_us, now + absolute_us_);
  std::lock_guard lock(mu_);
  MakeRoom(now);
  sessions_[Digest(cookie)] = Entry{std::string(instance_id), std::move(session), now};
  return cookie;
}

std::optional<ConsoleSession> SessionStore::Find(std::string_view cookie,
                                                 std::string_view instance_id) {
  if (cookie.empty() || cookie.size() > 128) return std::nullopt;
  const std::string digest = Digest(cookie);
  const TimestampUs now = clock_.NowUs();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(digest);
  if (it == sessions_.end()) return std::nullopt;
  if (Expired(it->second, now)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  if (it->second.instance_id != instance_id) return std::nullopt;
  it->second.last_used_us = now;
  return it->second.session;
}

void SessionStore::Remove(std::string_view cookie) {
  const std::string digest = Digest(cookie);
  std::lock_guard lock(mu_);
  sessions_.erase(digest);
}

size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace clawvisor::front_door
