#pragma once

// Checks a request body before protobuf's JSON parser sees it.
//
// protobuf's parser is lenient (it takes single-quoted strings and unquoted keys, keeps the last
// of duplicate keys) and its error messages quote the offending input, which may be a password.
// So the API first checks the bytes itself: strict UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), then strict JSON (RFC 8259) with a nesting limit and no
// duplicate keys, and reports problems by byte offset, never by quoting the body. A duplicate key
// is refused because two readers of the same body (a proxy, a log filter, this API) could each
// pick a different copy.
//
// Thread-safety: pure functions.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace clawvisor {

// The length (1..4) of the well-formed UTF-8 sequence at the start of `s`, 0 if it is not one.
size_t Utf8SequenceLength(std::string_view s);

// The offset of the first byte that is not part of well-formed UTF-8, or nullopt if all is.
std::optional<size_t> FindInvalidUtf8(std::string_view s);

// Maximum nesting of objects and arrays in a request body.
inline constexpr int kMaxJsonDepth = 32;

struct JsonSyntaxError {
  std::string message;  // names a byte offset, never the body's content
};

// REQUIRES: `json` is valid UTF-8 (check with FindInvalidUtf8 first).
// nullopt if `json` is one RFC 8259 object with no duplicate key in any object.
std::optional<JsonSyntaxError> CheckJsonObject(std::string_view json);

}  // namespace clawvisor
