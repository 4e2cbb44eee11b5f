#pragma once

// Small parsers for the parts of a request the router does not handle: percent-encoding, query
// strings, timestamps in query parameters and the Content-Type header.
//
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clawvisor {

// RFC 3986 percent-decoding. '+' stays '+' (this is not form encoding, so an RFC 3339 offset
// like +02:00 survives being sent unescaped). nullopt on a malformed escape or a decoded NUL.
std::optional<std::string> PercentDecode(std::string_view s);

// name=value pairs of a query string (without the '?'), decoded, in order. nullopt if an escape
// is malformed. "a" alone yields {"a", ""}.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view q);

// A point in time given as an integer count of microseconds since the Unix epoch ("-5", "17e2"
// is not one) or as an RFC 3339 date-time ("2026-01-02T03:04:05.123456Z", "...+02:00").
// Fractions beyond microseconds are truncated. nullopt if it is neither or out of range.
std::optional<int64_t> ParseTimestampUs(std::string_view s);

// Whether a Content-Type names JSON: "application/json", optionally with charset=utf-8
// (case-insensitive, quoted or not). Any other parameter or charset is refused.
bool IsJsonContentType(std::string_view content_type);

// Whether `address` (an IP literal) is a loopback address.
bool IsLoopbackAddress(std::string_view address);
// Whether a Host header names this machine's loopback ("127.0.0.1", "localhost", "[::1]", each
// with or without a port). An absent Host (HTTP/1.0) counts as loopback.
bool IsLoopbackHostHeader(std::string_view host);

}  // namespace clawvisor
