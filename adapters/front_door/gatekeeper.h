#pragma once

// Gatekeeper: decides, for one request whose head the front door has read, whether it goes to an
// instance's gateway and how, calling the FrontDoorBackend. Runs on the front door's worker
// pool (backend calls may block). In order:
//
//   0. a webhook path ("/hooks/{token}/..."): the token is the credential (RouteWebhook; 404
//      when unknown), no cookie, no WebSocket; then 5-7 below with the gateway token;
//   1. the instance id from the target (request_rules.h);
//   2. the session endpoint ("/_clawvisor/session?link=L"): RedeemConsoleLink -> cookie + 303;
//   3. credentials: a bearer or ?token= (Backend::Authorize; kPermissionDenied -> 403, else 401
//      with WWW-Authenticate), else the console cookie (SessionStore, then StillAllowed);
//      an unknown instance answers 401, or 404 to a caller whose cookie names it (authenticated);
//   4. CSRF: a cookie request that changes state, or any cookie WebSocket upgrade, must carry
//      Origin == the instance's own origin (403);
//   5. the instance's limits: a connection slot (held by the client connection) and the request
//      rate (429);
//   6. the Authorization the gateway sees: a member's (bearer or cookie) is replaced by the
//      instance's gateway token; a gateway token travels as the caller sent it (from ?token=
//      it becomes the header, since the query loses it);
//   7. Wake when paused or not running (503 with Retry-After when it times out); then
//      RecordActivity.
//
// Thread-safety: Decide may be called concurrently.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/front_door/front_door.h"
#include "adapters/front_door/instance_limits.h"
#include "adapters/front_door/request_rules.h"
#include "adapters/front_door/session_store.h"

namespace clawvisor::front_door {

struct RequestFacts {
  std::string method;
  Target target;  // kInstance or kWebhook
  bool websocket = false;
  std::string authorization;  // the header as sent
  std::string cookie_header;
  std::string origin;
  std::string own_origin;  // "https://" + Host
  std::string client_ip;
  std::string user_agent;
  std::optional<VmKey> leased;  // the instance the connection already holds a slot of
};

struct Verdict {
  // Nonzero: the front door answers with this status (and `headers`), nothing is forwarded.
  unsigned status = 0;
  std::string reason;  // a refusal's reason (log, metric); empty for a redirect
  std::vector<std::pair<std::string, std::string>> headers;
  // Forwarding:
  VmKey key;
  uint16_t port = 0;
  std::optional<std::string> authorization;    // the Authorization the gateway gets
  std::string upstream_target;                 // with the token query parameter gone
  std::optional<InstanceLimits::Lease> lease;  // a new slot (the connection's old one goes)
  bool webhook = false;  // a webhook delivery: sender headers stripped, response confined
};

class Gatekeeper {
 public:
  Gatekeeper(const FrontDoorOptions& options, FrontDoorBackend& backend, SessionStore& sessions,
             InstanceLimits& limits, Clock& clock)
      : options_(options), backend_(backend), sessions_(sessions), limits_(limits), clock_(clock) {}

  Verdict Decide(const RequestFacts& facts);

 private:
  Verdict OpenSession(const RequestFacts& facts, const std::string& link);
  Verdict Webhook(const RequestFacts& facts);
  Verdict Forward(const RequestFacts& facts, const InstanceRoute& route, bool by_cookie,
                  std::optional<std::string> authorization, std::string upstream_target);

  const FrontDoorOptions& options_;
  FrontDoorBackend& backend_;
  SessionStore& sessions_;
  InstanceLimits& limits_;
  Clock& clock_;
};

}  // namespace clawvisor::front_door
