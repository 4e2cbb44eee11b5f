#pragma once

// InstanceTraffic: what the host's two doors saw of each instance since the reconciler last
// reported it (design D9, issue #14). The egress gateway adds its connections and bytes per
// destination host, the front door its requests; the reconciler takes an instance's tally at
// most once per `ReconcilerOptions::traffic_report_interval` and reports it in one
// RecordObservation (its last activity, and an InstanceEgressSummarized for the audit trail).
// Batching here is what bounds the command rate: one per instance per interval, however busy.
//
// A front-door request for an idle-paused instance asks for a wake: the reconciler takes those
// first, reports the activity at once, and the lifecycle resumes the instance.
//
// Thread-safety: every method may be called from any thread.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/clock.h"
#include "engine/reconcile/vm_driver.h"

namespace clawvisor {

struct EgressTally {
  uint64_t connections = 0;
  uint64_t refused = 0;
  uint64_t bytes_out = 0;  // guest -> internet
  uint64_t bytes_in = 0;   // internet -> guest
  EgressTally& operator+=(const EgressTally& other);
};

// One instance's traffic over [since_us, last_activity_us].
struct TrafficTally {
  TimestampUs since_us = 0;                   // the first traffic of the period
  TimestampUs last_activity_us = 0;           // the latest
  std::map<std::string, EgressTally> egress;  // by destination host (a name, never a URL)
  TrafficTally& operator+=(const TrafficTally& other);
};

class InstanceTraffic {
 public:
  // At most this many destination hosts per instance and period; the rest are summed under
  // kOtherHosts (a guest cannot grow the audit trail by naming hosts).
  static constexpr size_t kMaxHosts = 32;
  static constexpr std::string_view kOtherHosts = "(other)";

  void RecordActivity(const VmKey& key, TimestampUs at);
  void RecordEgress(const VmKey& key, std::string_view host, const EgressTally& tally,
                    TimestampUs at);
  // Asks the reconciler to report `key`'s activity now and wake it if it sleeps for idleness.
  void RequestWake(const VmKey& key, TimestampUs at);

  // The instance's tally, removed (nullopt: nothing since the last take).
  std::optional<TrafficTally> Take(const VmKey& key);
  // Puts back a tally whose report did not go through, merged with what came since.
  void Restore(const VmKey& key, TrafficTally tally);
  // The keys that asked for a wake since the last call.
  std::vector<VmKey> TakeWakeRequests();

 private:
  void Merge(TrafficTally& into, const TrafficTally& more);

  mutable std::mutex mu_;
  std::map<VmKey, TrafficTally> pending_;
  std::set<VmKey> wake_;
};

}  // namespace clawvisor
