#include "projections/memory_kv_store.h"

#include <utility>
#include <vector>

namespace clawvisor {

Result<std::optional<std::string>> MemoryKvStore::Get(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryKvStore::Write(const KvBatch& batch, bool sync) {
  std::lock_guard lock(mu_);
  if (write_failure_) return std::unexpected(*write_failure_);
  // Validate everything before touching anything: the batch applies whole or not at all.
  for (const auto& [begin, end] : batch.ranges()) {
    if (end < begin) {
      return MakeError(Errc::kInvalidArgument, "DeleteRange: end sorts before begin");
    }
  }
  for (const auto& [begin, end] : batch.ranges()) {
    data_.erase(data_.lower_bound(begin), data_.lower_bound(end));
  }
  for (const auto& op : batch.ops()) {
    if (op.value) {
      data_.insert_or_assign(op.key, *op.value);
    } else {
      auto it = data_.find(op.key);
      if (it != data_.end()) data_.erase(it);
    }
  }
  ++writes_;
  if (sync) ++synced_writes_;
  return {};
}

Status MemoryKvStore::Scan(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view key, std::string_view value)>& visit) {
  std::vector<std::pair<std::string, std::string>> rows;
  {
    std::lock_guard lock(mu_);
    if (end <= begin) return {};
    for (auto it = data_.lower_bound(begin); it != data_.end() && it->first < end; ++it) {
      rows.emplace_back(it->first, it->second);
    }
  }
  for (const auto& [key, value] : rows) {
    if (!visit(key, value)) break;
  }
  return {};
}

void MemoryKvStore::FailWrites(Error error) {
  std::lock_guard lock(mu_);
  write_failure_ = std::move(error);
}

void MemoryKvStore::ClearFailure() {
  std::lock_guard lock(mu_);
  write_failure_.reset();
}

std::map<std::string, std::string, std::less<>> MemoryKvStore::Snapshot() const {
  std::lock_guard lock(mu_);
  return data_;
}

size_t MemoryKvStore::size() const {
  std::lock_guard lock(mu_);
  return data_.size();
}

uint64_t MemoryKvStore::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}

uint64_t MemoryKvStore::synced_writes() const {
  std::lock_guard lock(mu_);
  return synced_writes_;
}

}  // namespace clawvisor
