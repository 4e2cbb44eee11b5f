// The event fold of the Reconciler: the desired state it keeps, by event family (the reconcile
// steps are in reconciler.cc, the placement saga's in reconciler_placement.cc).

#include <algorithm>

#include "engine/reconcile/reconciler.h"

namespace clawvisor {

void Reconciler::Apply(const v1::Envelope& event) {
  if (ApplyAccountEvent(event) || ApplyRegistryEvent(event)) return;
  if (event.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE) ApplyInstanceEvent(event);
}

bool Reconciler::ApplyAccountEvent(const v1::Envelope& event) {
  const TimestampUs at = event.occurred_at_us();
  const std::string& account_id = event.account_id();
  auto touch_account = [&](bool urgent) {
    for (auto& [key, instance] : instances_) {
      if (key.account_id == account_id && IsMine(instance)) Enqueue(key, at, urgent);
    }
  };
  switch (event.payload_case()) {
    case v1::Envelope::kAccountRegistered:
      accounts_[account_id].plan = event.account_registered().plan();
      return true;
    case v1::Envelope::kTrialStarted:
      accounts_[account_id].trial_ends_at_us = event.trial_started().ends_at_us();
      touch_account(false);
      return true;
    case v1::Envelope::kSubscriptionStarted: {
      auto& account = accounts_[account_id];
      account.plan = event.subscription_started().plan();
      account.cancelled = false;
      touch_account(false);
      return true;
    }
    case v1::Envelope::kSubscriptionCancelled: {
      auto& account = accounts_[account_id];
      account.cancelled = true;
      const TimestampUs asked = event.subscription_cancelled().delete_after_us();
      account.delete_after_us = asked > 0 ? asked : at + options_.cancelled_delete_after.count();
      touch_account(true);
      return true;
    }
    case v1::Envelope::kAccountErased:
      accounts_[account_id].erased = true;
      for (auto& [key, instance] : instances_) {
        if (key.account_id != account_id) continue;
        instance.desired = DesiredState::kDeleted;
        if (Places() && !IsMine(instance) && placements_.contains(key)) Enqueue(key, at, true);
      }
      touch_account(true);
      return true;
    default:
      return false;
  }
}

bool Reconciler::ApplyRegistryEvent(const v1::Envelope& event) {
  const TimestampUs at = event.occurred_at_us();
  switch (event.payload_case()) {
    case v1::Envelope::kInstanceScheduled:
      NotePlacement(event.instance_scheduled(), event.aggregate_id(), at);
      return true;
    case v1::Envelope::kInstanceQueued:
      NotePlacement(event.instance_queued(), "", at);
      return true;
    case v1::Envelope::kPlacementReleased: {
      auto found = incarnations_.find(event.placement_released().incarnation_id());
      if (found == incarnations_.end()) return true;
      if (auto held = placements_.find(found->second); held != placements_.end()) {
        held->second.erase(found->first);
        if (held->second.empty()) placements_.erase(held);
      }
      deleted_incarnations_.erase(found->first);
      incarnations_.erase(found);
      return true;
    }
    default:
      return false;
  }
}

void Reconciler::ApplyInstanceEvent(const v1::Envelope& event) {
  const TimestampUs at = event.occurred_at_us();
  const VmKey key{event.account_id(), event.aggregate_id()};
  auto it = instances_.find(key);
  if (event.payload_case() == v1::Envelope::kInstanceCreated) {
    ApplyInstanceCreated(event, key, it);
    return;
  }
  if (it == instances_.end()) return;  // an instance created before the log we read
  ManagedInstance& instance = it->second;
  const bool from_user = event.actor().kind() != v1::Actor::KIND_SYSTEM &&
                         event.actor().kind() != v1::Actor::KIND_RECONCILER;
  bool urgent = false;
  auto new_request = [&](DesiredState desired) {
    instance.desired = desired;
    if (from_user) instance.last_request_us = std::max(instance.last_request_us, at);
    // A new request is a new chance: forget a previous give-up.
    instance.gave_up = false;
    instance.gave_up_reason.clear();
    instance.retries = 0;
    instance.restarts = 0;
  };
  auto observed = [&](v1::VmState state) {
    instance.observed = state;
    if (instance.reported != state) instance.reported = v1::VM_STATE_UNSPECIFIED;
  };
  switch (event.payload_case()) {
    case v1::Envelope::kInstancePlaced:
      instance.host_id = event.instance_placed().host_id();
      UpdateCount();
      break;
    case v1::Envelope::kInstanceStartRequested:
      new_request(DesiredState::kRunning);
      break;
    case v1::Envelope::kInstanceResumeRequested:
      new_request(DesiredState::kRunning);
      break;
    case v1::Envelope::kInstanceStopRequested:
      new_request(DesiredState::kStopped);
      urgent = true;  // the kill switch acts before anything queued
      break;
    case v1::Envelope::kInstancePauseRequested:
      new_request(DesiredState::kPaused);
      instance.pause_reason = event.instance_pause_requested().reason();
      instance.paused_at_us = at;
      break;
    case v1::Envelope::kInstanceDeleteRequested:
      new_request(DesiredState::kDeleted);
      urgent = true;
      break;
    case v1::Envelope::kInstanceStarted:
      observed(v1::VM_STATE_RUNNING);
      // As the decider: a host that reported it running holds it (placed before the registry).
      if (instance.host_id.empty() && !event.instance_started().host_id().empty()) {
        instance.host_id = event.instance_started().host_id();
        UpdateCount();
      }
      break;
    case v1::Envelope::kInstanceStopped:
      observed(v1::VM_STATE_STOPPED);
      break;
    case v1::Envelope::kInstancePaused:
      observed(v1::VM_STATE_PAUSED);
      break;
    case v1::Envelope::kInstanceFailed:
      observed(v1::VM_STATE_FAILED);
      break;
    case v1::Envelope::kInstanceDeleted:
      if (auto held = placements_.find(key);
          held != placements_.end() && held->second.contains(instance.incarnation_id)) {
        deleted_incarnations_.insert(instance.incarnation_id);
        Enqueue(key, at);  // to give its room back
      }
      Unpublish(instance);
      instances_.erase(it);
      UpdateCount();
      return;
    case v1::Envelope::kInstanceActivityObserved:
      instance.last_activity_us = std::max(instance.last_activity_us,
                                           event.instance_activity_observed().last_activity_us());
      break;
    case v1::Envelope::kInstanceUpgradeRequested:
      instance.image = event.instance_upgrade_requested().image();
      // A new request for the VM: a give-up before it (an image that failed) is forgotten.
      instance.gave_up = false;
      instance.gave_up_reason.clear();
      instance.retries = 0;
      instance.restarts = 0;
      break;
    case v1::Envelope::kWebhookPathRotated:
      instance.webhook_token_hash = event.webhook_path_rotated().token_hash();
      Publish(instance);  // at once: the old path must stop working now, not at the next pass
      return;
    case v1::Envelope::kWebhookPathDisabled:
      instance.webhook_token_hash.clear();
      Publish(instance);
      return;
    case v1::Envelope::kInstanceCredentialSet:
    case v1::Envelope::kInstanceCredentialRemoved:
    case v1::Envelope::kGatewayTokenRotated:
      ++instance.config_generation;
      break;
    default:
      return;
  }
  if (Concerns(instance)) Enqueue(key, at, urgent);
}

void Reconciler::ApplyInstanceCreated(const v1::Envelope& event, const VmKey& key,
                                      std::map<VmKey, ManagedInstance>::iterator it) {
  const TimestampUs at = event.occurred_at_us();
  const auto& p = event.instance_created();
  ManagedInstance fresh;
  fresh.key = key;
  fresh.revision = p.revision();
  fresh.spec = p.spec();
  fresh.incarnation_id = event.event_id();
  fresh.created_at_us = at;
  fresh.image = p.image();
  if (it != instances_.end()) {
    fresh.host_id.clear();  // a new incarnation is placed anew
    it->second = std::move(fresh);
  } else {
    it = instances_.emplace(key, std::move(fresh)).first;
  }
  UpdateCount();
  if (Concerns(it->second)) Enqueue(key, at);
}

template <typename Payload>
void Reconciler::NotePlacement(const Payload& p, const std::string& host_id, TimestampUs at) {
  const VmKey key{p.instance_account_id(), p.instance_id()};
  placements_[key][p.incarnation_id()] = Placement{p.revision(), host_id};
  incarnations_[p.incarnation_id()] = key;
  if (Places()) Enqueue(key, at);
}

}  // namespace clawvisor
