#pragma once

// FrontDoorBackend: what the front door (front_door.h) asks of the rest of clawvisor. The front
// door itself knows HTTP, TLS, WebSockets, cookies and limits; which instance lives where, who
// may reach it and what the audit trail records are answered here. The composition root
// (adapters/cli) implements it over the projections, the instance secrets, the command service
// and the reconciler; tests implement it in memory.
//
// Thread-safety: every method is called concurrently from the front door's threads.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/reconcile/vm_driver.h"
#include "events/result.h"

namespace clawvisor::front_door {

// Where an instance's gateway listens now.
struct InstanceRoute {
  VmKey key;            // account and instance
  uint16_t port = 0;    // the VM's forwarded port on 127.0.0.1 (0: no VM running here)
  bool paused = false;  // paused (e.g. idle): a request wakes it, see Wake
};

// What a caller presented. Each field is empty when absent.
struct Credentials {
  std::string bearer;       // "Authorization: Bearer X": a gateway token or a session token
  std::string query_token;  // "?token=X": a gateway token (browser WebSocket clients)
  std::string client_ip;    // the TCP peer
  std::string user_agent;   // sanitized, for the audit trail
};

// Who was let in.
struct Principal {
  enum class Kind { kGatewayToken, kMember };
  Kind kind = Kind::kGatewayToken;
  std::string user_id;  // kMember only
};

// A console session a single-use link was exchanged for.
struct ConsoleGrant {
  std::string user_id;
  std::chrono::microseconds absolute_expiry{0};  // since the epoch: the session ends then
};

class FrontDoorBackend {
 public:
  virtual ~FrontDoorBackend() = default;

  // The instance with this id, or nullopt (unknown, deleted: the front door answers 404 to an
  // authenticated caller, 401 to anyone else).
  virtual std::optional<InstanceRoute> Route(std::string_view instance_id) = 0;

  // The instance whose open webhook path has this token (its keyed hash, compared by the
  // backend), or nullopt (unknown, replaced, closed: the front door answers 404).
  virtual std::optional<InstanceRoute> RouteWebhook(std::string_view webhook_token) = 0;

  // Whether `credentials` let their holder reach `key`'s gateway: the instance's own gateway
  // token (compared in constant time), or a live session of a member of the instance's account
  // whose role may view it. kPermissionDenied (-> 403): a
  // valid credential of someone who may not reach this instance (another instance's token, a
  // non-member); any other error (-> 401): nothing valid presented.
  virtual Result<Principal> Authorize(const VmKey& key, const Credentials& credentials) = 0;

  // The instance's gateway token, which the front door sets on requests it forwards for a member
  // (the guest checks it too). Plaintext: keep it in memory only, never log it.
  virtual Result<std::string> GatewayToken(const VmKey& key) = 0;

  // The instance's hooks token (what OpenClaw's webhook ingress checks, hooks.token): derived
  // from its gateway token (HooksTokenFor), so a webhook path never carries the gateway token.
  virtual Result<std::string> HooksToken(const VmKey& key) = 0;

  // Exchanges a single-use console link for a session, and records the opening in the audit
  // trail (who, from where). Refused (kPermissionDenied / kNotFound) when the link is unknown,
  // expired, already used, or for another instance.
  virtual Result<ConsoleGrant> RedeemConsoleLink(const VmKey& key, std::string_view link_token,
                                                 const Credentials& from) = 0;

  // Whether `user_id` may still reach `key` (checked again on every cookie request: a member
  // removed from the account loses the console at once).
  virtual bool StillAllowed(const VmKey& key, std::string_view user_id) = 0;

  // A request or a WebSocket message reached the instance: its last activity (batched by the
  // backend, at most one command per instance per minute).
  virtual void RecordActivity(const VmKey& key) = 0;

  // Asks a paused instance to resume and waits until its gateway is healthy or `timeout`
  // passes: the route to use then, or kUnavailable.
  virtual Result<InstanceRoute> Wake(const VmKey& key, std::chrono::milliseconds timeout) = 0;
};

}  // namespace clawvisor::front_door
