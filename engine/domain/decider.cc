#include "engine/domain/decider.h"

#include <algorithm>
#include <set>

#include "engine/domain/access.h"
#include "engine/domain/host_registry.h"
#include "engine/command/password_service.h"
#include "engine/sealer.h"
#include "engine/domain/totp.h"

namespace clawvisor {
namespace {

using Events = std::vector<v1::Envelope>;

std::unexpected<Rejection> Reject(v1::RejectionReason reason, std::string message) {
  return std::unexpected<Rejection>(Rejection{reason, std::move(message)});
}

v1::Envelope AccountEvent(const AccountState& state) {
  v1::Envelope e;
  e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  e.set_aggregate_id(state.account_id);
  return e;
}

v1::Envelope InstanceEvent(const std::string& instance_id) {
  v1::Envelope e;
  e.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
  e.set_aggregate_id(instance_id);
  return e;
}

// A field for the processor to seal: plaintext rides in `ciphertext` with no key id.
void PendingSeal(v1::Sealed* field, const std::string& plaintext) {
  field->Clear();
  field->set_ciphertext(plaintext);
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

bool IsValidId(std::string_view id, size_t max) {
  return !id.empty() && id.size() <= max && std::all_of(id.begin(), id.end(), IsIdChar);
}

// A deliberately loose check: the address is verified by mail, not by grammar (RFC 5321 limits).
bool IsPlausibleEmail(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) return false;
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at == email.size() - 1 || at > 64) return false;
  return std::none_of(email.begin(), email.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

// At most `max_bytes` of `text`, cut on a character boundary: an event string must stay valid
// UTF-8 or the event could never be read back.
std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

bool IsValidInstanceName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// A gateway token as the API draws it: base64url of 32 random bytes. A producer writing to the
// commands topic directly must draw its own; at least 22 characters (128 bits) are required.
bool IsValidGatewayToken(std::string_view token) {
  if (token.size() < 22 || token.size() > 128) return false;
  return std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Credential values are API keys and bot tokens: printable ASCII without spaces.
bool IsValidCredentialValue(std::string_view value) {
  if (value.size() < kMinCredentialBytes || value.size() > kMaxCredentialBytes) return false;
  return std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string_view DesiredVerb(DesiredState s) { return DesiredStateName(s); }

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

Decision CreateInstance(const AccountState& state, const v1::CreateInstance& cmd,
                        const DecideOptions& options) {
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  if (!IsValidInstanceName(cmd.name())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "name must be 1..64 bytes without control characters");
  }
  if (state.FindLiveInstance(cmd.instance_id()) != nullptr) {
    return Reject(v1::REJECTION_INSTANCE_EXISTS, "instance already exists");
  }
  const auto& limits = options.limits;
  if (state.LiveInstanceCount() >= limits.max_instances_per_account) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "account has reached its instance limit");
  }
  v1::InstanceSpec spec = cmd.spec();
  if (spec.vcpus() == 0) spec.set_vcpus(1);
  if (spec.memory_mib() == 0) spec.set_memory_mib(512);
  if (spec.disk_mib() == 0) spec.set_disk_mib(1024);
  if (spec.vcpus() > limits.max_vcpus) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "vcpus exceeds the per-instance limit");
  }
  if (spec.memory_mib() < limits.min_memory_mib || spec.memory_mib() > limits.max_memory_mib) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "memory_mib is outside the allowed range");
  }
  if (spec.disk_mib() < limits.min_disk_mib || spec.disk_mib() > limits.max_disk_mib) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "disk_mib is outside the allowed range");
  }
  uint64_t revision = 1;
  if (auto it = state.instances.find(cmd.instance_id()); it != state.instances.end()) {
    revision = it->second.revision + 1;
  }
  if (!IsValidGatewayToken(cmd.gateway_token())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "gateway_token must be at least 22 base64url characters (the API draws it)");
  }
  auto created = InstanceEvent(cmd.instance_id());
  auto* payload = created.mutable_instance_created();
  payload->set_name(cmd.name());
  *payload->mutable_spec() = spec;
  payload->set_revision(revision);
  PendingSeal(payload->mutable_gateway_token(), cmd.gateway_token());
  return Events{std::move(created)};
}

// The reason a request records: the engine's own timers (a KIND_SYSTEM actor) name theirs;
// anyone else's request is the user's. Only known reasons are accepted, so the audit trail
// holds a closed set.
std::expected<std::string, Rejection> RequestReason(const v1::Command& command,
                                                    const std::string& asked) {
  if (command.actor().kind() != v1::Actor::KIND_SYSTEM || asked.empty()) return "user";
  for (std::string_view known : {"idle", "trial_ended", "subscription_cancelled", "inactive"}) {
    if (asked == known) return asked;
  }
  return std::unexpected(Rejection{v1::REJECTION_INVALID_ARGUMENT, "unknown reason"});
}

