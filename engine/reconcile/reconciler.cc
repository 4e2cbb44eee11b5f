#include "engine/reconcile/reconciler.h"

#include <algorithm>
#include <set>

#include "engine/logging.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "reconciler";
constexpr uint64_t kMiB = 1024 * 1024;

void Earliest(std::optional<TimestampUs>& into, std::optional<TimestampUs> candidate) {
  if (candidate && (!into || *candidate < *into)) into = candidate;
}

bool IsLive(VmRunState state) {
  return state == VmRunState::kRunning || state == VmRunState::kPaused;
}

}  // namespace

std::string_view VmRunStateName(VmRunState state) {
  switch (state) {
    case VmRunState::kStopped:
      return "stopped";
    case VmRunState::kRunning:
      return "running";
    case VmRunState::kPaused:
      return "paused";
    case VmRunState::kExited:
      return "exited";
  }
  return "unknown";
}

Reconciler::Reconciler(VmDriver& driver, CommandService& commands, InstanceSecrets& secrets,
                       Clock& clock, MetricsRegistry& metrics, ReconcilerOptions options)
    : driver_(driver),
      commands_(commands),
      secrets_(secrets),
      clock_(clock),
      options_(std::move(options)),
      reconciles_(
          metrics.GetCounter("clawvisor_reconciler_reconciles_total", "Instance reconciles run.")),
      errors_(metrics.GetCounter("clawvisor_reconciler_errors_total",
                                 "Reconciles that failed and were requeued with backoff.")),
      actions_(metrics.GetCounter("clawvisor_reconciler_actions_total",
                                  "Corrective actions taken on VMs (boot, stop, pause, ...).")),
      reports_(metrics.GetCounter("clawvisor_reconciler_reports_total",
                                  "Observations and timer commands submitted.")),
      gave_up_(metrics.GetCounter("clawvisor_reconciler_gave_up_total",
                                  "Instances left failed or stopped until a new request.")),
      placement_steps_(metrics.GetCounter(
          "clawvisor_reconciler_placement_steps_total",
          "Placement steps submitted (register, ask for room, take, give back).")),
      managed_(metrics.GetGauge("clawvisor_reconciler_managed_instances",
                                "Instances placed on this host that the reconciler manages.")) {}

bool Reconciler::IsMine(const ManagedInstance& instance) const {
  return instance.host_id == options_.host_id ||
         (instance.host_id.empty() && options_.adopt_unplaced);
}

bool Reconciler::Concerns(const ManagedInstance& instance) const {
  return IsMine(instance) || (Places() && instance.host_id.empty());
}

void Reconciler::Enqueue(const VmKey& key, TimestampUs due, bool urgent) {
  queue_.Add(key, due, urgent);
}

void Reconciler::UpdateCount() {
  const size_t mine = static_cast<size_t>(std::count_if(
      instances_.begin(), instances_.end(), [this](const auto& kv) { return IsMine(kv.second); }));
  managed_count_.store(mine);
  managed_.Set(static_cast<int64_t>(mine));
}

Status Reconciler::Start() {
  auto vms = driver_.List();
  if (!vms) return std::unexpected(vms.error());
  const TimestampUs now = clock_.NowUs();
  size_t adopted = 0;
  for (const VmStatus& vm : *vms) {
    auto it = instances_.find(vm.key);
    if (it != instances_.end() && IsMine(it->second) && it->second.revision == vm.revision &&
        IsLive(vm.state)) {
      // Adopt it as it is: no reboot. Health is re-measured under a boot grace.
      ManagedInstance& instance = it->second;
      instance.started_at_us = now;
      instance.started_generation = instance.config_generation;
      instance.next_health_us = now;
      ++adopted;
    }
    Enqueue(vm.key, now);  // anything else is an orphan or stale: its reconcile removes it
  }
  EnqueueKnown(now);
  started_ = true;
  next_resync_us_ = now + options_.resync_interval.count();
  UpdateCount();
  Log(LogLevel::kInfo, kComponent, "started",
      {{"host", options_.host_id},
       {"vms_found", vms->size()},
       {"adopted", adopted},
       {"managed", managed_count_.load()}});
  return {};
}

