#include "projections/batch_view.h"

namespace clawvisor::projection {

void BatchView::DeletePrefix(const std::string& prefix) {
  for (auto it = overlay_.lower_bound(prefix);
       it != overlay_.end() && it->first.starts_with(prefix); ++it) {
    it->second = std::nullopt;
  }
  erased_prefixes_.push_back(prefix);
}

KvBatch BatchView::Materialize() const {
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

void BatchView::Reset() {
  overlay_.clear();
  erased_prefixes_.clear();
  last_command_key_.clear();
  first_event_ = true;
}

}  // namespace clawvisor::projection