// Start / stop / pause / resume / delete: record the request if the transition is allowed.
Decision RequestTransition(const AccountState& state, const std::string& instance_id,
                           const v1::Command& command) {
  if (!IsValidResourceId(instance_id)) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(instance_id);
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  const DesiredState current = instance->desired;
  auto event = InstanceEvent(instance_id);
  switch (command.payload_case()) {
    case v1::Command::kStartInstance:
      if (current == DesiredState::kPaused) {
        event.mutable_instance_resume_requested();  // a start of a paused VM resumes it
      } else {
        event.mutable_instance_start_requested();
      }
      break;
    case v1::Command::kStopInstance: {
      auto reason = RequestReason(command, command.stop_instance().reason());
      if (!reason) return std::unexpected(reason.error());
      auto* p = event.mutable_instance_stop_requested();
      p->set_immediate(command.stop_instance().immediate());
      p->set_reason(*reason);
      break;
    }
    case v1::Command::kPauseInstance:
      if (current != DesiredState::kRunning && current != DesiredState::kPaused) {
        return Reject(v1::REJECTION_INVALID_STATE, "only a running instance can be paused (it is " +
                                                       std::string(DesiredVerb(current)) + ")");
      }
      {
        auto reason = RequestReason(command, command.pause_instance().reason());
        if (!reason) return std::unexpected(reason.error());
        event.mutable_instance_pause_requested()->set_reason(*reason);
      }
      break;
    case v1::Command::kResumeInstance:
      if (current != DesiredState::kPaused && current != DesiredState::kRunning) {
        return Reject(v1::REJECTION_INVALID_STATE, "only a paused instance can be resumed (it is " +
                                                       std::string(DesiredVerb(current)) + ")");
      }
      event.mutable_instance_resume_requested();
      break;
    case v1::Command::kDeleteInstance: {
      auto reason = RequestReason(command, command.delete_instance().reason());
      if (!reason) return std::unexpected(reason.error());
      event.mutable_instance_delete_requested()->set_reason(*reason);
      break;
    }
    default:
      return Reject(v1::REJECTION_INVALID_ARGUMENT, "not an instance transition");
  }
  return Events{std::move(event)};
}

Decision RotateGatewayToken(const AccountState& state, const v1::RotateGatewayToken& cmd) {
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  if (state.FindLiveInstance(cmd.instance_id()) == nullptr) {
    return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  }
  if (!IsValidGatewayToken(cmd.gateway_token())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "gateway_token must be at least 22 base64url characters (the API draws it)");
  }
  auto rotated = InstanceEvent(cmd.instance_id());
  PendingSeal(rotated.mutable_gateway_token_rotated()->mutable_gateway_token(),
              cmd.gateway_token());
  return Events{std::move(rotated)};
}

// The live instance a credential command names, once the instance id and name are well-formed.
std::expected<const InstanceState*, Rejection> FindCredentialTarget(const AccountState& state,
                                                                    const std::string& instance_id,
                                                                    const std::string& name) {
  if (!IsValidResourceId(instance_id)) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(instance_id);
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  if (!IsValidResourceId(name)) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "name must be 1..64 characters of [A-Za-z0-9._:-]");
  }
  return instance;
}

Decision SetCredential(const AccountState& state, const v1::SetCredential& cmd,
                       const DecideOptions& options) {
  auto target = FindCredentialTarget(state, cmd.instance_id(), cmd.name());
  if (!target) return std::unexpected(target.error());
  const InstanceState* instance = *target;
  if (cmd.kind() == v1::CREDENTIAL_KIND_UNSPECIFIED || !v1::CredentialKind_IsValid(cmd.kind())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "kind must name a credential kind");
  }
  // The message never quotes the value, not even its length.
  if (!IsValidCredentialValue(cmd.value())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "value must be " +
                                                      std::to_string(kMinCredentialBytes) + ".." +
                                                      std::to_string(kMaxCredentialBytes) +
                                                      " printable ASCII characters without spaces");
  }
  if (!instance->credentials.contains(cmd.name()) &&
      instance->credentials.size() >= options.limits.max_credentials_per_instance) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "the instance has reached its credential limit");
  }
  auto set = InstanceEvent(cmd.instance_id());
  auto* payload = set.mutable_instance_credential_set();
  payload->set_name(cmd.name());
  payload->set_kind(cmd.kind());
  PendingSeal(payload->mutable_value(), cmd.value());
  payload->set_last4(CredentialLast4(cmd.value()));
  return Events{std::move(set)};
}