void Reconciler::EnqueueKnown(TimestampUs now) {
  for (const auto& [key, instance] : instances_) {
    if (Concerns(instance)) Enqueue(key, now);
  }
  if (!Places()) return;
  for (const auto& [key, held] : placements_) Enqueue(key, now);
  if (registered_) return;
  if (auto registered = RegisterHost(); !registered) {
    Log(LogLevel::kWarn, kComponent, "could not register the host; retrying at the next resync",
        {{"host", options_.host_id}, {"error", registered.error().ToString()}});
  }
}

void Reconciler::Resync() {
  const TimestampUs now = clock_.NowUs();
  EnqueueKnown(now);
  if (auto vms = driver_.List(); vms) {
    for (const VmStatus& vm : *vms) Enqueue(vm.key, now);
  } else {
    Log(LogLevel::kWarn, kComponent, "resync could not list VMs",
        {{"error", vms.error().ToString()}});
  }
}

std::optional<TimestampUs> Reconciler::NextDue() const {
  std::optional<TimestampUs> next = queue_.NextDue();
  if (started_) Earliest(next, next_resync_us_);
  return next;
}

size_t Reconciler::RunDue() {
  if (!started_) return 0;
  TimestampUs now = clock_.NowUs();
  if (now >= next_resync_us_) {
    Resync();
    next_resync_us_ = now + options_.resync_interval.count();
  }
  if (options_.traffic != nullptr) {
    for (const VmKey& key : options_.traffic->TakeWakeRequests()) {
      if (auto it = instances_.find(key); it != instances_.end() && IsMine(it->second)) {
        it->second.last_traffic_report_us = 0;  // report its activity at once
        Enqueue(key, now, /*urgent=*/true);
      }
    }
  }
  std::set<VmKey> done;  // each key at most once per call, so a requeue-now cannot spin
  size_t count = 0;
  while (auto key = queue_.PopDue(now)) {
    if (!done.insert(*key).second) {
      Enqueue(*key, now);
      break;
    }
    ReconcileKey(*key, now);
    ++count;
    now = clock_.NowUs();
  }
  return count;
}

const ManagedInstance* Reconciler::Find(const VmKey& key) const {
  auto it = instances_.find(key);
  return it == instances_.end() ? nullptr : &it->second;
}

void Reconciler::ReconcileKey(const VmKey& key, TimestampUs now) {
  reconciles_.Inc();
  auto it = instances_.find(key);
  ManagedInstance* instance = it == instances_.end() ? nullptr : &it->second;
  auto outcome = Reconcile(instance, key, now);
  // Placement after the VM work: room is given back only once the reconcile removed the VM.
  if (outcome && Places()) {
    if (auto placed = Place(key); !placed) outcome = std::unexpected(placed.error());
  }
  // The reconcile may have erased nothing, but look again: Report() can apply nothing itself.
  it = instances_.find(key);
  instance = it == instances_.end() ? nullptr : &it->second;
  if (instance != nullptr) Publish(*instance);
  if (outcome) {
    if (instance != nullptr) instance->retries = 0;
    if (outcome->requeue_at) Enqueue(key, std::max(*outcome->requeue_at, now));
    return;
  }
  errors_.Inc();
  const uint32_t attempt = instance != nullptr ? ++instance->retries : 1;
  Log(LogLevel::kWarn, kComponent, "reconcile failed",
      {{"instance", key.ToString()}, {"attempt", attempt}, {"error", outcome.error().ToString()}});
  if (instance != nullptr && IsMine(*instance) && attempt > options_.max_retries) {
    (void)driver_.Stop(key);  // best effort: a half-started VM must not linger
    GiveUp(*instance,
           "gave up after " + std::to_string(attempt) + " attempts: " + outcome.error().message);
    return;
  }
  const int shift = static_cast<int>(std::min<uint32_t>(attempt - 1, 30));
  const int64_t backoff =
      std::min<int64_t>(options_.backoff_base.count() << shift, options_.backoff_max.count());
  Enqueue(key, now + backoff);
}

