#include "engine/domain/decision_helpers.h"

#include <algorithm>

namespace clawvisor::decide {

bool IsPlausibleEmail(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) return false;
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at == email.size() - 1 || at > 64) return false;
  return std::none_of(email.begin(), email.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string HashBytes(std::string_view hex) {
  if (!IsLowerHex64(hex)) return "";
  std::string out(32, '\0');
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < 32; ++i) {
    out[i] = static_cast<char>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  }
  return out;
}

}  // namespace clawvisor::decide
