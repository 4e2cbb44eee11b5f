#include "projections/audit_csv.h"

#include <charconv>

#include "engine/hex.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

constexpr std::string_view kSealedText = "[sealed]";
constexpr std::string_view kUnreadableText = "[unreadable]";

// ---- details: a compact JSON object in one cell ------------------------------------------

class Details {
 public:
  explicit Details(std::string& out) : out_(out) { out_ = "{"; }
  ~Details() { out_ += '}'; }

  void Text(std::string_view key, std::string_view value) {
    Key(key);
    out_ += '"';
    size_t run = 0;  // start of the bytes not yet copied
    for (size_t i = 0; i < value.size(); ++i) {
      const auto c = static_cast<unsigned char>(value[i]);
      if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
      out_.append(value, run, i - run);
      run = i + 1;
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          out_ += "\\u00";
          AppendHex(out_, value.substr(i, 1));
      }
    }
    out_.append(value, run, std::string_view::npos);  // UTF-8 is validated when the cell is written
    out_ += '"';
  }
  template <typename Int>
  void Number(std::string_view key, Int value) {
    Key(key);
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, r.ptr);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    out_ += value ? "true" : "false";
  }
  void Time(std::string_view key, int64_t us) {
    Key(key);
    out_ += '"';
    AppendTimestampUs(out_, us);
    out_ += '"';
  }
  void Hex(std::string_view key, std::string_view bytes) { Text(key, HexEncode(bytes)); }
  // A value already written as JSON by Details of its own (an array of objects).
  void Json(std::string_view key, std::string_view json) {
    Key(key);
    out_ += json;
  }

 private:
  void Key(std::string_view key) {
    if (out_.size() > 1) out_ += ',';
    out_ += '"';
    out_ += key;  // keys are our own constants
    out_ += "\":";
  }
  std::string& out_;
};

// InstanceScheduled and InstanceQueued carry the same fields.
template <typename Payload>
void Placement(Details& d, const Payload& p) {
  d.Text("incarnation_id", p.incarnation_id());
  d.Text("instance_account_id", p.instance_account_id());
  d.Text("instance_id", p.instance_id());
  d.Number("revision", p.revision());
  d.Number("vcpus", p.spec().vcpus());
  d.Number("memory_mib", p.spec().memory_mib());
  d.Number("disk_mib", p.spec().disk_mib());
}

std::string_view ActorKindName(v1::Actor::Kind kind) {
  switch (kind) {
    case v1::Actor::KIND_USER:
      return "user";
    case v1::Actor::KIND_SERVICE:
      return "service";
    case v1::Actor::KIND_OPERATOR:
      return "operator";
    case v1::Actor::KIND_RECONCILER:
      return "reconciler";
    case v1::Actor::KIND_SYSTEM:
      return "system";
    default:
      return "";
  }
}

std::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_OWNER:
      return "owner";
    case v1::ROLE_ADMIN:
      return "admin";
    case v1::ROLE_VIEWER:
      return "viewer";
    default:
      return "";
  }
}

std::string_view PlanName(v1::Plan plan) {
  switch (plan) {
    case v1::PLAN_TRIAL:
      return "trial";
    case v1::PLAN_STANDARD:
      return "standard";
    case v1::PLAN_PRO:
      return "pro";
    default:
      return "unspecified";
  }
}

// "REJECTION_PERMISSION_DENIED" -> "permission_denied"; a number this build does not name
// stays a number.
std::string RejectionName(v1::RejectionReason reason) {
  if (!v1::RejectionReason_IsValid(reason)) return std::to_string(static_cast<int>(reason));
  std::string name = v1::RejectionReason_Name(reason);
  constexpr std::string_view kPrefix = "REJECTION_";
  if (name.starts_with(kPrefix)) name.erase(0, kPrefix.size());
  if (name == "REASON_UNSPECIFIED") name = "unspecified";
  for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return name;
}