void Reconciler::GiveUp(ManagedInstance& instance, std::string reason) {
  gave_up_.Inc();
  instance.gave_up = true;
  instance.gave_up_reason = reason;
  Log(LogLevel::kWarn, kComponent, "giving up on instance",
      {{"instance", instance.key.ToString()}, {"reason", reason}});
  if (auto reported = Report(instance, v1::VM_STATE_FAILED, reason); !reported) {
    Log(LogLevel::kWarn, kComponent, "could not report failure",
        {{"instance", instance.key.ToString()}, {"error", reported.error().ToString()}});
  }
}

VmSpec Reconciler::SpecOf(const ManagedInstance& instance) const {
  VmSpec spec;
  spec.key = instance.key;
  spec.revision = instance.revision;
  spec.vcpus = std::max<uint32_t>(1, instance.spec.vcpus());
  spec.memory_mib = std::max<uint32_t>(128, instance.spec.memory_mib());
  spec.disk_bytes = uint64_t{instance.spec.disk_mib()} * kMiB;
  if (const GuestImage* image = ImageOf(instance)) {
    spec.boot = image->boot;
    spec.memory_mib = std::max(spec.memory_mib, image->min_memory_mib);
  }
  return spec;
}

const GuestImage* Reconciler::ImageOf(const ManagedInstance& instance) const {
  return options_.images == nullptr ? nullptr : options_.images->Find(instance.image);
}

microseconds Reconciler::BootGrace(const ManagedInstance& instance) const {
  const GuestImage* image = ImageOf(instance);
  return image != nullptr && image->boot_grace ? *image->boot_grace : options_.boot_grace;
}

microseconds Reconciler::HealthInterval(const ManagedInstance& instance) const {
  const GuestImage* image = ImageOf(instance);
  return image != nullptr && image->health_interval ? *image->health_interval
                                                    : options_.health_interval;
}

HealthProbe Reconciler::ProbeOf(const ManagedInstance& instance) const {
  HealthProbe probe;
  if (const GuestImage* image = ImageOf(instance)) {
    if (image->health_path) probe.path = *image->health_path;
    if (image->health_timeout) probe.timeout = *image->health_timeout;
  }
  return probe;
}

