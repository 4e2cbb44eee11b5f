#include "engine/domain/instance_decisions.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "engine/domain/decision_helpers.h"
#include "engine/domain/ids.h"

namespace clawvisor::decide {
namespace {

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

}  // namespace

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
  if (!IsValidGatewayToken(cmd.volume_key())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "volume_key must be at least 22 base64url characters (the API draws it)");
  }
  std::string image = cmd.image().empty() ? options.default_image : cmd.image();
  std::string version;
  if (!image.empty()) {
    auto known = options.guest_images.find(image);
    if (known == options.guest_images.end()) {
      return Reject(v1::REJECTION_INVALID_ARGUMENT, "image is not a registered guest image");
    }
    version = known->second;
  }
  auto created = InstanceEvent(cmd.instance_id());
  auto* payload = created.mutable_instance_created();
  payload->set_name(cmd.name());
  *payload->mutable_spec() = spec;
  payload->set_revision(revision);
  PendingSeal(payload->mutable_gateway_token(), cmd.gateway_token());
  PendingSeal(payload->mutable_volume_key(), cmd.volume_key());
  payload->set_image(image);
  payload->set_openclaw_version(version);
  return Events{std::move(created)};
}

Decision UpgradeInstance(const AccountState& state, const v1::UpgradeInstance& cmd,
                         const DecideOptions& options) {
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(cmd.instance_id());
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  if (instance->desired == DesiredState::kDeleted) {
    return Reject(v1::REJECTION_INVALID_STATE, "the instance is being deleted");
  }
  auto known = options.guest_images.find(cmd.image());
  if (known == options.guest_images.end()) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  options.guest_images.empty() ? "no guest images are registered (--guest-images)"
                                               : "image is not a registered guest image");
  }
  if (cmd.image() == instance->image) {
    return Reject(v1::REJECTION_INVALID_STATE, "the instance runs this image already");
  }
  auto upgrade = InstanceEvent(cmd.instance_id());
  auto* p = upgrade.mutable_instance_upgrade_requested();
  p->set_image(cmd.image());
  p->set_openclaw_version(known->second);
  p->set_previous_image(instance->image);
  return Events{std::move(upgrade)};
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

Decision IssueConsoleLink(const AccountState& state, const v1::Command& command,
                          TimestampUs now_us) {
  const v1::IssueConsoleLink& cmd = command.issue_console_link();
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(cmd.instance_id());
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  if (command.actor().kind() != v1::Actor::KIND_USER ||
      !state.members.contains(command.actor().id())) {
    return Reject(v1::REJECTION_PERMISSION_DENIED, "a console link is issued to a member");
  }
  if (!IsLowerHex64(cmd.token_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "token_hash is not a token hash (the API draws it)");
  }
  if (instance->console_links.contains(cmd.token_hash())) {
    return Reject(v1::REJECTION_INVALID_STATE, "this link was issued already");
  }
  const auto live = std::ranges::count_if(instance->console_links, [&](const auto& link) {
    return link.second.expires_at_us > now_us;
  });
  if (static_cast<size_t>(live) >= kMaxConsoleLinksPerInstance) {
    return Reject(v1::REJECTION_QUOTA_EXCEEDED, "too many unused console links for this instance");
  }
  auto issued = InstanceEvent(cmd.instance_id());
  auto* p = issued.mutable_console_link_issued();
  p->set_link_id("lnk_" + cmd.token_hash().substr(0, 24));
  p->set_token_hash(cmd.token_hash());
  p->set_user_id(command.actor().id());
  p->set_expires_at_us(now_us + kConsoleLinkLifetimeUs);
  return Events{std::move(issued)};
}

