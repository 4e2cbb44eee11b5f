#pragma once

// ReconcilerService: feeds a host's Reconciler from the events topic and runs it.
//
// It reads every partition of the events topic (instances of any account may be placed on this
// host), from the beginning: CatchUp() folds the log up to its end offsets into the reconciler's
// desired state before the reconciler acts, so a restarted reconciler never mistakes "not read
// yet" for "not wanted" (which would destroy a VM). Then Step() polls new events and runs the
// keys that fell due; the only real wait is inside EventLog::Poll, bounded by the reconciler's
// next due time.
//
// Thread-safety: one thread calls CatchUp, then Step or Run.

#include <chrono>
#include <stop_token>
#include <vector>

#include "engine/clock.h"
#include "engine/reconcile/reconciler.h"
#include "events/event_log.h"

namespace clawvisor {

class ReconcilerService {
 public:
  ReconcilerService(EventLog& log, Reconciler& reconciler, Clock& clock,
                    std::chrono::milliseconds max_poll = std::chrono::milliseconds(200));

  // Reads the events topic to its end and starts the reconciler (adoption, orphans).
  Status CatchUp();
  // Polls new events (waiting at most until the next due key), applies them, runs due keys.
  // Returns whether it found nothing to do.
  Result<bool> Step();
  // CatchUp (retried until it succeeds or `stop`), then Step until `stop`.
  void Run(std::stop_token stop);

 private:
  Result<size_t> ApplyRecords(const std::vector<Record>& records);

  EventLog& log_;
  Reconciler& reconciler_;
  Clock& clock_;
  std::chrono::milliseconds max_poll_;
  std::vector<Position> positions_;
};

}  // namespace clawvisor