Result<Reconciler::Outcome> Reconciler::Reconcile(ManagedInstance* instance, const VmKey& key,
                                                  TimestampUs now) {
  auto measured = driver_.Inspect(key);
  if (!measured) return std::unexpected(measured.error());
  std::optional<VmStatus> vm = std::move(*measured);
  if (instance != nullptr) {
    instance->vm_running = vm && vm->state == VmRunState::kRunning;
    instance->gateway_port = vm ? vm->gateway_port : 0;
  }

  // Not ours (never created, deleted, or placed elsewhere): nothing of it may run here.
  if (instance == nullptr || !IsMine(*instance)) {
    if (vm) {
      Log(LogLevel::kInfo, kComponent, "removing a VM no instance here wants",
          {{"instance", key.ToString()}, {"revision", vm->revision}});
      if (auto ok = driver_.Destroy(key); !ok) return std::unexpected(ok.error());
      actions_.Inc();
    }
    return Outcome{};
  }
  if (vm && vm->revision != instance->revision) {
    Log(LogLevel::kInfo, kComponent, "removing a VM of an older revision",
        {{"instance", key.ToString()},
         {"vm_revision", vm->revision},
         {"revision", instance->revision}});
    if (auto ok = driver_.Destroy(key); !ok) return std::unexpected(ok.error());
    actions_.Inc();
    vm.reset();
  }

  if (instance->desired == DesiredState::kDeleted) {
    if (vm) {
      if (auto ok = driver_.Destroy(key); !ok) return std::unexpected(ok.error());
      actions_.Inc();
    }
    if (instance->observed != v1::VM_STATE_DELETED) {
      if (auto ok = Report(*instance, v1::VM_STATE_DELETED, "deleted"); !ok) {
        return std::unexpected(ok.error());
      }
    }
    return Outcome{};
  }

  // Traffic first: a woken instance's activity must be recorded before its timers look.
  if (auto reported = ReportTraffic(*instance, now, false); !reported) {
    return std::unexpected(reported.error());
  }
  auto timers = Timers(*instance, now);
  if (!timers) return std::unexpected(timers.error());
  Outcome out{*timers};
  if (options_.traffic != nullptr && instance->vm_running) {
    Earliest(out.requeue_at, std::max(now + 1, instance->last_traffic_report_us +
                                                   options_.traffic_report_interval.count()));
  }

  if (instance->gave_up) {
    if (vm && IsLive(vm->state)) {
      if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
      actions_.Inc();
    }
    return out;
  }

  switch (instance->desired) {
    case DesiredState::kStopped:
      if (vm && IsLive(vm->state)) {
        if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
        actions_.Inc();
      }
      if (instance->observed == v1::VM_STATE_RUNNING || instance->observed == v1::VM_STATE_PAUSED) {
        if (auto ok = Report(*instance, v1::VM_STATE_STOPPED, "requested"); !ok) {
          return std::unexpected(ok.error());
        }
      }
      return out;
    case DesiredState::kDeleted:
      return out;  // handled above
    case DesiredState::kRunning:
    case DesiredState::kPaused:
      break;
  }

  if (vm && vm->state == VmRunState::kExited) {
    // The VM process ended without being asked to: record it, then boot it again.
    ++instance->restarts;
    if (instance->restarts > options_.max_restarts) {
      (void)driver_.Stop(key);
      GiveUp(*instance,
             "the VM exited " + std::to_string(instance->restarts) + " times; left stopped");
      return out;
    }
    if (auto ok = Report(*instance, v1::VM_STATE_FAILED, "the VM process exited; restarting");
        !ok) {
      return std::unexpected(ok.error());
    }
    auto booted = Boot(*instance, now);
    if (!booted) return booted;
    Earliest(out.requeue_at, booted->requeue_at);
    return out;
  }
  if (!vm || vm->state == VmRunState::kStopped) {
    auto booted = Boot(*instance, now);
    if (!booted) return booted;
    Earliest(out.requeue_at, booted->requeue_at);
    return out;
  }

  if (instance->desired == DesiredState::kPaused) {
    if (vm->state == VmRunState::kRunning) {
      if (auto ok = driver_.Pause(key); !ok) return std::unexpected(ok.error());
      actions_.Inc();
    }
    instance->healthy_since_us = 0;  // ready again only once a check after the resume passes
    if (auto ok = Report(*instance, v1::VM_STATE_PAUSED, "paused"); !ok) {
      return std::unexpected(ok.error());
    }
    return out;
  }
  if (vm->state == VmRunState::kPaused) {
    if (auto ok = driver_.Resume(key); !ok) return std::unexpected(ok.error());
    actions_.Inc();
    instance->next_health_us = now;  // measure it at once: RUNNING is reported when healthy
    Earliest(out.requeue_at, now);
    return out;
  }
  auto running = Running(*instance, *vm, now);
  if (!running) return running;
  Earliest(out.requeue_at, running->requeue_at);
  return out;
}

