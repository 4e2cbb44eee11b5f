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
  switch (event.payload_case()) {
    case v1::Envelope::kAccountRegistered: {
      const auto& p = event.account_registered();
      state.account_id = event.account_id();
      state.registered = true;
      state.plan = p.plan();
      state.owner_user_id = p.owner_user_id();
      state.members[p.owner_user_id()] = v1::ROLE_OWNER;
      state.has_password = p.has_password_hash();
      break;
    }
    case v1::Envelope::kPasswordChanged: {
      state.has_password = true;
      ++state.password_changes;
      state.reset_tokens.clear();  // a reset link mailed before the change is void
      break;
    }
    case v1::Envelope::kPasswordResetRequested: {
      const auto& p = event.password_reset_requested();
      std::erase_if(state.reset_tokens,
                    [&](const auto& kv) { return kv.second <= event.occurred_at_us(); });
      state.reset_tokens[p.token_hash()] = p.expires_at_us();
      break;
    }
    case v1::Envelope::kPasswordResetCompleted:
      state.has_password = true;
      ++state.password_changes;
      state.reset_tokens.clear();  // single use, and every other outstanding token dies too
      break;
    case v1::Envelope::kSessionStarted: {
      const auto& p = event.session_started();
      std::erase_if(state.sessions, [&](const auto& kv) {
        return kv.second.absolute_expires_at_us <= event.occurred_at_us();
      });
      state.sessions[p.session_id()] = SessionState{p.user_id(), p.absolute_expires_at_us()};
      break;
    }
    case v1::Envelope::kLoginFailed:
      state.login_failures = event.login_failed().consecutive_failures();
      break;
    case v1::Envelope::kLoginThrottled:
      state.login_locked_until_us = event.login_throttled().locked_until_us();
      break;
    case v1::Envelope::kTotpEnrolled: {
      const auto& p = event.totp_enrolled();
      state.totp_enrolled = true;
      state.totp_enabled = false;
      state.recovery_code_hashes = {p.recovery_code_hashes().begin(),
                                    p.recovery_code_hashes().end()};
      break;
    }
    case v1::Envelope::kTotpEnabled:
      state.totp_enabled = true;
      state.totp_last_step = std::max(state.totp_last_step, event.totp_enabled().totp_time_step());
      break;
    case v1::Envelope::kTotpDisabled:
      state.totp_enrolled = false;
      state.totp_enabled = false;
      state.recovery_code_hashes.clear();
      state.totp_last_step = std::max(state.totp_last_step, event.totp_disabled().totp_time_step());
      break;
    case v1::Envelope::kLoginSucceeded: {
      const auto& p = event.login_succeeded();
      state.totp_last_step = std::max(state.totp_last_step, p.totp_time_step());
      if (p.used_recovery_code())
        state.recovery_code_hashes.erase(decide::HashBytes(p.recovery_code_hash()));
      state.login_failures = 0;
      state.login_locked_until_us = 0;
      break;
    }
    case v1::Envelope::kLoginUnlocked:
      state.login_failures = 0;
      state.login_locked_until_us = 0;
      break;
    case v1::Envelope::kSessionRevoked:
      state.sessions.erase(event.session_revoked().session_id());
      break;
    case v1::Envelope::kAllSessionsRevoked:
      state.sessions.clear();
      break;
    case v1::Envelope::kTrialStarted:
      state.trial_ends_at_us = event.trial_started().ends_at_us();
      break;
    case v1::Envelope::kAccountDisabled:
      state.disabled = true;
      break;
    case v1::Envelope::kAccountEnabled:
      state.disabled = false;
      break;
    case v1::Envelope::kSubscriptionStarted:
      state.plan = event.subscription_started().plan();
      break;
    case v1::Envelope::kMemberInvited:
      ++state.invitations;
      break;
    case v1::Envelope::kRoleGranted:
      state.members[event.role_granted().user_id()] = event.role_granted().role();
      break;
    case v1::Envelope::kRoleRevoked:
      state.members.erase(event.role_revoked().user_id());
      break;
    case v1::Envelope::kAccountErased:
      state.erased = true;
      state.members.clear();
      state.sessions.clear();
      for (auto& [id, inst] : state.instances) inst.desired = DesiredState::kDeleted;
      break;
    case v1::Envelope::kInstanceCreated: {
      const auto& p = event.instance_created();
      const uint64_t version = instance->version;
      *instance = InstanceState{};
      instance->instance_id = event.aggregate_id();
      instance->version = version;
      instance->name = p.name();
      instance->spec = p.spec();
      instance->revision = p.revision();
      instance->created_at_us = event.occurred_at_us();
      break;
    }
    case v1::Envelope::kInstanceStartRequested:
      instance->desired = DesiredState::kRunning;
      break;
    case v1::Envelope::kInstanceStopRequested:
      instance->desired = DesiredState::kStopped;
      break;
    case v1::Envelope::kInstancePauseRequested:
      instance->desired = DesiredState::kPaused;
      break;
    case v1::Envelope::kInstanceResumeRequested:
      instance->desired = DesiredState::kRunning;
      break;
    case v1::Envelope::kInstanceDeleteRequested:
      instance->desired = DesiredState::kDeleted;
      break;
    case v1::Envelope::kInstancePlaced:
      instance->host_id = event.instance_placed().host_id();
      break;
    case v1::Envelope::kInstanceStarted:
      instance->observed = v1::VM_STATE_RUNNING;
      instance->host_id = event.instance_started().host_id();
      break;
    case v1::Envelope::kInstanceStopped:
      instance->observed = v1::VM_STATE_STOPPED;
      break;
    case v1::Envelope::kInstancePaused:
      instance->observed = v1::VM_STATE_PAUSED;
      break;
    case v1::Envelope::kInstanceFailed:
      instance->observed = v1::VM_STATE_FAILED;
      break;
    case v1::Envelope::kInstanceDeleted:
      instance->observed = v1::VM_STATE_DELETED;
      instance->deleted = true;
      break;
    case v1::Envelope::kInstanceActivityObserved:
      instance->last_activity_us = event.instance_activity_observed().last_activity_us();
      break;
    case v1::Envelope::kInstanceCredentialSet: {
      const auto& p = event.instance_credential_set();
      instance->credentials[p.name()] = CredentialInfo{p.kind(), p.last4()};
      break;
    }
    case v1::Envelope::kInstanceCredentialRemoved:
      instance->credentials.erase(event.instance_credential_removed().name());
      break;
    case v1::Envelope::kAuditExportRequested:
      state.audit_exports.emplace(event.audit_export_requested().export_id(), false);
      break;
    case v1::Envelope::kAuditExportCompleted:
      state.audit_exports[event.audit_export_completed().export_id()] = true;
      break;
    case v1::Envelope::kHostRegistered:
    case v1::Envelope::kInstanceScheduled:
    case v1::Envelope::kInstanceQueued:
    case v1::Envelope::kPlacementReleased:
      EvolveHostRegistry(state.host_registry, event);
      break;
    default:
      break;  // audit-only events (logins, rejections, ...) change no decision state
  }
}

}  // namespace clawvisor
