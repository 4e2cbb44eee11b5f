#pragma once

// What the front door changes in the heads it relays (connection.h): hop-by-hop fields go (RFC
// 9110 7.6.1: Connection and what it names, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
// Upgrade except on a WebSocket upgrade), the front door's cookie and the caller's credentials
// never reach the gateway unless the Gatekeeper said so, and every response gets the security
// headers.

#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "adapters/front_door/gatekeeper.h"
#include "adapters/front_door/request_rules.h"
#include "adapters/http/transport_headers.h"

namespace clawvisor::front_door {

inline std::string Str(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

inline bool StartsWithNoCase(std::string_view name, std::string_view prefix) {
  return name.size() >= prefix.size() &&
         boost::beast::iequals(boost::beast::string_view(name.data(), prefix.size()),
                               boost::beast::string_view(prefix.data(), prefix.size()));
}

template <typename Fields>
void StripHopByHop(Fields& fields, bool keep_upgrade) {
  namespace http = boost::beast::http;
  std::vector<std::string> listed;
  const auto connection = fields.equal_range(http::field::connection);
  for (auto it = connection.first; it != connection.second; ++it) {
    const std::string v = Str(it->value());
    size_t start = 0;
    while (start <= v.size()) {
      const size_t comma = std::min(v.find(',', start), v.size());
      std::string name = v.substr(start, comma - start);
      name.erase(0, name.find_first_not_of(" \t"));
      name.erase(name.find_last_not_of(" \t") + 1);
      if (!name.empty()) listed.push_back(name);
      start = comma + 1;
    }
  }
  for (const auto& name : listed) {
    if (keep_upgrade && boost::beast::iequals(name, "upgrade")) continue;
    fields.erase(name);
  }
  for (const auto f :
       {http::field::connection, http::field::keep_alive, http::field::proxy_connection,
        http::field::te, http::field::trailer, http::field::transfer_encoding,
        http::field::proxy_authorization, http::field::proxy_authenticate}) {
    fields.erase(f);
  }
  if (!keep_upgrade) fields.erase(http::field::upgrade);
}

template <typename Fields>
void AddSecurityHeaders(Fields& fields, bool tls) {
  namespace http = boost::beast::http;
  // Only over HTTPS: browsers ignore it on plain HTTP, and it would be a lie there.
  if (tls)
    fields.set(http::field::strict_transport_security, Str({kHstsValue.data(), kHstsValue.size()}));
  fields.set("X-Content-Type-Options", "nosniff");
  fields.set("Referrer-Policy", "no-referrer");
  fields.set(http::field::x_frame_options, "DENY");
  if (fields.find("Content-Security-Policy") == fields.end()) {
    fields.set("Content-Security-Policy", "frame-ancestors 'none'");
  }
}

// The front door's own responses: nothing of them may be cached.
template <typename Fields>
void AddOwnHeaders(Fields& fields, bool tls) {
  AddSecurityHeaders(fields, tls);
  fields.set(boost::beast::http::field::cache_control, "no-store");
}

template <typename Request>
void RewriteRequest(Request& req, const Verdict& verdict, bool websocket) {
  namespace http = boost::beast::http;
  const bool chunked = req.chunked();
  std::string cookies;
  const auto cookie = req.equal_range(http::field::cookie);
  for (auto it = cookie.first; it != cookie.second; ++it) {
    if (!cookies.empty()) cookies += "; ";
    cookies += Str(it->value());
  }
  StripHopByHop(req, websocket);
  req.erase(http::field::expect);  // answered by the front door itself
  req.erase(http::field::cookie);
  if (const std::string kept = WithoutFrontDoorCookies(cookies); !kept.empty()) {
    req.set(http::field::cookie, kept);
  }
  req.erase(http::field::authorization);
  if (verdict.webhook) {
    // A webhook sender is a stranger: none of its cookies or credentials go upstream.
    req.erase(http::field::cookie);
    req.erase("X-OpenClaw-Token");
  }
  if (verdict.authorization) req.set(http::field::authorization, *verdict.authorization);
  // No client attribution goes upstream, neither the caller's claims nor the front door's own.
  // OpenClaw refuses proxy-shaped requests (403 proxy_attribution_required) unless they come
  // from a gateway.trustedProxies address with a forwarded client that is not loopback; the
  // reconciler's probe arrives from the same address (the VM network's gateway) unattributed,
  // and a front door behind a local TLS proxy sees loopback peers. The front door authenticates
  // and limits every caller before forwarding, so the gateway sees them all as one remote peer,
  // 10.0.2.2, which OpenClaw grants nothing local.
  // OpenClaw counts any X-Forwarded-* and Tailscale-* field as a proxy's claim, so all of them go.
  std::vector<std::string> claims;
  for (const auto& field : req) {
    const std::string name = Str(field.name_string());
    if (boost::beast::iequals(name, "forwarded") || boost::beast::iequals(name, "x-real-ip") ||
        StartsWithNoCase(name, "x-forwarded-") || StartsWithNoCase(name, "tailscale-")) {
      claims.push_back(name);
    }
  }
  for (const auto& name : claims) req.erase(name);
  req.target(verdict.upstream_target);
  if (chunked) req.chunked(true);
  if (websocket) {
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
  } else {
    req.set(http::field::connection, "close");  // one upstream connection per request
  }
}

// Returns whether the client connection stays open after this response.
template <typename Response, typename Parser>
bool RewriteResponse(Response& res, const Parser& parser, bool tls, bool upgraded,
                     bool client_keeps, unsigned client_version, bool head, bool webhook = false) {
  namespace http = boost::beast::http;
  const bool chunked = res.chunked();
  const bool has_length = parser.content_length().has_value();
  StripHopByHop(res, upgraded);
  if (webhook) {
    // Served on the consoles' origin to whoever holds the URL: never a page, never a cookie.
    res.erase(http::field::set_cookie);
    res.set("Content-Security-Policy", "sandbox; default-src 'none'; frame-ancestors 'none'");
    res.set(http::field::content_disposition, "attachment");
  }
  AddSecurityHeaders(res, tls);
  res.version(client_version == 10 ? 10 : 11);
  if (upgraded) {
    res.set(http::field::connection, "Upgrade");
    return false;
  }
  const unsigned status = res.result_int();
  const bool bodyless = head || status / 100 == 1 || status == 204 || status == 304;
  bool keep = client_keeps;
  if (!bodyless && (chunked || !has_length)) {
    if (res.version() == 11) {
      res.chunked(true);
    } else {
      keep = false;  // an HTTP/1.0 client reads to the close
    }
  }
  res.keep_alive(keep);
  return keep;
}

}  // namespace clawvisor::front_door
