#pragma once

// Events of every type for audit export tests: one envelope per payload of v1::Envelope (found
// by reflection, so a new event type is covered without touching the tests), every free-text
// field set to a hostile value (formulas, quotes, separators, line breaks, non-ASCII), emails
// sealed with a known hostile address and every other sealed field holding kAuditTestSecret.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "clawvisor/v1/events.pb.h"
#include "engine/sealer.h"

namespace clawvisor::testing {

inline constexpr std::string_view kAuditTestSecret = "sk-live-SECRET-0123456789abcdefWXYZ";
inline constexpr std::string_view kAuditTestEmail = "=cmd|' /C calc'!A0@example.com";

// The hostile strings, used in turn for every string field.
const std::vector<std::string>& HostileStrings();

// One event per payload type for `account`, times start_us, start_us + step_us, ...
std::vector<v1::Envelope> EveryEventType(const std::string& account, Sealer& sealer,
                                         int64_t start_us, int64_t step_us = 1000);

// The row the export must hold for `event` as the owner reads it: column -> cell before
// neutralization, and details key -> value (a subset of the details object).
struct ExpectedAuditRow {
  std::map<std::string, std::string> cells;
  std::map<std::string, std::string> details;
};
ExpectedAuditRow ExpectedRow(const v1::Envelope& event, bool owner);

}  // namespace clawvisor::testing
