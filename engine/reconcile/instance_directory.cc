#include "engine/reconcile/instance_directory.h"

namespace clawvisor {

void InstanceDirectory::Put(const std::string& console_id, DirectoryEntry entry) {
  {
    std::lock_guard lock(mu_);
    entries_[console_id] = std::move(entry);
  }
  changed_.notify_all();
}

void InstanceDirectory::Remove(const std::string& console_id) {
  {
    std::lock_guard lock(mu_);
    entries_.erase(console_id);
  }
  changed_.notify_all();
}

std::optional<DirectoryEntry> InstanceDirectory::Find(std::string_view console_id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(console_id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::optional<DirectoryEntry> InstanceDirectory::WaitReady(
    std::string_view console_id, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  std::optional<DirectoryEntry> found;
  changed_.wait_for(lock, timeout, [&] {
    auto it = entries_.find(console_id);
    found = it == entries_.end() ? std::nullopt : std::optional<DirectoryEntry>(it->second);
    return !found || found->ready;
  });
  return found;
}

std::optional<std::string> InstanceDirectory::ConsoleIdOf(const VmKey& key) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, entry] : entries_) {
    if (entry.key == key) return id;
  }
  return std::nullopt;
}

std::optional<std::string> InstanceDirectory::FindByWebhookHash(std::string_view token_hash) const {
  if (token_hash.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  // A plain comparison is enough: the hash is keyed, so timing tells nothing about a token.
  for (const auto& [id, entry] : entries_) {
    if (entry.webhook_token_hash == token_hash) return id;
  }
  return std::nullopt;
}

size_t InstanceDirectory::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace clawvisor
