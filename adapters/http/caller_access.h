#pragma once

// CallerOf: the caller's principals for the permission table (engine/domain/access.h) on one
// account. A user's role comes from the members projection: the one read the API makes about the
// caller before it answers a query or appends a command (a service caller, or a request that
// addresses no account, costs none). The processor checks again, authoritatively, with the role
// the account's own events give.
//
// Thread-safety: as safe as `reads` (ReadModel is safe for concurrent use by contract).

#include <string>

#include "engine/domain/access.h"
#include "events/result.h"
#include "projections/read_model.h"

namespace clawvisor {

Result<Principals> CallerOf(ReadModel& reads, const v1::Actor& actor,
                            const std::string& account_id);

}  // namespace clawvisor
