#pragma once

#include <string>
#include <vector>

namespace clawvisor::cli {

// `clawvisor audit export ...`: one account's audit trail as CSV (issue #7).
int Audit(const std::vector<std::string>& args);

}  // namespace clawvisor::cli
