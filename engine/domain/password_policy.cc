#include "engine/domain/password_policy.h"

#include <string>
#include <unordered_set>

namespace clawvisor {

extern const char kCommonPasswordsText[];

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

const std::unordered_set<std::string>& CommonPasswords() {
  static const auto* list = [] {
    auto* set = new std::unordered_set<std::string>();
    std::string_view text(kCommonPasswordsText);
    while (!text.empty()) {
      const size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.starts_with("#!comment")) continue;
      set->insert(Lower(line));
    }
    return set;
  }();
  return *list;
}

// The number of code points of valid UTF-8, or nullopt when `s` is not valid UTF-8 or holds a
// control character.
std::optional<size_t> CountChars(std::string_view s) {
  size_t count = 0;
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (b0 < 0x80) {
      len = 1;
      cp = b0;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      cp = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      cp = b0 & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + len > s.size()) return std::nullopt;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (b & 0x3F);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    const bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
    if (overlong || surrogate || cp > 0x10FFFF || control) return std::nullopt;
    i += len;
    ++count;
  }
  return count;
}

bool IsRepeatedOrSequential(std::string_view p) {
  bool repeated = true;
  bool ascending = true;
  bool descending = true;
  for (size_t i = 1; i < p.size(); ++i) {
    repeated = repeated && p[i] == p[0];
    ascending = ascending && p[i] == static_cast<char>(p[i - 1] + 1);
    descending = descending && p[i] == static_cast<char>(p[i - 1] - 1);
  }
  return repeated || ascending || descending;
}

bool IsDigitOrPunct(char c) {
  return (c >= '0' && c <= '9') || (c >= 0x20 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
         (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

}  // namespace

size_t CommonPasswordCount() { return CommonPasswords().size(); }

std::optional<std::string> PasswordPolicyViolation(std::string_view password,
                                                   std::string_view email) {
  if (password.size() > kMaxPasswordBytes) {
    return "password is longer than " + std::to_string(kMaxPasswordBytes) + " bytes";
  }
  const auto chars = CountChars(password);
  if (!chars) return std::string("password must be valid UTF-8 without control characters");
  if (*chars < kMinPasswordChars) {
    return "password must have at least " + std::to_string(kMinPasswordChars) + " characters";
  }
  if (*chars > kMaxPasswordChars) {
    return "password must have at most " + std::to_string(kMaxPasswordChars) + " characters";
  }
  const std::string lower = Lower(password);
  const auto& common = CommonPasswords();
  std::string_view base = lower;
  while (!base.empty() && IsDigitOrPunct(base.back())) base.remove_suffix(1);
  if (common.count(lower) || (base.size() >= 4 && common.count(std::string(base)))) {
    return std::string("password is on the list of commonly used passwords; choose another");
  }
  if (IsRepeatedOrSequential(lower)) {
    return std::string("password is a repeated or sequential run of characters; choose another");
  }
  const size_t at = email.find('@');
  const std::string local = Lower(email.substr(0, at));
  if (local.size() >= 4 && lower.find(local) != std::string::npos) {
    return std::string("password contains the account's email name; choose another");
  }
  return std::nullopt;
}

bool IsArgon2idPhc(std::string_view phc) {
  return phc.starts_with("$argon2id$v=19$m=") && phc.size() < 512;
}

}  // namespace clawvisor