Result<Reconciler::Outcome> Reconciler::Boot(ManagedInstance& instance, TimestampUs now) {
  if (options_.images != nullptr && ImageOf(instance) == nullptr) {
    return MakeError(Errc::kFailedPrecondition,
                     "guest image '" + instance.image + "' is not registered on this host");
  }
  const VmSpec spec = SpecOf(instance);
  auto secrets = secrets_.Open(instance.key.account_id, instance.key.instance_id);
  if (!secrets) return std::unexpected(secrets.error());
  std::string config;
  // The plaintexts live no longer than needed, whichever way this returns.
  struct Wipe {
    InstanceSecretValues& secrets;
    std::string& config;
    ~Wipe() {
      WipeSecrets(secrets);
      WipeSecret(config);
    }
  } wipe{*secrets, config};
  if (auto ok = driver_.Create(spec, secrets->volume_key); !ok) return std::unexpected(ok.error());
  GuestIdentity who{instance.key.account_id, instance.key.instance_id, instance.revision,
                    options_.host_id};
  GuestTestSwitches test;
  if (options_.test_switches) test = options_.test_switches(instance.key);
  config = GuestConfigJson(who, *secrets, test);
  auto started = driver_.Start(spec, config, secrets->volume_key);
  if (!started) return std::unexpected(started.error());
  actions_.Inc();
  instance.started_at_us = now;
  instance.started_generation = instance.config_generation;
  instance.healthy_once = false;
  instance.healthy_since_us = 0;
  instance.health_failures = 0;
  instance.next_health_us = now + HealthInterval(instance).count();
  Log(LogLevel::kInfo, kComponent, "booted VM",
      {{"instance", instance.key.ToString()},
       {"revision", instance.revision},
       {"image", spec.boot.image}});
  return Outcome{instance.next_health_us};
}