Decision RemoveCredential(const AccountState& state, const v1::RemoveCredential& cmd) {
  auto target = FindCredentialTarget(state, cmd.instance_id(), cmd.name());
  if (!target) return std::unexpected(target.error());
  const InstanceState* instance = *target;
  if (!instance->credentials.contains(cmd.name())) {
    return Reject(v1::REJECTION_CREDENTIAL_NOT_FOUND, "the instance has no such credential");
  }
  auto removed = InstanceEvent(cmd.instance_id());
  removed.mutable_instance_credential_removed()->set_name(cmd.name());
  return Events{std::move(removed)};
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

// The host the registry reserved room on records it here (the saga in engine/host_registry.h).
Decision RecordPlacement(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.record_placement();
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  if (!IsValidResourceId(cmd.host_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "host_id is missing or malformed");
  }
  if (command.actor().kind() == v1::Actor::KIND_RECONCILER &&
      command.actor().id() != cmd.host_id()) {
    return Reject(v1::REJECTION_PERMISSION_DENIED,
                  "a reconciler may place instances only on itself");
  }
  const InstanceState* instance = state.FindLiveInstance(cmd.instance_id());
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  if (cmd.revision() != instance->revision) {
    return Reject(v1::REJECTION_INVALID_STATE,
                  "placement is for revision " + std::to_string(cmd.revision()) +
                      ", the instance is at " + std::to_string(instance->revision));
  }
  if (!instance->host_id.empty()) {
    return Reject(v1::REJECTION_INVALID_STATE, instance->host_id == cmd.host_id()
                                                   ? "the instance is already placed on this host"
                                                   : "the instance is placed on another host");
  }
  auto placed = InstanceEvent(cmd.instance_id());
  placed.mutable_instance_placed()->set_host_id(cmd.host_id());
  placed.mutable_instance_placed()->set_revision(cmd.revision());
  return Events{std::move(placed)};
}

Decision RecordObservation(const AccountState& state, const v1::Command& command) {
  const v1::RecordObservation& obs = command.record_observation();
  if (!IsValidResourceId(obs.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  auto it = state.instances.find(obs.instance_id());
  if (it == state.instances.end() || it->second.deleted) {
    return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  }
  const InstanceState& instance = it->second;
  // A report about an older incarnation of this id must never move the new one.
  if (obs.revision() != instance.revision) {
    return Reject(v1::REJECTION_INVALID_STATE,
                  "observation is for revision " + std::to_string(obs.revision()) +
                      ", the instance is at " + std::to_string(instance.revision));
  }
  // A host speaks for itself, and once the instance is placed only its host speaks for it.
  if (command.actor().kind() == v1::Actor::KIND_RECONCILER &&
      (obs.host_id().empty() || obs.host_id() != command.actor().id())) {
    return Reject(v1::REJECTION_PERMISSION_DENIED, "a reconciler reports only for its own host");
  }
  if (!instance.host_id.empty() && obs.host_id() != instance.host_id) {
    return Reject(v1::REJECTION_INVALID_STATE, "the instance is placed on another host");
  }
  Events out;
  if (obs.health_check_failed()) {
    auto e = InstanceEvent(obs.instance_id());
    auto* p = e.mutable_instance_health_check_failed();
    p->set_consecutive_failures(obs.consecutive_health_failures());
    p->set_detail(TruncateUtf8(obs.reason(), 256));
    out.push_back(std::move(e));
  }
  if (obs.disk_limit_bytes() > 0 && obs.disk_used_bytes() > obs.disk_limit_bytes()) {
    auto e = InstanceEvent(obs.instance_id());
    auto* p = e.mutable_instance_quota_exceeded();
    p->set_resource("disk");
    p->set_used(obs.disk_used_bytes());
    p->set_limit(obs.disk_limit_bytes());
    out.push_back(std::move(e));
  }
  if (obs.last_activity_us() > instance.last_activity_us) {
    auto e = InstanceEvent(obs.instance_id());
    e.mutable_instance_activity_observed()->set_last_activity_us(obs.last_activity_us());
    out.push_back(std::move(e));
  }
  const bool host_changed = !obs.host_id().empty() && obs.host_id() != instance.host_id;
  const bool reports_state =
      obs.state() != v1::VM_STATE_UNSPECIFIED && obs.state() != v1::VM_STATE_PENDING;
  if (reports_state && (obs.state() != instance.observed || host_changed)) {
    auto e = InstanceEvent(obs.instance_id());
    switch (obs.state()) {
      case v1::VM_STATE_RUNNING: {
        auto* p = e.mutable_instance_started();
        p->set_host_id(obs.host_id());
        p->set_revision(obs.revision());
        break;
      }
      case v1::VM_STATE_STOPPED: {
        auto* p = e.mutable_instance_stopped();
        p->set_host_id(obs.host_id());
        p->set_revision(obs.revision());
        p->set_reason(TruncateUtf8(obs.reason(), 256));
        break;
      }
      case v1::VM_STATE_PAUSED: {
        auto* p = e.mutable_instance_paused();
        p->set_host_id(obs.host_id());
        p->set_revision(obs.revision());
        break;
      }
      case v1::VM_STATE_FAILED: {
        auto* p = e.mutable_instance_failed();
        p->set_host_id(obs.host_id());
        p->set_revision(obs.revision());
        p->set_reason(TruncateUtf8(obs.reason(), 256));
        break;
      }
      case v1::VM_STATE_DELETED:
        if (instance.desired != DesiredState::kDeleted) {
          return Reject(v1::REJECTION_INVALID_STATE, "instance was not asked to be deleted");
        }
        e.mutable_instance_deleted()->set_revision(obs.revision());
        break;
      default:
        return Reject(v1::REJECTION_INVALID_ARGUMENT, "observation has no valid state");
    }
    out.push_back(std::move(e));
  }
  return out;
}

size_t OwnerCount(const AccountState& state) {
  return static_cast<size_t>(
      std::count_if(state.members.begin(), state.members.end(),
                    [](const auto& kv) { return kv.second == v1::ROLE_OWNER; }));
}

bool IsAssignableRole(v1::Role role) {
  return role == v1::ROLE_OWNER || role == v1::ROLE_ADMIN || role == v1::ROLE_VIEWER;
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

// Only the account's primary user (who registered it) has a password in this build; the local
// development caller acts as that user.
Decision ChangePassword(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.change_password();
  const v1::Actor& actor = command.actor();
  const bool is_primary_user =
      actor.kind() == v1::Actor::KIND_SERVICE || actor.id() == state.owner_user_id;
  if (!is_primary_user) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (!cmd.current_password().empty() || !cmd.new_password().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "passwords must reach the processor verified and hashed by the command service");
  }
  if (!state.has_password || !cmd.current_password_verified()) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the current password is not correct");
  }
  if (!IsArgon2idPhc(cmd.new_password_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "new_password_hash is not an Argon2id PHC string");
  }
  Events out;
  auto changed = AccountEvent(state);
  changed.mutable_password_changed()->set_user_id(state.owner_user_id);
  changed.mutable_password_changed()->set_reason("changed");
  PendingSeal(changed.mutable_password_changed()->mutable_password_hash(), cmd.new_password_hash());
  out.push_back(std::move(changed));
  auto revoked = AccountEvent(state);
  revoked.mutable_all_sessions_revoked()->set_reason("password_changed");
  out.push_back(std::move(revoked));
  return out;
}

// The password was verified by the command service; the processor records the outcome. A
// failure is a refusal (CommandRejected, in the audit trail) with one message whatever failed.
bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A failed sign-in: counted, and past the free failures sign-in is locked for a doubling delay,
// then until an operator unlocks it.
Decision LoginFailure(const AccountState& state, std::string_view reason, TimestampUs now_us,
                      const DecideOptions& options) {
  const uint32_t failures = state.login_failures + 1;
  Events out;
  auto failed = AccountEvent(state);
  auto* f = failed.mutable_login_failed();
  f->set_user_id(state.owner_user_id);
  f->set_reason(std::string(reason));
  f->set_consecutive_failures(failures);
  out.push_back(std::move(failed));
  if (failures > options.login_free_failures) {
    TimestampUs until = kLockedForever;
    if (failures < options.login_lockout_failures) {
      const uint32_t doublings = std::min<uint32_t>(failures - options.login_free_failures - 1, 20);
      until = now_us + (options.login_base_delay_us << doublings);
    }
    auto throttled = AccountEvent(state);
    auto* p = throttled.mutable_login_throttled();
    p->set_user_id(state.owner_user_id);
    p->set_locked_until_us(until);
    p->set_consecutive_failures(failures);
    out.push_back(std::move(throttled));
  }
  return out;
}

// The raw bytes of 64 lowercase hex digits (a keyed hash), or "" if `hex` is not that.
std::string HashBytes(std::string_view hex) {
  if (!IsLowerHex64(hex)) return "";
  std::string out(32, '\0');
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < 32; ++i) {
    out[i] = static_cast<char>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  }
  return out;
}

enum class SecondFactor { kNone, kMissing, kWrong, kTotp, kRecoveryCode };

// What the command service found (engine/totp_service.h): the step whose code matched, or the
// keyed hash of a recovery code. A step at or before the last accepted one is a replay; a
// recovery code counts only if it is one of the unused ones.
SecondFactor CheckSecondFactor(const AccountState& state, uint64_t time_step,
                               const std::string& recovery_code_hash) {
  if (time_step == 0 && recovery_code_hash.empty()) return SecondFactor::kMissing;
  if (time_step != 0) {
    return time_step > state.totp_last_step ? SecondFactor::kTotp : SecondFactor::kWrong;
  }
  const std::string raw = HashBytes(recovery_code_hash);
  if (!raw.empty() && state.recovery_code_hashes.contains(raw)) return SecondFactor::kRecoveryCode;
  return SecondFactor::kWrong;
}

// TOTP belongs to the account's primary user (the one with the password); the local development
// caller acts as that user.
bool IsPrimaryUser(const AccountState& state, const v1::Actor& actor) {
  return actor.kind() == v1::Actor::KIND_SERVICE || actor.id() == state.owner_user_id;
}

// Enrolment records the secret (sealed) and the recovery codes' keyed hashes; TOTP is required
// at sign-in only once a code confirmed it (ConfirmTotp). A pending enrolment may be redone.
Decision EnrollTotp(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.enroll_totp();
  if (!IsPrimaryUser(state, command.actor())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (state.totp_enabled) {
    return Reject(v1::REJECTION_INVALID_STATE, "TOTP is already enabled; disable it first");
  }
  if (!cmd.recovery_codes().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "recovery codes must reach the processor hashed by the command service");
  }
  const auto secret = Base32Decode(cmd.secret());
  if (cmd.secret().size() != 32 || !secret || secret->size() != kTotpSecretBytes) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "secret must be 32 base32 characters (160 bits; the API draws it)");
  }
  if (static_cast<size_t>(cmd.recovery_code_hashes_size()) != kRecoveryCodeCount) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "exactly ten recovery code hashes are required");
  }
  auto enrolled = AccountEvent(state);
  auto* p = enrolled.mutable_totp_enrolled();
  std::set<std::string> seen;
  for (const std::string& hex : cmd.recovery_code_hashes()) {
    std::string raw = HashBytes(hex);
    if (raw.empty() || !seen.insert(raw).second) {
      return Reject(v1::REJECTION_INVALID_ARGUMENT,
                    "recovery_code_hashes must be distinct keyed hashes");
    }
    p->add_recovery_code_hashes(std::move(raw));
  }
  PendingSeal(p->mutable_secret(), cmd.secret());
  return Events{std::move(enrolled)};
}

