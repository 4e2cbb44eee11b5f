#include "engine/domain/host_registry.h"

#include <algorithm>
#include <vector>

#include "engine/domain/ids.h"

namespace clawvisor {
namespace {

using Events = std::vector<v1::Envelope>;

std::unexpected<Rejection> Reject(v1::RejectionReason reason, std::string message) {
  return std::unexpected<Rejection>(Rejection{reason, std::move(message)});
}

v1::Envelope HostEvent(const std::string& host_id) {
  v1::Envelope e;
  e.set_aggregate_type(v1::AGGREGATE_TYPE_HOST);
  e.set_aggregate_id(host_id);
  return e;
}

v1::Envelope RegistryEvent() {
  v1::Envelope e;
  e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  e.set_aggregate_id(std::string(kHostRegistryAccountId));
  return e;
}

void Reserve(HostState& host, const v1::InstanceSpec& spec, int64_t sign) {
  auto add = [sign](uint64_t& used, uint64_t amount) {
    used = sign > 0 ? used + amount : (used > amount ? used - amount : 0);
  };
  add(host.used_vcpus, spec.vcpus());
  add(host.used_memory_mib, spec.memory_mib());
  add(host.used_disk_mib, spec.disk_mib());
  add(host.placed, 1);
}

// The host with room for `spec` that has the most free memory (ties: fewer instances, then the
// smaller id), so instances spread across hosts. nullptr if none has room.
const std::string* ChooseHost(const std::map<std::string, HostState>& hosts,
                              const v1::InstanceSpec& spec) {
  const std::string* best = nullptr;
  const HostState* best_state = nullptr;
  for (const auto& [id, host] : hosts) {
    if (!host.Fits(spec)) continue;
    if (best_state == nullptr || host.FreeMemoryMib() > best_state->FreeMemoryMib() ||
        (host.FreeMemoryMib() == best_state->FreeMemoryMib() && host.placed < best_state->placed)) {
      best = &id;
      best_state = &host;
    }
  }
  return best;
}

template <typename Payload>
void FillPlacement(Payload* p, const std::string& incarnation_id, const PlacementState& placement) {
  p->set_incarnation_id(incarnation_id);
  p->set_instance_account_id(placement.instance_account_id);
  p->set_instance_id(placement.instance_id);
  p->set_revision(placement.revision);
  *p->mutable_spec() = placement.spec;
}

v1::Envelope Scheduled(const std::string& host_id, const std::string& incarnation_id,
                       const PlacementState& placement) {
  auto e = HostEvent(host_id);
  FillPlacement(e.mutable_instance_scheduled(), incarnation_id, placement);
  return e;
}

// Schedules the queued incarnations that fit on `hosts` (a working copy the caller has already
// updated with this decision's change), in queue order; one that does not fit yet does not hold
// up smaller ones behind it.
void ScheduleQueued(const HostRegistry& registry, std::map<std::string, HostState> hosts,
                    std::string_view skip_incarnation, Events& out) {
  for (const auto& [seq, incarnation] : registry.queue) {
    if (incarnation == skip_incarnation) continue;
    auto it = registry.placements.find(incarnation);
    if (it == registry.placements.end()) continue;
    const std::string* host = ChooseHost(hosts, it->second.spec);
    if (host == nullptr) continue;
    Reserve(hosts[*host], it->second.spec, +1);
    out.push_back(Scheduled(*host, incarnation, it->second));
  }
}

bool IsCompleteSpec(const v1::InstanceSpec& spec) {
  return spec.vcpus() > 0 && spec.memory_mib() > 0 && spec.disk_mib() > 0;
}

Decision RegisterHost(const HostRegistry& registry, const v1::Command& command) {
  const auto& cmd = command.register_host();
  if (!IsValidResourceId(cmd.host_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "host_id is missing or malformed");
  }
  // A host speaks for itself only.
  if (command.actor().kind() == v1::Actor::KIND_RECONCILER &&
      command.actor().id() != cmd.host_id()) {
    return Reject(v1::REJECTION_PERMISSION_DENIED, "a reconciler may register only its own host");
  }
  const auto& capacity = cmd.capacity();
  // (Disk needs no bound here: any uint32 number of MiB is a disk some host may have.)
  if (capacity.vcpus() > kMaxHostVcpus || capacity.memory_mib() > kMaxHostMemoryMib) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "capacity is larger than any host can offer");
  }
  Events out;
  auto registered = HostEvent(cmd.host_id());
  *registered.mutable_host_registered()->mutable_capacity() = capacity;
  out.push_back(std::move(registered));
  auto hosts = registry.hosts;
  hosts[cmd.host_id()].capacity = capacity;
  ScheduleQueued(registry, std::move(hosts), "", out);
  return out;
}

