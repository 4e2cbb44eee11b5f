#include "projections/projector.h"

#include <chrono>
#include <map>
#include <optional>

#include "engine/command/outcome.h"
#include "engine/command/seal_fields.h"
#include "engine/domain/account_state.h"
#include "engine/logging.h"
#include "engine/run_loop.h"
#include "events/codec.h"
#include "projections/audit_csv.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "projector";

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < in.size(); ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string OffsetKey(int32_t partition) {
  std::string k = "o|";
  PutU32(k, static_cast<uint32_t>(partition));
  return k;
}
std::string AccountKey(std::string_view a) { return "a|" + std::string(a); }
std::string AccountKey(char table, std::string_view a) {
  return std::string(1, table) + "|" + std::string(a);
}
std::string EmailKey(std::string_view email_lookup_hash) {
  return "e|" + std::string(email_lookup_hash);
}
// The index row of a password-reset token, by its keyed hash as the API computes it (hex).
std::string ResetTokenKey(std::string_view raw_token_hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "r|";
  for (unsigned char c : raw_token_hash) {
    key += kHex[c >> 4];
    key += kHex[c & 15];
  }
  return key;
}
// The one password credential of an account (its primary user's).
constexpr std::string_view kPrimaryCredential = "primary";
// The account's TOTP secret (its primary user's).
constexpr std::string_view kTotpCredential = "totp";
// A live user session: "u|" + its id.
std::string SessionKey(std::string_view session_id) { return "u|" + std::string(session_id); }
std::string AccountPrefix(char table, std::string_view a) {
  return std::string(1, table) + "|" + std::string(a) + "|";
}
std::string RowKey(char table, std::string_view a, std::string_view id) {
  return AccountPrefix(table, a) + std::string(id);
}
// The end of a prefix range: the prefix with its last byte ('|') incremented.
std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}
std::string AuditKey(std::string_view a, int64_t occurred_at_us, int32_t partition,
                     int64_t offset) {
  std::string k = AccountPrefix('t', a);
  PutU64(k, static_cast<uint64_t>(occurred_at_us));
  PutU32(k, static_cast<uint32_t>(partition));
  PutU64(k, static_cast<uint64_t>(offset));
  return k;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}
std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (size_t k = 0; k < 2; ++k) {
      const char c = hex[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else
        return std::nullopt;
    }
    out += static_cast<char>(v);
  }
  return out;
}

template <typename Message>
Result<std::optional<Message>> GetMessage(KvStore& store, const std::string& key) {
  auto raw = store.Get(key);
  if (!raw) return std::unexpected(raw.error());
  if (!raw->has_value()) return std::optional<Message>();
  Message m;
  if (!m.ParseFromString(**raw)) {
    return MakeError(Errc::kCorruption, "projection row is not readable: " + ToHex(key));
  }
  return std::optional<Message>(std::move(m));
}

// Parses every row under `prefix` into a message `add()` appends to a list.
template <typename Add>
Status ScanRows(KvStore& store, const std::string& prefix, std::string_view what, Add add) {
  bool corrupt = false;
  Status scanned = store.Scan(prefix, PrefixEnd(prefix), [&](auto, std::string_view value) {
    corrupt = !add()->ParseFromArray(value.data(), static_cast<int>(value.size()));
    return !corrupt;
  });
  if (!scanned) return scanned;
  if (corrupt)
    return MakeError(Errc::kCorruption, "a " + std::string(what) + " row is not readable");
  return {};
}

}  // namespace

// The rows a batch has written so far, over the store: read-modify-write within one batch sees
// its own writes. Writes collect in an overlay and become a KvBatch at the end: its range
// deletes first, then the overlay's puts and deletes (an erasure nulls the overlay rows it
// covers, so rows written before it in the batch are deleted and rows after it survive).
class Projector::BatchView {
 public:
  explicit BatchView(KvStore& store) : store_(store) {}