Decision ConfirmTotp(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.confirm_totp();
  if (!IsPrimaryUser(state, command.actor())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (!cmd.code().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a code must reach the processor checked by the command service");
  }
  if (!state.totp_enrolled || state.totp_enabled) {
    return Reject(v1::REJECTION_INVALID_STATE, "no TOTP enrolment is waiting for confirmation");
  }
  if (cmd.totp_time_step() == 0 || cmd.totp_time_step() <= state.totp_last_step) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the code is not correct");
  }
  auto enabled = AccountEvent(state);
  enabled.mutable_totp_enabled()->set_totp_time_step(cmd.totp_time_step());
  return Events{std::move(enabled)};
}

// Turning the second factor off needs both factors again (re-authentication).
Decision DisableTotp(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.disable_totp();
  if (!IsPrimaryUser(state, command.actor())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this user has no password on this account");
  }
  if (!cmd.password().empty() || !cmd.code().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "password and code must reach the processor checked by the command service");
  }
  if (!state.totp_enrolled) return Reject(v1::REJECTION_INVALID_STATE, "TOTP is not enrolled");
  if (!state.has_password || !cmd.password_verified()) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the password or the code is not correct");
  }
  const SecondFactor factor =
      CheckSecondFactor(state, cmd.totp_time_step(), cmd.recovery_code_hash());
  if (factor != SecondFactor::kTotp && factor != SecondFactor::kRecoveryCode) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the password or the code is not correct");
  }
  auto disabled = AccountEvent(state);
  auto* p = disabled.mutable_totp_disabled();
  if (factor == SecondFactor::kTotp) p->set_totp_time_step(cmd.totp_time_step());
  if (factor == SecondFactor::kRecoveryCode) p->set_recovery_code_hash(cmd.recovery_code_hash());
  return Events{std::move(disabled)};
}

