#pragma once

// FrontDoor: the HTTPS reverse proxy that serves each instance's OpenClaw gateway (plain HTTP/1.1
// and WebSocket on 127.0.0.1:InstanceRoute::port) to its owner (issue #14), on Boost.Beast.
//
// Routing. `https://HOST/instances/{id}/rest` forwards `/rest` (path mode; `/instances/{id}`
// answers 308 to `/instances/{id}/`), and `https://{id}.{domain}/rest` forwards `/rest` (host
// mode, when FrontDoorOptions::domain is set). When the client sent SNI it must name the Host
// (421 otherwise). `/healthz` on any other host is the front door's own liveness.
//
// Nothing reaches a VM before the caller is authenticated (gatekeeper.h says how and in which
// order): a gateway token or a member's session as a bearer, `?token=`, or the front door's
// console cookie (session_store.h), which a single-use link opens at `/_clawvisor/session?link=`.
// Cookie requests that change state, and every cookie WebSocket upgrade, must come from the
// instance's own Origin (CSRF).
//
// Threading model: as HttpApi's (adapters/http/http_api.h). A few I/O threads run Asio's reactor,
// each connection on its own strand; every FrontDoorBackend call (which may block: Wake waits
// for a VM up to wake_timeout) runs on a worker pool and posts its verdict back to the strand.
// Bodies stream both ways in 16 KiB chunks (never buffered whole); a WebSocket upgrade that the
// upstream accepts (101) turns the connection into a byte splice until either side closes. Each
// request gets its own upstream connection on loopback (as nginx's default proxy_http_version
// 1.0 does), so a stale kept-alive upstream connection can never eat a request.
//
// Limits: a global connection cap (503; a TLS connection beyond it is closed before its
// handshake, as HttpApi does), per instance a cap on concurrent connections and a request rate
// (429) counted once the caller is authenticated (an anonymous flood cannot lock the owner out,
// and a 429 never reveals that an instance exists), header/body/idle/WebSocket timeouts and a
// header size limit (431).
//
// Metrics: clawvisor_front_door_requests_total{code} (status class), ..._refused_total{reason},
// ..._active_connections, ..._upstream_seconds (histogram). No label holds a token.
//
// Thread-safety: Start and Stop from any thread but not concurrently; never from a backend call.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "adapters/front_door/front_door_backend.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/clock.h"
#include "engine/metrics.h"
#include "events/result.h"

namespace clawvisor::front_door {

struct FrontDoorOptions {
  std::string listen_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (FrontDoor::port() tells which)
  // Host mode: "{id}.{domain}" (lower-case, no port). Empty: path mode only.
  std::string domain;
  // HTTPS with this pair; unset: plain HTTP, for tests only.
  std::optional<openssl::TlsServerFiles> tls;
  size_t io_threads = 2;
  size_t worker_threads = 8;  // concurrent backend calls (Authorize, Wake...)
  size_t max_connections = 4096;
  size_t max_connections_per_instance = 32;  // client connections (WebSockets included)
  uint64_t requests_per_second = 20;         // per instance; 0: unlimited
  uint64_t request_burst = 40;
  size_t max_header_bytes = 8 * 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds header_timeout{10'000};     // a new connection's first request head
  std::chrono::milliseconds keepalive_timeout{60'000};  // waiting for the next request's head
  std::chrono::milliseconds body_timeout{30'000};       // between two chunks of a request body
  std::chrono::milliseconds write_timeout{30'000};      // one write to the client
  std::chrono::milliseconds connect_timeout{5'000};     // to the gateway
  std::chrono::milliseconds upstream_timeout{60'000};   // each read from / write to the gateway
  std::chrono::milliseconds websocket_idle_timeout{10 * 60'000};  // no byte either way
  std::chrono::milliseconds wake_timeout{30'000};
  std::chrono::milliseconds session_idle{30 * 60'000};
  std::chrono::milliseconds session_absolute{12 * 3'600'000};
  size_t max_sessions = 100'000;  // the least recently used one goes first
  std::string upstream_address = "127.0.0.1";
};

class FrontDoor {
 public:
  // Binds, listens and serves on background threads. `backend`, `metrics` and `clock` (sessions'
  // expiry, request rates) must outlive the FrontDoor. kInvalidArgument for bad options or TLS
  // files, kUnavailable when the bind fails.
  static Result<std::unique_ptr<FrontDoor>> Start(FrontDoorOptions options,
                                                  FrontDoorBackend& backend,
                                                  MetricsRegistry& metrics, Clock& clock);
  ~FrontDoor();  // Stop()s
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  uint16_t port() const;

  // Stops accepting, closes every connection (WebSockets included), waits for backend calls in
  // flight, joins the threads. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit FrontDoor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clawvisor::front_door
