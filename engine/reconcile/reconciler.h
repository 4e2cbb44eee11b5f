#pragma once

// Reconciler: drives the microVMs of one host toward the state the events ask for (design D6).
//
// It folds the events topic (Apply) into the desired state of every instance placed on its
// host, and keeps a WorkQueue of instance keys. Each key that falls due is reconciled once:
//
//   measure (VmDriver::Inspect) ─▶ compare with desired ─▶ at most one corrective action
//        ─▶ report what is now true as a RecordObservation command ─▶ requeue after
//
// Level-triggered: a reconcile looks only at the desired state and the measured VM, never at
// which event woke it, so a repeated or merged wake-up is harmless and a restart needs no
// memory of what was in flight. Every action is idempotent (Create/Start/Stop/Destroy of a VM
// already in that state succeed), so a step repeated after a crash changes nothing.
//
// What it reports goes back through the CommandService, so every state change it sees is an
// event (InstanceStarted, InstanceFailed, InstanceHealthCheckFailed, InstanceQuotaExceeded…):
// the reconciler never writes events itself.
//
//   errors ─▶ requeue with exponential backoff (base·2^n, capped) ─▶ after max_retries:
//             report FAILED (InstanceFailed) and leave the instance alone until a new request
//   health ─▶ probe every health_interval; K consecutive failures ─▶ restart the VM;
//             more than max_restarts restarts without a stable period ─▶ stop it, report why
//   disk   ─▶ used above the quota's stop mark ─▶ stop, report (InstanceQuotaExceeded)
//   kill switch ─▶ a stop or delete request is queued as urgent: it runs before anything else
//   timers ─▶ idle pause, resume on activity, trial end delete, cancelled subscription stop
//             then delete, inactivity delete: submitted as commands (actor KIND_SYSTEM) with
//             ids derived from what fired them, so a timer that fires twice is one command
//
// Revisions: the driver keeps the revision a VM was created for; a VM whose revision is not
// the instance's current one is an old incarnation and is destroyed, never adopted. Reports
// carry the revision, and the decider refuses a stale one.
//
// Placement (engine/host_registry.h): with a capacity, the reconciler registers its host at
// Start() and drives the placement saga: it asks the registry for room for every unplaced
// instance it sees, records the registry's choice when the choice is its own host, and gives
// the room back once the incarnation's VM is gone from its host.
//
// Re-adoption: Start() lists the driver's VMs: those the events still want are adopted as they
// are (no reboot); the rest are orphans and are destroyed.
//
// Thread-safety: one thread drives Apply/Start/RunDue (ReconcilerService); the accessors for
// tests and metrics may be called from that thread only, except ManagedCount() (any thread).

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "clawvisor/v1/events.pb.h"
#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/domain/account_state.h"
#include "engine/metrics.h"
#include "engine/reconcile/guest_config.h"
#include "engine/reconcile/guest_images.h"
#include "engine/reconcile/instance_directory.h"
#include "engine/reconcile/instance_secrets.h"
#include "engine/reconcile/instance_traffic.h"
#include "engine/reconcile/vm_driver.h"
#include "engine/reconcile/work_queue.h"