Decision Login(const AccountState& state, const v1::Login& cmd, TimestampUs now_us,
               const DecideOptions& options) {
  if (!cmd.password().empty() || !cmd.email().empty() || !cmd.totp_code().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a login must reach the processor verified by the command service");
  }
  if (!state.has_password) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "email or password is not correct");
  }
  if (!cmd.session_token_hash().empty() && !IsLowerHex64(cmd.session_token_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "session_token_hash is not a token hash");
  }
  // While locked, even the right password does not sign in (the attempt is recorded).
  if (now_us < state.login_locked_until_us) {
    auto throttled = AccountEvent(state);
    auto* p = throttled.mutable_login_throttled();
    p->set_user_id(state.owner_user_id);
    p->set_locked_until_us(state.login_locked_until_us);
    p->set_consecutive_failures(state.login_failures);
    return Events{std::move(throttled)};
  }
  if (!cmd.password_verified()) return LoginFailure(state, "bad_password", now_us, options);
  // The password was right; with TOTP on, a second factor is due too.
  SecondFactor factor = SecondFactor::kNone;
  if (state.totp_enabled) {
    factor = CheckSecondFactor(state, cmd.totp_time_step(), cmd.recovery_code_hash());
    if (factor == SecondFactor::kMissing) {
      // Not counted as a failure: the web tier now asks for the code (the password was right,
      // and every wrong password is counted).
      return Reject(v1::REJECTION_SECOND_FACTOR_REQUIRED, "a TOTP or recovery code is required");
    }
    if (factor == SecondFactor::kWrong) return LoginFailure(state, "bad_totp", now_us, options);
  }
  Events out;
  auto succeeded = AccountEvent(state);
  auto* s = succeeded.mutable_login_succeeded();
  s->set_user_id(state.owner_user_id);
  if (factor == SecondFactor::kTotp) {
    s->set_used_totp(true);
    s->set_totp_time_step(cmd.totp_time_step());
  } else if (factor == SecondFactor::kRecoveryCode) {
    s->set_used_recovery_code(true);
    s->set_recovery_code_hash(cmd.recovery_code_hash());
  }
  out.push_back(std::move(succeeded));
  if (!cmd.session_token_hash().empty()) {
    // A new token at every login: the API made it, only its hash is recorded.
    auto started = AccountEvent(state);
    auto* p = started.mutable_session_started();
    p->set_session_id(SessionIdFor(cmd.session_token_hash()));
    p->set_token_hash(cmd.session_token_hash());
    p->set_user_id(state.owner_user_id);
    p->set_idle_expires_at_us(now_us + options.session_idle_timeout_us);
    p->set_absolute_expires_at_us(now_us + options.session_absolute_timeout_us);
    out.push_back(std::move(started));
  }
  if (!cmd.rehashed_password_hash().empty()) {
    if (!IsArgon2idPhc(cmd.rehashed_password_hash())) {
      return Reject(v1::REJECTION_INVALID_ARGUMENT,
                    "rehashed_password_hash is not an Argon2id PHC string");
    }
    auto rehashed = AccountEvent(state);
    auto* p = rehashed.mutable_password_changed();
    p->set_user_id(state.owner_user_id);
    p->set_reason("rehashed");
    PendingSeal(p->mutable_password_hash(), cmd.rehashed_password_hash());
    out.push_back(std::move(rehashed));
  }
  return out;
}

