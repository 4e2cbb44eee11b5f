#include "engine/sealer.h"

namespace clawvisor {

std::string MaskSecret(std::string_view secret) {
  // Fewer than 12 characters: showing 4 would reveal too large a share of the secret.
  if (secret.size() < 12) return "••••";
  return "••••" + std::string(secret.substr(secret.size() - 4));
}

}  // namespace clawvisor
