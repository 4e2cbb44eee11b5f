#pragma once

// FakeBackend: an in-memory FrontDoorBackend. Instances by console id, their gateway tokens,
// member session tokens (user -> accounts they belong to), single-use console links, and what a
// Wake does. Counts Wake and RecordActivity calls.

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "adapters/front_door/front_door_backend.h"

namespace clawvisor::front_door {

class FakeBackend final : public FrontDoorBackend {
 public:
  struct Instance {
    InstanceRoute route;
    std::string gateway_token;
    uint16_t woken_port = 0;  // what Wake answers; 0: it times out
  };

  void AddInstance(const std::string& id, Instance instance) {
    std::lock_guard lock(mu_);
    instances_[id] = std::move(instance);
  }
  // A member's session token, valid for every instance of `account_id`.
  void AddMember(const std::string& session_token, const std::string& user_id,
                 const std::string& account_id) {
    std::lock_guard lock(mu_);
    members_[session_token] = {user_id, account_id};
    allowed_.insert({user_id, account_id});
  }
  void Disallow(const std::string& user_id, const std::string& account_id) {
    std::lock_guard lock(mu_);
    allowed_.erase({user_id, account_id});
  }
  void AddLink(const std::string& link, const std::string& instance_id, const std::string& user_id,
               std::chrono::microseconds absolute_expiry) {
    std::lock_guard lock(mu_);
    links_[link] = {instance_id, ConsoleGrant{user_id, absolute_expiry}};
  }

  // The webhook path token that reaches instance `id` (replaces any earlier one of it).
  void SetWebhook(const std::string& id, const std::string& token) {
    std::lock_guard lock(mu_);
    std::erase_if(webhooks_, [&](const auto& hook) { return hook.second == id; });
    if (!token.empty()) webhooks_[token] = id;
  }

  std::optional<InstanceRoute> RouteWebhook(std::string_view token) override {
    std::lock_guard lock(mu_);
    auto hook = webhooks_.find(std::string(token));
    if (hook == webhooks_.end()) return std::nullopt;
    auto it = instances_.find(hook->second);
    if (it == instances_.end()) return std::nullopt;
    return it->second.route;
  }

  std::optional<InstanceRoute> Route(std::string_view instance_id) override {
    std::lock_guard lock(mu_);
    auto it = instances_.find(std::string(instance_id));
    if (it == instances_.end()) return std::nullopt;
    return it->second.route;
  }

  Result<Principal> Authorize(const VmKey& key, const Credentials& credentials) override {
    std::lock_guard lock(mu_);
    const std::string presented =
        credentials.bearer.empty() ? credentials.query_token : credentials.bearer;
    for (const auto& [id, instance] : instances_) {
      if (instance.gateway_token == presented) {
        if (instance.route.key == key) return Principal{Principal::Kind::kGatewayToken, ""};
        return MakeError(Errc::kPermissionDenied, "another instance's token");
      }
    }
    auto member = members_.find(credentials.bearer);
    if (member == members_.end()) return MakeError(Errc::kNotFound, "no such credential");
    if (member->second.second != key.account_id) {
      return MakeError(Errc::kPermissionDenied, "not a member");
    }
    return Principal{Principal::Kind::kMember, member->second.first};
  }

  Result<std::string> GatewayToken(const VmKey& key) override {
    std::lock_guard lock(mu_);
    for (const auto& [id, instance] : instances_) {
      if (instance.route.key == key) return instance.gateway_token;
    }
    return MakeError(Errc::kNotFound, "no instance");
  }

  Result<std::string> HooksToken(const VmKey& key) override {
    auto token = GatewayToken(key);
    if (!token) return token;
    return "hooks-of-" + *token;
  }

  Result<ConsoleGrant> RedeemConsoleLink(const VmKey& key, std::string_view link_token,
                                         const Credentials&) override {
    std::lock_guard lock(mu_);
    auto it = links_.find(std::string(link_token));
    if (it == links_.end()) return MakeError(Errc::kPermissionDenied, "unknown or used link");
    const auto [instance_id, grant] = it->second;
    links_.erase(it);  // single use
    if (instances_.count(instance_id) == 0 || instances_[instance_id].route.key != key) {
      return MakeError(Errc::kPermissionDenied, "another instance's link");
    }
    return grant;
  }

  bool StillAllowed(const VmKey& key, std::string_view user_id) override {
    std::lock_guard lock(mu_);
    return allowed_.count({std::string(user_id), key.account_id}) > 0;
  }

  void RecordActivity(const VmKey&) override { ++activity; }

  Result<InstanceRoute> Wake(const VmKey& key, std::chrono::milliseconds) override {
    ++wakes;
    std::lock_guard lock(mu_);
    for (auto& [id, instance] : instances_) {
      if (instance.route.key != key) continue;
      if (instance.woken_port == 0) return MakeError(Errc::kUnavailable, "did not wake in time");
      instance.route.paused = false;
      instance.route.port = instance.woken_port;
      return instance.route;
    }
    return MakeError(Errc::kNotFound, "no instance");
  }

  std::atomic<int> wakes{0};
  std::atomic<int> activity{0};

 private:
  std::mutex mu_;
  std::map<std::string, Instance> instances_;
  std::map<std::string, std::pair<std::string, std::string>> members_;  // token -> user, account
  std::set<std::pair<std::string, std::string>> allowed_;               // user, account
  std::map<std::string, std::pair<std::string, ConsoleGrant>> links_;   // link -> instance, grant
  std::map<std::string, std::string> webhooks_;                         // token -> instance
};

}  // namespace clawvisor::front_door