// The API drew the token and the command service hashed it; only the hash is recorded. An
// unknown email never gets here (the API sends the same request to an account id nobody has,
// and it is refused as ACCOUNT_NOT_FOUND: the answer and the work are the same).
Decision RequestPasswordReset(const AccountState& state, const v1::RequestPasswordReset& cmd,
                              TimestampUs now_us, const DecideOptions& options) {
  if (!cmd.email().empty() || !cmd.token().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a reset request must reach the processor hashed by the command service");
  }
  const std::string raw = HashBytes(cmd.token_hash());
  if (raw.empty()) return Reject(v1::REJECTION_INVALID_ARGUMENT, "token_hash is not a token hash");
  auto requested = AccountEvent(state);
  auto* p = requested.mutable_password_reset_requested();
  p->set_token_hash(raw);
  p->set_expires_at_us(now_us + options.password_reset_validity_us);
  return Events{std::move(requested)};
}

// A valid token (known, unused, unexpired) sets the new password and ends every session.
Decision CompletePasswordReset(const AccountState& state, const v1::CompletePasswordReset& cmd,
                               TimestampUs now_us) {
  if (!cmd.token().empty() || !cmd.new_password().empty()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "a reset must reach the processor hashed by the command service");
  }
  if (!IsArgon2idPhc(cmd.new_password_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "new_password_hash is not an Argon2id PHC string");
  }
  const std::string raw = HashBytes(cmd.token_hash());
  auto it = raw.empty() ? state.reset_tokens.end() : state.reset_tokens.find(raw);
  // Unknown, used and expired tokens get one answer.
  if (it == state.reset_tokens.end() || now_us >= it->second) {
    return Reject(v1::REJECTION_UNAUTHENTICATED, "the reset token is not valid");
  }
  Events out;
  auto completed = AccountEvent(state);
  auto* p = completed.mutable_password_reset_completed();
  p->set_token_hash(raw);
  PendingSeal(p->mutable_password_hash(), cmd.new_password_hash());
  out.push_back(std::move(completed));
  auto revoked = AccountEvent(state);
  revoked.mutable_all_sessions_revoked()->set_reason("password_reset");
  out.push_back(std::move(revoked));
  return out;
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

// An operator lifts a login lockout (the failure count starts again).
Decision UnlockLogin(const AccountState& state, const v1::UnlockLogin& cmd) {
  if (cmd.user_id() != state.owner_user_id) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "no user with a password by that id");
  }
  auto unlocked = AccountEvent(state);
  unlocked.mutable_login_unlocked()->set_user_id(cmd.user_id());
  return Events{std::move(unlocked)};
}