  template <typename Message>
  Result<std::optional<Message>> Get(const std::string& key) {
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      if (!it->second) return std::optional<Message>();
      Message m;
      if (!m.ParseFromString(*it->second)) {
        return MakeError(Errc::kInternal, "a row written by this batch does not parse");
      }
      return std::optional<Message>(std::move(m));
    }
    for (const auto& prefix : erased_prefixes_) {
      if (key.starts_with(prefix)) return std::optional<Message>();
    }
    return GetMessage<Message>(store_, key);
  }
  void Put(const std::string& key, const google::protobuf::Message& m) {
    m.SerializeToString(&overlay_[key].emplace());
  }
  void PutRaw(const std::string& key, std::string value) { overlay_[key] = std::move(value); }
  void Delete(const std::string& key) { overlay_[key] = std::nullopt; }
  void DeletePrefix(const std::string& prefix) {
    for (auto it = overlay_.lower_bound(prefix);
         it != overlay_.end() && it->first.starts_with(prefix); ++it) {
      it->second = std::nullopt;
    }
    erased_prefixes_.push_back(prefix);
  }
  // Tracks the command of the previous event applied in this batch (see ApplyEvent).
  const std::string& last_command_key() const { return last_command_key_; }
  void set_last_command_key(const std::string& key) {
    last_command_key_ = key;
    first_event_ = false;
  }
  bool first_event() const { return first_event_; }

  KvBatch Materialize() const {
    KvBatch batch;
    for (const auto& prefix : erased_prefixes_) batch.DeleteRange(prefix, PrefixEnd(prefix));
    for (const auto& [key, value] : overlay_) {
      if (value)
        batch.Put(key, *value);
      else
        batch.Delete(key);
    }
    return batch;
  }
  void Reset() {
    overlay_.clear();
    erased_prefixes_.clear();
    last_command_key_.clear();
    first_event_ = true;
  }

 private:
  KvStore& store_;
  std::map<std::string, std::optional<std::string>> overlay_;
  std::vector<std::string> erased_prefixes_;
  std::string last_command_key_;
  bool first_event_ = true;
};

Projector::Projector(KvStore& store, Sealer* sealer, MetricsRegistry& metrics, Watermarks* progress)
    : store_(store),
      sealer_(sealer),
      progress_(progress),
      applied_(metrics.GetCounter("clawvisor_projector_events_applied_total",
                                  "Events applied to the read models.")),
      batch_seconds_(metrics.GetHistogram("clawvisor_projector_batch_seconds",
                                          "Time to apply one batch of events.")) {}

Result<int64_t> Projector::NextOffset(int32_t partition) {
  auto raw = store_.Get(OffsetKey(partition));
  if (!raw) return std::unexpected(raw.error());
  if (!raw->has_value()) return 0;
  return static_cast<int64_t>(GetU64(**raw));
}