namespace clawvisor {

using std::chrono::microseconds;

struct ReconcilerOptions {
  std::string host_id = "local";
  // What this host offers the host registry; with it the reconciler takes part in placement.
  // Without it the host registers nothing and runs only what is already placed on it.
  std::optional<v1::InstanceSpec> capacity;
  // Tests of the reconcile loop only: manage instances placed on no host as this host's.
  bool adopt_unplaced = false;
  microseconds resync_interval = std::chrono::seconds(30);
  // Health: probe period; failures tolerated while a fresh VM boots; failures before a restart;
  // restarts (without `stable_after` of health between them) before the VM is stopped.
  microseconds health_interval = std::chrono::seconds(5);
  microseconds boot_grace = std::chrono::seconds(60);
  uint32_t failures_before_restart = 3;
  uint32_t max_restarts = 3;
  microseconds stable_after = std::chrono::minutes(10);
  // Errors: backoff base·2^(n-1) capped at backoff_max; after max_retries, give up (FAILED).
  microseconds backoff_base = std::chrono::seconds(1);
  microseconds backoff_max = std::chrono::minutes(5);
  uint32_t max_retries = 6;
  // Disk: stop when the data disk's used bytes exceed this share of its quota. The disk is
  // fixed-size (the quota), so "over quota" means "at the top of it": a full ext4 data disk
  // occupies about 90 % of its size on the host (metadata it never writes stays sparse).
  double disk_stop_fraction = 0.85;
  // Lifecycle timers (0 disables one).
  microseconds idle_pause_after = std::chrono::hours(2);
  microseconds inactive_delete_after = std::chrono::hours(24 * 30);
  microseconds cancelled_delete_after = std::chrono::hours(24 * 30);
  // How long a report or a timer's command waits for its decision.
  std::chrono::milliseconds submit_wait{5000};
  // Tests only: the switches of the test image for an instance (empty in production).
  std::function<GuestTestSwitches(const VmKey&)> test_switches;
  // What the host's egress gateway and front door saw (design D9): reported as each instance's
  // last activity and egress summary, at most once per instance per interval; wake requests
  // are taken before anything else. Null: no traffic is reported.
  InstanceTraffic* traffic = nullptr;
  microseconds traffic_report_interval = std::chrono::minutes(1);
  // Where the front door finds this host's instances; null: not published.
  InstanceDirectory* directory = nullptr;
  // The guest images this host boots (#15), by the name an instance records; an instance with
  // none gets the catalog's default. Null: every VM boots the driver's own image.
  const GuestImageCatalog* images = nullptr;
};

// What the reconciler knows of one instance: the desired part (from events) and its own
// runtime bookkeeping (never persisted: a restart re-measures).
struct ManagedInstance {
  VmKey key;
  // From events.
  uint64_t revision = 0;
  v1::InstanceSpec spec;
  DesiredState desired = DesiredState::kStopped;
  v1::VmState observed = v1::VM_STATE_PENDING;  // as the events record it
  std::string host_id;
  std::string pause_reason;
  std::string incarnation_id;  // the id of the InstanceCreated event
  TimestampUs created_at_us = 0;
  TimestampUs last_request_us = 0;  // the last start/stop/pause/resume/delete request
  TimestampUs last_activity_us = 0;
  TimestampUs paused_at_us = 0;
  uint64_t config_generation = 0;  // +1 when a credential or the gateway token changes
  std::string webhook_token_hash;  // the open webhook path's keyed hash (hex); empty: none
  std::string image;               // the guest image asked for; empty: the catalog's default
  // Runtime.
  uint64_t started_generation = 0;  // the config generation the running VM booted with
  TimestampUs started_at_us = 0;
  TimestampUs next_health_us = 0;
  TimestampUs healthy_since_us = 0;  // 0 while not healthy
  bool healthy_once = false;
  uint32_t health_failures = 0;
  uint32_t restarts = 0;
  uint32_t retries = 0;
  bool gave_up = false;  // FAILED or stopped for a reason; waits for a new request
  std::string gave_up_reason;
  v1::VmState reported = v1::VM_STATE_UNSPECIFIED;  // last state sent and accepted
  std::string reported_image;  // the image the last accepted RUNNING report named
  uint16_t gateway_port = 0;   // as the driver last measured it (0: no VM running)
  bool vm_running = false;
  TimestampUs last_traffic_report_us = 0;
  // A traffic report whose outcome is not known yet: sent again as it is (same command id)
  // until it is decided, so a timeout never counts the same traffic twice.
  std::optional<v1::Command> unsettled_traffic;
};

struct AccountLifecycle {
  v1::Plan plan = v1::PLAN_UNSPECIFIED;
  TimestampUs trial_ends_at_us = 0;
  bool cancelled = false;
  TimestampUs delete_after_us = 0;
  bool erased = false;
};

class Reconciler {
 public:
  Reconciler(VmDriver& driver, CommandService& commands, InstanceSecrets& secrets, Clock& clock,
             MetricsRegistry& metrics, ReconcilerOptions options = {});

  // Folds one event of the events topic into the desired state; queues what it touches.
  void Apply(const v1::Envelope& event);
  // After the events were caught up: adopts the driver's VMs (or queues orphans for removal)
  // and queues every managed instance.
  Status Start();
  // Reconciles every key due now (urgent ones first). Returns how many it reconciled.
  size_t RunDue();
  // When the next key falls due (nullopt: nothing queued).
  std::optional<TimestampUs> NextDue() const;
  // Queues every managed instance and every VM the driver holds.
  void Resync();

  const ManagedInstance* Find(const VmKey& key) const;
  // The registry's placements of an instance's incarnations that this reconciler has seen:
  // incarnation id -> host ("" while queued).
  std::map<std::string, std::string> PlacementsOf(const VmKey& key) const;
  size_t ManagedCount() const { return managed_count_.load(); }
  size_t QueueSize() const { return queue_.size(); }

 private:
  struct Outcome {
    std::optional<TimestampUs> requeue_at;
  };

  struct Placement {
    uint64_t revision = 0;
    std::string host_id;  // "" while queued
  };

