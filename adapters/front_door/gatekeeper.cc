#include "adapters/front_door/gatekeeper.h"

#include <algorithm>
#include <cctype>

namespace clawvisor::front_door {
namespace {

Verdict Refuse(unsigned status, std::string reason) {
  Verdict v;
  v.status = status;
  v.reason = std::move(reason);
  if (status == 401) v.headers.emplace_back("WWW-Authenticate", "Bearer");
  return v;
}

std::string BearerOf(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return "";
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return "";
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  return std::string(token);
}

bool SameOrigin(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

Verdict Gatekeeper::Decide(const RequestFacts& facts) {
  if (facts.target.kind == Target::Kind::kWebhook) return Webhook(facts);
  std::string upstream_target = facts.target.upstream_target;
  if (facts.target.session_endpoint) {
    auto link = TakeQueryParam(upstream_target, "link");
    if (!link || link->empty()) return Refuse(403, "bad_link");
    return OpenSession(facts, *link);
  }

  Credentials credentials;
  credentials.bearer = BearerOf(facts.authorization);
  credentials.query_token = TakeQueryParam(upstream_target, "token").value_or("");
  credentials.client_ip = facts.client_ip;
  credentials.user_agent = SanitizeUserAgent(facts.user_agent);
  const std::string& id = facts.target.instance_id;

  if (!credentials.bearer.empty() || !credentials.query_token.empty()) {
    auto route = backend_.Route(id);
    if (!route) return Refuse(401, "unauthenticated");
    auto principal = backend_.Authorize(route->key, credentials);
    if (!principal) {
      return principal.error().code == Errc::kPermissionDenied ? Refuse(403, "forbidden")
                                                               : Refuse(401, "unauthenticated");
    }
    std::optional<std::string> authorization;
    if (principal->kind == Principal::Kind::kMember) {
      authorization.emplace();  // filled with the gateway token in Forward
    } else if (credentials.bearer.empty()) {
      authorization = "Bearer " + credentials.query_token;
    } else {
      authorization = facts.authorization;
    }
    return Forward(facts, *route, /*by_cookie=*/false, std::move(authorization),
                   std::move(upstream_target));
  }

  const auto cookie =
      CookieValue(facts.cookie_header, SessionCookieName(facts.target.host_mode, id));
  const auto session = cookie ? sessions_.Find(*cookie, id) : std::nullopt;
  if (!session) return Refuse(401, "unauthenticated");
  auto route = backend_.Route(id);
  if (!route) return Refuse(404, "unknown_instance");
  if (route->key != session->key || !backend_.StillAllowed(session->key, session->user_id)) {
    sessions_.Remove(*cookie);
    return Refuse(403, "no_longer_allowed");
  }
  return Forward(facts, *route, /*by_cookie=*/true, std::string(), std::move(upstream_target));
}

Verdict Gatekeeper::Webhook(const RequestFacts& facts) {
  // A sender of webhooks posts; it never holds a connection open as a WebSocket.
  if (facts.websocket) return Refuse(400, "webhook_upgrade");
  auto route = backend_.RouteWebhook(facts.target.webhook_token);
  if (!route) return Refuse(404, "unknown_webhook");
  if (facts.method != "POST") {
    Verdict refused = Refuse(405, "webhook_method");
    refused.headers.emplace_back("Allow", "POST");
    return refused;
  }
  // The gateway gets the instance's hooks token (OpenClaw's hooks.token), never its gateway
  // token: a webhook URL holder may deliver webhooks, nothing else. Whatever the sender put in
  // Authorization never reaches the gateway.
  auto hooks_token = backend_.HooksToken(route->key);
  if (!hooks_token) return Refuse(502, "no_hooks_token");
  std::string upstream_target = facts.target.upstream_target;
  while (TakeQueryParam(upstream_target, "token")) {
  }
  Verdict v = Forward(facts, *route, /*by_cookie=*/false, "Bearer " + *hooks_token,
                      std::move(upstream_target));
  v.webhook = true;
  return v;
}

Verdict Gatekeeper::OpenSession(const RequestFacts& facts, const std::string& link) {
  auto route = backend_.Route(facts.target.instance_id);
  if (!route) return Refuse(403, "bad_link");  // as an unknown link: existence stays unsaid
  Credentials from;
  from.client_ip = facts.client_ip;
  from.user_agent = SanitizeUserAgent(facts.user_agent);
  auto grant = backend_.RedeemConsoleLink(route->key, link, from);
  if (!grant) return Refuse(403, "bad_link");
  const std::string cookie =
      sessions_.Open(facts.target.instance_id,
                     ConsoleSession{route->key, grant->user_id, grant->absolute_expiry.count()});
  const bool host_mode = facts.target.host_mode;
  const std::string path = SessionCookiePath(host_mode, facts.target.instance_id);
  Verdict v;
  v.status = 303;
  v.headers.emplace_back("Location", path);
  v.headers.emplace_back("Set-Cookie", SessionCookieName(host_mode, facts.target.instance_id) +
                                           "=" + cookie + "; Path=" + path +
                                           "; Secure; HttpOnly; SameSite=Strict");
  return v;
}

Verdict Gatekeeper::Forward(const RequestFacts& facts, const InstanceRoute& route, bool by_cookie,
                            std::optional<std::string> authorization, std::string upstream_target) {
  if (by_cookie && (facts.websocket || IsStateChanging(facts.method)) &&
      !SameOrigin(facts.origin, facts.own_origin)) {
    return Refuse(403, "cross_origin");
  }
  Verdict v;
  if (!facts.leased || *facts.leased != route.key) {
    v.lease = limits_.Acquire(route.key);
    if (!v.lease) return Refuse(429, "instance_connections");
  }
  const auto now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.Monotonic().time_since_epoch())
          .count();
  if (!limits_.AllowRequest(route.key, now_us)) {
    Verdict refused = Refuse(429, "instance_rate");
    refused.headers.emplace_back("Retry-After", "1");
    refused.lease = std::move(v.lease);
    return refused;
  }
  if (by_cookie || (authorization && authorization->empty())) {
    auto token = backend_.GatewayToken(route.key);
    if (!token) return Refuse(502, "no_gateway_token");
    authorization = "Bearer " + *token;
  }
  InstanceRoute target = route;
  if (target.paused || target.port == 0) {
    auto woken = backend_.Wake(route.key, options_.wake_timeout);
    if (!woken || woken->port == 0) {
      Verdict refused = Refuse(503, "wake_timeout");
      refused.headers.emplace_back("Retry-After", "5");
      return refused;
    }
    target = *woken;
  }
  backend_.RecordActivity(route.key);
  v.key = route.key;
  v.port = target.port;
  v.authorization = std::move(authorization);
  v.upstream_target = std::move(upstream_target);
  return v;
}

}  // namespace clawvisor::front_door
