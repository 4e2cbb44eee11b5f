#pragma once

// Access: the one permission table that every command and every query consults.
//
// A caller is a set of principals (a bit mask). A user is the role it holds in the account it
// addresses (owner, admin or viewer; none when it is not a member, so a user never reaches
// another account). Service callers carry their kind: the web tier (acting without a user: the
// flows before a session exists, such as registration and login), operators, reconcilers and the
// engine's own timers. A service actor that also carries a role (only the loopback development
// authenticator issues one) holds the web tier's rights plus that role's on every account.
//
// Who decides what:
//   - Decide() (engine/decider.cc) checks every command against the table with the role the
//     account's own events give the user, never the role an actor claims. It is authoritative.
//   - The HTTP API checks every query, and every command before it is appended (so a refused
//     request appends nothing), with the role the members projection gives the user.
// An operation without a row is refused: the default is deny.
//
// Thread-safety: pure functions over an immutable table.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/common.pb.h"

namespace clawvisor {

enum class Principal : uint8_t {
  kViewer,
  kAdmin,
  kOwner,
  kWebTier,     // a service caller acting without a user
  kOperator,    // a human operator of the hosting service, through its own service token
  kReconciler,  // a host's reconciler
  kSystem,      // the engine's timers
};
inline constexpr size_t kPrincipalCount = 7;

using Principals = uint16_t;  // bit i = Principal(i)

constexpr Principals Bit(Principal p) {
  return static_cast<Principals>(1u << static_cast<unsigned>(p));
}
inline constexpr Principals kNoPrincipal = 0;
inline constexpr Principals kAnyMember =
    Bit(Principal::kOwner) | Bit(Principal::kAdmin) | Bit(Principal::kViewer);
inline constexpr Principals kOwnerOrAdmin = Bit(Principal::kOwner) | Bit(Principal::kAdmin);

std::string_view PrincipalName(Principal p);

// The queries of the read side (projections/read_model.h), one per HTTP GET route.
enum class Query : uint8_t {
  kGetAccount,
  kListMembers,
  kListInstances,
  kGetInstance,
  kListAudit,
  kGetCommand,
  kDataExport,           // everything held about the account (GDPR export)
  kListAuditExports,     // the account's audit-trail CSV export jobs
  kGetAuditExport,       // one export job
  kDownloadAuditExport,  // the CSV file an export job wrote
};
inline constexpr size_t kQueryCount = 10;
std::string_view QueryName(Query q);

struct CommandRule {
  v1::Command::PayloadCase payload;
  Principals allowed;
};
struct QueryRule {
  Query query;
  Principals allowed;
};

// The table itself, for the role-matrix tests and the documentation.
std::span<const CommandRule> CommandRules();
std::span<const QueryRule> QueryRules();

// The principals of `actor` when it addresses an account in which it holds `member_role` (the
// role found in the account's own state or projection; nullopt when it is not a member).
Principals PrincipalsOf(const v1::Actor& actor, std::optional<v1::Role> member_role);

bool MayCommand(Principals caller, v1::Command::PayloadCase payload);
bool MayQuery(Principals caller, Query query);

}  // namespace clawvisor
