#pragma once

// HttpApi: the HTTP/1.1 front door of clawvisor (Boost.Beast). It serves the /v1 command and
// query API (see api_handler.h for the semantics and openapi.yaml for the contract), /healthz,
// /readyz and /metrics.
//
// Threading model. A small pool of I/O threads runs Asio's reactor; each connection lives on its
// own strand and only ever reads, parses and writes there. Handlers run on a separate worker
// pool, because CommandService::Submit blocks until the processor decides (up to command_wait)
// and ReadModel calls may touch disk: blocking an I/O thread would stall every connection that
// shares it. When a handler finishes, its response is posted back to the connection's strand.
// The cheap operational endpoints (/healthz, /readyz, /metrics) are answered on the I/O thread so
// liveness probes still answer while every worker is waiting on a slow commit. A connection cap
// bounds memory; a connection beyond it gets 503 and is closed.
//
// Slowloris: read_timeout bounds the whole of reading one request (header and body), and the
// wait for the next request on a kept-alive connection; write_timeout bounds sending a response.
//
// HTTPS (#4): with HttpApiOptions::tls set, every accepted socket is wrapped in
// beast::ssl_stream<beast::tcp_stream> and handshakes (bounded by handshake_timeout) before the
// same Session template reads a request from it; the SSL_CTX comes from adapters/openssl
// (tls_server_context.h: versions, ciphers, key-file checks). The handshake happens inside a
// connection slot, so max_connections bounds handshakes in progress too; a TLS connection beyond
// the cap is closed without a handshake (answering it would cost the ECDHE work the cap exists
// to bound). HTTPS responses carry Strict-Transport-Security. Authentication plugs in through
// HttpApiOptions::authenticator.
//
// Thread-safety: Start and Stop may be called from any thread but not concurrently with each
// other, and never from inside a request handler (Stop joins the threads that run them).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "adapters/http/authenticator.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/command/password_service.h"
#include "engine/metrics.h"
#include "events/result.h"
#include "projections/audit_export_worker.h"
#include "projections/read_model.h"

namespace clawvisor {

struct HttpApiOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; Start returns the one bound
  size_t io_threads = 1;
  size_t worker_threads = 8;  // concurrent handlers, i.e. commands waiting for a decision
  size_t max_body_bytes = 64 * 1024;
  size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds command_wait{5'000};  // then 202 and the client polls the outcome
  size_t max_connections = 1024;
  // HTTPS with this certificate chain and key; unset: plain HTTP (callers allow that on loopback
  // only, see `clawvisor serve --insecure-http`).
  std::optional<openssl::TlsServerFiles> tls;
  // Bounds a TLS handshake from accept to its end (a client that never finishes one is closed).
  std::chrono::milliseconds handshake_timeout{10'000};
  // Who is calling; null: LocalServiceAuthenticator.
  std::shared_ptr<Authenticator> authenticator;
  // Finds the account of a login (POST /v1/sessions); not owned; null: logins answer 503.
  LoginDirectory* logins = nullptr;
  // Checks that a login's new token names a live session before answering it (a retried login
  // gets its recorded outcome, not a token that was never recorded); not owned.
  SessionResolver* sessions = nullptr;
  // Stamps Command::issued_at_us; not owned, must outlive the HttpApi; null: the system clock.
  Clock* clock = nullptr;
  // Finished audit exports, for GET .../audit/exports/{id}/csv; not owned; null: none served.
  AuditExportArea* audit_export_area = nullptr;
};

class HttpApi {
 public:
  // The ports and `metrics` must outlive the HttpApi. `ready` answers /readyz; it runs on an I/O
  // thread, so it must be cheap and must not block.
  HttpApi(HttpApiOptions options, CommandService& commands, ReadModel& reads,
          MetricsRegistry& metrics, std::function<bool()> ready);
  ~HttpApi();  // Stop()s
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds and listens, then serves on background threads. Returns the bound port. Fails with
  // kInvalidArgument for a bad listen address or TLS files that cannot be used, kUnavailable if
  // the bind fails, and kFailedPrecondition if called twice.
  Result<uint16_t> Start();

  // Stops accepting, closes idle connections, lets requests already being handled finish and
  // send their response (bounded by command_wait + write_timeout), then joins every thread.
  // Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor
