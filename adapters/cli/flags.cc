#include "adapters/cli/flags.h"

#include <charconv>

namespace clawvisor::cli {

Result<Flags> Flags::Parse(const std::vector<std::string>& args,
                           const std::vector<FlagSpec>& specs) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("--") || arg == "--") {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (spec == nullptr) return MakeError(Errc::kInvalidArgument, "unknown flag --" + name);
    if (!spec->takes_value) {
      if (inline_value) return MakeError(Errc::kInvalidArgument, "--" + name + " takes no value");
      flags.values_[name] = "true";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return MakeError(Errc::kInvalidArgument, "--" + name + " needs a value");
      }
      inline_value = args[++i];
    }
    flags.values_[name] = *inline_value;
  }
  return flags;
}

std::optional<std::string> Flags::Get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Flags::GetOr(std::string_view name, std::string fallback) const {
  return Get(name).value_or(std::move(fallback));
}

Result<int64_t> Flags::GetInt(std::string_view name, int64_t fallback, int64_t min,
                              int64_t max) const {
  auto text = Get(name);
  if (!text) return fallback;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    return MakeError(Errc::kInvalidArgument, "--" + std::string(name) + " must be an integer in [" +
                                                 std::to_string(min) + ", " + std::to_string(max) +
                                                 "]");
  }
  return value;
}

}  // namespace clawvisor::cli
