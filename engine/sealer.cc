#include "engine/sealer.h"

namespace clawvisor {

std::string MaskSecret(std::string_view secret) {
  if (secret.size() < kMinMaskedSecretBytes) return "••••";
  return "••••" + std::string(secret.substr(secret.size() - 4));
}

}  // namespace clawvisor
