#include "projections/account_table.h"

#include "projections/audit_csv.h"

namespace clawvisor::projection {
namespace {

constexpr std::string_view kErasedStatus = "erased";

}  // namespace

Status AccountTable::Apply(BatchView& view, const v1::Envelope& event) {
  if (event.aggregate_type() != v1::AGGREGATE_TYPE_ACCOUNT || event.has_command_rejected()) {
    return {};
  }
  const std::string& account = event.account_id();
  const int64_t at = event.occurred_at_us();
  const std::string key = TableKey(kTable, account);
  auto existing = view.Get<v1::AccountView>(key);
  if (!existing) return std::unexpected(existing.error());
  if (!existing->has_value() && !event.has_account_registered()) return {};
  v1::AccountView acc = existing->value_or(v1::AccountView{});
  acc.set_account_id(account);
  acc.set_version(event.aggregate_version());
  acc.set_updated_at_us(at);
  switch (event.payload_case()) {
    case v1::Envelope::kAccountRegistered: {
      const auto& p = event.account_registered();
      acc.set_plan(p.plan());
      acc.set_status("active");
      acc.set_created_at_us(at);
      if (sealer_ != nullptr) {
        auto email =
            sealer_->Open({account, event.event_id(), "account_registered.email"}, p.email());
        acc.set_email_masked(email ? MaskEmail(*email) : std::string(kErasedText));
      }
      break;
    }
    case v1::Envelope::kTrialStarted:
      acc.set_trial_ends_at_us(event.trial_started().ends_at_us());
      break;
    case v1::Envelope::kSubscriptionStarted:
      acc.set_plan(event.subscription_started().plan());
      break;
    case v1::Envelope::kAllSessionsRevoked:
      acc.set_sessions_revoked_through_version(event.aggregate_version());
      break;
    case v1::Envelope::kAccountDisabled:
      acc.set_status("disabled");
      break;
    case v1::Envelope::kAccountEnabled:
      acc.set_status("active");
      break;
    default:
      break;
  }
  view.Put(key, acc);
  return {};
}

void AccountTable::PutErasedMarker(BatchView& view, std::string_view account_id, int64_t at_us) {
  v1::AccountView erased;
  erased.set_account_id(std::string(account_id));
  erased.set_status(std::string(kErasedStatus));
  erased.set_updated_at_us(at_us);
  view.Put(TableKey(kTable, account_id), erased);
}

Result<bool> AccountTable::Exists(BatchView& view, std::string_view account_id) {
  auto acc = view.Get<v1::AccountView>(TableKey(kTable, account_id));
  if (!acc) return std::unexpected(acc.error());
  return acc->has_value();
}

Result<std::optional<v1::AccountView>> AccountTable::Get(std::string_view account_id) {
  auto acc = ReadRow<v1::AccountView>(store_, TableKey(kTable, account_id));
  // An erased account answers like an unknown one: nothing is held about it any more.
  if (acc && acc->has_value() && (*acc)->status() == kErasedStatus) {
    return std::optional<v1::AccountView>();
  }
  return acc;
}

Result<bool> AccountTable::IsErased(std::string_view account_id) {
  auto acc = ReadRow<v1::AccountView>(store_, TableKey(kTable, account_id));
  if (!acc) return std::unexpected(acc.error());
  return acc->has_value() && (*acc)->status() == kErasedStatus;
}

}  // namespace clawvisor::projection