// Where an instance's secrets are sealed (table 's'): only what InstanceSecrets needs to open
// them, never plaintext. A deleted or erased instance has no row, so nothing opens its secrets.
Status Projector::ApplySecretRefs(BatchView& view, const v1::Envelope& event) {
  if (event.aggregate_type() != v1::AGGREGATE_TYPE_INSTANCE) return {};
  const std::string key = RowKey('s', event.account_id(), event.aggregate_id());
  auto ref = [&](std::string_view field, const v1::Sealed& value) {
    v1::SealedRef r;
    r.set_event_id(event.event_id());
    r.set_field(std::string(field));
    *r.mutable_value() = value;
    return r;
  };
  switch (event.payload_case()) {
    case v1::Envelope::kInstanceCreated: {
      v1::InstanceSecretRefs refs;
      refs.set_revision(event.instance_created().revision());
      *refs.mutable_gateway_token() =
          ref("instance_created.gateway_token", event.instance_created().gateway_token());
      view.Put(key, refs);
      return {};
    }
    case v1::Envelope::kInstanceDeleteRequested:
    case v1::Envelope::kInstanceDeleted:
      view.Delete(key);
      return {};
    case v1::Envelope::kGatewayTokenRotated:
    case v1::Envelope::kInstanceCredentialSet:
    case v1::Envelope::kInstanceCredentialRemoved:
      break;
    default:
      return {};
  }
  auto existing = view.Get<v1::InstanceSecretRefs>(key);
  if (!existing) return std::unexpected(existing.error());
  if (!existing->has_value()) return {};  // the instance was deleted meanwhile
  v1::InstanceSecretRefs refs = std::move(**existing);
  auto* creds = refs.mutable_credentials();
  if (event.has_gateway_token_rotated()) {
    *refs.mutable_gateway_token() =
        ref("gateway_token_rotated.gateway_token", event.gateway_token_rotated().gateway_token());
  } else if (event.has_instance_credential_set()) {
    const auto& p = event.instance_credential_set();
    auto it = std::lower_bound(creds->begin(), creds->end(), p.name(),
                               [](const auto& c, const std::string& n) { return c.name() < n; });
    if (it == creds->end() || it->name() != p.name()) {
      // RepeatedPtrField has no insert: append, then rotate into place.
      const auto index = it - creds->begin();
      creds->Add();
      for (auto i = creds->size() - 1; i > index; --i) creds->SwapElements(i, i - 1);
      it = creds->begin() + index;
    }
    it->set_name(p.name());
    it->set_kind(p.kind());
    *it->mutable_value() = ref("instance_credential_set.value", p.value());
  } else {
    const auto& name = event.instance_credential_removed().name();
    creds->erase(std::remove_if(creds->begin(), creds->end(),
                                [&](const auto& c) { return c.name() == name; }),
                 creds->end());
  }
  view.Put(key, refs);
  return {};
}

