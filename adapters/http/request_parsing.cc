#include "adapters/http/request_parsing.h"

#include <arpa/inet.h>

#include <charconv>
#include <limits>

#include "engine/hex.h"

namespace clawvisor {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Parses exactly `n` decimal digits at s[pos]; advances pos.
std::optional<int> FixedDigits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

std::optional<int64_t> ParseRfc3339(std::string_view s) {
  size_t p = 0;
  const auto year = FixedDigits(s, p, 4);
  if (!year || p >= s.size() || s[p++] != '-') return std::nullopt;
  const auto month = FixedDigits(s, p, 2);
  if (!month || p >= s.size() || s[p++] != '-') return std::nullopt;
  const auto day = FixedDigits(s, p, 2);
  if (!day || p >= s.size() || (s[p] != 'T' && s[p] != 't' && s[p] != ' ')) return std::nullopt;
  ++p;
  const auto hour = FixedDigits(s, p, 2);
  if (!hour || p >= s.size() || s[p++] != ':') return std::nullopt;
  const auto minute = FixedDigits(s, p, 2);
  if (!minute || p >= s.size() || s[p++] != ':') return std::nullopt;
  const auto second = FixedDigits(s, p, 2);
  if (!second) return std::nullopt;
  int64_t micros = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    const size_t start = p;
    int64_t scale = 100000;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      micros += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
    if (p == start) return std::nullopt;
  }
  if (p >= s.size()) return std::nullopt;  // the offset is not optional in RFC 3339
  int64_t offset_s = 0;
  if (s[p] == 'Z' || s[p] == 'z') {
    ++p;
  } else if (s[p] == '+' || s[p] == '-') {
    const int sign = s[p] == '-' ? -1 : 1;
    ++p;
    const auto oh = FixedDigits(s, p, 2);
    if (!oh || p >= s.size() || s[p++] != ':') return std::nullopt;
    const auto om = FixedDigits(s, p, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset_s = sign * (*oh * 3600 + *om * 60);
  } else {
    return std::nullopt;
  }
  if (p != s.size()) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > DaysInMonth(*year, *month) || *hour > 23 ||
      *minute > 59 || *second > 60) {  // 60: a leap second, which RFC 3339 allows
    return std::nullopt;
  }
  const int64_t days =
      DaysFromCivil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  const int64_t seconds = days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_s;
  return seconds * 1'000'000 + micros;  // years 0000..9999 cannot overflow int64 microseconds
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = HexDigitValue(s[i + 1]);
    const int lo = HexDigitValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return std::nullopt;
    out += c;
    i += 2;
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    auto name = PercentDecode(part.substr(0, eq));
    auto value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::optional<int64_t> ParseTimestampUs(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool integer = true;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!((s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-' && s.size() > 1))) {
      integer = false;
      break;
    }
  }
  if (integer) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
  }
  return ParseRfc3339(s);
}

bool IsJsonContentType(std::string_view content_type) {
  bool first = true;
  while (true) {
    const size_t semi = content_type.find(';');
    const std::string_view part = Trim(content_type.substr(0, semi));
    if (first) {
      if (!EqualsIgnoreCase(part, "application/json")) return false;
      first = false;
    } else if (!part.empty()) {
      const size_t eq = part.find('=');
      if (eq == std::string_view::npos) return false;
      std::string_view value = Trim(part.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (!EqualsIgnoreCase(Trim(part.substr(0, eq)), "charset") ||
          !EqualsIgnoreCase(value, "utf-8")) {
        return false;
      }
    }
    if (semi == std::string_view::npos) return true;
    content_type.remove_prefix(semi + 1);
  }
}

bool IsLoopbackAddress(std::string_view address) {
  if (address == "::1" || address == "localhost") return true;
  in_addr v4{};
  const std::string literal(address);
  return ::inet_pton(AF_INET, literal.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

bool IsLoopbackHostHeader(std::string_view host) {
  if (host.empty()) return true;
  std::string_view name = host;
  if (name.starts_with('[')) {
    const auto close = name.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    name = name.substr(1, close - 1);
    return name == "::1";
  }
  if (const auto colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (name == "localhost") return true;
  in_addr v4{};
  const std::string literal(name);
  return ::inet_pton(AF_INET, literal.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace clawvisor
