#pragma once

// InstanceLimits: what one instance may take of the front door, so one busy (or attacked)
// instance cannot starve the others: a cap on concurrent client connections (a Lease each,
// WebSockets included) and a request rate (egress::TokenBucket, refusing instead of queueing).
//
// Thread-safety: safe for concurrent use (one mutex); a Lease may be released on any thread.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "engine/egress/token_bucket.h"
#include "engine/reconcile/vm_driver.h"

namespace clawvisor::front_door {

class InstanceLimits {
 public:
  InstanceLimits(size_t max_connections, uint64_t requests_per_second, uint64_t burst)
      : max_connections_(max_connections), rate_(requests_per_second), burst_(burst) {}

  // One connection's slot; released when destroyed.
  class Lease {
   public:
    Lease(Lease&& o) noexcept
        : limits_(std::exchange(o.limits_, nullptr)), key_(std::move(o.key_)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        Release();
        limits_ = std::exchange(o.limits_, nullptr);
        key_ = std::move(o.key_);
      }
      return *this;
    }
    ~Lease() { Release(); }
    const VmKey& key() const { return key_; }

   private:
    friend class InstanceLimits;
    Lease(InstanceLimits* limits, VmKey key) : limits_(limits), key_(std::move(key)) {}
    void Release() {
      if (limits_ != nullptr) std::exchange(limits_, nullptr)->Release(key_);
    }
    InstanceLimits* limits_;
    VmKey key_;
  };

  // A slot for one more connection to `key`, or nullopt at the cap.
  std::optional<Lease> Acquire(const VmKey& key) {
    std::lock_guard lock(mu_);
    size_t& n = Of(key).connections;
    if (n >= max_connections_) return std::nullopt;
    ++n;
    return Lease(this, key);
  }

  // Whether one more request to `key` fits its rate at `now_us` (monotonic).
  bool AllowRequest(const VmKey& key, int64_t now_us) {
    std::lock_guard lock(mu_);
    return Of(key).bucket.TryTake(now_us, 1);
  }

 private:
  struct PerInstance {
    size_t connections = 0;
    egress::TokenBucket bucket;
  };
  // REQUIRES: mu_ is held.
  PerInstance& Of(const VmKey& key) {
    auto it = instances_.find(key);
    if (it == instances_.end()) {
      it = instances_.emplace(key, PerInstance{0, egress::TokenBucket(rate_, burst_)}).first;
    }
    return it->second;
  }
  void Release(const VmKey& key) {
    std::lock_guard lock(mu_);
    auto it = instances_.find(key);
    if (it != instances_.end() && it->second.connections > 0) --it->second.connections;
  }

  const size_t max_connections_;
  const uint64_t rate_;
  const uint64_t burst_;
  std::mutex mu_;
  // GUARDED_BY(mu_). One entry per instance ever authenticated to (tens per host, never
  // anything an anonymous caller can grow).
  std::map<VmKey, PerInstance> instances_;
};

}  // namespace clawvisor::front_door
