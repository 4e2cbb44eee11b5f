#pragma once

// QmpClient: one QMP session with a QEMU process over its Unix socket (Boost.Asio), with a
// deadline on every exchange so a wedged QEMU cannot block the reconciler.
//
//   Connect ─▶ read the greeting ─▶ qmp_capabilities ─▶ Execute(cmd)… (events are skipped)
//
// Thread-safety: a session is used by one thread at a time.

#include <chrono>
#include <memory>
#include <string>

#include "events/result.h"

namespace clawvisor::qemu {

class QmpClient {
 public:
  ~QmpClient();
  QmpClient(QmpClient&&) noexcept;
  QmpClient& operator=(QmpClient&&) noexcept;

  // Connects to `socket_path` and negotiates capabilities. kUnavailable when nothing listens.
  static Result<QmpClient> Connect(const std::string& socket_path,
                                   std::chrono::milliseconds timeout);

  // Runs one command; returns its "return" value as JSON text, or the QMP error as kInternal.
  Result<std::string> Execute(std::string_view command, std::chrono::milliseconds timeout);
  // query-status's "status" ("running", "paused", "shutdown", ...).
  Result<std::string> Status(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit QmpClient(std::unique_ptr<Impl> impl);
  Result<std::string> ReadReply(std::chrono::milliseconds timeout);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor::qemu