// A user ends one of its own sessions; the local development caller may end any.
Decision Logout(const AccountState& state, const v1::Command& command) {
  const std::string& session_id = command.logout().session_id();
  auto it = state.sessions.find(session_id);
  const bool own =
      it != state.sessions.end() && (command.actor().kind() == v1::Actor::KIND_SERVICE ||
                                     it->second.user_id == command.actor().id());
  if (!own) return Reject(v1::REJECTION_INVALID_ARGUMENT, "no such session of this user");
  auto revoked = AccountEvent(state);
  revoked.mutable_session_revoked()->set_session_id(session_id);
  revoked.mutable_session_revoked()->set_reason("logout");
  return Events{std::move(revoked)};
}

// Owner only, and completion by the export worker (system actor) only: the permission table
// (engine/access.cc) checked that before these run.
Decision RequestAuditExport(const AccountState& state, const v1::Command& command,
                            TimestampUs now_us) {
  const auto& cmd = command.request_audit_export();
  // Each export scans the account's partition and writes a file into the data directory: a
  // bounded number in flight per account, so that no account can fill the disk or the queue.
  const auto pending = std::count_if(state.audit_exports.begin(), state.audit_exports.end(),
                                     [](const auto& e) { return !e.second; });
  if (pending >= kMaxPendingAuditExports) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED,
                  "an account may have at most " + std::to_string(kMaxPendingAuditExports) +
                      " audit exports pending; wait until one completes");
  }
  if (cmd.since_us() < 0 || cmd.until_us() < 0) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "since_us and until_us must not be negative");
  }
  // The range ends at the request at the latest (events decided in the same instant before it
  // included), so it is closed when the worker writes it and a rerun writes the same rows.
  const int64_t until =
      cmd.until_us() == 0 ? now_us + 1 : std::min<int64_t>(cmd.until_us(), now_us + 1);
  if (cmd.since_us() >= until) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "since_us must be before until_us and the present");
  }
  auto event = AccountEvent(state);
  auto* p = event.mutable_audit_export_requested();
  p->set_since_us(cmd.since_us());
  p->set_until_us(until);
  return Events{std::move(event)};
}

Decision CompleteAuditExport(const AccountState& state, const v1::Command& command) {
  const auto& cmd = command.complete_audit_export();
  auto it = state.audit_exports.find(cmd.export_id());
  if (it == state.audit_exports.end()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "no such audit export");
  }
  if (it->second)
    return Reject(v1::REJECTION_INVALID_STATE, "the audit export is already complete");
  if (cmd.sha256().size() != 32) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "sha256 must be 32 bytes");
  }
  auto event = AccountEvent(state);
  auto* p = event.mutable_audit_export_completed();
  p->set_export_id(cmd.export_id());
  p->set_rows(cmd.rows());
  p->set_sha256(cmd.sha256());
  p->set_bytes(cmd.bytes());
  return Events{std::move(event)};
}

}  // namespace

std::string SessionIdFor(std::string_view token_hash) {
  return "ses_" + std::string(token_hash.substr(0, 24));
}

std::string InvitedUserId(std::string_view account_id, uint64_t sequence) {
  const size_t underscore = account_id.find('_');
  const std::string_view suffix =
      underscore == std::string_view::npos ? account_id : account_id.substr(underscore + 1);
  return "usr_" + std::string(suffix) + "_m" + std::to_string(sequence);
}

std::optional<v1::Role> MemberRole(const AccountState& state, const v1::Actor& actor) {
  if (actor.kind() != v1::Actor::KIND_USER) return std::nullopt;
  auto it = state.members.find(actor.id());
  if (it == state.members.end()) return std::nullopt;
  return it->second;
}

std::string_view DesiredStateName(DesiredState state) {
  switch (state) {
    case DesiredState::kStopped:
      return "stopped";
    case DesiredState::kRunning:
      return "running";
    case DesiredState::kPaused:
      return "paused";
    case DesiredState::kDeleted:
      return "deleted";
  }
  return "unknown";
}

bool IsValidCommandId(std::string_view id) { return IsValidId(id, 128); }
// "." and ".." are refused too: proxies and clients may rewrite them as path segments.
std::string CredentialLast4(std::string_view value) {
  if (value.size() < kMinMaskedSecretBytes) return "";
  return std::string(value.substr(value.size() - 4));
}

bool IsValidResourceId(std::string_view id) { return IsValidId(id, 64) && id != "." && id != ".."; }

const InstanceState* AccountState::FindLiveInstance(const std::string& instance_id) const {
  auto it = instances.find(instance_id);
  if (it == instances.end() || it->second.desired == DesiredState::kDeleted) return nullptr;
  return &it->second;
}

size_t AccountState::LiveInstanceCount() const {
  return static_cast<size_t>(std::count_if(instances.begin(), instances.end(), [](const auto& kv) {
    return kv.second.desired != DesiredState::kDeleted;
  }));
}

