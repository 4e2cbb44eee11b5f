#pragma once

// InstanceTable: each instance's desired and observed state, as the API shows it (credentials
// by name and last four characters only).
//
//   i|<account>|<instance>   InstanceView
//
// Rows appear with InstanceCreated; an event of an instance without a row changes nothing.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <optional>
#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class InstanceTable {
 public:
  static constexpr char kTable = 'i';

  explicit InstanceTable(KvStore& store) : store_(store) {}

  Status Apply(BatchView& view, const v1::Envelope& event);

  Result<std::optional<v1::InstanceView>> Get(std::string_view account_id,
                                              std::string_view instance_id);
  Result<v1::InstanceList> List(std::string_view account_id);

 private:
  KvStore& store_;
};

}  // namespace clawvisor::projection
