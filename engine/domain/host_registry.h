#pragma once

// The host registry: which hosts offer room for instances, and which incarnation of which
// instance holds room on which host (placement, design D6).
//
// The processors are partitioned by account, so no account's partition can count a host's
// capacity. The registry is therefore one aggregate of its own, decided like an account under
// the reserved id kHostRegistryAccountId (in one partition, by one processor at a time), and a
// placement is a short saga that the reconcilers drive, every step idempotent:
//
//   InstanceCreated (account)                          a reconciler sees an unplaced instance
//     ─▶ PlaceInstance (registry) ─▶ InstanceScheduled{host}   room reserved on the host with
//                                  └▶ InstanceQueued            most free memory, or queued
//     ─▶ RecordPlacement (account, by that host) ─▶ InstancePlaced{host}   the host boots it
//   ...the instance is deleted or recreated; its host destroys the VM
//     ─▶ ReleasePlacement (registry) ─▶ PlacementReleased, then InstanceScheduled for queued
//                                       incarnations that now fit
//
// Each step's command id is derived from the incarnation (the InstanceCreated event's id), so
// every reconciler that takes a step submits the same command and the processor decides it
// once. Room is counted only here, so no host is ever given more than it offered.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/events.pb.h"
#include "engine/domain/decision.h"

namespace clawvisor {

// The account id the registry is decided under. Account ids the API draws never contain ':'.
inline constexpr std::string_view kHostRegistryAccountId = "sys:hosts";

// Upper bounds on what one host may offer (a sanity check on a reconciler's flags).
inline constexpr uint32_t kMaxHostVcpus = 65536;
inline constexpr uint32_t kMaxHostMemoryMib = 1u << 30;  // 1 PiB
inline constexpr uint32_t kMaxHostDiskMib = 0xFFFFFFFFu;

struct HostState {
  uint64_t version = 0;  // the host aggregate's event count
  v1::InstanceSpec capacity;
  uint64_t used_vcpus = 0;
  uint64_t used_memory_mib = 0;
  uint64_t used_disk_mib = 0;
  uint64_t placed = 0;  // incarnations holding room here

  bool Fits(const v1::InstanceSpec& spec) const;
  uint64_t FreeMemoryMib() const;
};

struct PlacementState {
  std::string instance_account_id;
  std::string instance_id;
  uint64_t revision = 0;
  v1::InstanceSpec spec;
  std::string host_id;     // empty while queued
  uint64_t queue_seq = 0;  // order in the queue (first come, first served)
};

struct HostRegistry {
  std::map<std::string, HostState> hosts;
  std::map<std::string, PlacementState> placements;  // by incarnation id
  std::map<uint64_t, std::string> queue;             // the queued ones: queue_seq -> incarnation
  uint64_t queued_so_far = 0;
};

bool IsHostRegistryCommand(v1::Command::PayloadCase payload);

// Decides RegisterHost, PlaceInstance and ReleasePlacement against the registry. The caller has
// checked the permission table and that the command is addressed to the registry.
Decision DecideHostRegistry(const HostRegistry& registry, const v1::Command& command);

// Folds a registry event (HostRegistered, InstanceScheduled, InstanceQueued, PlacementReleased);
// ignores any other.
void EvolveHostRegistry(HostRegistry& registry, const v1::Envelope& event);

// The command ids of the saga's steps for one incarnation (see above).
std::string PlaceCommandId(std::string_view incarnation_id);
std::string RecordPlacementCommandId(std::string_view incarnation_id);
std::string ReleaseCommandId(std::string_view incarnation_id);

}  // namespace clawvisor