// A credential's last four characters as the event recorded them, masked; never more than 4.
std::string MaskedLast4(std::string_view last4) {
  size_t start = last4.size();
  for (int chars = 0; start > 0 && chars < 4; ++chars) {
    --start;
    while (start > 0 && (static_cast<unsigned char>(last4[start]) & 0xC0) == 0x80) --start;
  }
  return "••••" + std::string(last4.substr(start));
}

// The first character (not byte) of `text`.
std::string_view FirstCharacter(std::string_view text) {
  if (text.empty()) return text;
  size_t n = 1;
  while (n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) ++n;
  return text.substr(0, n);
}

}  // namespace

void AppendTimestampUs(std::string& out, int64_t us) {
  // Floor division, so times before 1970 format like FormatTimestampUs (events/codec.h) does.
  int64_t seconds = us / 1'000'000;
  int64_t micros = us % 1'000'000;
  if (micros < 0) {
    micros += 1'000'000;
    seconds -= 1;
  }
  int64_t days = seconds / 86'400;
  int64_t day_seconds = seconds % 86'400;
  if (day_seconds < 0) {
    day_seconds += 86'400;
    days -= 1;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level Date
  // Algorithms"): a row's time without gmtime_r and printf, which dominated the mapping.
  const int64_t z = days + 719'468;
  const int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const int64_t doe = z - era * 146'097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {
    out += FormatTimestampUs(us);  // outside what four digits hold: the general path
    return;
  }
  char buf[27];
  const auto put = [&buf](int at, int64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      buf[at + i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = 'T';
  put(11, day_seconds / 3600, 2);
  buf[13] = ':';
  put(14, day_seconds / 60 % 60, 2);
  buf[16] = ':';
  put(17, day_seconds % 60, 2);
  buf[19] = '.';
  put(20, micros, 6);
  buf[26] = 'Z';
  out.append(buf, sizeof buf);
}

std::string MaskEmail(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0) return "••••";
  const std::string_view domain = email.substr(at + 1);
  const auto dot = domain.rfind('.');
  const std::string_view tld = dot == std::string_view::npos ? "" : domain.substr(dot);
  return std::string(FirstCharacter(email)) + "•••@" + std::string(FirstCharacter(domain)) + "•••" +
         std::string(tld);
}

std::string_view AuditAction(v1::Envelope::PayloadCase payload) {
  using E = v1::Envelope;
  switch (payload) {
    case E::kAccountRegistered:
      return "account.registered";
    case E::kEmailVerified:
      return "account.email_verified";
    case E::kLoginSucceeded:
      return "auth.login_succeeded";
    case E::kLoginFailed:
      return "auth.login_failed";
    case E::kLoginThrottled:
      return "auth.login_throttled";
    case E::kLoginUnlocked:
      return "auth.login_unlocked";
    case E::kPasswordChanged:
      return "auth.password_changed";
    case E::kPasswordResetRequested:
      return "auth.password_reset_requested";
    case E::kPasswordResetCompleted:
      return "auth.password_reset_completed";
    case E::kTotpEnrolled:
      return "auth.totp_enrolled";
    case E::kTotpEnabled:
      return "auth.totp_enabled";
    case E::kTotpDisabled:
      return "auth.totp_disabled";
    case E::kSessionStarted:
      return "session.started";
    case E::kSessionRevoked:
      return "session.revoked";
    case E::kAllSessionsRevoked:
      return "session.all_revoked";
    case E::kMemberInvited:
      return "member.invited";
    case E::kRoleGranted:
      return "member.role_granted";
    case E::kRoleRevoked:
      return "member.role_revoked";
    case E::kTrialStarted:
      return "billing.trial_started";
    case E::kTrialExpired:
      return "billing.trial_expired";
    case E::kSubscriptionStarted:
      return "billing.subscription_started";
    case E::kSubscriptionCancelled:
      return "billing.subscription_cancelled";
    case E::kCreditsGranted:
      return "billing.credits_granted";
    case E::kUsageRecorded:
      return "billing.usage_recorded";
    case E::kUsageAlertRaised:
      return "billing.usage_alert_raised";
    case E::kCreditsExhausted:
      return "billing.credits_exhausted";
    case E::kAccountErasureRequested:
      return "account.erasure_requested";
    case E::kAccountErased:
      return "account.erased";
    case E::kAccountDisabled:
      return "account.disabled";
    case E::kAccountEnabled:
      return "account.enabled";
    case E::kAuditExportRequested:
      return "audit.export_requested";
    case E::kAuditExportCompleted:
      return "audit.export_completed";
    case E::kInstanceCreated:
      return "instance.created";
    case E::kInstancePlaced:
      return "instance.placed";
    case E::kInstanceStartRequested:
      return "instance.start_requested";
    case E::kInstanceStopRequested:
      return "instance.stop_requested";
    case E::kInstancePauseRequested:
      return "instance.pause_requested";
    case E::kInstanceResumeRequested:
      return "instance.resume_requested";
    case E::kInstanceDeleteRequested:
      return "instance.delete_requested";
    case E::kInstanceStarted:
      return "instance.started";
    case E::kInstanceStopped:
      return "instance.stopped";
    case E::kInstancePaused:
      return "instance.paused";
    case E::kInstanceFailed:
      return "instance.failed";
    case E::kInstanceHealthCheckFailed:
      return "instance.health_check_failed";
    case E::kInstanceQuotaExceeded:
      return "instance.quota_exceeded";
    case E::kInstanceCredentialSet:
      return "instance.credential_set";
    case E::kInstanceCredentialRemoved:
      return "instance.credential_removed";
    case E::kGatewayTokenRotated:
      return "instance.gateway_token_rotated";
    case E::kBackupRequested:
      return "backup.requested";
    case E::kBackupCreated:
      return "backup.created";
    case E::kBackupRestored:
      return "backup.restored";
    case E::kInstanceActivityObserved:
      return "instance.activity_observed";
    case E::kInstanceEgressSummarized:
      return "instance.egress_summarized";
    case E::kConsoleLinkIssued:
      return "console.link_issued";
    case E::kConsoleSessionOpened:
      return "console.session_opened";
    case E::kInstanceUpgradeRequested:
      return "instance.upgrade_requested";
    case E::kWebhookPathRotated:
      return "instance.webhook_path_rotated";
    case E::kWebhookPathDisabled:
      return "instance.webhook_path_disabled";
    case E::kInstanceDeleted:
      return "instance.deleted";
    case E::kCommandRejected:
      return "command.rejected";
    case E::kHostRegistered:
      return "host.registered";
    case E::kInstanceScheduled:
      return "host.instance_scheduled";
    case E::kInstanceQueued:
      return "host.instance_queued";
    case E::kPlacementReleased:
      return "host.placement_released";
    case E::PAYLOAD_NOT_SET:
      break;
  }
  return "unknown";
}

std::string AuditRowMapper::PersonalData(const v1::Envelope& event, std::string_view field,
                                         const v1::Sealed& sealed) const {
  if (sealer_ == nullptr) return std::string(kSealedText);
  auto opened = sealer_->Open({event.account_id(), event.event_id(), field}, sealed);
  if (!opened) {
    if (opened.error().code == Errc::kNotFound) return std::string(kErasedText);
    ++unreadable_;
    return std::string(kUnreadableText);
  }
  return reader_ == AuditReader::kOwner ? std::move(*opened) : MaskEmail(*opened);
}

void AuditRowMapper::Map(const v1::Envelope& event, AuditRow& row) const {
  enum Column {
    kTime,
    kEventId,
    kAccount,
    kActorKind,
    kActorId,
    kActorRole,
    kSourceIp,
    kUserAgent,
    kAction,
    kTargetType,
    kTargetId,
    kOutcome,
    kDetails
  };
  using E = v1::Envelope;
  const auto& actor = event.actor();
  row[kTime].clear();
  AppendTimestampUs(row[kTime], event.occurred_at_us());
  row[kEventId] = event.event_id();
  row[kAccount] = event.account_id();
  row[kActorKind] = ActorKindName(actor.kind());
  row[kActorId] = actor.id();
  row[kActorRole] = RoleName(actor.role());
  row[kSourceIp] = actor.source_ip();
  row[kUserAgent] = actor.user_agent();
  row[kAction] = AuditAction(event.payload_case());
  switch (event.aggregate_type()) {
    case v1::AGGREGATE_TYPE_ACCOUNT:
      row[kTargetType] = "account";
      break;
    case v1::AGGREGATE_TYPE_INSTANCE:
      row[kTargetType] = "instance";
      break;
    case v1::AGGREGATE_TYPE_HOST:
      row[kTargetType] = "host";
      break;
    default:
      row[kTargetType].clear();
  }
  row[kTargetId] = event.aggregate_id();
  row[kOutcome] = "success";

  Details d(row[kDetails]);
  switch (event.payload_case()) {
    case E::kAccountRegistered: {
      const auto& p = event.account_registered();
      d.Text("email", PersonalData(event, "account_registered.email", p.email()));
      d.Text("plan", PlanName(p.plan()));
      d.Text("owner_user_id", p.owner_user_id());
      if (!p.display_name_masked().empty()) d.Text("display_name", p.display_name_masked());
      break;
    }
    case E::kAccountDisabled:
      d.Text("reason", event.account_disabled().reason());
      break;
    case E::kEmailVerified:
    case E::kAccountEnabled:
    case E::kTotpEnabled:
    case E::kTotpDisabled:
    case E::kTrialExpired:
    case E::kCreditsExhausted:
    case E::kAccountErasureRequested:
    case E::kInstanceStartRequested:
    case E::kInstanceResumeRequested:
    case E::kGatewayTokenRotated:  // the token itself is a secret: never shown
      break;
    case E::kLoginSucceeded: {
      const auto& p = event.login_succeeded();
      d.Text("user_id", p.user_id());
      d.Bool("used_totp", p.used_totp());
      d.Bool("used_recovery_code", p.used_recovery_code());
      break;
    }
    case E::kLoginFailed: {
      const auto& p = event.login_failed();
      row[kOutcome] = "failure";
      d.Text("user_id", p.user_id());
      d.Text("reason", p.reason());
      d.Number("consecutive_failures", p.consecutive_failures());
      break;
    }
    case E::kLoginThrottled: {
      const auto& p = event.login_throttled();
      row[kOutcome] = "failure";
      d.Text("user_id", p.user_id());
      d.Time("locked_until", p.locked_until_us());
      d.Number("consecutive_failures", p.consecutive_failures());
      break;
    }
    case E::kLoginUnlocked:
      d.Text("user_id", event.login_unlocked().user_id());
      break;
    case E::kPasswordChanged:  // the hash itself is never shown
      d.Text("user_id", event.password_changed().user_id());
      d.Text("reason", event.password_changed().reason());
      break;
    case E::kPasswordResetRequested:
      d.Time("expires_at", event.password_reset_requested().expires_at_us());
      break;
    case E::kPasswordResetCompleted:
      break;
    case E::kTotpEnrolled:
      d.Number("recovery_codes", event.totp_enrolled().recovery_code_hashes_size());
      break;
    case E::kSessionStarted: {
      const auto& p = event.session_started();
      d.Text("session_id", p.session_id());
      d.Text("user_id", p.user_id());
      d.Time("idle_expires_at", p.idle_expires_at_us());
      d.Time("absolute_expires_at", p.absolute_expires_at_us());
      break;
    }
    case E::kSessionRevoked:
      d.Text("session_id", event.session_revoked().session_id());
      d.Text("reason", event.session_revoked().reason());
      break;
    case E::kAllSessionsRevoked:
      d.Text("reason", event.all_sessions_revoked().reason());
      break;
    case E::kMemberInvited: {
      const auto& p = event.member_invited();
      d.Text("user_id", p.user_id());
      d.Text("email", PersonalData(event, "member_invited.email", p.email()));
      d.Text("role", RoleName(p.role()));
      break;
    }
    case E::kRoleGranted:
      d.Text("user_id", event.role_granted().user_id());
      d.Text("role", RoleName(event.role_granted().role()));
      break;
    case E::kRoleRevoked:
      d.Text("user_id", event.role_revoked().user_id());
      break;
    case E::kTrialStarted:
      d.Time("ends_at", event.trial_started().ends_at_us());
      break;
    case E::kSubscriptionStarted:
      d.Text("plan", PlanName(event.subscription_started().plan()));
      break;
    case E::kSubscriptionCancelled:
      d.Time("delete_after", event.subscription_cancelled().delete_after_us());
      break;
    case E::kCreditsGranted:
      d.Number("credits", event.credits_granted().credits());
      break;
    case E::kUsageRecorded: {
      const auto& p = event.usage_recorded();
      d.Text("instance_id", p.instance_id());
      d.Number("credits", p.credits());
      d.Time("period_start", p.period_start_us());
      d.Time("period_end", p.period_end_us());
      break;
    }
    case E::kUsageAlertRaised:
      d.Number("percent_used", event.usage_alert_raised().percent_used());
      break;
    case E::kAccountErased:
      d.Text("key_id", event.account_erased().key_id());
      break;
    case E::kAuditExportRequested: {
      const auto& p = event.audit_export_requested();
      d.Text("export_id", p.export_id());
      d.Time("since", p.since_us());
      d.Time("until", p.until_us());
      break;
    }
    case E::kAuditExportCompleted: {
      const auto& p = event.audit_export_completed();
      d.Text("export_id", p.export_id());
      d.Number("rows", p.rows());
      d.Number("bytes", p.bytes());
      d.Hex("sha256", p.sha256());
      break;
    }
    case E::kInstanceCreated: {
      const auto& p = event.instance_created();
      d.Text("name", p.name());
      d.Number("vcpus", p.spec().vcpus());
      d.Number("memory_mib", p.spec().memory_mib());
      d.Number("disk_mib", p.spec().disk_mib());
      d.Number("revision", p.revision());
      if (!p.image().empty()) {
        d.Text("image", p.image());
        d.Text("openclaw_version", p.openclaw_version());
      }
      break;
    }
    case E::kInstancePlaced:
      d.Text("host_id", event.instance_placed().host_id());
      d.Number("revision", event.instance_placed().revision());
      break;
    case E::kInstanceStopRequested:
      d.Bool("immediate", event.instance_stop_requested().immediate());
      d.Text("reason", event.instance_stop_requested().reason());
      break;
    case E::kInstancePauseRequested:
      d.Text("reason", event.instance_pause_requested().reason());
      break;
    case E::kInstanceDeleteRequested:
      d.Text("reason", event.instance_delete_requested().reason());
      break;
    case E::kInstanceStarted:
      d.Text("host_id", event.instance_started().host_id());
      d.Number("revision", event.instance_started().revision());
      if (!event.instance_started().image().empty()) {
        d.Text("image", event.instance_started().image());
      }
      break;
    case E::kInstanceStopped:
      d.Text("host_id", event.instance_stopped().host_id());
      d.Number("revision", event.instance_stopped().revision());
      d.Text("reason", event.instance_stopped().reason());
      break;
    case E::kInstancePaused:
      d.Text("host_id", event.instance_paused().host_id());
      d.Number("revision", event.instance_paused().revision());
      break;
    case E::kInstanceFailed:
      row[kOutcome] = "failure";
      d.Text("host_id", event.instance_failed().host_id());
      d.Number("revision", event.instance_failed().revision());
      d.Text("reason", event.instance_failed().reason());
      break;
    case E::kInstanceHealthCheckFailed:
      row[kOutcome] = "failure";
      d.Number("consecutive_failures", event.instance_health_check_failed().consecutive_failures());
      d.Text("detail", event.instance_health_check_failed().detail());
      break;
    case E::kInstanceQuotaExceeded: {
      const auto& p = event.instance_quota_exceeded();
      row[kOutcome] = "failure";
      d.Text("resource", p.resource());
      d.Number("used", p.used());
      d.Number("limit", p.limit());
      break;
    }
    case E::kInstanceCredentialSet: {
      const auto& p = event.instance_credential_set();
      d.Text("name", p.name());
      d.Text("kind", CredentialKindName(p.kind()));
      d.Text("value", MaskedLast4(p.last4()));
      break;
    }
    case E::kInstanceCredentialRemoved:
      d.Text("name", event.instance_credential_removed().name());
      break;
    case E::kBackupRequested:
      d.Text("backup_id", event.backup_requested().backup_id());
      break;
    case E::kBackupCreated: {
      const auto& p = event.backup_created();
      d.Text("backup_id", p.backup_id());
      d.Number("size_bytes", p.size_bytes());
      d.Hex("sha256", p.sha256());
      break;
    }
    case E::kBackupRestored:
      d.Text("backup_id", event.backup_restored().backup_id());
      break;
    case E::kInstanceActivityObserved:
      d.Time("last_activity", event.instance_activity_observed().last_activity_us());
      break;
    case E::kConsoleLinkIssued: {
      const auto& p = event.console_link_issued();
      d.Text("link_id", p.link_id());
      d.Text("user_id", p.user_id());
      d.Time("expires_at", p.expires_at_us());
      break;
    }
    case E::kConsoleSessionOpened: {
      const auto& p = event.console_session_opened();
      d.Text("link_id", p.link_id());
      d.Text("user_id", p.user_id());
      d.Text("client_ip", p.client_ip());
      d.Text("user_agent", p.user_agent());
      break;
    }
    case E::kInstanceUpgradeRequested: {
      const auto& p = event.instance_upgrade_requested();
      d.Text("image", p.image());
      d.Text("openclaw_version", p.openclaw_version());
      d.Text("previous_image", p.previous_image());
      break;
    }
    case E::kWebhookPathRotated: {  // its id only: the hash is of a secret
      const auto& p = event.webhook_path_rotated();
      d.Text("webhook_id", p.webhook_id());
      d.Text("previous_webhook_id", p.previous_webhook_id());
      break;
    }
    case E::kWebhookPathDisabled:
      d.Text("webhook_id", event.webhook_path_disabled().webhook_id());
      break;
    case E::kInstanceEgressSummarized: {
      const auto& p = event.instance_egress_summarized();
      d.Time("period_start", p.period_start_us());
      d.Time("period_end", p.period_end_us());
      std::string hosts = "[";
      for (const auto& usage : p.hosts()) {
        if (hosts.size() > 1) hosts += ',';
        std::string one;
        {
          Details h(one);
          h.Text("host", usage.host());
          h.Number("connections", usage.connections());
          h.Number("refused", usage.refused());
          h.Number("bytes_sent", usage.bytes_sent());
          h.Number("bytes_received", usage.bytes_received());
        }
        hosts += one;
      }
      hosts += ']';
      d.Json("hosts", hosts);
      break;
    }
    case E::kInstanceDeleted:
      d.Number("revision", event.instance_deleted().revision());
      break;
    case E::kHostRegistered: {
      const auto& c = event.host_registered().capacity();
      d.Number("vcpus", c.vcpus());
      d.Number("memory_mib", c.memory_mib());
      d.Number("disk_mib", c.disk_mib());
      break;
    }
    case E::kInstanceScheduled:
      Placement(d, event.instance_scheduled());
      break;
    case E::kInstanceQueued:
      Placement(d, event.instance_queued());
      break;
    case E::kPlacementReleased:
      d.Text("incarnation_id", event.placement_released().incarnation_id());
      break;
    case E::kCommandRejected: {
      const auto& p = event.command_rejected();
      row[kOutcome] = "rejected";
      d.Text("command", p.command_type());
      d.Text("reason", RejectionName(p.reason()));
      d.Text("message", p.message());
      break;
    }
    case E::PAYLOAD_NOT_SET:
      break;
  }
  if (!event.command_id().empty()) d.Text("command_id", event.command_id());
}

}  // namespace clawvisor
