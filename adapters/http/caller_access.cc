#include "adapters/http/caller_access.h"

#include <optional>

namespace clawvisor {

Result<Principals> CallerOf(ReadModel& reads, const v1::Actor& actor,
                            const std::string& account_id) {
  std::optional<v1::Role> role;
  if (actor.kind() == v1::Actor::KIND_USER && !account_id.empty()) {
    auto members = reads.ListMembers(account_id);
    if (!members) return std::unexpected(members.error());
    for (const auto& member : members->members()) {
      if (member.user_id() == actor.id()) role = member.role();
    }
  }
  return PrincipalsOf(actor, role);
}

}  // namespace clawvisor