Decision PlaceInstance(const HostRegistry& registry, const v1::Command& command) {
  const auto& cmd = command.place_instance();
  // Only the host itself says an instance runs on it.
  if (!cmd.running_on_host().empty() && command.actor().kind() == v1::Actor::KIND_RECONCILER &&
      command.actor().id() != cmd.running_on_host()) {
    return Reject(v1::REJECTION_PERMISSION_DENIED,
                  "a reconciler may record only its own host's instances");
  }
  if (!IsValidResourceId(cmd.incarnation_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "incarnation_id is missing or malformed");
  }
  if (!IsValidResourceId(cmd.instance_account_id()) ||
      cmd.instance_account_id() == kHostRegistryAccountId) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_account_id is missing or malformed");
  }
  if (!IsValidResourceId(cmd.instance_id())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "instance_id is missing or malformed");
  }
  if (cmd.revision() == 0) return Reject(v1::REJECTION_INVALID_ARGUMENT, "revision is missing");
  if (!IsCompleteSpec(cmd.spec())) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "spec needs vcpus, memory_mib and disk_mib");
  }
  if (auto it = registry.placements.find(cmd.incarnation_id()); it != registry.placements.end()) {
    return Reject(v1::REJECTION_INVALID_STATE,
                  it->second.host_id.empty()
                      ? "this incarnation is already waiting for room"
                      : "this incarnation already has room on host " + it->second.host_id);
  }
  PlacementState placement{
      cmd.instance_account_id(), cmd.instance_id(), cmd.revision(), cmd.spec(), "", 0};
  if (!cmd.running_on_host().empty()) {  // a fact to record, not a choice to make
    if (!IsValidResourceId(cmd.running_on_host())) {
      return Reject(v1::REJECTION_INVALID_ARGUMENT, "running_on_host is malformed");
    }
    return Events{Scheduled(cmd.running_on_host(), cmd.incarnation_id(), placement)};
  }
  if (const std::string* host = ChooseHost(registry.hosts, cmd.spec())) {
    return Events{Scheduled(*host, cmd.incarnation_id(), placement)};
  }
  auto queued = RegistryEvent();
  FillPlacement(queued.mutable_instance_queued(), cmd.incarnation_id(), placement);
  return Events{std::move(queued)};
}

Decision ReleasePlacement(const HostRegistry& registry, const v1::Command& command) {
  const std::string& incarnation_id = command.release_placement().incarnation_id();
  if (!IsValidResourceId(incarnation_id)) {
    return Reject(v1::REJECTION_INVALID_ARGUMENT, "incarnation_id is missing or malformed");
  }
  auto it = registry.placements.find(incarnation_id);
  if (it == registry.placements.end()) {
    return Reject(v1::REJECTION_INSTANCE_NOT_FOUND, "no room is held for this incarnation");
  }
  const PlacementState& placement = it->second;
  // Room on a host is given back by that host, once its VM is gone; a queued place by anyone.
  if (!placement.host_id.empty() && command.actor().kind() == v1::Actor::KIND_RECONCILER &&
      command.actor().id() != placement.host_id) {
    return Reject(v1::REJECTION_PERMISSION_DENIED,
                  "only host " + placement.host_id + " may release this room");
  }
  Events out;
  auto released = placement.host_id.empty() ? RegistryEvent() : HostEvent(placement.host_id);
  released.mutable_placement_released()->set_incarnation_id(incarnation_id);
  out.push_back(std::move(released));
  if (!placement.host_id.empty()) {
    auto hosts = registry.hosts;
    Reserve(hosts[placement.host_id], placement.spec, -1);
    ScheduleQueued(registry, std::move(hosts), incarnation_id, out);
  }
  return out;
}

}  // namespace

