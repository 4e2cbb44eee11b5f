#pragma once

// The front door's pure rules on request text: which instance a request is for (path or host
// mode), the query token, the console cookie, the origin CSRF compares against. No I/O.
//
// Thread-safety: pure functions.

#include <optional>
#include <string>
#include <string_view>

namespace clawvisor::front_door {

// Where a request goes, from its Host, SNI and target.
struct Target {
  enum class Kind {
    kHealth,       // the front door's own /healthz (not an instance's)
    kRedirect,     // "/instances/{id}" -> 308 to `location`
    kInstance,     // an instance: `instance_id`, `upstream_target`
    kWebhook,      // "/hooks/{token}/...": `webhook_token`, `upstream_target` ("/hooks/...")
    kNotFound,     // nothing here (or an invalid id): 404
    kMisdirected,  // SNI names another host than Host: 421
  };
  Kind kind = Kind::kNotFound;
  bool host_mode = false;         // "{id}.{domain}"; false: "/instances/{id}/..."
  std::string instance_id;        // kInstance, kRedirect
  std::string upstream_target;    // kInstance: the path and query the gateway sees (prefix gone)
  std::string location;           // kRedirect
  bool session_endpoint = false;  // ".../_clawvisor/session": the front door's, never forwarded
  std::string webhook_token;      // kWebhook: a secret; never logged
};

// `domain` empty: path mode only. `sni` empty: none sent (or plain HTTP).
Target ResolveTarget(std::string_view host, std::string_view sni, std::string_view target,
                     std::string_view domain);

// An instance's console id: [0-9a-f-]{1,64}.
bool IsValidInstanceId(std::string_view id);

// A webhook path's token: 43 base64url characters (256 bits, as the API draws it).
bool IsWebhookTokenShape(std::string_view token);
// What may follow the token: "" or segments "/[A-Za-z0-9_-]+" (nothing the gateway could
// resolve out of /hooks: no dot segments, escapes, backslashes or empty segments).
bool IsPlainWebhookPath(std::string_view path);

// The Host header's name, lower-case, without a port ("[::1]:8443" -> "[::1]").
std::string HostName(std::string_view host);

// Removes every `name=...` parameter from the query of `target` (keeping the others as sent);
// returns the first one's value, percent-decoded (nullopt when absent or malformed).
std::optional<std::string> TakeQueryParam(std::string& target, std::string_view name);

// The value of the cookie `name` in a Cookie header, or nullopt.
std::optional<std::string> CookieValue(std::string_view cookie_header, std::string_view name);

// The front door's console cookie names (session_store.h): "__Host-clawvisor_console" in host
// mode (the __Host- prefix pins it to one host, Path=/), "clawvisor_console_{id}" in path mode
// (Path=/instances/{id}/).
std::string SessionCookieName(bool host_mode, std::string_view instance_id);
std::string SessionCookiePath(bool host_mode, std::string_view instance_id);

// The Cookie header without the front door's own cookies (they never go upstream); empty when
// nothing else is left.
std::string WithoutFrontDoorCookies(std::string_view cookie_header);

// POST, PUT, PATCH, DELETE (and anything unknown): what CSRF guards.
bool IsStateChanging(std::string_view method);

// "2xx", "4xx"... for a metric label.
std::string StatusClass(unsigned status);

// What goes to the audit trail as the user agent: printable ASCII, at most 256 characters.
std::string SanitizeUserAgent(std::string_view user_agent);

}  // namespace clawvisor::front_door
