#pragma once

// InstanceSecrets for unit tests of the reconciler: the token names the instance and the
// generation (so a test sees a rotation reach the guest's configuration), one planted credential,
// and an injectable vault outage. The real vault is tested in tests/adapters.

#include <string>
#include <string_view>

#include "engine/reconcile/instance_secrets.h"

namespace clawvisor::testing {

class FakeInstanceSecrets final : public InstanceSecrets {
 public:
  Result<InstanceSecretValues> Open(std::string_view, std::string_view instance_id) override {
    if (fail) return MakeError(Errc::kUnavailable, "vault unavailable (injected)");
    InstanceSecretValues v;
    v.gateway_token = "gw-" + std::string(instance_id) + "-" + std::to_string(generation);
    v.credentials.push_back({"openai", v1::CREDENTIAL_KIND_MODEL_API_KEY, "sk-canary-4242"});
    v.volume_key = "vk-" + std::string(instance_id);
    return v;
  }
  bool fail = false;
  int generation = 1;
};

}  // namespace clawvisor::testing