Result<Reconciler::Outcome> Reconciler::Running(ManagedInstance& instance, const VmStatus& vm,
                                                TimestampUs now) {
  const VmKey& key = instance.key;
  // New credentials or a rotated token reach the guest only at boot: reboot it with them.
  if (instance.started_generation != instance.config_generation) {
    Log(LogLevel::kInfo, kComponent, "configuration changed; restarting VM",
        {{"instance", key.ToString()}});
    if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
    return Boot(instance, now);
  }
  // Another image asked for (an upgrade): reboot onto it, the data disk kept. A VM that names
  // no image (booted before images were recorded) is adopted as it is.
  if (const GuestImage* image = ImageOf(instance);
      image != nullptr && !vm.image.empty() && vm.image != image->name) {
    Log(LogLevel::kInfo, kComponent, "guest image changed; rebooting VM onto it",
        {{"instance", key.ToString()}, {"from", vm.image}, {"to", image->name}});
    if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
    return Boot(instance, now);
  }

  const uint64_t quota = uint64_t{instance.spec.disk_mib()} * kMiB;
  const auto stop_mark =
      static_cast<uint64_t>(static_cast<double>(quota) * options_.disk_stop_fraction);
  // Measured once the guest has answered a health check since it booted (by then it has
  // mounted its disk and trimmed what it freed: a restarted instance that made room is not
  // stopped again on the space its disk file held before), or once its boot grace is over (a
  // guest that never answers is measured all the same).
  const bool settled =
      instance.healthy_once || now - instance.started_at_us >= BootGrace(instance).count();
  if (quota > 0 && settled && vm.disk_used_bytes > stop_mark) {
    if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
    actions_.Inc();
    gave_up_.Inc();
    instance.gave_up = true;
    instance.gave_up_reason = "disk quota exceeded";
    const uint64_t used = vm.disk_used_bytes;
    auto ok = Report(instance, v1::VM_STATE_STOPPED, "disk quota exceeded",
                     [&](v1::RecordObservation& obs) {
                       obs.set_disk_used_bytes(used);
                       obs.set_disk_limit_bytes(stop_mark);
                     });
    if (!ok) return std::unexpected(ok.error());
    return Outcome{};
  }

  if (now < instance.next_health_us) return Outcome{instance.next_health_us};
  const HealthReport health = driver_.CheckHealth(key, ProbeOf(instance));
  instance.next_health_us = now + HealthInterval(instance).count();
  if (health.healthy) {
    instance.health_failures = 0;
    instance.healthy_once = true;
    if (instance.healthy_since_us == 0) instance.healthy_since_us = now;
    if (now - instance.healthy_since_us >= options_.stable_after.count()) instance.restarts = 0;
    const std::string booted = vm.image;
    auto with_image = [&booted](v1::RecordObservation& obs) { obs.set_image(booted); };
    // The image goes with the first healthy report after each boot onto a new one (an upgrade
    // is recorded once it runs); otherwise RUNNING is reported once.
    auto ok = booted.empty() || booted == instance.reported_image
                  ? Report(instance, v1::VM_STATE_RUNNING, "healthy")
                  : Report(instance, v1::VM_STATE_RUNNING, "healthy", with_image);
    if (!ok) return std::unexpected(ok.error());
    return Outcome{instance.next_health_us};
  }
  instance.healthy_since_us = 0;
  if (!instance.healthy_once && now - instance.started_at_us < BootGrace(instance).count()) {
    return Outcome{instance.next_health_us};  // still booting
  }
  ++instance.health_failures;
  const uint32_t failures = instance.health_failures;
  auto reported = Report(instance, v1::VM_STATE_UNSPECIFIED, health.detail,
                         [failures](v1::RecordObservation& obs) {
                           obs.set_health_check_failed(true);
                           obs.set_consecutive_health_failures(failures);
                         });
  if (!reported) return std::unexpected(reported.error());
  if (failures < options_.failures_before_restart) return Outcome{instance.next_health_us};

  if (instance.restarts >= options_.max_restarts) {
    if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
    actions_.Inc();
    gave_up_.Inc();
    instance.gave_up = true;
    instance.gave_up_reason = "health check failing after " + std::to_string(instance.restarts) +
                              " restarts: " + health.detail;
    Log(LogLevel::kWarn, kComponent, "stopping unhealthy VM",
        {{"instance", key.ToString()}, {"restarts", instance.restarts}});
    if (auto ok = Report(instance, v1::VM_STATE_STOPPED, instance.gave_up_reason); !ok) {
      return std::unexpected(ok.error());
    }
    return Outcome{};
  }
  ++instance.restarts;
  Log(LogLevel::kInfo, kComponent, "restarting unhealthy VM",
      {{"instance", key.ToString()}, {"restart", instance.restarts}});
  if (auto ok = driver_.Stop(key); !ok) return std::unexpected(ok.error());
  return Boot(instance, now);
}

Status Reconciler::Report(ManagedInstance& instance, v1::VmState state, std::string_view reason,
                          const std::function<void(v1::RecordObservation&)>& extra) {
  const bool state_report = state != v1::VM_STATE_UNSPECIFIED;
  if (state_report && !extra && (state == instance.observed || state == instance.reported)) {
    return {};  // already recorded (or on its way)
  }
  const TimestampUs now = clock_.NowUs();
  v1::Command command =
      Observation(instance, "obs-" + options_.host_id + "-" + std::to_string(now) + "-" +
                                std::to_string(++report_seq_));
  auto* obs = command.mutable_record_observation();
  obs->set_state(state);
  obs->set_reason(std::string(reason.substr(0, 256)));
  if (extra) extra(*obs);
  reports_.Inc();
  auto outcome = commands_.Submit(command, options_.submit_wait);
  if (!outcome) return std::unexpected(outcome.error());
  if (!outcome->accepted()) {
    Log(LogLevel::kWarn, kComponent, "observation refused",
        {{"instance", instance.key.ToString()}, {"message", outcome->message()}});
    return {};
  }
  if (state_report) instance.reported = state;
  if (state == v1::VM_STATE_RUNNING && !command.record_observation().image().empty()) {
    instance.reported_image = command.record_observation().image();
  }
  return {};
}