Status Projector::ApplyEvent(BatchView& view, const v1::Envelope& event, int32_t partition,
                             int64_t offset) {
  const std::string& account = event.account_id();
  const int64_t at = event.occurred_at_us();

  // The audit index: every event, including rejections.
  v1::AuditEntry entry;
  entry.set_event_id(event.event_id());
  entry.set_account_id(account);
  entry.set_occurred_at_us(at);
  entry.set_event_type(std::string(EventTypeName(event)));
  entry.set_aggregate_type(v1::AggregateType_Name(event.aggregate_type()));
  entry.set_aggregate_id(event.aggregate_id());
  *entry.mutable_actor() = event.actor();
  entry.set_command_id(event.command_id());
  entry.set_partition(partition);
  entry.set_offset(offset);
  view.Put(AuditKey(account, at, partition, offset), entry);

  // The commands projection: the outcome, folded exactly as the processor folds it.
  // A command's events are contiguous in its partition (one transaction), so a command id
  // that differs from the previous event's starts a new outcome; only the first event of a
  // batch may continue an outcome stored by an earlier batch.
  std::optional<v1::CommandOutcome> command_outcome;
  if (!event.command_id().empty()) {
    const std::string key = RowKey('c', account, event.command_id());
    std::optional<v1::CommandOutcome> existing;
    if (key == view.last_command_key() || view.first_event()) {
      auto found = view.Get<v1::CommandOutcome>(key);
      if (!found) return std::unexpected(found.error());
      existing = std::move(*found);
    }
    view.set_last_command_key(key);
    v1::CommandOutcome outcome =
        existing.has_value() ? std::move(*existing) : OutcomeOfFirstEvent(event, partition, offset);
    AddToOutcome(outcome, event);
    view.Put(key, outcome);
    command_outcome = std::move(outcome);
  }

  // Audit exports: the job's view, and a pending marker the export worker lists.
  if (event.has_audit_export_requested()) {
    const auto& p = event.audit_export_requested();
    v1::AuditExportView x;
    x.set_account_id(account);
    x.set_export_id(p.export_id());
    x.set_status("pending");
    x.set_since_us(p.since_us());
    x.set_until_us(p.until_us());
    x.set_requested_at_us(at);
    *x.mutable_requested_by() = event.actor();
    x.set_request_partition(partition);
    x.set_request_offset(offset);
    view.Put(RowKey('j', account, p.export_id()), x);
    view.Put(RowKey('q', account, p.export_id()), x);
  } else if (event.has_audit_export_completed()) {
    const auto& p = event.audit_export_completed();
    const std::string key = RowKey('j', account, p.export_id());
    auto existing = view.Get<v1::AuditExportView>(key);
    if (!existing) return std::unexpected(existing.error());
    if (existing->has_value()) {
      v1::AuditExportView x = std::move(**existing);
      x.set_status("completed");
      x.set_completed_at_us(at);
      x.set_rows(p.rows());
      x.set_bytes(p.bytes());
      x.set_sha256(ToHex(p.sha256()));
      view.Put(key, x);
    }
    view.Delete(RowKey('q', account, p.export_id()));
  }

  // Account rows.
  if (event.has_account_erased()) {
    auto lookup = view.Get<v1::AccountLookup>(AccountKey('x', account));
    if (!lookup) return std::unexpected(lookup.error());
    if (lookup->has_value() && !(*lookup)->email_lookup_hash().empty()) {
      // Emails are not unique across accounts: delete the index row only if it is this one's.
      const std::string email_key = EmailKey((*lookup)->email_lookup_hash());
      auto indexed = view.Get<v1::AccountLookup>(email_key);
      if (!indexed) return std::unexpected(indexed.error());
      if (indexed->has_value() && (*indexed)->account_id() == account) view.Delete(email_key);
    }
    view.Delete(AccountKey('x', account));
    for (char table : {'m', 'i', 'c', 't', 's', 'p', 'j', 'q'}) {
      view.DeletePrefix(AccountPrefix(table, account));
    }
    v1::AccountView erased;
    erased.set_account_id(account);
    erased.set_status("erased");
    erased.set_updated_at_us(at);
    view.Put(AccountKey(account), erased);
    // The erasure's own outcome stays (ids and event types only): a retry of it, and a process
    // that learns outcomes from this store (the API service on Kafka), still find its answer.
    if (command_outcome) view.Put(RowKey('c', account, event.command_id()), *command_outcome);
    return {};
  }
  // The credentials projection: the current password hash, still sealed, with its binding.
  if (event.has_account_registered() && event.account_registered().has_password_hash()) {
    v1::PasswordCredential credential;
    credential.set_account_id(account);
    *credential.mutable_password_hash() = event.account_registered().password_hash();
    credential.set_event_id(event.event_id());
    credential.set_field("account_registered.password_hash");
    view.Put(RowKey('p', account, kPrimaryCredential), credential);
  } else if (event.has_password_reset_completed()) {
    v1::PasswordCredential credential;
    credential.set_account_id(account);
    *credential.mutable_password_hash() = event.password_reset_completed().password_hash();
    credential.set_event_id(event.event_id());
    credential.set_field("password_reset_completed.password_hash");
    view.Put(RowKey('p', account, kPrimaryCredential), credential);
    view.Delete(ResetTokenKey(event.password_reset_completed().token_hash()));
  } else if (event.has_password_reset_requested()) {
    v1::AccountLookup lookup;
    lookup.set_account_id(account);
    view.Put(ResetTokenKey(event.password_reset_requested().token_hash()), lookup);
  } else if (event.has_password_changed()) {
    auto prior = view.Get<v1::PasswordCredential>(RowKey('p', account, kPrimaryCredential));
    if (!prior) return std::unexpected(prior.error());
    v1::PasswordCredential credential = prior->value_or(v1::PasswordCredential{});
    credential.set_account_id(account);
    *credential.mutable_password_hash() = event.password_changed().password_hash();
    credential.set_event_id(event.event_id());
    credential.set_field("password_changed.password_hash");
    view.Put(RowKey('p', account, kPrimaryCredential), credential);
  }
  // The TOTP secret, still sealed, for the command service to check codes against.
  if (event.has_totp_enrolled()) {
    v1::TotpCredential credential;
    credential.set_account_id(account);
    *credential.mutable_secret() = event.totp_enrolled().secret();
    credential.set_event_id(event.event_id());
    credential.set_field("totp_enrolled.secret");
    view.Put(RowKey('p', account, kTotpCredential), credential);
  } else if (event.has_totp_enabled()) {
    auto prior = view.Get<v1::TotpCredential>(RowKey('p', account, kTotpCredential));
    if (!prior) return std::unexpected(prior.error());
    if (prior->has_value()) {
      v1::TotpCredential credential = **prior;
      credential.set_enabled(true);
      view.Put(RowKey('p', account, kTotpCredential), credential);
    }
  } else if (event.has_totp_disabled()) {
    view.Delete(RowKey('p', account, kTotpCredential));
  }
  // The sessions projection: one row per live session, found by its id (derived from its token
  // hash). Revoke-all is a watermark on the account (sessions_revoked_through_version).
  if (event.has_session_started()) {
    const auto& p = event.session_started();
    v1::SessionView session;
    session.set_account_id(account);
    session.set_session_id(p.session_id());
    session.set_user_id(p.user_id());
    session.set_started_at_us(at);
    session.set_idle_timeout_us(p.idle_expires_at_us() - at);
    session.set_absolute_expires_at_us(p.absolute_expires_at_us());
    session.set_account_version(event.aggregate_version());
    session.set_token_hash(p.token_hash());
    view.Put(SessionKey(p.session_id()), session);
  } else if (event.has_session_revoked()) {
    view.Delete(SessionKey(event.session_revoked().session_id()));
  }
  if (event.aggregate_type() == v1::AGGREGATE_TYPE_ACCOUNT && !event.has_command_rejected()) {
    auto existing = view.Get<v1::AccountView>(AccountKey(account));
    if (!existing) return std::unexpected(existing.error());
    if (existing->has_value() || event.has_account_registered()) {
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
            if (email) {
              auto hash = EmailLookupHash(*email, *sealer_);
              if (!hash) return std::unexpected(hash.error());
              v1::AccountLookup lookup;
              lookup.set_account_id(account);
              lookup.set_email_lookup_hash(*hash);
              view.Put(AccountKey('x', account), lookup);
              view.Put(EmailKey(*hash), lookup);
            }
          }
          v1::MemberView owner;
          owner.set_account_id(account);
          owner.set_user_id(p.owner_user_id());
          owner.set_role(v1::ROLE_OWNER);
          view.Put(RowKey('m', account, p.owner_user_id()), owner);
          break;
        }
        case v1::Envelope::kTrialStarted:
          acc.set_trial_ends_at_us(event.trial_started().ends_at_us());
          break;
        case v1::Envelope::kSubscriptionStarted:
          acc.set_plan(event.subscription_started().plan());
          break;
        case v1::Envelope::kRoleGranted: {
          v1::MemberView member;
          member.set_account_id(account);
          member.set_user_id(event.role_granted().user_id());
          member.set_role(event.role_granted().role());
          view.Put(RowKey('m', account, member.user_id()), member);
          break;
        }
        case v1::Envelope::kAllSessionsRevoked:
          acc.set_sessions_revoked_through_version(event.aggregate_version());
          break;
        case v1::Envelope::kAccountDisabled:
          acc.set_status("disabled");
          break;
        case v1::Envelope::kAccountEnabled:
          acc.set_status("active");
          break;
        case v1::Envelope::kRoleRevoked:
          view.Delete(RowKey('m', account, event.role_revoked().user_id()));
          break;
        default:
          break;
      }
      view.Put(AccountKey(account), acc);
    }
  }

  if (auto applied = ApplySecretRefs(view, event); !applied) return applied;

  // Instance rows.
  if (event.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE && !event.has_command_rejected()) {
    const std::string key = RowKey('i', account, event.aggregate_id());
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
      default:
        break;
    }
    view.Put(key, inst);
  }
  return {};
}

