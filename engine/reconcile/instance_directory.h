#pragma once

// InstanceDirectory: where this host's instances can be reached now, by console id (the id of
// the InstanceCreated event that began the incarnation: unique, stable for the instance's life,
// and what the front door's URLs name). The reconciler publishes each instance it runs here
// after every reconcile; the front door reads it, and waits on it while a woken VM resumes.
//
// Thread-safety: every method may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "engine/reconcile/vm_driver.h"

namespace clawvisor {

struct DirectoryEntry {
  VmKey key;
  uint16_t gateway_port = 0;       // 127.0.0.1:PORT reaches the guest's gateway (0: not now)
  bool ready = false;              // running and answering its health check
  bool paused = false;             // paused (desired), for any reason
  bool wakes_on_request = false;   // paused for idleness: a request resumes it
  std::string webhook_token_hash;  // the open webhook path's keyed hash (hex); empty: none
};

class InstanceDirectory {
 public:
  void Put(const std::string& console_id, DirectoryEntry entry);
  void Remove(const std::string& console_id);
  std::optional<DirectoryEntry> Find(std::string_view console_id) const;
  // The console id of `key` (a scan: a host holds tens of instances).
  std::optional<std::string> ConsoleIdOf(const VmKey& key) const;
  // The console id of the instance whose open webhook path has this keyed hash (a scan).
  std::optional<std::string> FindByWebhookHash(std::string_view token_hash) const;
  // Waits until the entry is ready (or gone), at most `timeout`; what it is then.
  std::optional<DirectoryEntry> WaitReady(std::string_view console_id,
                                          std::chrono::milliseconds timeout) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<std::string, DirectoryEntry, std::less<>> entries_;
};

}  // namespace clawvisor
