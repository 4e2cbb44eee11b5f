#pragma once

// ProjectedInstanceSecrets: InstanceSecrets (engine/instance_secrets.h) over the projector's
// `s|` rows. A row says which event sealed each secret and under which field path; the values
// are opened with the Sealer, bound to that account, event and field, exactly as sealed. An
// instance that is deleted or belongs to an erased account has no row (kNotFound); a row whose
// key was destroyed fails to open (kNotFound as well).
//
// Thread-safety: safe for concurrent use (the projector's queries and the sealer are).

#include "engine/reconcile/instance_secrets.h"
#include "engine/sealer.h"
#include "projections/projector.h"

namespace clawvisor {

class ProjectedInstanceSecrets final : public InstanceSecrets {
 public:
  // Both must outlive this object.
  ProjectedInstanceSecrets(Projector& projector, Sealer& sealer);

  Result<InstanceSecretValues> Open(std::string_view account_id,
                                    std::string_view instance_id) override;

 private:
  Projector& projector_;
  Sealer& sealer_;
};

}  // namespace clawvisor
