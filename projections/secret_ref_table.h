#pragma once

// SecretRefTable: where each live instance's secrets are sealed (its gateway token and its
// credentials), for InstanceSecrets (projections/projected_instance_secrets.h) to open them:
// sealed values only, never plaintext, and no ReadModel query (the API has no route to it).
//
//   s|<account>|<instance>   InstanceSecretRefs (credentials sorted by name)
//
// A deleted (or delete-requested) or erased instance has no row, so nothing opens its secrets.
//
// Thread-safety: Apply on the projector's thread; queries from any thread.

#include <optional>
#include <string_view>

#include "clawvisor/v1/events.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "projections/batch_view.h"

namespace clawvisor::projection {

class SecretRefTable {
 public:
  static constexpr char kTable = 's';

  explicit SecretRefTable(KvStore& store) : store_(store) {}

  Status Apply(BatchView& view, const v1::Envelope& event);

  Result<std::optional<v1::InstanceSecretRefs>> Get(std::string_view account_id,
                                                    std::string_view instance_id);

 private:
  KvStore& store_;
};

}  // namespace clawvisor::projection
