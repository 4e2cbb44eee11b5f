#pragma once

// Host names and host patterns for the egress allowlist (design D9).
//
// A host name here is what a TLS client sends as SNI: DNS labels of letters, digits and hyphens
// (1..63 bytes, no leading or trailing hyphen), dot-separated, at most 253 bytes, no trailing
// dot, compared case-insensitively, and never an address literal (RFC 6066 forbids IP
// addresses in SNI; a last label of digits only is refused so "10.0.0.1" is never a name).
//
// A pattern is either a name ("api.openai.com": that name only) or "*." and a name
// ("*.telegram.org": any name below telegram.org, not telegram.org itself).
//
// Thread-safety: pure functions; HostPattern is an immutable value.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/result.h"

namespace clawvisor::egress {

// The lower-cased name, or nullopt if `name` is not a valid host name.
std::optional<std::string> NormalizeHostName(std::string_view name);

class HostPattern {
 public:
  static Result<HostPattern> Parse(std::string_view text);
  // `host` must be normalized (NormalizeHostName).
  bool Matches(std::string_view host) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;    // as parsed, lower-cased
  std::string suffix_;  // ".telegram.org" for a wildcard, empty for an exact name
};

// Parses a comma-separated list ("api.openai.com,*.telegram.org"); empty text is an empty list.
Result<std::vector<HostPattern>> ParseHostPatterns(std::string_view comma_separated);

// The first pattern `host` matches, or nullptr.
const HostPattern* FirstMatch(const std::vector<HostPattern>& patterns, std::string_view host);

}  // namespace clawvisor::egress
