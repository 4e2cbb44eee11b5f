#pragma once

// ConsoleBackend: the front door's answers on a node that runs VMs (FrontDoorBackend, design
// D9): routes from the reconciler's InstanceDirectory, gateway tokens from InstanceSecrets (kept
// a few seconds), member sessions through the session resolver and the members projection,
// console links as RedeemConsoleLink commands (the audit trail records each opening), webhook
// paths by their keyed hash in the directory, activity
// and wake requests into InstanceTraffic for the reconciler.
//
// Thread-safety: safe for concurrent use (every part it holds is).

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "adapters/front_door/front_door_backend.h"
#include "adapters/http/authenticator.h"
#include "engine/clock.h"
#include "engine/command/command_service.h"
#include "engine/random.h"
#include "engine/reconcile/instance_directory.h"
#include "engine/reconcile/instance_secrets.h"
#include "engine/reconcile/instance_traffic.h"
#include "engine/sealer.h"
#include "events/event_log.h"
#include "projections/read_model.h"

namespace clawvisor::cli {

struct ConsoleBackendParts {
  InstanceDirectory& directory;
  InstanceTraffic& traffic;
  InstanceSecrets& secrets;
  ReadModel& reads;
  SessionResolver& sessions;
  CommandService& commands;
  EventLog& log;  // to read the ConsoleSessionOpened a redemption decided
  Clock& clock;
  RandomSource& random;
  Sealer& sealer;  // the keyed hash of a webhook path's token (kWebhookPathPurpose)
};

class ConsoleBackend final : public front_door::FrontDoorBackend {
 public:
  // A browser session lasts at most this long (the front door may end it sooner).
  static constexpr std::chrono::hours kSessionLifetime{12};
  // A gateway token read from the secrets is trusted this long (a rotation takes effect after).
  static constexpr std::chrono::seconds kTokenCacheFor{5};

  explicit ConsoleBackend(ConsoleBackendParts parts) : parts_(parts) {}

  std::optional<front_door::InstanceRoute> Route(std::string_view console_id) override;
  std::optional<front_door::InstanceRoute> RouteWebhook(std::string_view webhook_token) override;
  Result<front_door::Principal> Authorize(const VmKey& key,
                                          const front_door::Credentials& credentials) override;
  Result<std::string> GatewayToken(const VmKey& key) override;
  Result<std::string> HooksToken(const VmKey& key) override;
  Result<front_door::ConsoleGrant> RedeemConsoleLink(const VmKey& key, std::string_view link_token,
                                                     const front_door::Credentials& from) override;
  bool StillAllowed(const VmKey& key, std::string_view user_id) override;
  void RecordActivity(const VmKey& key) override;
  Result<front_door::InstanceRoute> Wake(const VmKey& key,
                                         std::chrono::milliseconds timeout) override;

 private:
  struct CachedToken {
    std::string token;
    TimestampUs until_us = 0;
  };
  // Whether `user_id` is a member of the account whose role may view its instances.
  Result<bool> MayView(const VmKey& key, std::string_view user_id);

  ConsoleBackendParts parts_;
  std::mutex mu_;
  std::map<VmKey, CachedToken> tokens_;  // GUARDED_BY(mu_)
};

}  // namespace clawvisor::cli
