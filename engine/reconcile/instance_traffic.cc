#include "engine/reconcile/instance_traffic.h"

#include <algorithm>

namespace clawvisor {

EgressTally& EgressTally::operator+=(const EgressTally& other) {
  connections += other.connections;
  refused += other.refused;
  bytes_out += other.bytes_out;
  bytes_in += other.bytes_in;
  return *this;
}

void InstanceTraffic::Merge(TrafficTally& into, const TrafficTally& more) {
  if (more.since_us != 0 && (into.since_us == 0 || more.since_us < into.since_us)) {
    into.since_us = more.since_us;
  }
  into.last_activity_us = std::max(into.last_activity_us, more.last_activity_us);
  for (const auto& [host, tally] : more.egress) {
    const bool known = into.egress.contains(host);
    const bool room = into.egress.size() < kMaxHosts || host == kOtherHosts;
    into.egress[known || room ? host : std::string(kOtherHosts)] += tally;
  }
}

void InstanceTraffic::RecordActivity(const VmKey& key, TimestampUs at) {
  std::lock_guard lock(mu_);
  TrafficTally more;
  more.since_us = at;
  more.last_activity_us = at;
  Merge(pending_[key], more);
}

void InstanceTraffic::RecordEgress(const VmKey& key, std::string_view host,
                                   const EgressTally& tally, TimestampUs at) {
  std::lock_guard lock(mu_);
  TrafficTally more;
  more.since_us = at;
  // A refused connection is not the bot being busy: only what passed counts as activity.
  more.last_activity_us = tally.connections > 0 || tally.bytes_out > 0 ? at : 0;
  more.egress[std::string(host)] = tally;
  Merge(pending_[key], more);
}

void InstanceTraffic::RequestWake(const VmKey& key, TimestampUs at) {
  RecordActivity(key, at);
  std::lock_guard lock(mu_);
  wake_.insert(key);
}

std::optional<TrafficTally> InstanceTraffic::Take(const VmKey& key) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(key);
  if (it == pending_.end()) return std::nullopt;
  TrafficTally out = std::move(it->second);
  pending_.erase(it);
  return out;
}

void InstanceTraffic::Restore(const VmKey& key, TrafficTally tally) {
  std::lock_guard lock(mu_);
  Merge(pending_[key], tally);
}

std::vector<VmKey> InstanceTraffic::TakeWakeRequests() {
  std::lock_guard lock(mu_);
  std::vector<VmKey> out(wake_.begin(), wake_.end());
  wake_.clear();
  return out;
}

}  // namespace clawvisor
