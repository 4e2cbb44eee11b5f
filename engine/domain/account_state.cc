#include "engine/domain/account_state.h"

#include <algorithm>

namespace clawvisor {

std::string_view DesiredStateName(DesiredState state) {
  switch (state) {
    case DesiredState::kStopped:
      return "stopped";
    case DesiredState::kRunning:
      return "running";
    case DesiredState::kPaused:
      return "paused";
    case DesiredState::kDeleted:
      return "deleted";
  }
  return "unknown";
}

const InstanceState* AccountState::FindLiveInstance(const std::string& instance_id) const {
  auto it = instances.find(instance_id);
  if (it == instances.end() || it->second.desired == DesiredState::kDeleted) return nullptr;
  return &it->second;
}

size_t AccountState::LiveInstanceCount() const {
  return static_cast<size_t>(std::count_if(instances.begin(), instances.end(), [](const auto& kv) {
    return kv.second.desired != DesiredState::kDeleted;
  }));
}

}  // namespace clawvisor
