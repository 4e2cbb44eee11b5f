#include "adapters/http/service_token_authenticator.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "adapters/openssl/aes_gcm.h"
#include "engine/domain/decider.h"

namespace clawvisor {
namespace {

constexpr size_t kMinTokenBytes = 32;
constexpr size_t kMaxTokenBytes = 256;
constexpr size_t kMaxFileBytes = 1 << 20;

std::array<unsigned char, 32> Sha256(std::string_view text) {
  auto digest = openssl::Sha256(openssl::AsBytes(text));
  if (!digest) std::abort();  // SHA-256 cannot fail on a working OpenSSL
  return *digest;
}

bool IsTokenChar(char c) { return c >= 0x21 && c <= 0x7e; }

// Splits on runs of spaces and tabs.
std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

bool IsIpLiteral(std::string_view text) {
  if (text.empty() || text.size() > 45) return false;
  const std::string s(text);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Result<std::unique_ptr<ServiceTokenAuthenticator>> ServiceTokenAuthenticator::FromText(
    std::string_view text, std::shared_ptr<SessionResolver> sessions) {
  std::vector<Service> services;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto fields = Fields(line);
    if (fields.empty() || fields[0].front() == '#') continue;
    const std::string where = "service tokens line " + std::to_string(line_no) + ": ";
    if (fields.size() != 3) {
      return MakeError(Errc::kInvalidArgument, where + "expected KIND ID TOKEN");
    }
    Service service;
    if (fields[0] == "web") {
      service.kind = v1::Actor::KIND_SERVICE;
    } else if (fields[0] == "operator") {
      service.kind = v1::Actor::KIND_OPERATOR;
    } else if (fields[0] == "reconciler") {
      service.kind = v1::Actor::KIND_RECONCILER;
    } else {
      return MakeError(Errc::kInvalidArgument, where + "KIND must be web, operator or reconciler");
    }
    if (!IsValidResourceId(fields[1])) {
      return MakeError(Errc::kInvalidArgument,
                       where + "ID must be 1..64 characters of [A-Za-z0-9._:-]");
    }
    service.id = std::string(fields[1]);
    const std::string_view token = fields[2];
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
      return MakeError(Errc::kInvalidArgument,
                       where +
                           "TOKEN must be 32..256 printable characters (use 32 random bytes, "
                           "hex or base64)");
    }
    service.digest = Sha256(token);
    for (const Service& other : services) {
      if (CRYPTO_memcmp(other.digest.data(), service.digest.data(), service.digest.size()) == 0) {
        return MakeError(Errc::kInvalidArgument, where + "this token is already given to '" +
                                                     other.id + "'; every service needs its own");
      }
    }
    services.push_back(std::move(service));
  }
  if (services.empty()) {
    return MakeError(Errc::kInvalidArgument, "service tokens: the file names no service");
  }
  return std::unique_ptr<ServiceTokenAuthenticator>(
      new ServiceTokenAuthenticator(std::move(services), std::move(sessions)));
}

Result<std::unique_ptr<ServiceTokenAuthenticator>> ServiceTokenAuthenticator::FromFile(
    const std::string& path, std::shared_ptr<SessionResolver> sessions) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return MakeError(Errc::kInvalidArgument,
                     "cannot open the service tokens file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  std::string text;
  Error error{Errc::kInvalidArgument, ""};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error.message = "the service tokens file " + path + " is not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    error.message = "the service tokens file " + path +
                    " is readable or writable by group or others; chmod 600 it";
  } else if (st.st_size > static_cast<off_t>(kMaxFileBytes)) {
    error.message = "the service tokens file " + path + " is larger than 1 MiB";
  } else {
    text.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < text.size()) {
      const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != text.size()) error.message = "cannot read the service tokens file " + path;
  }
  ::close(fd);
  if (!error.message.empty()) return std::unexpected(error);
  auto parsed = FromText(text, std::move(sessions));
  OPENSSL_cleanse(text.data(), text.size());
  return parsed;
}

Result<v1::Actor> ServiceTokenAuthenticator::Authenticate(const RequestInfo& request) {
  constexpr std::string_view kScheme = "Bearer ";
  const std::string_view header = request.authorization;
  if (header.size() <= kScheme.size() ||
      !EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    return MakeError(Errc::kInvalidArgument, "no bearer token");
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes ||
      !std::all_of(token.begin(), token.end(), IsTokenChar)) {
    return MakeError(Errc::kInvalidArgument, "malformed bearer token");
  }
  const Digest presented = Sha256(token);
  // Every digest is compared, whatever matched: the time does not depend on which one did.
  size_t match = services_.size();
  for (size_t i = 0; i < services_.size(); ++i) {
    const bool equal =
        CRYPTO_memcmp(services_[i].digest.data(), presented.data(), presented.size()) == 0;
    match = equal ? i : match;
  }
  if (match == services_.size()) return MakeError(Errc::kInvalidArgument, "unknown token");
  const Service& service = services_[match];

  v1::Actor actor;
  actor.set_kind(service.kind);
  actor.set_id(service.id);
  actor.set_source_ip(request.peer_ip);
  actor.set_user_agent(SanitizeUserAgent(request.user_agent));
  const bool forwards = !request.session_token.empty() || !request.forwarded_client_ip.empty() ||
                        !request.forwarded_user_agent.empty();
  if (!forwards) return actor;
  if (service.kind != v1::Actor::KIND_SERVICE) {
    return MakeError(Errc::kPermissionDenied, "only the web tier acts for users");
  }
  if (!request.forwarded_client_ip.empty()) {
    if (!IsIpLiteral(request.forwarded_client_ip)) {
      return MakeError(Errc::kInvalidArgument, "the forwarded client address is not an IP");
    }
    actor.set_source_ip(request.forwarded_client_ip);
  }
  if (!request.forwarded_user_agent.empty()) {
    actor.set_user_agent(SanitizeUserAgent(request.forwarded_user_agent));
  }
  if (!request.session_token.empty()) {
    if (sessions_ == nullptr) {
      return MakeError(Errc::kInvalidArgument, "user sessions are not enabled");
    }
    auto user = sessions_->ResolveUser(request.session_token);
    if (!user) return MakeError(Errc::kInvalidArgument, "no such session");
    actor.set_kind(v1::Actor::KIND_USER);
    actor.set_id(*user);
    actor.set_via(service.id);
  }
  return actor;
}

}  // namespace clawvisor
