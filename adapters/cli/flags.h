#pragma once

// A small command-line parser: `--name value`, `--name=value`, boolean `--name`, and
// positional words. Unknown flags and missing values are errors the caller reports with exit
// code 64 (EX_USAGE). Flag values never go into logs (one of them might be a path to a secret).

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace clawvisor::cli {

struct FlagSpec {
  std::string name;  // without dashes
  bool takes_value = true;
};

class Flags {
 public:
  static Result<Flags> Parse(const std::vector<std::string>& args,
                             const std::vector<FlagSpec>& specs);
  bool Has(std::string_view name) const { return values_.contains(std::string(name)); }
  std::optional<std::string> Get(std::string_view name) const;
  std::string GetOr(std::string_view name, std::string fallback) const;
  Result<int64_t> GetInt(std::string_view name, int64_t fallback, int64_t min, int64_t max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace clawvisor::cli
