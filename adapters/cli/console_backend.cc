#include "adapters/cli/console_backend.h"

#include <openssl/crypto.h>

#include "adapters/front_door/hooks_token.h"

#include "engine/command/generated_values.h"
#include "engine/command/password_service.h"
#include "engine/domain/access.h"
#include "engine/logging.h"
#include "events/codec.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kComponent = "front-door";

bool SameToken(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

front_door::InstanceRoute RouteOf(const DirectoryEntry& entry) {
  front_door::InstanceRoute route;
  route.key = entry.key;
  route.port = entry.ready ? entry.gateway_port : 0;
  route.paused = entry.paused;
  return route;
}

}  // namespace

std::optional<front_door::InstanceRoute> ConsoleBackend::Route(std::string_view console_id) {
  auto entry = parts_.directory.Find(console_id);
  if (!entry) return std::nullopt;
  return RouteOf(*entry);
}

std::optional<front_door::InstanceRoute> ConsoleBackend::RouteWebhook(
    std::string_view webhook_token) {
  if (!IsSessionTokenShape(webhook_token)) return std::nullopt;
  auto hash = parts_.sealer.LookupHash(kWebhookPathPurpose, webhook_token);
  if (!hash) return std::nullopt;
  auto console_id = parts_.directory.FindByWebhookHash(*hash);
  if (!console_id) return std::nullopt;
  return Route(*console_id);
}

Result<std::string> ConsoleBackend::HooksToken(const VmKey& key) {
  auto token = GatewayToken(key);
  if (!token) return std::unexpected(token.error());
  return front_door::HooksTokenFor(*token);
}

Result<std::string> ConsoleBackend::GatewayToken(const VmKey& key) {
  const TimestampUs now = parts_.clock.NowUs();
  {
    std::lock_guard lock(mu_);
    if (auto it = tokens_.find(key); it != tokens_.end() && it->second.until_us > now) {
      return it->second.token;
    }
  }
  auto secrets = parts_.secrets.Open(key.account_id, key.instance_id);
  if (!secrets) return std::unexpected(secrets.error());
  std::string token = secrets->gateway_token;
  WipeSecrets(*secrets);  // the front door needs the token only, never the disk's key
  std::lock_guard lock(mu_);
  tokens_[key] = CachedToken{token, now + std::chrono::microseconds(kTokenCacheFor).count()};
  return token;
}

Result<bool> ConsoleBackend::MayView(const VmKey& key, std::string_view user_id) {
  auto members = parts_.reads.ListMembers(key.account_id);
  if (!members) return std::unexpected(members.error());
  v1::Actor actor;
  actor.set_kind(v1::Actor::KIND_USER);
  actor.set_id(std::string(user_id));
  for (const auto& member : members->members()) {
    if (member.user_id() == user_id) {
      return MayQuery(PrincipalsOf(actor, member.role()), Query::kGetInstance);
    }
  }
  return false;
}

Result<front_door::Principal> ConsoleBackend::Authorize(
    const VmKey& key, const front_door::Credentials& credentials) {
  const std::string& presented =
      !credentials.bearer.empty() ? credentials.bearer : credentials.query_token;
  if (presented.empty()) return MakeError(Errc::kInvalidArgument, "no credential");
  auto token = GatewayToken(key);
  if (!token) return std::unexpected(token.error());
  if (SameToken(presented, *token)) return front_door::Principal{};
  // Otherwise a member's session (sent as a bearer token, never in a URL).
  if (credentials.bearer.empty()) return MakeError(Errc::kInvalidArgument, "wrong token");
  auto user = parts_.sessions.ResolveUser(credentials.bearer);
  if (!user) return MakeError(Errc::kInvalidArgument, "neither the gateway token nor a session");
  auto may = MayView(key, *user);
  if (!may) return std::unexpected(may.error());
  if (!*may) return MakeError(Errc::kPermissionDenied, "not a member of the instance's account");
  return front_door::Principal{front_door::Principal::Kind::kMember, *user};
}

Result<front_door::ConsoleGrant> ConsoleBackend::RedeemConsoleLink(
    const VmKey& key, std::string_view link_token, const front_door::Credentials& from) {
  v1::Command command;
  // A fresh id: a link is spent once, so a retry of the same exchange must not be answered
  // "accepted" twice by a recorded outcome.
  command.set_command_id("console-" + NewGatewayToken(parts_.random).substr(0, 22));
  command.set_account_id(key.account_id);
  command.mutable_actor()->set_kind(v1::Actor::KIND_SYSTEM);
  command.mutable_actor()->set_id("front-door");
  command.mutable_actor()->set_source_ip(from.client_ip);
  command.mutable_actor()->set_user_agent(from.user_agent);
  auto* redeem = command.mutable_redeem_console_link();
  redeem->set_instance_id(key.instance_id);
  redeem->set_token(std::string(link_token));
  redeem->set_client_ip(from.client_ip);
  redeem->set_user_agent(from.user_agent);
  auto outcome = parts_.commands.Submit(command, std::chrono::seconds(5));
  if (!outcome) return std::unexpected(outcome.error());
  if (!outcome->accepted()) return MakeError(Errc::kPermissionDenied, outcome->message());
  // Whose session it is, from the event the processor wrote.
  auto records = parts_.log.Read({std::string(kEventsTopic), outcome->partition()},
                                 static_cast<int64_t>(outcome->first_offset()), 4);
  if (!records) return std::unexpected(records.error());
  for (const auto& record : *records) {
    auto event = DecodeEnvelope(record.value);
    if (event && event->has_console_session_opened() &&
        event->command_id() == command.command_id()) {
      Log(LogLevel::kInfo, kComponent, "console session opened",
          {{"instance", key.ToString()},
           {"user_id", event->console_session_opened().user_id()},
           {"client_ip", from.client_ip}});
      return front_door::ConsoleGrant{
          event->console_session_opened().user_id(),
          std::chrono::microseconds(parts_.clock.NowUs()) + kSessionLifetime};
    }
  }
  return MakeError(Errc::kInternal, "the console session's event was not found");
}

bool ConsoleBackend::StillAllowed(const VmKey& key, std::string_view user_id) {
  auto may = MayView(key, user_id);
  return may && *may;
}

void ConsoleBackend::RecordActivity(const VmKey& key) {
  parts_.traffic.RecordActivity(key, parts_.clock.NowUs());
}

Result<front_door::InstanceRoute> ConsoleBackend::Wake(const VmKey& key,
                                                       std::chrono::milliseconds timeout) {
  auto console_id = parts_.directory.ConsoleIdOf(key);
  if (!console_id) return MakeError(Errc::kNotFound, "no such instance on this host");
  auto entry = parts_.directory.Find(*console_id);
  if (entry && entry->paused && !entry->wakes_on_request) {
    return MakeError(Errc::kUnavailable, "the instance is paused by its owner");
  }
  parts_.traffic.RequestWake(key, parts_.clock.NowUs());
  entry = parts_.directory.WaitReady(*console_id, timeout);
  if (!entry || !entry->ready) {
    return MakeError(Errc::kUnavailable, "the instance did not wake in time");
  }
  return RouteOf(*entry);
}

}  // namespace clawvisor::cli
