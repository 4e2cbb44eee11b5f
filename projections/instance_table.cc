#include "projections/instance_table.h"

#include <algorithm>

#include "engine/domain/account_state.h"

namespace clawvisor::projection {

Status InstanceTable::Apply(BatchView& view, const v1::Envelope& event) {
  if (event.aggregate_type() != v1::AGGREGATE_TYPE_INSTANCE || event.has_command_rejected()) {
    return {};
  }
  const std::string& account = event.account_id();
  const int64_t at = event.occurred_at_us();
  const std::string key = RowKey(kTable, account, event.aggregate_id());
  auto existing = view.Get<v1::InstanceView>(key);
  if (!existing) return std::unexpected(existing.error());
  if (!existing->has_value() && !event.has_instance_created()) return {};
  v1::InstanceView inst = existing->value_or(v1::InstanceView{});
  inst.set_version(event.aggregate_version());
  inst.set_updated_at_us(at);
  switch (event.payload_case()) {
    case v1::Envelope::kInstanceCreated: {
      const auto& p = event.instance_created();
      inst = v1::InstanceView{};
      inst.set_account_id(account);
      inst.set_instance_id(event.aggregate_id());
      inst.set_name(p.name());
      *inst.mutable_spec() = p.spec();
      inst.set_revision(p.revision());
      inst.set_desired_state(std::string(DesiredStateName(DesiredState::kStopped)));
      inst.set_observed_state(v1::VM_STATE_PENDING);
      inst.set_version(event.aggregate_version());
      inst.set_created_at_us(at);
      inst.set_updated_at_us(at);
      inst.set_image(event.instance_created().image());
      inst.set_openclaw_version(event.instance_created().openclaw_version());
      inst.set_console_id(event.event_id());
      break;
    }
    case v1::Envelope::kInstanceStartRequested:
    case v1::Envelope::kInstanceResumeRequested:
      inst.set_desired_state(std::string(DesiredStateName(DesiredState::kRunning)));
      break;
    case v1::Envelope::kInstanceStopRequested:
      inst.set_desired_state(std::string(DesiredStateName(DesiredState::kStopped)));
      break;
    case v1::Envelope::kInstancePauseRequested:
      inst.set_desired_state(std::string(DesiredStateName(DesiredState::kPaused)));
      break;
    case v1::Envelope::kInstanceDeleteRequested:
      inst.set_desired_state(std::string(DesiredStateName(DesiredState::kDeleted)));
      break;
    case v1::Envelope::kInstancePlaced:
      inst.set_host_id(event.instance_placed().host_id());
      break;
    case v1::Envelope::kInstanceStarted:
      inst.set_observed_state(v1::VM_STATE_RUNNING);
      inst.set_host_id(event.instance_started().host_id());
      if (!event.instance_started().image().empty()) {
        inst.set_running_image(event.instance_started().image());
      }
      inst.clear_last_failure();
      break;
    case v1::Envelope::kInstanceStopped:
      inst.set_observed_state(v1::VM_STATE_STOPPED);
      break;
    case v1::Envelope::kInstancePaused:
      inst.set_observed_state(v1::VM_STATE_PAUSED);
      break;
    case v1::Envelope::kInstanceFailed:
      inst.set_observed_state(v1::VM_STATE_FAILED);
      inst.set_last_failure(event.instance_failed().reason());
      break;
    case v1::Envelope::kInstanceHealthCheckFailed:
      inst.set_last_failure("health check failed");
      break;
    case v1::Envelope::kInstanceQuotaExceeded:
      inst.set_last_failure("quota exceeded: " + event.instance_quota_exceeded().resource());
      break;
    case v1::Envelope::kInstanceDeleted:
      inst.set_observed_state(v1::VM_STATE_DELETED);
      break;
    case v1::Envelope::kInstanceCredentialSet: {
      const auto& p = event.instance_credential_set();
      auto* creds = inst.mutable_credentials();
      auto it = std::find_if(creds->begin(), creds->end(),
                             [&](const auto& c) { return c.name() == p.name(); });
      v1::CredentialView* c = it != creds->end() ? &*it : inst.add_credentials();
      c->set_name(p.name());
      c->set_kind(p.kind());
      c->set_last4(p.last4());
      break;
    }
    case v1::Envelope::kInstanceCredentialRemoved: {
      auto* creds = inst.mutable_credentials();
      const auto& name = event.instance_credential_removed().name();
      creds->erase(std::remove_if(creds->begin(), creds->end(),
                                  [&](const auto& c) { return c.name() == name; }),
                   creds->end());
      break;
    }
    case v1::Envelope::kInstanceUpgradeRequested:
      inst.set_image(event.instance_upgrade_requested().image());
      inst.set_openclaw_version(event.instance_upgrade_requested().openclaw_version());
      break;
    case v1::Envelope::kWebhookPathRotated:
      inst.set_webhook_id(event.webhook_path_rotated().webhook_id());
      break;
    case v1::Envelope::kWebhookPathDisabled:
      inst.clear_webhook_id();
      break;
    default:
      break;
  }
  view.Put(key, inst);
  return {};
}

Result<std::optional<v1::InstanceView>> InstanceTable::Get(std::string_view account_id,
                                                           std::string_view instance_id) {
  return ReadRow<v1::InstanceView>(store_, RowKey(kTable, account_id, instance_id));
}

Result<v1::InstanceList> InstanceTable::List(std::string_view account_id) {
  v1::InstanceList list;
  auto ok = ScanRows(store_, AccountPrefix(kTable, account_id), "instance",
                     [&] { return list.add_instances(); });
  if (!ok) return std::unexpected(ok.error());
  return list;
}

}  // namespace clawvisor::projection
