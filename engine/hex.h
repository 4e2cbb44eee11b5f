#pragma once

// The one hex codec (lower-case digits): ids, digests, cursors and CSV fields all go through it,
// so two encoders can never disagree on case or on what a malformed input means.
//
// Thread-safety: pure functions.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace clawvisor {

// Appends the lower-case hex form of `bytes` to `out` (two digits per byte).
void AppendHex(std::string& out, std::string_view bytes);

std::string HexEncode(std::string_view bytes);
std::string HexEncode(std::span<const unsigned char> bytes);
std::string HexEncode(std::span<const std::byte> bytes);

// The value of one hex digit (either case), or -1 for any other character.
int HexDigitValue(char c);

// The bytes of `hex` (upper- or lower-case digits); nullopt for an odd length or a non-digit.
std::optional<std::string> HexDecode(std::string_view hex);

// Decodes exactly out.size() bytes; false (and `out` unspecified) for any other input.
bool HexDecodeInto(std::string_view hex, std::span<unsigned char> out);

}  // namespace clawvisor