Decision RedeemConsoleLink(const AccountState& state, const v1::Command& command,
                           TimestampUs now_us) {
  const v1::RedeemConsoleLink& cmd = command.redeem_console_link();
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(cmd.instance_id());
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  // One answer for unknown, used and expired: the caller learns nothing about other links.
  auto it = instance->console_links.find(cmd.token_hash());
  if (it == instance->console_links.end() || it->second.expires_at_us <= now_us) {
    return Reject(v1::REJECTION_PERMISSION_DENIED,
                  "no such console link, or it was used or expired");
  }
  if (!state.members.contains(it->second.user_id)) {
    return Reject(v1::REJECTION_PERMISSION_DENIED, "the link's member is no longer a member");
  }
  auto opened = InstanceEvent(cmd.instance_id());
  auto* p = opened.mutable_console_session_opened();
  p->set_link_id(it->second.link_id);
  p->set_user_id(it->second.user_id);
  p->set_client_ip(TruncateUtf8(cmd.client_ip(), 64));
  p->set_user_agent(TruncateUtf8(cmd.user_agent(), 256));
  return Events{std::move(opened)};
}

Decision RotateWebhookPath(const AccountState& state, const v1::RotateWebhookPath& cmd) {
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(cmd.instance_id());
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  if (!IsLowerHex64(cmd.token_hash())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT,
                  "token_hash is not a token hash (the API draws it)");
  }
  if (cmd.token_hash() == instance->webhook_token_hash) {
    return Reject(v1::REJECTION_INVALID_STATE, "this webhook path is open already");
  }
  auto rotated = InstanceEvent(cmd.instance_id());
  auto* p = rotated.mutable_webhook_path_rotated();
  p->set_webhook_id("hk_" + cmd.token_hash().substr(0, 24));
  p->set_token_hash(cmd.token_hash());
  p->set_previous_webhook_id(instance->webhook_id);
  return Events{std::move(rotated)};
}