  // The event fold (reconciler_apply.cc), by family: each of the first two returns whether the
  // event was of its family.
  bool ApplyAccountEvent(const v1::Envelope& event);
  bool ApplyRegistryEvent(const v1::Envelope& event);
  void ApplyInstanceEvent(const v1::Envelope& event);
  // A new incarnation of the instance `key` (`it` its entry, or end()): placed anew, and queued
  // if this reconciler has work for it.
  void ApplyInstanceCreated(const v1::Envelope& event, const VmKey& key,
                            std::map<VmKey, ManagedInstance>::iterator it);

  bool IsMine(const ManagedInstance& instance) const;
  bool Places() const { return options_.capacity.has_value(); }
  // This reconciler has work for the instance: it runs it, or (placing) it awaits a place.
  bool Concerns(const ManagedInstance& instance) const;
  // Enqueues every instance and placement this reconciler has work for, and registers the host
  // if it has not yet (Start and Resync).
  void EnqueueKnown(TimestampUs now);
  // The placement saga's steps for one instance key (see engine/host_registry.h), in
  // reconciler_placement.cc with RegisterHost, NoLongerWanted and SubmitPlacementStep.
  Status Place(const VmKey& key);
  // True once the events show that an incarnation's room is no longer wanted: deleted, its
  // account erased, or superseded by a newer revision of the same instance id.
  bool NoLongerWanted(const VmKey& key, const std::string& incarnation,
                      const Placement& placement) const;
  Status RegisterHost();
  Result<v1::CommandOutcome> SubmitPlacementStep(v1::Command command, std::string_view step);
  template <typename Payload>
  void NotePlacement(const Payload& p, const std::string& host_id, TimestampUs at);
  void Enqueue(const VmKey& key, TimestampUs due, bool urgent = false);
  void ReconcileKey(const VmKey& key, TimestampUs now);
  Result<Outcome> Reconcile(ManagedInstance* instance, const VmKey& key, TimestampUs now);
  Result<Outcome> Running(ManagedInstance& instance, const VmStatus& vm, TimestampUs now);
  Result<Outcome> Boot(ManagedInstance& instance, TimestampUs now);
  Status Report(ManagedInstance& instance, v1::VmState state, std::string_view reason,
                const std::function<void(v1::RecordObservation&)>& extra = {});
  // Lifecycle timers: submits what fired; returns the next deadline.
  Result<std::optional<TimestampUs>> Timers(ManagedInstance& instance, TimestampUs now);
  Status SubmitTimer(const ManagedInstance& instance, v1::Command command, std::string_view what,
                     TimestampUs anchor);
  void GiveUp(ManagedInstance& instance, std::string reason);
  // A RecordObservation of `instance` by this host, under `command_id`, to fill in.
  v1::Command Observation(const ManagedInstance& instance, std::string command_id) const;
  // Reports the instance's traffic if its interval has passed (or `now_please`).
  Status ReportTraffic(ManagedInstance& instance, TimestampUs now, bool now_please);
  void Publish(const ManagedInstance& instance);
  void Unpublish(const ManagedInstance& instance);
  VmSpec SpecOf(const ManagedInstance& instance) const;
  // The catalog's image for the instance (nullptr: no catalog, or the image is not on this host).
  const GuestImage* ImageOf(const ManagedInstance& instance) const;
  // The image's boot grace, probe period and probe, else the reconciler's own.
  microseconds BootGrace(const ManagedInstance& instance) const;
  microseconds HealthInterval(const ManagedInstance& instance) const;
  HealthProbe ProbeOf(const ManagedInstance& instance) const;
  void UpdateCount();

  VmDriver& driver_;
  CommandService& commands_;
  InstanceSecrets& secrets_;
  Clock& clock_;
  ReconcilerOptions options_;

  std::map<VmKey, ManagedInstance> instances_;
  std::map<std::string, AccountLifecycle> accounts_;
  std::map<VmKey, std::map<std::string, Placement>> placements_;  // by incarnation id
  std::map<std::string, VmKey> incarnations_;                     // incarnation id -> key
  // Incarnations whose InstanceDeleted was folded while they still held room: evidence that
  // their room may go back (an incarnation merely not seen yet is no such evidence).
  std::set<std::string> deleted_incarnations_;
  bool registered_ = false;
  WorkQueue<VmKey> queue_;
  bool started_ = false;
  TimestampUs next_resync_us_ = 0;
  uint64_t report_seq_ = 0;
  std::atomic<size_t> managed_count_{0};

  Counter& reconciles_;
  Counter& errors_;
  Counter& actions_;
  Counter& reports_;
  Counter& gave_up_;
  Counter& placement_steps_;
  Gauge& managed_;
};

}  // namespace clawvisor