bool HostState::Fits(const v1::InstanceSpec& spec) const {
  return used_vcpus + spec.vcpus() <= capacity.vcpus() &&
         used_memory_mib + spec.memory_mib() <= capacity.memory_mib() &&
         used_disk_mib + spec.disk_mib() <= capacity.disk_mib();
}

uint64_t HostState::FreeMemoryMib() const {
  return capacity.memory_mib() > used_memory_mib ? capacity.memory_mib() - used_memory_mib : 0;
}

bool IsHostRegistryCommand(v1::Command::PayloadCase payload) {
  return payload == v1::Command::kRegisterHost || payload == v1::Command::kPlaceInstance ||
         payload == v1::Command::kReleasePlacement;
}

Decision DecideHostRegistry(const HostRegistry& registry, const v1::Command& command) {
  switch (command.payload_case()) {
    case v1::Command::kRegisterHost:
      return RegisterHost(registry, command);
    case v1::Command::kPlaceInstance:
      return PlaceInstance(registry, command);
    case v1::Command::kReleasePlacement:
      return ReleasePlacement(registry, command);
    default:
      return Reject(v1::REJECTION_INVALID_ARGUMENT, "the host registry takes only host commands");
  }
}

void EvolveHostRegistry(HostRegistry& registry, const v1::Envelope& event) {
  if (event.aggregate_type() == v1::AGGREGATE_TYPE_HOST) {
    registry.hosts[event.aggregate_id()].version = event.aggregate_version();
  }
  switch (event.payload_case()) {
    case v1::Envelope::kHostRegistered:
      registry.hosts[event.aggregate_id()].capacity = event.host_registered().capacity();
      break;
    case v1::Envelope::kInstanceQueued: {
      const auto& p = event.instance_queued();
      registry.placements[p.incarnation_id()] =
          PlacementState{p.instance_account_id(), p.instance_id(), p.revision(), p.spec(), "",
                         ++registry.queued_so_far};
      registry.queue[registry.queued_so_far] = p.incarnation_id();
      break;
    }
    case v1::Envelope::kInstanceScheduled: {
      const auto& p = event.instance_scheduled();
      PlacementState& placement = registry.placements[p.incarnation_id()];
      if (placement.host_id.empty() && placement.queue_seq != 0) {
        registry.queue.erase(placement.queue_seq);
      }
      placement.instance_account_id = p.instance_account_id();
      placement.instance_id = p.instance_id();
      placement.revision = p.revision();
      placement.spec = p.spec();
      placement.host_id = event.aggregate_id();
      Reserve(registry.hosts[placement.host_id], placement.spec, +1);
      break;
    }
    case v1::Envelope::kPlacementReleased: {
      auto it = registry.placements.find(event.placement_released().incarnation_id());
      if (it == registry.placements.end()) break;
      if (it->second.host_id.empty()) {
        registry.queue.erase(it->second.queue_seq);
      } else {
        Reserve(registry.hosts[it->second.host_id], it->second.spec, -1);
      }
      registry.placements.erase(it);
      break;
    }
    default:
      break;
  }
}

std::string PlaceCommandId(std::string_view incarnation_id) {
  return "place-" + std::string(incarnation_id);
}
std::string RecordPlacementCommandId(std::string_view incarnation_id) {
  return "placed-" + std::string(incarnation_id);
}
std::string ReleaseCommandId(std::string_view incarnation_id) {
  return "release-" + std::string(incarnation_id);
}

}  // namespace clawvisor
