#pragma once

// Fakes of the ports HttpApi depends on, for its unit tests: a CommandService that records what
// it was given and answers as told, and a ReadModel backed by maps.
//
// Thread-safety: both are safe for concurrent use (the API calls them from its worker pool).

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/command/command_service.h"
#include "projections/read_model.h"

namespace clawvisor::testing {

class FakeCommandService final : public CommandService {
 public:
  using Responder = std::function<Result<v1::CommandOutcome>(const v1::Command&)>;

  // An accepted outcome echoing the command's ids.
  static v1::CommandOutcome Accepted(const v1::Command& command) {
    v1::CommandOutcome outcome;
    outcome.set_command_id(command.command_id());
    outcome.set_account_id(command.account_id());
    outcome.set_accepted(true);
    outcome.add_event_ids("evt-1");
    outcome.add_event_types("something_happened");
    outcome.set_aggregate_id(command.account_id());
    outcome.set_decided_at_us(1'700'000'000'000'000);
    return outcome;
  }

  void SetResponder(Responder responder) {
    std::lock_guard lock(mu_);
    responder_ = std::move(responder);
  }

  // While held, Submit records the command and then waits for Release().
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Blocks until at least `n` commands have been received.
  void WaitForReceived(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return received_.size() >= n; });
  }

  Result<v1::CommandOutcome> Submit(const v1::Command& command,
                                    std::chrono::milliseconds wait) override {
    Responder responder;
    {
      std::unique_lock lock(mu_);
      received_.push_back(command);
      waits_.push_back(wait);
      cv_.notify_all();
      cv_.wait(lock, [&] { return !held_; });
      responder = responder_;
    }
    if (responder) return responder(command);
    return Accepted(command);
  }

  Result<std::optional<v1::CommandOutcome>> Lookup(std::string_view, std::string_view) override {
    return std::nullopt;
  }

  std::vector<v1::Command> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return received_.size();
  }
  v1::Command last() const {
    std::lock_guard lock(mu_);
    return received_.empty() ? v1::Command() : received_.back();
  }
  std::vector<std::chrono::milliseconds> waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Responder responder_;                           // GUARDED_BY(mu_)
  bool held_ = false;                             // GUARDED_BY(mu_)
  std::vector<v1::Command> received_;             // GUARDED_BY(mu_)
  std::vector<std::chrono::milliseconds> waits_;  // GUARDED_BY(mu_)
};

class FakeReadModel final : public ReadModel {
 public:
  struct AuditCall {
    std::string account_id;
    int64_t since_us = 0;
    int64_t until_us = 0;
    std::string cursor;
    uint32_t limit = 0;
  };

  void PutAccount(const v1::AccountView& view) {
    std::lock_guard lock(mu_);
    accounts_[view.account_id()] = view;
  }
  void PutInstance(const v1::InstanceView& view) {
    std::lock_guard lock(mu_);
    instances_[{view.account_id(), view.instance_id()}] = view;
  }
  void PutMember(const v1::MemberView& view) {
    std::lock_guard lock(mu_);
    members_[view.account_id()].push_back(view);
  }
  void PutOutcome(const v1::CommandOutcome& outcome) {
    std::lock_guard lock(mu_);
    outcomes_[{outcome.account_id(), outcome.command_id()}] = outcome;
  }
  void PutAuditPage(const v1::AuditPage& page) {
    std::lock_guard lock(mu_);
    audit_page_ = page;
  }
  // Serves `entries` in pages of `limit`, the cursor being the next index.
  void PutAuditEntries(std::vector<v1::AuditEntry> entries) {
    std::lock_guard lock(mu_);
    audit_entries_ = std::move(entries);
  }
  // Every call fails with `error` while set.
  void FailWith(std::optional<Error> error) {
    std::lock_guard lock(mu_);
    fail_ = std::move(error);
  }
  std::vector<AuditCall> audit_calls() const {
    std::lock_guard lock(mu_);
    return audit_calls_;
  }

  Result<std::optional<v1::AccountView>> GetAccount(std::string_view account_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    auto it = accounts_.find(std::string(account_id));
    if (it == accounts_.end()) return std::nullopt;
    return it->second;
  }
  Result<v1::MemberList> ListMembers(std::string_view account_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    v1::MemberList list;
    for (const auto& m : members_[std::string(account_id)]) *list.add_members() = m;
    return list;
  }
  Result<std::optional<v1::InstanceView>> GetInstance(std::string_view account_id,
                                                      std::string_view instance_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    auto it = instances_.find({std::string(account_id), std::string(instance_id)});
    if (it == instances_.end()) return std::nullopt;
    return it->second;
  }
  Result<v1::InstanceList> ListInstances(std::string_view account_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    v1::InstanceList list;
    for (const auto& [key, view] : instances_) {
      if (key.first == account_id) *list.add_instances() = view;
    }
    return list;
  }
  Result<v1::AuditPage> ListAudit(std::string_view account_id, int64_t since_us, int64_t until_us,
                                  std::string_view cursor, uint32_t limit) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    audit_calls_.push_back(
        {std::string(account_id), since_us, until_us, std::string(cursor), limit});
    if (audit_entries_.empty()) return audit_page_;
    const size_t from = cursor.empty() ? 0 : std::stoul(std::string(cursor));
    v1::AuditPage page;
    for (size_t i = from; i < audit_entries_.size() && i < from + limit; ++i) {
      *page.add_entries() = audit_entries_[i];
    }
    if (from + limit < audit_entries_.size()) page.set_next_cursor(std::to_string(from + limit));
    return page;
  }
  Result<std::optional<v1::CommandOutcome>> GetCommandOutcome(
      std::string_view account_id, std::string_view command_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    auto it = outcomes_.find({std::string(account_id), std::string(command_id)});
    if (it == outcomes_.end()) return std::nullopt;
    return it->second;
  }
  void PutAuditExport(const v1::AuditExportView& view) {
    std::lock_guard lock(mu_);
    exports_[{view.account_id(), view.export_id()}] = view;
  }
  Result<v1::AuditExportList> ListAuditExports(std::string_view account_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    v1::AuditExportList list;
    for (const auto& [key, view] : exports_) {
      if (key.first == account_id) *list.add_exports() = view;
    }
    return list;
  }
  Result<std::optional<v1::AuditExportView>> GetAuditExport(std::string_view account_id,
                                                            std::string_view export_id) override {
    std::lock_guard lock(mu_);
    if (fail_) return std::unexpected(*fail_);
    auto it = exports_.find({std::string(account_id), std::string(export_id)});
    if (it == exports_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::optional<Error> fail_;
  std::map<std::string, v1::AccountView> accounts_;
  std::map<std::pair<std::string, std::string>, v1::AuditExportView> exports_;
  std::map<std::pair<std::string, std::string>, v1::InstanceView> instances_;
  std::map<std::string, std::vector<v1::MemberView>> members_;
  std::map<std::pair<std::string, std::string>, v1::CommandOutcome> outcomes_;
  v1::AuditPage audit_page_;
  std::vector<v1::AuditEntry> audit_entries_;
  std::vector<AuditCall> audit_calls_;
};

}  // namespace clawvisor::testing