Status Projector::Apply(std::span<const Record> records) {
  return ApplyRecords(records, /*read_from_next=*/false);
}

Status Projector::ApplyRecords(std::span<const Record> records, bool read_from_next) {
  const auto started = std::chrono::steady_clock::now();
  // Group by partition, keeping each partition's order; one atomic batch per partition.
  std::map<int32_t, std::vector<const Record*>> by_partition;
  for (const auto& r : records) by_partition[r.partition].push_back(&r);
  BatchView view(store_);
  size_t applied = 0;
  for (const auto& [partition, list] : by_partition) {
    auto next = NextOffset(partition);
    if (!next) return std::unexpected(next.error());
    int64_t expected = *next;
    view.Reset();
    for (const Record* r : list) {
      if (r->offset < expected) continue;  // already applied: replay is idempotent
      if (r->offset > expected && !read_from_next) {
        return MakeError(Errc::kFailedPrecondition,
                         "events partition " + std::to_string(partition) + " skipped from " +
                             std::to_string(expected) + " to " + std::to_string(r->offset));
      }
      auto event = DecodeEnvelope(r->value);
      if (!event) {
        return MakeError(event.error().code, "events partition " + std::to_string(partition) +
                                                 " offset " + std::to_string(r->offset) + ": " +
                                                 event.error().message);
      }
      if (auto ok = ApplyEvent(view, *event, partition, r->offset); !ok) return ok;
      expected = r->offset + 1;
      ++applied;
    }
    if (expected == *next) continue;
    std::string offset_value;
    PutU64(offset_value, static_cast<uint64_t>(expected));
    view.PutRaw(OffsetKey(partition), offset_value);
    // Not synced: the projection can always be replayed from the log; its offset travels with it.
    if (auto ok = store_.Write(view.Materialize(), /*sync=*/false); !ok) return ok;
    if (progress_ != nullptr) progress_->Advance(partition, expected);
  }
  applied_.Inc(applied);
  batch_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return {};
}