Decision Decide(const AccountState& state, const v1::Command& command, TimestampUs now_us,
                const DecideOptions& options) {
  if (!IsValidCommandId(command.command_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "command_id is missing or malformed");
  }
  if (command.payload_case() == v1::Command::PAYLOAD_NOT_SET) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "command has no payload");
  }
  // The permission table first: a caller without the right learns nothing about the account
  // (not even whether it exists). A user's role is the one this account's events gave it.
  const Principals caller = PrincipalsOf(command.actor(), MemberRole(state, command.actor()));
  if (!MayCommand(caller, command.payload_case())) {
    return Reject(v1::REJECTION_PERMISSION_DENIED, "the caller may not do this on this account");
  }
  // The host registry is decided under a reserved account id that takes host commands only.
  const bool to_registry = command.account_id() == kHostRegistryAccountId;
  if (IsHostRegistryCommand(command.payload_case()) != to_registry) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, to_registry
                                                      ? "the host registry takes only host commands"
                                                      : "host commands go to the host registry");
  }
  if (to_registry) return DecideHostRegistry(state.host_registry, command);
  if (command.payload_case() == v1::Command::kRegisterAccount) {
    return RegisterAccount(state, command.register_account(), now_us, options);
  }
  if (state.erased) return Reject(v1::REJECTION_ACCOUNT_ERASED, "account was erased");
  if (!state.registered) return Reject(v1::REJECTION_ACCOUNT_NOT_FOUND, "no such account");
  // A disabled account signs nobody in and starts nothing (stopping, deleting, reading and the
  // operators' commands still work).
  if (state.disabled) {
    switch (command.payload_case()) {
      case v1::Command::kLogin:
      case v1::Command::kCreateInstance:
      case v1::Command::kStartInstance:
      case v1::Command::kResumeInstance:
      case v1::Command::kCompletePasswordReset:
        return Reject(v1::REJECTION_ACCOUNT_DISABLED, "the account is disabled");
      default:
        break;
    }
  }

  switch (command.payload_case()) {
    case v1::Command::kCreateInstance:
      return CreateInstance(state, command.create_instance(), options);
    case v1::Command::kStartInstance:
      return RequestTransition(state, command.start_instance().instance_id(), command);
    case v1::Command::kStopInstance:
      return RequestTransition(state, command.stop_instance().instance_id(), command);
    case v1::Command::kPauseInstance:
      return RequestTransition(state, command.pause_instance().instance_id(), command);
    case v1::Command::kResumeInstance:
      return RequestTransition(state, command.resume_instance().instance_id(), command);
    case v1::Command::kDeleteInstance:
      return RequestTransition(state, command.delete_instance().instance_id(), command);
    case v1::Command::kRecordObservation:
      return RecordObservation(state, command);
    case v1::Command::kRecordPlacement:
      return RecordPlacement(state, command);
    case v1::Command::kChangePassword:
      return ChangePassword(state, command);
    case v1::Command::kLogin:
      return Login(state, command.login(), now_us, options);
    case v1::Command::kLogout:
      return Logout(state, command);
    case v1::Command::kRequestPasswordReset:
      return RequestPasswordReset(state, command.request_password_reset(), now_us, options);
    case v1::Command::kCompletePasswordReset:
      return CompletePasswordReset(state, command.complete_password_reset(), now_us);
    case v1::Command::kEnrollTotp:
      return EnrollTotp(state, command);
    case v1::Command::kConfirmTotp:
      return ConfirmTotp(state, command);
    case v1::Command::kDisableTotp:
      return DisableTotp(state, command);
    case v1::Command::kUnlockLogin:
      return UnlockLogin(state, command.unlock_login());
    case v1::Command::kDisableAccount:
      return DisableAccount(state, command.disable_account());
    case v1::Command::kEnableAccount:
      return EnableAccount(state);
    case v1::Command::kInviteMember:
      return InviteMember(state, command.invite_member());
    case v1::Command::kGrantRole:
      return GrantRole(state, command.grant_role());
    case v1::Command::kRevokeRole:
      return RevokeRole(state, command.revoke_role());
    case v1::Command::kSetCredential:
      return SetCredential(state, command.set_credential(), options);
    case v1::Command::kRemoveCredential:
      return RemoveCredential(state, command.remove_credential());
    case v1::Command::kRotateGatewayToken:
      return RotateGatewayToken(state, command.rotate_gateway_token());
    case v1::Command::kRequestAccountErasure:
      return RequestAccountErasure(state);
    case v1::Command::kRequestAuditExport:
      return RequestAuditExport(state, command, now_us);
    case v1::Command::kCompleteAuditExport:
      return CompleteAuditExport(state, command);
    case v1::Command::PAYLOAD_NOT_SET:
      return Reject(v1::REJECTION_INVALID_ARGUMENT, "command has no payload");
    default:
      return Reject(v1::REJECTION_INVALID_ARGUMENT,
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
        state.recovery_code_hashes.erase(HashBytes(p.recovery_code_hash()));
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
