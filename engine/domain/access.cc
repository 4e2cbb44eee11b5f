#include "engine/domain/access.h"

#include <array>

namespace clawvisor {
namespace {

using P = Principal;
using C = v1::Command;

constexpr Principals kOwner = Bit(P::kOwner);
constexpr Principals kWebTier = Bit(P::kWebTier);
constexpr Principals kOperator = Bit(P::kOperator);
constexpr Principals kReconciler = Bit(P::kReconciler);
constexpr Principals kSystem = Bit(P::kSystem);

// viewer: read only (and its own sign-in security); admin: configure and operate instances;
// owner: also billing, members, erasure, backups' restore and the audit trail. Services get only
// what their job needs.
constexpr std::array kCommandRules = {
    // Before a session exists, the web tier acts on its own.
    CommandRule{C::kRegisterAccount, kWebTier},
    CommandRule{C::kVerifyEmail, kWebTier},
    CommandRule{C::kLogin, kWebTier},
    CommandRule{C::kRequestPasswordReset, kWebTier},
    CommandRule{C::kCompletePasswordReset, kWebTier},
    // A signed-in member's own sign-in security.
    CommandRule{C::kChangePassword, kAnyMember},
    CommandRule{C::kEnrollTotp, kAnyMember},
    CommandRule{C::kConfirmTotp, kAnyMember},
    CommandRule{C::kDisableTotp, kAnyMember},
    CommandRule{C::kLogout, kAnyMember},
    // Members, billing, erasure, audit: the owner.
    CommandRule{C::kInviteMember, kOwner},
    CommandRule{C::kGrantRole, kOwner},
    CommandRule{C::kRevokeRole, kOwner},
    CommandRule{C::kStartSubscription, kOwner},
    CommandRule{C::kCancelSubscription, kOwner},
    CommandRule{C::kRequestAccountErasure, kOwner},
    CommandRule{C::kRequestAuditExport, kOwner},
    // The export worker records the file it wrote (row count, SHA-256).
    CommandRule{C::kCompleteAuditExport, kSystem},
    // The hosting service's own staff and meters.
    CommandRule{C::kGrantCredits, kOperator},
    CommandRule{C::kUnlockLogin, kOperator},
    CommandRule{C::kDisableAccount, kOperator},
    CommandRule{C::kEnableAccount, kOperator},
    CommandRule{C::kRecordUsage, kReconciler},
    // Instances: configure and operate. Stopping is also the operators' kill switch; the
    // engine's lifecycle timers (idle pause, trial end, cancellation, inactivity) stop, pause,
    // resume and delete.
    CommandRule{C::kCreateInstance, kOwnerOrAdmin},
    CommandRule{C::kStartInstance, kOwnerOrAdmin},
    CommandRule{C::kStopInstance, kOwnerOrAdmin | kOperator | kSystem},
    CommandRule{C::kPauseInstance, kOwnerOrAdmin | kSystem},
    CommandRule{C::kResumeInstance, kOwnerOrAdmin | kSystem},
    CommandRule{C::kDeleteInstance, kOwnerOrAdmin | kSystem},
    CommandRule{C::kSetCredential, kOwnerOrAdmin},
    CommandRule{C::kRemoveCredential, kOwnerOrAdmin},
    CommandRule{C::kRotateGatewayToken, kOwnerOrAdmin},
    CommandRule{C::kRequestBackup, kOwnerOrAdmin},
    CommandRule{C::kRestoreBackup, kOwner},
    // The console (the front door): every member may open it (viewer and up); the front door,
    // a system actor, exchanges the link.
    CommandRule{C::kIssueConsoleLink, kAnyMember},
    CommandRule{C::kRedeemConsoleLink, kSystem},
    // Webhook paths: the owner (or an admin) opens, replaces and closes them.
    CommandRule{C::kRotateWebhookPath, kOwnerOrAdmin},
    CommandRule{C::kUpgradeInstance, kOwnerOrAdmin},
    CommandRule{C::kDisableWebhookPath, kOwnerOrAdmin},
    // What a host saw.
    CommandRule{C::kRecordObservation, kReconciler},
    // Placement (engine/host_registry.h): hosts offer room and take instances; an operator may
    // also register a host (to shrink it, draining it of new placements).
    CommandRule{C::kRegisterHost, kReconciler | kOperator},
    CommandRule{C::kPlaceInstance, kReconciler},
    CommandRule{C::kRecordPlacement, kReconciler},
    CommandRule{C::kReleasePlacement, kReconciler},
};

constexpr std::array kQueryRules = {
    QueryRule{Query::kGetAccount, kAnyMember | kOperator},
    QueryRule{Query::kListMembers, kAnyMember | kOperator},
    QueryRule{Query::kListInstances, kAnyMember | kOperator | kReconciler},
    QueryRule{Query::kGetInstance, kAnyMember | kOperator | kReconciler},
    QueryRule{Query::kListAudit, kOwner},
    QueryRule{Query::kGetCommand, kAnyMember | kOperator},
    QueryRule{Query::kDataExport, kOwner},
    QueryRule{Query::kListAuditExports, kOwner},
    QueryRule{Query::kGetAuditExport, kOwner},
    QueryRule{Query::kDownloadAuditExport, kOwner},
};

Principals RoleBit(v1::Role role) {
  switch (role) {
    case v1::ROLE_OWNER:
      return Bit(P::kOwner);
    case v1::ROLE_ADMIN:
      return Bit(P::kAdmin);
    case v1::ROLE_VIEWER:
      return Bit(P::kViewer);
    default:
      return kNoPrincipal;
  }
}

}  // namespace

std::string_view PrincipalName(Principal p) {
  switch (p) {
    case P::kViewer:
      return "viewer";
    case P::kAdmin:
      return "admin";
    case P::kOwner:
      return "owner";
    case P::kWebTier:
      return "web_tier";
    case P::kOperator:
      return "operator";
    case P::kReconciler:
      return "reconciler";
    case P::kSystem:
      return "system";
  }
  return "unknown";
}

std::string_view QueryName(Query q) {
  switch (q) {
    case Query::kGetAccount:
      return "get_account";
    case Query::kListMembers:
      return "list_members";
    case Query::kListInstances:
      return "list_instances";
    case Query::kGetInstance:
      return "get_instance";
    case Query::kListAudit:
      return "list_audit";
    case Query::kGetCommand:
      return "get_command";
    case Query::kDataExport:
      return "data_export";
    case Query::kListAuditExports:
      return "list_audit_exports";
    case Query::kGetAuditExport:
      return "get_audit_export";
    case Query::kDownloadAuditExport:
      return "download_audit_export";
  }
  return "unknown";
}

std::span<const CommandRule> CommandRules() { return kCommandRules; }
std::span<const QueryRule> QueryRules() { return kQueryRules; }

Principals PrincipalsOf(const v1::Actor& actor, std::optional<v1::Role> member_role) {
  switch (actor.kind()) {
    case v1::Actor::KIND_USER:
      return member_role ? RoleBit(*member_role) : kNoPrincipal;
    case v1::Actor::KIND_SERVICE:
      return static_cast<Principals>(kWebTier | RoleBit(actor.role()));
    case v1::Actor::KIND_OPERATOR:
      return kOperator;
    case v1::Actor::KIND_RECONCILER:
      return kReconciler;
    case v1::Actor::KIND_SYSTEM:
      return Bit(P::kSystem);
    default:
      return kNoPrincipal;
  }
}

bool MayCommand(Principals caller, v1::Command::PayloadCase payload) {
  for (const CommandRule& rule : kCommandRules) {
    if (rule.payload == payload) return (rule.allowed & caller) != 0;
  }
  return false;
}

bool MayQuery(Principals caller, Query query) {
  for (const QueryRule& rule : kQueryRules) {
    if (rule.query == query) return (rule.allowed & caller) != 0;
  }
  return false;
}

}  // namespace clawvisor