Result<size_t> Projector::ProjectOnce(EventLog& log, std::chrono::milliseconds timeout,
                                      size_t max_records) {
  if (partition_count_ == 0) {
    auto count = log.PartitionCount(kEventsTopic);
    if (!count) return std::unexpected(count.error());
    partition_count_ = *count;
  }
  std::vector<Position> positions;
  for (int32_t p = 0; p < partition_count_; ++p) {
    auto next = NextOffset(p);
    if (!next) return std::unexpected(next.error());
    positions.push_back({{std::string(kEventsTopic), p}, *next});
    if (progress_ != nullptr) progress_->Advance(p, *next);
  }
  auto records = log.Poll(positions, max_records, timeout);
  if (!records) return std::unexpected(records.error());
  if (records->empty()) return 0;
  if (auto ok = ApplyRecords(*records, /*read_from_next=*/true); !ok) {
    return std::unexpected(ok.error());
  }
  return records->size();
}

void Projector::Run(EventLog& log, std::stop_token stop) {
  RunUntilStopped(stop, kComponent, [&]() -> Result<bool> {
    auto done = ProjectOnce(log, std::chrono::milliseconds(200));
    if (!done) return std::unexpected(done.error());
    return *done == 0;  // Poll already waited
  });
}

Status Projector::CatchUp(EventLog& log,
                          const std::function<void(int64_t done, int64_t total)>& progress) {
  auto count = log.PartitionCount(kEventsTopic);
  if (!count) return std::unexpected(count.error());
  partition_count_ = *count;
  int64_t total = 0;
  int64_t done = 0;
  std::vector<int64_t> ends;
  for (int32_t p = 0; p < *count; ++p) {
    auto end = log.EndOffset({std::string(kEventsTopic), p});
    if (!end) return std::unexpected(end.error());
    auto next = NextOffset(p);
    if (!next) return std::unexpected(next.error());
    ends.push_back(*end);
    total += *end;
    done += *next;
  }
  for (int32_t p = 0; p < *count; ++p) {
    const TopicPartition tp{std::string(kEventsTopic), p};
    while (true) {
      auto next = NextOffset(p);
      if (!next) return std::unexpected(next.error());
      if (*next >= ends[static_cast<size_t>(p)]) break;
      auto records = log.Read(tp, *next, 4096);
      if (!records) return std::unexpected(records.error());
      if (records->empty()) break;
      if (auto ok = ApplyRecords(*records, /*read_from_next=*/true); !ok) return ok;
      done += static_cast<int64_t>(records->size());
      if (progress) progress(done, total);
    }
  }
  if (progress) progress(done, total);
  return {};
}

