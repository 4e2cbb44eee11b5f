#pragma once

// ReadModel: the queries the API serves, answered from the projections (never from the log).
// Every query is scoped to one account: there is no call that reads across accounts.
//
// Thread-safety: all methods may be called concurrently with each other and with projection.

#include <cstdint>
#include <optional>
#include <string_view>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "events/result.h"

namespace clawvisor {

class ReadModel {
 public:
  virtual ~ReadModel() = default;
  virtual Result<std::optional<v1::AccountView>> GetAccount(std::string_view account_id) = 0;
  virtual Result<v1::MemberList> ListMembers(std::string_view account_id) = 0;
  virtual Result<std::optional<v1::InstanceView>> GetInstance(std::string_view account_id,
                                                              std::string_view instance_id) = 0;
  virtual Result<v1::InstanceList> ListInstances(std::string_view account_id) = 0;
  // Audit entries of one account with since_us <= occurred_at_us < until_us, oldest first,
  // at most `limit`, continuing after `cursor` (empty: from the start).
  virtual Result<v1::AuditPage> ListAudit(std::string_view account_id, int64_t since_us,
                                          int64_t until_us, std::string_view cursor,
                                          uint32_t limit) = 0;
  virtual Result<std::optional<v1::CommandOutcome>> GetCommandOutcome(
      std::string_view account_id, std::string_view command_id) = 0;
  // The account's audit export jobs (pending and completed), by export id.
  virtual Result<v1::AuditExportList> ListAuditExports(std::string_view account_id) = 0;
  virtual Result<std::optional<v1::AuditExportView>> GetAuditExport(std::string_view account_id,
                                                                    std::string_view export_id) = 0;
};

}  // namespace clawvisor
