#include "projections/member_table.h"

#include "projections/account_table.h"

namespace clawvisor::projection {

Status MemberTable::Apply(BatchView& view, const v1::Envelope& event) {
  if (event.aggregate_type() != v1::AGGREGATE_TYPE_ACCOUNT || event.has_command_rejected()) {
    return {};
  }
  if (!event.has_account_registered() && !event.has_role_granted() && !event.has_role_revoked()) {
    return {};
  }
  auto exists = AccountTable::Exists(view, event.account_id());
  if (!exists) return std::unexpected(exists.error());
  if (!*exists) return {};
  const std::string& account = event.account_id();
  if (event.has_account_registered()) {
    v1::MemberView owner;
    owner.set_account_id(account);
    owner.set_user_id(event.account_registered().owner_user_id());
    owner.set_role(v1::ROLE_OWNER);
    view.Put(RowKey(kTable, account, owner.user_id()), owner);
  } else if (event.has_role_granted()) {
    v1::MemberView member;
    member.set_account_id(account);
    member.set_user_id(event.role_granted().user_id());
    member.set_role(event.role_granted().role());
    view.Put(RowKey(kTable, account, member.user_id()), member);
  } else {
    view.Delete(RowKey(kTable, account, event.role_revoked().user_id()));
  }
  return {};
}

Result<v1::MemberList> MemberTable::List(std::string_view account_id) {
  v1::MemberList list;
  auto ok = ScanRows(store_, AccountPrefix(kTable, account_id), "member",
                     [&] { return list.add_members(); });
  if (!ok) return std::unexpected(ok.error());
  return list;
}

}  // namespace clawvisor::projection