Result<std::optional<v1::SessionView>> Projector::GetSession(std::string_view session_id) {
  return GetMessage<v1::SessionView>(store_, SessionKey(session_id));
}

Result<std::optional<v1::PasswordCredential>> Projector::GetPasswordCredential(
    std::string_view account_id) {
  return GetMessage<v1::PasswordCredential>(store_, RowKey('p', account_id, kPrimaryCredential));
}

Result<std::optional<v1::TotpCredential>> Projector::GetTotpCredential(
    std::string_view account_id) {
  return GetMessage<v1::TotpCredential>(store_, RowKey('p', account_id, kTotpCredential));
}

Result<std::optional<v1::AccountView>> Projector::GetAccount(std::string_view account_id) {
  auto acc = GetMessage<v1::AccountView>(store_, AccountKey(account_id));
  // An erased account answers like an unknown one: nothing is held about it any more.
  if (acc && acc->has_value() && (*acc)->status() == "erased") {
    return std::optional<v1::AccountView>();
  }
  return acc;
}

Result<bool> Projector::IsAccountErased(std::string_view account_id) {
  auto acc = GetMessage<v1::AccountView>(store_, AccountKey(account_id));
  if (!acc) return std::unexpected(acc.error());
  return acc->has_value() && (*acc)->status() == "erased";
}

Result<v1::MemberList> Projector::ListMembers(std::string_view account_id) {
  v1::MemberList list;
  auto ok = ScanRows(store_, AccountPrefix('m', account_id), "member",
                     [&] { return list.add_members(); });
  if (!ok) return std::unexpected(ok.error());
  return list;
}

Result<std::optional<v1::InstanceView>> Projector::GetInstance(std::string_view account_id,
                                                               std::string_view instance_id) {
  return GetMessage<v1::InstanceView>(store_, RowKey('i', account_id, instance_id));
}

Result<v1::InstanceList> Projector::ListInstances(std::string_view account_id) {
  v1::InstanceList list;
  auto ok = ScanRows(store_, AccountPrefix('i', account_id), "instance",
                     [&] { return list.add_instances(); });
  if (!ok) return std::unexpected(ok.error());
  return list;
}

