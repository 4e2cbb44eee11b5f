#include "engine/domain/account_decisions.h"

#include <algorithm>

#include "engine/domain/decision_helpers.h"
#include "engine/domain/ids.h"
#include "engine/domain/password_policy.h"

namespace clawvisor::decide {
namespace {

size_t OwnerCount(const AccountState& state) {
  return static_cast<size_t>(
      std::count_if(state.members.begin(), state.members.end(),
                    [](const auto& kv) { return kv.second == v1::ROLE_OWNER; }));
}

bool IsAssignableRole(v1::Role role) {
  return role == v1::ROLE_OWNER || role == v1::ROLE_ADMIN || role == v1::ROLE_VIEWER;
}

}  // namespace

Decision RegisterAccount(const AccountState& state, const v1::RegisterAccount& cmd,
                         TimestampUs now_us, const DecideOptions& options) {
  if (state.erased) return Reject(v1::REJECTION_ACCOUNT_ERASED, "account was erased");
  if (state.registered) return Reject(v1::REJECTION_ACCOUNT_EXISTS, "account already exists");
  if (!IsPlausibleEmail(cmd.email())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "email is not a valid address");
  }
  // The command service hashes a password and clears it (engine/password_service.h): a
  // plaintext password here came around it, and is refused.
  if (!cmd.password().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a password must reach the processor hashed by the command service");
  }
  if (!cmd.password_hash().empty() && !IsArgon2idPhc(cmd.password_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "password_hash is not an Argon2id PHC string");
  }
  if (cmd.display_name().size() > 128) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "display_name is longer than 128 bytes");
  }
  const v1::Plan plan = cmd.plan() == v1::PLAN_UNSPECIFIED ? v1::PLAN_TRIAL : cmd.plan();
  if (!v1::Plan_IsValid(plan)) return Reject(v1::REJECTION_INVALID_ARGUMENT, "unknown plan");

  Events out;
  auto registered = AccountEvent(state);
  auto* payload = registered.mutable_account_registered();
  PendingSeal(payload->mutable_email(), cmd.email());
  if (!cmd.password_hash().empty())
    PendingSeal(payload->mutable_password_hash(), cmd.password_hash());
  payload->set_plan(plan);
  payload->set_owner_user_id("usr_" + state.account_id.substr(state.account_id.find('_') + 1));
  out.push_back(std::move(registered));
  if (plan == v1::PLAN_TRIAL) {
    auto trial = AccountEvent(state);
    trial.mutable_trial_started()->set_ends_at_us(now_us + options.trial_length_us);
    out.push_back(std::move(trial));
  }
  return out;
}

// An invited member holds its role at once (the web tier mails the invitation). Its user id is
// derived from the account and the invitation's sequence number, so a replay yields the same id.
Decision InviteMember(const AccountState& state, const v1::InviteMember& cmd) {
  if (!IsPlausibleEmail(cmd.email())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "email is not a valid address");
  }
  if (!IsAssignableRole(cmd.role())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "role must be owner, admin or viewer");
  }
  if (state.members.size() >= kMaxMembersPerAccount) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "account has reached its member limit");
  }
  const std::string user_id = InvitedUserId(state.account_id, state.invitations + 1);
  Events out;
  auto invited = AccountEvent(state);
  auto* p = invited.mutable_member_invited();
  p->set_user_id(user_id);
  PendingSeal(p->mutable_email(), cmd.email());
  p->set_role(cmd.role());
  out.push_back(std::move(invited));
  auto granted = AccountEvent(state);
  granted.mutable_role_granted()->set_user_id(user_id);
  granted.mutable_role_granted()->set_role(cmd.role());
  out.push_back(std::move(granted));
  return out;
}

Decision GrantRole(const AccountState& state, const v1::GrantRole& cmd) {
  auto it = state.members.find(cmd.user_id());
  if (it == state.members.end()) return Reject(v1::REJECTION_INVALID_ARGUMENT, "no such member");
  if (!IsAssignableRole(cmd.role())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "role must be owner, admin or viewer");
  }
  if (it->second == cmd.role()) return Events{};  // already so: nothing to record
  if (it->second == v1::ROLE_OWNER && OwnerCount(state) == 1) {
    return Reject(v1::REJECTION_LAST_OWNER, "the last owner cannot be demoted");
  }
  auto granted = AccountEvent(state);
  granted.mutable_role_granted()->set_user_id(cmd.user_id());
  granted.mutable_role_granted()->set_role(cmd.role());
  return Events{std::move(granted)};
}

Decision RevokeRole(const AccountState& state, const v1::RevokeRole& cmd) {
  auto it = state.members.find(cmd.user_id());
  if (it == state.members.end()) return Reject(v1::REJECTION_INVALID_ARGUMENT, "no such member");
  if (it->second == v1::ROLE_OWNER && OwnerCount(state) == 1) {
    return Reject(v1::REJECTION_LAST_OWNER, "the last owner cannot be removed");
  }
  auto revoked = AccountEvent(state);
  revoked.mutable_role_revoked()->set_user_id(cmd.user_id());
  return Events{std::move(revoked)};
}

// An operator suspends the account: every session ends and every instance that runs or is
// paused is asked to stop, in the same decision (so no window where a session outlives it).
Decision DisableAccount(const AccountState& state, const v1::DisableAccount& cmd) {
  if (cmd.reason().empty() || cmd.reason().size() > 256) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "reason must be 1..256 bytes");
  }
  if (state.disabled) return Events{};  // already so: nothing to record
  Events out;
  auto disabled = AccountEvent(state);
  disabled.mutable_account_disabled()->set_reason(TruncateUtf8(cmd.reason(), 256));
  out.push_back(std::move(disabled));
  auto revoked = AccountEvent(state);
  revoked.mutable_all_sessions_revoked()->set_reason("account_disabled");
  out.push_back(std::move(revoked));
  for (const auto& [id, instance] : state.instances) {
    if (instance.desired != DesiredState::kRunning && instance.desired != DesiredState::kPaused) {
      continue;
    }
    auto stop = InstanceEvent(id);
    stop.mutable_instance_stop_requested()->set_reason("account_disabled");
    out.push_back(std::move(stop));
  }
  return out;
}

Decision EnableAccount(const AccountState& state) {
  if (!state.disabled) return Events{};
  auto enabled = AccountEvent(state);
  enabled.mutable_account_enabled();
  return Events{std::move(enabled)};
}

// Erasure (GDPR art. 17): every live instance is deleted, then AccountErased; the processor
// destroys the account's data keys once these events are committed (crypto-shredding).
// Owner only: the permission table (engine/access.cc) checked that before this runs.
Decision RequestAccountErasure(const AccountState& state) {
  Events out;
  auto requested = AccountEvent(state);
  requested.mutable_account_erasure_requested();
  out.push_back(std::move(requested));
  for (const auto& [id, instance] : state.instances) {
    if (instance.desired == DesiredState::kDeleted) continue;
    auto deleted = InstanceEvent(id);
    deleted.mutable_instance_delete_requested()->set_reason("account_erased");
    out.push_back(std::move(deleted));
  }
  auto erased = AccountEvent(state);
  erased.mutable_account_erased();
  out.push_back(std::move(erased));
  return out;
}

bool EvolveAccount(AccountState& state, const v1::Envelope& event) {
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
    default:
      return false;
  }
  return true;
}

}  // namespace clawvisor::decide
