#pragma once

// SessionStore: the front door's console sessions (browser cookies), in memory only.
//
// A console link (FrontDoorBackend::RedeemConsoleLink) is exchanged for a cookie holding 32
// random bytes (base64url). The store keeps only the SHA-256 of that value, so a dump of the
// process's memory still does not hand out live cookies. A session belongs to one instance and
// one user, and ends at the first of: `idle` without a request, its absolute expiry (the grant's,
// capped at `absolute` after its opening), or being removed. A restart forgets every session:
// the user opens a new link (documented in README.md). Bounded: at `max_sessions` the expired
// ones go first, then the least recently used.
//
// Thread-safety: safe for concurrent use (one mutex).

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "engine/clock.h"
#include "engine/random.h"
#include "engine/reconcile/vm_driver.h"

namespace clawvisor::front_door {

struct ConsoleSession {
  VmKey key;
  std::string user_id;
  TimestampUs absolute_expiry_us = 0;
};

class SessionStore {
 public:
  SessionStore(Clock& clock, RandomSource& random, std::chrono::milliseconds idle,
               std::chrono::milliseconds absolute, size_t max_sessions);

  // Opens a session for `session.key` (whose console id is `instance_id`); returns the cookie
  // value. `session.absolute_expiry_us` is capped at now + absolute.
  std::string Open(std::string_view instance_id, ConsoleSession session);

  // The live session `cookie` names for `instance_id`, its idle clock restarted; nullopt when
  // unknown, expired (then forgotten) or another instance's.
  std::optional<ConsoleSession> Find(std::string_view cookie, std::string_view instance_id);

  void Remove(std::string_view cookie);
  size_t size() const;

 private:
  struct Entry {
    std::string instance_id;
    ConsoleSession session;
    TimestampUs last_used_us = 0;
  };
  // REQUIRES: mu_ is held.
  void MakeRoom(TimestampUs now);
  bool Expired(const Entry& e, TimestampUs now) const;
  static std::string Digest(std::string_view cookie);

  Clock& clock_;
  RandomSource& random_;
  const int64_t idle_us_;
  const int64_t absolute_us_;
  const size_t max_sessions_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> sessions_;  // GUARDED_BY(mu_); key: hex SHA-256
};

}  // namespace clawvisor::front_door