v1::Command Reconciler::Observation(const ManagedInstance& instance, std::string command_id) const {
  v1::Command command;
  command.set_command_id(std::move(command_id));
  command.set_account_id(instance.key.account_id);
  command.mutable_actor()->set_kind(v1::Actor::KIND_RECONCILER);
  command.mutable_actor()->set_id(options_.host_id);
  auto* obs = command.mutable_record_observation();
  obs->set_instance_id(instance.key.instance_id);
  obs->set_revision(instance.revision);
  obs->set_host_id(options_.host_id);
  return command;
}

Status Reconciler::ReportTraffic(ManagedInstance& instance, TimestampUs now, bool now_please) {
  if (options_.traffic == nullptr) return {};
  if (!instance.unsettled_traffic) {
    const bool due =
        now_please || instance.last_traffic_report_us == 0 ||
        now - instance.last_traffic_report_us >= options_.traffic_report_interval.count();
    if (!due) return {};
    auto tally = options_.traffic->Take(instance.key);
    instance.last_traffic_report_us = now;  // looked: the next look is an interval away
    if (!tally) return {};
    // Derived from the instance and the moment: a resend of this report is the same command.
    v1::Command command = Observation(
        instance, "traffic-" + options_.host_id + "-" + std::to_string(instance.revision) + "-" +
                      std::to_string(now) + "-" + instance.key.instance_id);
    auto* obs = command.mutable_record_observation();
    obs->set_last_activity_us(tally->last_activity_us);
    if (!tally->egress.empty()) {
      obs->set_egress_since_us(tally->since_us);
      obs->set_egress_until_us(std::max(tally->since_us, now));
      for (const auto& [host, usage] : tally->egress) {
        auto* u = obs->add_egress();
        u->set_host(host);
        u->set_connections(usage.connections);
        u->set_refused(usage.refused);
        u->set_bytes_sent(usage.bytes_out);
        u->set_bytes_received(usage.bytes_in);
      }
    }
    instance.unsettled_traffic = std::move(command);
  }
  reports_.Inc();
  auto outcome = commands_.Submit(*instance.unsettled_traffic, options_.submit_wait);
  if (!outcome) return std::unexpected(outcome.error());  // sent again on the retry
  if (!outcome->accepted()) {
    Log(LogLevel::kWarn, kComponent, "traffic report refused",
        {{"instance", instance.key.ToString()}, {"message", outcome->message()}});
  }
  instance.unsettled_traffic.reset();
  return {};
}

void Reconciler::Publish(const ManagedInstance& instance) {
  if (options_.directory == nullptr || instance.incarnation_id.empty()) return;
  if (!IsMine(instance) || instance.desired == DesiredState::kDeleted) {
    Unpublish(instance);
    return;
  }
  DirectoryEntry entry;
  entry.key = instance.key;
  entry.gateway_port = instance.vm_running ? instance.gateway_port : 0;
  entry.ready = instance.vm_running && instance.desired == DesiredState::kRunning &&
                instance.healthy_since_us != 0 && !instance.gave_up;
  entry.paused = instance.desired == DesiredState::kPaused;
  entry.wakes_on_request = entry.paused && instance.pause_reason == "idle";
  entry.webhook_token_hash = instance.webhook_token_hash;
  options_.directory->Put(instance.incarnation_id, std::move(entry));
}

void Reconciler::Unpublish(const ManagedInstance& instance) {
  if (options_.directory != nullptr && !instance.incarnation_id.empty()) {
    options_.directory->Remove(instance.incarnation_id);
  }
}

