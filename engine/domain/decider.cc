#include "engine/domain/decider.h"

#include <algorithm>

#include "engine/domain/access.h"
#include "engine/domain/account_decisions.h"
#include "engine/domain/audit_export_decisions.h"
#include "engine/domain/decision_helpers.h"
#include "engine/domain/host_registry.h"
#include "engine/domain/instance_decisions.h"
#include "engine/domain/sign_in_decisions.h"

namespace clawvisor {

std::optional<v1::Role> MemberRole(const AccountState& state, const v1::Actor& actor) {
  if (actor.kind() != v1::Actor::KIND_USER) return std::nullopt;
  auto it = state.members.find(actor.id());
  if (it == state.members.end()) return std::nullopt;
  return it->second;
}

Decision Decide(const AccountState& state, const v1::Command& command, TimestampUs now_us,
                const DecideOptions& options) {
  if (!IsValidCommandId(command.command_id())) {
    return decide::Reject(v1::REJECTION_INVALID_ARGUMENT, "command_id is missing or malformed");
  }
  if (command.payload_case() == v1::Command::PAYLOAD_NOT_SET) {
    return decide::Reject(v1::REJECTION_INVALID_ARGUMENT, "command has no payload");
  }
  // The permission table first: a caller without the right learns nothing about the account
  // (not even whether it exists). A user's role is the one this account's events gave it.
  const Principals caller = PrincipalsOf(command.actor(), MemberRole(state, command.actor()));
  if (!MayCommand(caller, command.payload_case())) {
    return decide::Reject(v1::REJECTION_PERMISSION_DENIED,
                          "the caller may not do this on this account");
  }
  // The host registry is decided under a reserved account id that takes host commands only.
  const bool to_registry = command.account_id() == kHostRegistryAccountId;
  if (IsHostRegistryCommand(command.payload_case()) != to_registry) {
    return decide::Reject(v1::REJECTION_INVALID_ARGUMENT,
                          to_registry ? "the host registry takes only host commands"
                                      : "host commands go to the host registry");
  }
  if (to_registry) return DecideHostRegistry(state.host_registry, command);
  if (command.payload_case() == v1::Command::kRegisterAccount) {
    return decide::RegisterAccount(state, command.register_account(), now_us, options);
  }
  if (state.erased) return decide::Reject(v1::REJECTION_ACCOUNT_ERASED, "account was erased");
  if (!state.registered) return decide::Reject(v1::REJECTION_ACCOUNT_NOT_FOUND, "no such account");
  // A disabled account signs nobody in and starts nothing (stopping, deleting, reading and the
  // operators' commands still work).
  if (state.disabled) {
    switch (command.payload_case()) {
      case v1::Command::kLogin:
      case v1::Command::kCreateInstance:
      case v1::Command::kStartInstance:
      case v1::Command::kResumeInstance:
      case v1::Command::kCompletePasswordReset:
        return decide::Reject(v1::REJECTION_ACCOUNT_DISABLED, "the account is disabled");
      default:
        break;
    }
  }

  switch (command.payload_case()) {
    case v1::Command::kCreateInstance:
      return decide::CreateInstance(state, command.create_instance(), options);
    case v1::Command::kStartInstance:
      return decide::RequestTransition(state, command.start_instance().instance_id(), command);
    case v1::Command::kStopInstance:
      return decide::RequestTransition(state, command.stop_instance().instance_id(), command);
    case v1::Command::kPauseInstance:
      return decide::RequestTransition(state, command.pause_instance().instance_id(), command);
    case v1::Command::kResumeInstance:
      return decide::RequestTransition(state, command.resume_instance().instance_id(), command);
    case v1::Command::kDeleteInstance:
      return decide::RequestTransition(state, command.delete_instance().instance_id(), command);
    case v1::Command::kRecordObservation:
      return decide::RecordObservation(state, command);
    case v1::Command::kRecordPlacement:
      return decide::RecordPlacement(state, command);
    case v1::Command::kChangePassword:
      return decide::ChangePassword(state, command);
    case v1::Command::kLogin:
      return decide::Login(state, command.login(), now_us, options);
    case v1::Command::kLogout:
      return decide::Logout(state, command);
    case v1::Command::kRequestPasswordReset:
      return decide::RequestPasswordReset(state, command.request_password_reset(), now_us, options);
    case v1::Command::kCompletePasswordReset:
      return decide::CompletePasswordReset(state, command.complete_password_reset(), now_us);
    case v1::Command::kEnrollTotp:
      return decide::EnrollTotp(state, command);
    case v1::Command::kConfirmTotp:
      return decide::ConfirmTotp(state, command);
    case v1::Command::kDisableTotp:
      return decide::DisableTotp(state, command);
    case v1::Command::kUnlockLogin:
      return decide::UnlockLogin(state, command.unlock_login());
    case v1::Command::kDisableAccount:
      return decide::DisableAccount(state, command.disable_account());
    case v1::Command::kEnableAccount:
      return decide::EnableAccount(state);
    case v1::Command::kInviteMember:
      return decide::InviteMember(state, command.invite_member());
    case v1::Command::kGrantRole:
      return decide::GrantRole(state, command.grant_role());
    case v1::Command::kRevokeRole:
      return decide::RevokeRole(state, command.revoke_role());
    case v1::Command::kSetCredential:
      return decide::SetCredential(state, command.set_credential(), options);
    case v1::Command::kRemoveCredential:
      return decide::RemoveCredential(state, command.remove_credential());
    case v1::Command::kRotateGatewayToken:
      return decide::RotateGatewayToken(state, command.rotate_gateway_token());
    case v1::Command::kIssueConsoleLink:
      return decide::IssueConsoleLink(state, command, now_us);
    case v1::Command::kRedeemConsoleLink:
      return decide::RedeemConsoleLink(state, command, now_us);
    case v1::Command::kUpgradeInstance:
      return decide::UpgradeInstance(state, command.upgrade_instance(), options);
    case v1::Command::kRotateWebhookPath:
      return decide::RotateWebhookPath(state, command.rotate_webhook_path());
    case v1::Command::kDisableWebhookPath:
      return decide::DisableWebhookPath(state, command.disable_webhook_path());
    case v1::Command::kRequestAccountErasure:
      return decide::RequestAccountErasure(state);
    case v1::Command::kRequestAuditExport:
      return decide::RequestAuditExport(state, command, now_us);
    case v1::Command::kCompleteAuditExport:
      return decide::CompleteAuditExport(state, command);
    case v1::Command::PAYLOAD_NOT_SET:
      return decide::Reject(v1::REJECTION_INVALID_ARGUMENT, "command has no payload");
    default:
      return decide::Reject(v1::REJECTION_INVALID_ARGUMENT,
                            "this command is not supported by this build of the engine");
  }
}

void Evolve(AccountState& state, const v1::Envelope& event) {
  if (event.aggregate_type() == v1::AGGREGATE_TYPE_ACCOUNT) {
    state.version = event.aggregate_version();
  }
  InstanceState* instance = nullptr;
  if (event.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE) {
    instance = &state.instances[event.aggregate_id()];
    instance->instance_id = event.aggregate_id();
    instance->version = event.aggregate_version();
  }
  // Each family folds its own events (in the file of its decisions) and says whether it took
  // the event; audit-only events (logins, rejections, ...) change no decision state.
  if (decide::EvolveAccount(state, event) || decide::EvolveSignIn(state, event) ||
      decide::EvolveAuditExport(state, event)) {
    return;
  }
  if (instance != nullptr && decide::EvolveInstance(*instance, event)) return;
  switch (event.payload_case()) {
    case v1::Envelope::kHostRegistered:
    case v1::Envelope::kInstanceScheduled:
    case v1::Envelope::kInstanceQueued:
    case v1::Envelope::kPlacementReleased:
      EvolveHostRegistry(state.host_registry, event);
      break;
    default:
      break;
  }
}

}  // namespace clawvisor
