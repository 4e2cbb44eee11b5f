#pragma once

// AccountTable: one row per account (plan, status, trial, the masked email, the sessions-revoked
// watermark).
//
//   a|<account>   AccountView
//
// Erasure replaces the row with a marker whose status is "erased" (the projector's erasure
// deletes every other row of the account); queries answer an erased account like an unknown one.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <cstdint>
#include <optional>
#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "engine/sealer.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class AccountTable {
 public:
  static constexpr char kTable = 'a';

  // `sealer` opens the registered email to mask it (may be null: the mask stays empty).
  AccountTable(KvStore& store, Sealer* sealer) : store_(store), sealer_(sealer) {}

  Status Apply(BatchView& view, const v1::Envelope& event);
  // The erased account's marker, the one row erasure leaves.
  static void PutErasedMarker(BatchView& view, std::string_view account_id, int64_t at_us);
  // Whether the account has a row (an erased one's marker included) as of this batch.
  static Result<bool> Exists(BatchView& view, std::string_view account_id);

  // None for an unknown or erased account.
  Result<std::optional<v1::AccountView>> Get(std::string_view account_id);
  Result<bool> IsErased(std::string_view account_id);

 private:
  KvStore& store_;
  Sealer* sealer_;
};

}  // namespace clawvisor::projection
