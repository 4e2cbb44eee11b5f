// The placement saga's steps of the Reconciler (engine/domain/host_registry.h): register the
// host, ask for room, take the registry's choice, give the room back.

#include "engine/domain/host_registry.h"
#include "engine/logging.h"
#include "engine/reconcile/reconciler.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "reconciler";

}  // namespace

Status Reconciler::RegisterHost() {
  v1::Command command;
  command.set_command_id("register-" + options_.host_id + "-" + std::to_string(clock_.NowUs()));
  command.set_account_id(std::string(kHostRegistryAccountId));
  auto* p = command.mutable_register_host();
  p->set_host_id(options_.host_id);
  *p->mutable_capacity() = *options_.capacity;
  auto outcome = SubmitPlacementStep(std::move(command), "register");
  if (!outcome) return std::unexpected(outcome.error());
  if (!outcome->accepted()) {
    return MakeError(Errc::kFailedPrecondition,
                     "the registry refused the host: " + outcome->message());
  }
  registered_ = true;
  const v1::InstanceSpec& c = *options_.capacity;
  if (c.vcpus() == 0 || c.memory_mib() == 0 || c.disk_mib() == 0) {
    Log(LogLevel::kWarn, kComponent,
        "this host offers no room in one resource: nothing new is placed on it (drained)",
        {{"host", options_.host_id}});
  }
  Log(LogLevel::kInfo, kComponent, "host registered",
      {{"host", options_.host_id},
       {"vcpus", c.vcpus()},
       {"memory_mib", c.memory_mib()},
       {"disk_mib", c.disk_mib()}});
  return {};
}

Status Reconciler::Place(const VmKey& key) {
  auto it = instances_.find(key);
  const ManagedInstance* instance = it == instances_.end() ? nullptr : &it->second;
  // Give back the room of every incarnation the events show is no longer wanted: this host's own
  // (the reconcile that just ran removed every VM of this key that the events do not want
  // here), and any queued one. Room on another host is that host's to give back. An
  // incarnation whose creation this reconciler has not read yet (partitions are read
  // independently) keeps its room.
  if (auto held = placements_.find(key); held != placements_.end()) {
    const auto placements = held->second;  // a copy: submitting may apply nothing, but be safe
    for (const auto& [incarnation, placement] : placements) {
      if (!placement.host_id.empty() && placement.host_id != options_.host_id) continue;
      if (!NoLongerWanted(key, incarnation, placement)) continue;
      v1::Command command;
      command.set_command_id(ReleaseCommandId(incarnation));
      command.set_account_id(std::string(kHostRegistryAccountId));
      command.mutable_release_placement()->set_incarnation_id(incarnation);
      if (auto ok = SubmitPlacementStep(std::move(command), "release"); !ok) {
        return std::unexpected(ok.error());
      }
    }
  }
  if (instance == nullptr || instance->desired == DesiredState::kDeleted ||
      instance->incarnation_id.empty()) {
    return {};
  }
  const Placement* placement = nullptr;
  if (auto held = placements_.find(key); held != placements_.end()) {
    if (auto found = held->second.find(instance->incarnation_id); found != held->second.end()) {
      placement = &found->second;
    }
  }
  // Placed here before the registry counted room (an upgrade): record the room it uses. The
  // command id is the ask's, so if the registry did place it, this is answered as a duplicate.
  const bool unaccounted = instance->host_id == options_.host_id && placement == nullptr;
  if (!instance->host_id.empty() && !unaccounted) return {};
  v1::Command command;
  if (placement == nullptr) {  // ask the registry for room (or record the room in use)
    command.set_command_id(PlaceCommandId(instance->incarnation_id));
    command.set_account_id(std::string(kHostRegistryAccountId));
    auto* p = command.mutable_place_instance();
    p->set_incarnation_id(instance->incarnation_id);
    p->set_instance_account_id(key.account_id);
    p->set_instance_id(key.instance_id);
    p->set_revision(instance->revision);
    *p->mutable_spec() = instance->spec;
    if (unaccounted) p->set_running_on_host(options_.host_id);
  } else if (placement->host_id == options_.host_id) {  // the room is here: take the instance
    command.set_command_id(RecordPlacementCommandId(instance->incarnation_id));
    command.set_account_id(key.account_id);
    auto* p = command.mutable_record_placement();
    p->set_instance_id(key.instance_id);
    p->set_revision(instance->revision);
    p->set_host_id(options_.host_id);
  } else {
    return {};  // queued, or another host's to take
  }
  auto outcome = SubmitPlacementStep(std::move(command), "place");
  if (!outcome) return std::unexpected(outcome.error());
  return {};
}

bool Reconciler::NoLongerWanted(const VmKey& key, const std::string& incarnation,
                                const Placement& placement) const {
  if (deleted_incarnations_.contains(incarnation)) return true;
  if (auto account = accounts_.find(key.account_id);
      account != accounts_.end() && account->second.erased) {
    return true;
  }
  auto it = instances_.find(key);
  if (it == instances_.end()) return false;  // not read yet, or deleted (then recorded above)
  const ManagedInstance& instance = it->second;
  if (instance.incarnation_id == incarnation) return instance.desired == DesiredState::kDeleted;
  return instance.revision > placement.revision;  // a newer incarnation of the same id
}

Result<v1::CommandOutcome> Reconciler::SubmitPlacementStep(v1::Command command,
                                                           std::string_view step) {
  command.mutable_actor()->set_kind(v1::Actor::KIND_RECONCILER);
  command.mutable_actor()->set_id(options_.host_id);
  placement_steps_.Inc();
  auto outcome = commands_.Submit(command, options_.submit_wait);
  if (!outcome) return outcome;
  // A refusal is an answer: the step was already taken, or the instance moved on meanwhile.
  Log(outcome->accepted() ? LogLevel::kInfo : LogLevel::kDebug, kComponent, "placement step",
      {{"step", step},
       {"command_id", command.command_id()},
       {"accepted", outcome->accepted() ? "true" : "false"},
       {"message", outcome->message()}});
  return outcome;
}

std::map<std::string, std::string> Reconciler::PlacementsOf(const VmKey& key) const {
  std::map<std::string, std::string> out;
  if (auto held = placements_.find(key); held != placements_.end()) {
    for (const auto& [incarnation, placement] : held->second) out[incarnation] = placement.host_id;
  }
  return out;
}

}  // namespace clawvisor
