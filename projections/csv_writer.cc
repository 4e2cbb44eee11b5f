#include "projections/csv_writer.h"

namespace clawvisor {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence starting at text[i], or 0 if none starts there
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char c = byte(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return n;
}

// ASCII bytes that need attention: NUL (replaced) and what forces quotes. ';' and TAB too:
// a spreadsheet opening a .csv splits on the locale's list separator (';' in much of Europe)
// or on TABs, and an unquoted "a;=cmd|..." would start a new cell with a formula there.
constexpr bool IsSpecialAscii(unsigned char c) {
  return c == 0 || c == ',' || c == '"' || c == '\r' || c == '\n' || c == ';' || c == '\t';
}

// Writes a cell that is valid UTF-8 without NUL.
void AppendValid(std::string& out, std::string_view value, bool needs_quotes) {
  const bool neutralize = StartsLikeFormula(value);
  if (!needs_quotes) {
    if (neutralize) out += '\'';
    out.append(value);
    return;
  }
  out += '"';
  if (neutralize) out += '\'';
  size_t start = 0;
  for (size_t quote = value.find('"'); quote != std::string_view::npos;
       quote = value.find('"', start)) {
    out.append(value, start, quote + 1 - start);
    out += '"';
    start = quote + 1;
  }
  out.append(value, start, std::string_view::npos);
  out += '"';
}

}  // namespace

bool StartsLikeFormula(std::string_view value) {
  if (value.empty()) return false;
  switch (value.front()) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r':
      return true;
    default:
      return false;
  }
}

void CsvWriter::AppendCell(std::string& out, std::string_view value) {
  // One pass decides: valid UTF-8 without NUL (almost always), and whether quotes are needed.
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  bool needs_quotes = false;
  bool valid = true;
  for (size_t i = 0; i < value.size();) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      if (IsSpecialAscii(c)) {
        if (c == 0) {
          valid = false;
          break;
        }
        needs_quotes = true;
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(value, i);
    if (n == 0) {
      valid = false;
      break;
    }
    i += n;
  }
  if (valid) {
    AppendValid(out, value, needs_quotes);
    return;
  }
  // Rare: replace what is not valid UTF-8 (and NUL) first, so the formula check and the quoting
  // see what a reader will see.
  std::string clean;
  clean.reserve(value.size() + 8);
  needs_quotes = false;
  for (size_t i = 0; i < value.size();) {
    const size_t n = Utf8SequenceLength(value, i);
    if (n == 0 || value[i] == '\0') {
      clean += kReplacement;
      ++i;
      continue;
    }
    needs_quotes |= IsSpecialAscii(static_cast<unsigned char>(value[i]));
    clean.append(value, i, n);
    i += n;
  }
  AppendValid(out, clean, needs_quotes);
}

}  // namespace clawvisor
