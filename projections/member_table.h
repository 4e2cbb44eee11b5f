#pragma once

// MemberTable: the members of each account and their roles (the owner from registration, then
// grants and revocations).
//
//   m|<account>|<user>   MemberView
//
// Only an account with a row (AccountTable) has members: apply it after AccountTable.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class MemberTable {
 public:
  static constexpr char kTable = 'm';

  explicit MemberTable(KvStore& store) : store_(store) {}

  Status Apply(BatchView& view, const v1::Envelope& event);

  Result<v1::MemberList> List(std::string_view account_id);

 private:
  KvStore& store_;
};

}  // namespace clawvisor::projection
