#pragma once

#include <string>
#include <vector>

namespace clawvisor::cli {

// `clawvisor reconcile --host ID`: a host's reconciler as a service (see its --help).
int Reconcile(const std::vector<std::string>& args);

}  // namespace clawvisor::cli