Status Reconciler::SubmitTimer(const ManagedInstance& instance, v1::Command command,
                               std::string_view what, TimestampUs anchor) {
  // Derived from what fired it: the same timer firing again is the same command.
  command.set_command_id("t-" + std::string(what) + "-" + std::to_string(anchor) + "-" +
                         std::to_string(instance.revision) + "-" + instance.key.instance_id);
  command.set_account_id(instance.key.account_id);
  command.mutable_actor()->set_kind(v1::Actor::KIND_SYSTEM);
  command.mutable_actor()->set_id("lifecycle");
  reports_.Inc();
  auto outcome = commands_.Submit(command, options_.submit_wait);
  if (!outcome) return std::unexpected(outcome.error());
  Log(outcome->accepted() ? LogLevel::kInfo : LogLevel::kWarn, kComponent, "lifecycle timer fired",
      {{"instance", instance.key.ToString()},
       {"timer", what},
       {"accepted", outcome->accepted() ? "true" : "false"}});
  return {};
}

Result<std::optional<TimestampUs>> Reconciler::Timers(ManagedInstance& instance, TimestampUs now) {
  std::optional<TimestampUs> next;
  const AccountLifecycle& account = accounts_[instance.key.account_id];
  auto del = [&](std::string_view reason, std::string_view what, TimestampUs anchor) {
    v1::Command command;
    command.mutable_delete_instance()->set_instance_id(instance.key.instance_id);
    command.mutable_delete_instance()->set_reason(std::string(reason));
    return SubmitTimer(instance, std::move(command), what, anchor);
  };
  const bool live =
      instance.desired == DesiredState::kRunning || instance.desired == DesiredState::kPaused;

  if (account.plan == v1::PLAN_TRIAL && account.trial_ends_at_us > 0) {
    if (now >= account.trial_ends_at_us) {
      if (auto ok = del("trial_ended", "trial", account.trial_ends_at_us); !ok) {
        return std::unexpected(ok.error());
      }
      return next;
    }
    Earliest(next, account.trial_ends_at_us);
  }
  if (account.cancelled) {
    if (now >= account.delete_after_us) {
      if (auto ok = del("subscription_cancelled", "cdel", account.delete_after_us); !ok) {
        return std::unexpected(ok.error());
      }
      return next;
    }
    Earliest(next, account.delete_after_us);
    if (live) {
      v1::Command command;
      command.mutable_stop_instance()->set_instance_id(instance.key.instance_id);
      command.mutable_stop_instance()->set_reason("subscription_cancelled");
      if (auto ok = SubmitTimer(instance, std::move(command), "cstop", account.delete_after_us);
          !ok) {
        return std::unexpected(ok.error());
      }
    }
  }
  const TimestampUs last_active =
      std::max({instance.created_at_us, instance.last_request_us, instance.last_activity_us});
  if (options_.inactive_delete_after.count() > 0) {
    const TimestampUs deadline = last_active + options_.inactive_delete_after.count();
    if (now >= deadline) {
      if (auto ok = del("inactive", "inact", last_active); !ok) return std::unexpected(ok.error());
      return next;
    }
    Earliest(next, deadline);
  }
  if (options_.idle_pause_after.count() > 0 && instance.desired == DesiredState::kRunning &&
      instance.observed == v1::VM_STATE_RUNNING && !account.cancelled) {
    const TimestampUs deadline = last_active + options_.idle_pause_after.count();
    if (now >= deadline) {
      v1::Command command;
      command.mutable_pause_instance()->set_instance_id(instance.key.instance_id);
      command.mutable_pause_instance()->set_reason("idle");
      if (auto ok = SubmitTimer(instance, std::move(command), "idle", last_active); !ok) {
        return std::unexpected(ok.error());
      }
    } else {
      Earliest(next, deadline);
    }
  }
  if (instance.desired == DesiredState::kPaused && instance.pause_reason == "idle" &&
      instance.last_activity_us > instance.paused_at_us && !account.cancelled) {
    v1::Command command;
    command.mutable_resume_instance()->set_instance_id(instance.key.instance_id);
    if (auto ok = SubmitTimer(instance, std::move(command), "wake", instance.last_activity_us);
        !ok) {
      return std::unexpected(ok.error());
    }
  }
  return next;
}

}  // namespace clawvisor
