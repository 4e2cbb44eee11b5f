#include "engine/egress/host_name.h"

#include <algorithm>

namespace clawvisor::egress {
namespace {

bool IsLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

std::optional<std::string> NormalizeHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  std::string_view rest = lower;
  std::string_view last;
  while (true) {
    const size_t dot = rest.find('.');
    last = rest.substr(0, dot);
    if (!IsLabel(last)) return std::nullopt;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  // An address literal ("10.0.0.1") is never a name: its last label is digits only.
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return lower;
}

Result<HostPattern> HostPattern::Parse(std::string_view text) {
  HostPattern pattern;
  const bool wildcard = text.starts_with("*.");
  auto name = NormalizeHostName(wildcard ? text.substr(2) : text);
  if (!name) {
    return MakeError(Errc::kInvalidArgument, "host pattern '" + std::string(text.substr(0, 80)) +
                                                 "' is neither a host name nor *. and a host name");
  }
  pattern.text_ = wildcard ? "*." + *name : *name;
  if (wildcard) pattern.suffix_ = "." + *name;
  return pattern;
}

bool HostPattern::Matches(std::string_view host) const {
  if (suffix_.empty()) return host == text_;
  return host.size() > suffix_.size() && host.ends_with(suffix_);
}

Result<std::vector<HostPattern>> ParseHostPatterns(std::string_view comma_separated) {
  std::vector<HostPattern> patterns;
  while (!comma_separated.empty()) {
    const size_t comma = comma_separated.find(',');
    auto pattern = HostPattern::Parse(comma_separated.substr(0, comma));
    if (!pattern) return std::unexpected(pattern.error());
    patterns.push_back(std::move(*pattern));
    if (comma == std::string_view::npos) break;
    comma_separated.remove_prefix(comma + 1);
    if (comma_separated.empty())
      return MakeError(Errc::kInvalidArgument, "host pattern list ends with ','");
  }
  return patterns;
}

const HostPattern* FirstMatch(const std::vector<HostPattern>& patterns, std::string_view host) {
  for (const auto& pattern : patterns) {
    if (pattern.Matches(host)) return &pattern;
  }
  return nullptr;
}

}  // namespace clawvisor::egress
