#pragma once

// --guest-images NAME=DIR[,NAME=DIR...] and --default-guest-image NAME (#15): the guest images
// the operator registers, each a directory with an image.conf (engine/reconcile/guest_images.h)
// that ops/guest's build scripts write. The processor learns the names and versions (to refuse
// an unknown image); a host's reconciler boots them.

#include <memory>
#include <string_view>
#include <vector>

#include "adapters/cli/flags.h"
#include "engine/domain/limits.h"
#include "engine/reconcile/guest_images.h"

namespace clawvisor::cli {

std::string_view GuestImageFlagsHelp();
std::vector<FlagSpec> GuestImageFlagSpecs();

// The catalog the flags name (its files checked readable), or nullptr without --guest-images.
// kInvalidArgument with the message the user sees.
Result<std::shared_ptr<const GuestImageCatalog>> ParseGuestImageFlags(const Flags& flags);

// The names and versions of `catalog` for the decider.
void UseGuestImages(DecideOptions& decide, const GuestImageCatalog& catalog);

}  // namespace clawvisor::cli
