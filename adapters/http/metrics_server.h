#pragma once

// MetricsServer: what an operator scrapes and probes on a process that serves no API (the
// processor, projector and reconciler services on Kafka): GET /metrics (Prometheus text format),
// /healthz (the process answers) and /readyz (it has caught up and is working). Plain HTTP:
// nothing here is secret (counts and timings only, never an id or a payload), and the listen
// address is the operator's choice (`--metrics-listen`). Every other request is 404; a request
// with a body, or slower than 5 s, is closed.
//
// Thread-safety: Start/Stop from one thread; it serves on one thread of its own.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/metrics.h"
#include "events/result.h"

namespace clawvisor {

class MetricsServer {
 public:
  // Binds `address`:`port` (0: any free port) and serves until destroyed. `metrics` must outlive
  // the server; `ready` runs on the server's thread and must be cheap.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& address, uint16_t port,
                                                      MetricsRegistry& metrics,
                                                      std::function<bool()> ready);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const;

  class Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor
