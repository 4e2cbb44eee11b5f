#include "projections/projected_instance_secrets.h"

namespace clawvisor {
namespace {

Result<std::string> OpenRef(Sealer& sealer, std::string_view account_id, const v1::SealedRef& ref) {
  auto plaintext = sealer.Open({account_id, ref.event_id(), ref.field()}, ref.value());
  if (!plaintext && plaintext.error().code == Errc::kNotFound) {
    return MakeError(Errc::kNotFound, "the instance's secrets were erased");
  }
  return plaintext;
}

}  // namespace

ProjectedInstanceSecrets::ProjectedInstanceSecrets(Projector& projector, Sealer& sealer)
    : projector_(projector), sealer_(sealer) {}

Result<InstanceSecretValues> ProjectedInstanceSecrets::Open(std::string_view account_id,
                                                            std::string_view instance_id) {
  auto refs = projector_.GetInstanceSecretRefs(account_id, instance_id);
  if (!refs) return std::unexpected(refs.error());
  if (!refs->has_value()) {
    return MakeError(Errc::kNotFound, "no live instance with secrets under this id");
  }
  InstanceSecretValues values;
  auto token = OpenRef(sealer_, account_id, (*refs)->gateway_token());
  if (!token) return std::unexpected(token.error());
  values.gateway_token = std::move(*token);
  if ((*refs)->has_volume_key()) {
    auto volume_key = OpenRef(sealer_, account_id, (*refs)->volume_key());
    if (!volume_key) return std::unexpected(volume_key.error());
    values.volume_key = std::move(*volume_key);
  }
  for (const auto& credential : (*refs)->credentials()) {
    auto value = OpenRef(sealer_, account_id, credential.value());
    if (!value) return std::unexpected(value.error());
    values.credentials.push_back({credential.name(), credential.kind(), std::move(*value)});
  }
  return values;
}

}  // namespace clawvisor
