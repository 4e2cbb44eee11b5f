#pragma once

// The front door's flags (design D9), for `serve --vms` and `reconcile`: where it listens, the
// domain of its host-name routes, its certificate, its limits.
//
// Thread-safety: plain functions.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/cli/flags.h"
#include "adapters/front_door/front_door.h"
#include "events/result.h"

namespace clawvisor::cli {

struct FrontDoorSettings {
  front_door::FrontDoorOptions options;              // `tls` unset until ResolveFrontDoorTls
  std::optional<openssl::TlsServerFiles> given_tls;  // --front-door-tls-cert / -key
  bool insecure_http = false;                        // tests only, loopback only
};

std::string_view FrontDoorFlagsHelp();
std::vector<FlagSpec> FrontDoorFlagSpecs();
// nullopt when the front door is off: `--front-door-listen off`, or no --front-door-listen and
// `default_listen` empty.
Result<std::optional<FrontDoorSettings>> ParseFrontDoorFlags(const Flags& flags,
                                                             std::string_view default_listen);
// The certificate the front door serves: the given pair, or a self-signed one kept in
// DATA_DIR/front-door/tls (host-name routes need a real wildcard certificate for the domain).
Status ResolveFrontDoorTls(FrontDoorSettings& settings, const std::filesystem::path& data_dir);

}  // namespace clawvisor::cli
