#include "projections/secret_ref_table.h"

#include <algorithm>

namespace clawvisor::projection {
namespace {

// Sets the credential of `p.name()` (inserted in name order when new) to `value`.
void SetCredentialRef(v1::InstanceSecretRefs& refs, const v1::InstanceCredentialSet& p,
                      v1::SealedRef value) {
  auto* creds = refs.mutable_credentials();
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
  *it->mutable_value() = std::move(value);
}

}  // namespace

Status SecretRefTable::Apply(BatchView& view, const v1::Envelope& event) {
  if (event.aggregate_type() != v1::AGGREGATE_TYPE_INSTANCE) return {};
  const std::string key = RowKey(kTable, event.account_id(), event.aggregate_id());
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
      if (event.instance_created().has_volume_key()) {
        *refs.mutable_volume_key() =
            ref("instance_created.volume_key", event.instance_created().volume_key());
      }
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
  if (event.has_gateway_token_rotated()) {
    *refs.mutable_gateway_token() =
        ref("gateway_token_rotated.gateway_token", event.gateway_token_rotated().gateway_token());
  } else if (event.has_instance_credential_set()) {
    const auto& p = event.instance_credential_set();
    SetCredentialRef(refs, p, ref("instance_credential_set.value", p.value()));
  } else {
    auto* creds = refs.mutable_credentials();
    const auto& name = event.instance_credential_removed().name();
    creds->erase(std::remove_if(creds->begin(), creds->end(),
                                [&](const auto& c) { return c.name() == name; }),
                 creds->end());
  }
  view.Put(key, refs);
  return {};
}

Result<std::optional<v1::InstanceSecretRefs>> SecretRefTable::Get(std::string_view account_id,
                                                                  std::string_view instance_id) {
  return ReadRow<v1::InstanceSecretRefs>(store_, RowKey(kTable, account_id, instance_id));
}

}  // namespace clawvisor::projection