Result<v1::AuditPage> Projector::ListAudit(std::string_view account_id, int64_t since_us,
                                           int64_t until_us, std::string_view cursor,
                                           uint32_t limit) {
  const std::string prefix = AccountPrefix('t', account_id);
  std::string begin = prefix;
  PutU64(begin, static_cast<uint64_t>(std::max<int64_t>(since_us, 0)));
  std::string end = prefix;
  PutU64(end, static_cast<uint64_t>(std::max<int64_t>(until_us, 0)));
  if (!cursor.empty()) {
    auto tail = FromHex(cursor);
    if (!tail || tail->size() != 20) {
      return MakeError(Errc::kInvalidArgument, "cursor is not one this API returned");
    }
    std::string after = prefix + *tail;
    after += '\0';  // strictly after the last key returned
    if (after > begin) begin = std::move(after);
  }
  v1::AuditPage page;
  std::string last_key;
  bool corrupt = false;
  Status scanned = store_.Scan(begin, end, [&](std::string_view key, std::string_view value) {
    if (static_cast<uint32_t>(page.entries_size()) == limit) {
      page.set_next_cursor(ToHex(std::string_view(last_key).substr(prefix.size())));
      return false;
    }
    corrupt = !page.add_entries()->ParseFromArray(value.data(), static_cast<int>(value.size()));
    last_key = key;
    return !corrupt;
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (corrupt) return MakeError(Errc::kCorruption, "an audit row is not readable");
  return page;
}

Result<std::optional<std::string>> Projector::FindAccountByEmailHash(
    std::string_view email_lookup_hash) {
  auto lookup = GetMessage<v1::AccountLookup>(store_, EmailKey(email_lookup_hash));
  if (!lookup) return std::unexpected(lookup.error());
  if (!lookup->has_value()) return std::optional<std::string>();
  return std::optional<std::string>((*lookup)->account_id());
}

Result<std::optional<std::string>> Projector::FindAccountByResetTokenHash(
    std::string_view token_hash) {
  auto lookup = GetMessage<v1::AccountLookup>(store_, "r|" + std::string(token_hash));
  if (!lookup) return std::unexpected(lookup.error());
  if (!lookup->has_value()) return std::optional<std::string>();
  return std::optional<std::string>((*lookup)->account_id());
}

Result<std::optional<v1::InstanceSecretRefs>> Projector::GetInstanceSecretRefs(
    std::string_view account_id, std::string_view instance_id) {
  return GetMessage<v1::InstanceSecretRefs>(store_, RowKey('s', account_id, instance_id));
}

Result<v1::AuditExportList> Projector::ListAuditExports(std::string_view account_id) {
  v1::AuditExportList list;
  auto ok = ScanRows(store_, AccountPrefix('j', account_id), "audit export",
                     [&] { return list.add_exports(); });
  if (!ok) return std::unexpected(ok.error());
  return list;
}

Result<std::optional<v1::AuditExportView>> Projector::GetAuditExport(std::string_view account_id,
                                                                     std::string_view export_id) {
  return GetMessage<v1::AuditExportView>(store_, RowKey('j', account_id, export_id));
}

Result<std::vector<v1::AuditExportView>> Projector::ListPendingAuditExports(size_t limit) {
  std::vector<v1::AuditExportView> pending;
  bool corrupt = false;
  Status scanned = store_.Scan("q|", "q}", [&](std::string_view, std::string_view value) {
    if (pending.size() >= limit) return false;
    corrupt = !pending.emplace_back().ParseFromArray(value.data(), static_cast<int>(value.size()));
    return !corrupt;
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (corrupt) return MakeError(Errc::kCorruption, "a pending audit export row is not readable");
  return pending;
}

Result<std::optional<v1::CommandOutcome>> Projector::GetCommandOutcome(
    std::string_view account_id, std::string_view command_id) {
  // An erased account answers like an unknown one, its erasure's outcome included.
  auto erased = IsAccountErased(account_id);
  if (!erased) return std::unexpected(erased.error());
  if (*erased) return std::optional<v1::CommandOutcome>();
  return FindDecidedOutcome(account_id, command_id);
}

Result<std::optional<v1::CommandOutcome>> Projector::FindDecidedOutcome(
    std::string_view account_id, std::string_view command_id) {
  return GetMessage<v1::CommandOutcome>(store_, RowKey('c', account_id, command_id));
}

Result<std::string> Projector::Fingerprint() {
  std::string all;
  Status scanned = store_.Scan("", "", [&](std::string_view key, std::string_view value) {
    all += ToHex(key) + "=" + ToHex(value) + "\n";
    return true;
  });
  if (!scanned) return std::unexpected(scanned.error());
  return all;
}

}  // namespace clawvisor