Decision DisableWebhookPath(const AccountState& state, const v1::DisableWebhookPath& cmd) {
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  const InstanceState* instance = state.FindLiveInstance(cmd.instance_id());
  if (instance == nullptr) return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no such instance");
  if (instance->webhook_id.empty()) {
    return Reject(v1::REJECTION_INVALID_STATE, "the instance has no webhook path open");
  }
  auto disabled = InstanceEvent(cmd.instance_id());
  disabled.mutable_webhook_path_disabled()->set_webhook_id(instance->webhook_id);
  return Events{std::move(disabled)};
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

namespace {

// Why an observation's egress summary cannot go into the audit trail, if it cannot.
std::optional<std::string> EgressSummaryProblem(const v1::RecordObservation& obs) {
  if (obs.egress_size() > 33) return "egress: at most 33 hosts per summary";
  if (obs.egress_since_us() <= 0 || obs.egress_until_us() < obs.egress_since_us()) {
    return "egress: the period is empty or reversed";
  }
  std::set<std::string_view> seen;
  for (const auto& usage : obs.egress()) {
    const std::string_view host = usage.host();
    const bool other = host == "(other)";
    const bool name_shaped =
        !host.empty() && host.size() <= 253 && std::ranges::all_of(host, [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        });
    if (!other && !name_shaped) return "egress: a host is not a lowercase DNS name";
    if (!seen.insert(host).second) return "egress: a host is listed twice";
  }
  return std::nullopt;
}

}  // namespace

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
  if (obs.egress_size() > 0) {
    if (auto why = EgressSummaryProblem(obs)) return Reject(v1::REJECTION_INVALID_ARGUMENT, *why);
    auto e = InstanceEvent(obs.instance_id());
    auto* p = e.mutable_instance_egress_summarized();
    p->set_period_start_us(obs.egress_since_us());
    p->set_period_end_us(obs.egress_until_us());
    p->mutable_hosts()->CopyFrom(obs.egress());
    std::sort(p->mutable_hosts()->begin(), p->mutable_hosts()->end(),
              [](const auto& a, const auto& b) { return a.host() < b.host(); });
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
  // A VM rebooted onto another image (an upgrade) is running again: recorded with its image.
  const bool image_changed = obs.state() == v1::VM_STATE_RUNNING && !obs.image().empty() &&
                             obs.image() != instance.running_image;
  if (reports_state && (obs.state() != instance.observed || host_changed || image_changed)) {
    auto e = InstanceEvent(obs.instance_id());
    switch (obs.state()) {
      case v1::VM_STATE_RUNNING: {
        auto* p = e.mutable_instance_started();
        p->set_host_id(obs.host_id());
        p->set_revision(obs.revision());
        p->set_image(TruncateUtf8(obs.image(), 64));
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

bool EvolveInstance(InstanceState& instance, const v1::Envelope& event) {
  switch (event.payload_case()) {
    case v1::Envelope::kInstanceCreated: {
      const auto& p = event.instance_created();
      const uint64_t version = instance.version;
      instance = InstanceState{};
      instance.instance_id = event.aggregate_id();
      instance.version = version;
      instance.name = p.name();
      instance.spec = p.spec();
      instance.revision = p.revision();
      instance.created_at_us = event.occurred_at_us();
      instance.image = p.image();
      break;
    }
    case v1::Envelope::kInstanceStartRequested:
      instance.desired = DesiredState::kRunning;
      break;
    case v1::Envelope::kInstanceStopRequested:
      instance.desired = DesiredState::kStopped;
      break;
    case v1::Envelope::kInstancePauseRequested:
      instance.desired = DesiredState::kPaused;
      break;
    case v1::Envelope::kInstanceResumeRequested:
      instance.desired = DesiredState::kRunning;
      break;
    case v1::Envelope::kInstanceDeleteRequested:
      instance.desired = DesiredState::kDeleted;
      break;
    case v1::Envelope::kInstancePlaced:
      instance.host_id = event.instance_placed().host_id();
      break;
    case v1::Envelope::kInstanceStarted:
      instance.observed = v1::VM_STATE_RUNNING;
      instance.host_id = event.instance_started().host_id();
      if (!event.instance_started().image().empty()) {
        instance.running_image = event.instance_started().image();
      }
      break;
    case v1::Envelope::kInstanceStopped:
      instance.observed = v1::VM_STATE_STOPPED;
      break;
    case v1::Envelope::kInstancePaused:
      instance.observed = v1::VM_STATE_PAUSED;
      break;
    case v1::Envelope::kInstanceFailed:
      instance.observed = v1::VM_STATE_FAILED;
      break;
    case v1::Envelope::kInstanceDeleted:
      instance.observed = v1::VM_STATE_DELETED;
      instance.deleted = true;
      break;
    case v1::Envelope::kInstanceActivityObserved:
      instance.last_activity_us = event.instance_activity_observed().last_activity_us();
      break;
    case v1::Envelope::kConsoleLinkIssued: {
      const auto& p = event.console_link_issued();
      // Expired links go when a new one comes: the map holds at most the cap of live ones.
      std::erase_if(instance.console_links, [&](const auto& link) {
        return link.second.expires_at_us <= event.occurred_at_us();
      });
      instance.console_links[p.token_hash()] =
          ConsoleLinkInfo{p.link_id(), p.user_id(), p.expires_at_us()};
      break;
    }
    case v1::Envelope::kConsoleSessionOpened: {
      const std::string& link_id = event.console_session_opened().link_id();
      std::erase_if(instance.console_links,
                    [&](const auto& link) { return link.second.link_id == link_id; });
      break;
    }
    case v1::Envelope::kInstanceUpgradeRequested:
      instance.image = event.instance_upgrade_requested().image();
      break;
    case v1::Envelope::kWebhookPathRotated:
      instance.webhook_id = event.webhook_path_rotated().webhook_id();
      instance.webhook_token_hash = event.webhook_path_rotated().token_hash();
      break;
    case v1::Envelope::kWebhookPathDisabled:
      instance.webhook_id.clear();
      instance.webhook_token_hash.clear();
      break;
    case v1::Envelope::kInstanceCredentialSet: {
      const auto& p = event.instance_credential_set();
      instance.credentials[p.name()] = CredentialInfo{p.kind(), p.last4()};
      break;
    }
    case v1::Envelope::kInstanceCredentialRemoved:
      instance.credentials.erase(event.instance_credential_removed().name());
      break;
    default:
      return false;
  }
  return true;
}

}  // namespace clawvisor::decide
