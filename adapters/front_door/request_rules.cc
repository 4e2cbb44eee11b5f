#include "adapters/front_door/request_rules.h"

#include <algorithm>
#include <cctype>

#include "adapters/http/request_parsing.h"

namespace clawvisor::front_door {
namespace {

constexpr std::string_view kPathPrefix = "/instances/";
constexpr std::string_view kWebhookPrefix = "/hooks/";
constexpr std::string_view kSessionPath = "/_clawvisor/session";
constexpr std::string_view kHostCookie = "__Host-clawvisor_console";
constexpr std::string_view kPathCookiePrefix = "clawvisor_console_";

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsSessionPath(std::string_view upstream_target) {
  return upstream_target.substr(0, upstream_target.find('?')) == kSessionPath;
}

// Calls `each(name, value, raw)` for every "name=value" pair of a Cookie header.
template <typename Each>
void ForEachCookie(std::string_view header, Each each) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    const std::string_view raw = Trim(header.substr(0, end));
    const size_t eq = raw.find('=');
    if (!raw.empty()) {
      each(Trim(raw.substr(0, eq)), eq == std::string_view::npos ? "" : Trim(raw.substr(eq + 1)),
           raw);
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
}

}  // namespace

bool IsValidInstanceId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
  });
}

bool IsPlainWebhookPath(std::string_view path) {
  if (path.size() > 512) return false;
  while (!path.empty()) {
    if (path.front() != '/') return false;
    path.remove_prefix(1);
    const size_t next = std::min(path.find('/'), path.size());
    const std::string_view segment = path.substr(0, next);
    if (segment.empty()) return false;
    const bool plain = std::all_of(segment.begin(), segment.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '-' || c == '_';
    });
    if (!plain) return false;
    path.remove_prefix(next);
  }
  return true;
}

bool IsWebhookTokenShape(std::string_view token) {
  return token.size() == 43 && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_';
         });
}

std::string HostName(std::string_view host) {
  host = Trim(host);
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return Lower(host.substr(0, close == std::string_view::npos ? host.size() : close + 1));
  }
  return Lower(host.substr(0, host.find(':')));
}

Target ResolveTarget(std::string_view host, std::string_view sni, std::string_view target,
                     std::string_view domain) {
  Target out;
  const std::string name = HostName(host);
  if (!sni.empty() && Lower(sni) != name) {
    out.kind = Target::Kind::kMisdirected;
    return out;
  }
  if (target.empty() || target.front() != '/') return out;  // absolute-form, '*': not ours
  if (!domain.empty() && name.size() > domain.size() + 1 && name.ends_with(domain) &&
      name[name.size() - domain.size() - 1] == '.') {
    const std::string id = name.substr(0, name.size() - domain.size() - 1);
    if (!IsValidInstanceId(id)) return out;  // also refuses "a.b.{domain}"
    out.kind = Target::Kind::kInstance;
    out.host_mode = true;
    out.instance_id = id;
    out.upstream_target = std::string(target);
    out.session_endpoint = IsSessionPath(target);
    return out;
  }
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    out.kind = Target::Kind::kHealth;
    return out;
  }
  if (target.starts_with(kWebhookPrefix)) {
    // "/hooks/{token}{rest}" -> the gateway's "/hooks{rest}" (OpenClaw's webhook ingress).
    const std::string_view rest = target.substr(kWebhookPrefix.size());
    const size_t end = std::min(rest.find_first_of("/?"), rest.size());
    if (!IsWebhookTokenShape(rest.substr(0, end))) return out;
    // Only plain segments after the token: no "..", no ".", no percent-escapes, no backslash,
    // no empty segment. The gateway's URL parser would resolve "/hooks/../x" (or "%2e%2e") to
    // "/x", outside the webhook ingress.
    const std::string_view tail = rest.substr(end);
    const std::string_view hook_path = tail.substr(0, tail.find('?'));
    if (!IsPlainWebhookPath(hook_path)) return out;
    out.kind = Target::Kind::kWebhook;
    out.webhook_token = std::string(rest.substr(0, end));
    out.upstream_target = "/hooks" + std::string(tail);
    return out;
  }
  if (!target.starts_with(kPathPrefix)) return out;
  const std::string_view rest = target.substr(kPathPrefix.size());
  const size_t end = rest.find_first_of("/?");
  const std::string_view id = rest.substr(0, end);
  if (!IsValidInstanceId(id)) return out;
  out.instance_id = std::string(id);
  if (end == std::string_view::npos || rest[end] == '?') {
    out.kind = Target::Kind::kRedirect;
    out.location = std::string(kPathPrefix) + out.instance_id + "/" +
                   (end == std::string_view::npos ? "" : std::string(rest.substr(end)));
    return out;
  }
  out.kind = Target::Kind::kInstance;
  out.upstream_target = std::string(rest.substr(end));
  out.session_endpoint = IsSessionPath(out.upstream_target);
  return out;
}

std::optional<std::string> TakeQueryParam(std::string& target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return std::nullopt;
  std::optional<std::string> found;
  bool malformed = false;
  std::string kept;
  std::string_view query = std::string_view(target).substr(q + 1);
  while (true) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      if (!found && !malformed) {
        auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (value) {
          found = std::move(*value);
        } else {
          malformed = true;
        }
      }
    } else if (!pair.empty()) {
      if (!kept.empty()) kept += '&';
      kept.append(pair);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  target.resize(q);
  if (!kept.empty()) target += "?" + kept;
  return found;
}

std::optional<std::string> CookieValue(std::string_view cookie_header, std::string_view name) {
  std::optional<std::string> out;
  ForEachCookie(cookie_header, [&](std::string_view n, std::string_view v, std::string_view) {
    if (!out && n == name) out = std::string(v);
  });
  return out;
}

std::string SessionCookieName(bool host_mode, std::string_view instance_id) {
  return host_mode ? std::string(kHostCookie)
                   : std::string(kPathCookiePrefix) + std::string(instance_id);
}

std::string SessionCookiePath(bool host_mode, std::string_view instance_id) {
  return host_mode ? "/" : std::string(kPathPrefix) + std::string(instance_id) + "/";
}

std::string WithoutFrontDoorCookies(std::string_view cookie_header) {
  std::string out;
  ForEachCookie(cookie_header, [&](std::string_view n, std::string_view, std::string_view raw) {
    if (n == kHostCookie || n.starts_with(kPathCookiePrefix)) return;
    if (!out.empty()) out += "; ";
    out.append(raw);
  });
  return out;
}

bool IsStateChanging(std::string_view method) {
  return !(method == "GET" || method == "HEAD" || method == "OPTIONS");
}

std::string StatusClass(unsigned status) {
  if (status < 100 || status > 599) return "other";
  return std::to_string(status / 100) + "xx";
}

std::string SanitizeUserAgent(std::string_view user_agent) {
  std::string out;
  for (const char c : user_agent.substr(0, 256)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace clawvisor::front_door
