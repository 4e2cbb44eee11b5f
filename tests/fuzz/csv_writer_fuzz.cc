// libFuzzer target for CsvWriter (projections/csv_writer.h): any bytes, split into cells, must
// come back from an independent RFC 4180 reader as exactly those cells, made valid UTF-8 and
// formula-neutralized by a reference implementation written here from the rules.
//
// Built with clang (-fsanitize=fuzzer,address,undefined) by tests/fuzz/CMakeLists.txt and run
// for a few seconds by ctest.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "projections/csv_writer.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  __builtin_printf("csv_writer_fuzz: %s\n", what);
  std::abort();
}

// Reference: decode code point by code point; anything that is not a well-formed scalar value
// of the shortest form, or is NUL, is one U+FFFD per offending byte.
std::string ReferenceSanitize(std::string_view in) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    uint32_t cp = 0;
    size_t n = 0;
    if (b0 < 0x80) {
      cp = b0;
      n = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1F;
      n = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0F;
      n = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07;
      n = 4;
    }
    bool ok = n > 0 && i + n <= in.size();
    for (size_t k = 1; ok && k < n; ++k) {
      const auto b = static_cast<unsigned char>(in[i + k]);
      if ((b & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)) {
      ok = false;
    }
    if (!ok) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(in.substr(i, n));
    i += n;
  }
  if (!out.empty() && (out[0] == '=' || out[0] == '+' || out[0] == '-' || out[0] == '@' ||
                       out[0] == '\t' || out[0] == '\r')) {
    out.insert(0, "'");
  }
  return out;
}

// Reads one RFC 4180 record ending in CRLF; fails on anything a strict reader would refuse.
std::vector<std::string> ReadRecord(std::string_view csv) {
  std::vector<std::string> cells(1);
  size_t i = 0;
  bool at_start = true;
  while (true) {
    if (i >= csv.size()) Fail("record does not end with CRLF");
    const char c = csv[i];
    if (at_start && c == '"') {
      ++i;
      while (true) {
        if (i >= csv.size()) Fail("unterminated quoted cell");
        if (csv[i] == '"') {
          if (i + 1 < csv.size() && csv[i + 1] == '"') {
            cells.back() += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        cells.back() += csv[i++];
      }
      at_start = false;
      if (i >= csv.size() || (csv[i] != ',' && csv[i] != '\r')) Fail("garbage after a quote");
      continue;
    }
    if (c == ',') {
      cells.emplace_back();
      at_start = true;
      ++i;
      continue;
    }
    if (c == '\r') {
      if (i + 2 != csv.size() || csv[i + 1] != '\n') Fail("CR inside an unquoted cell");
      return cells;
    }
    if (c == '\n' || c == '"') Fail("LF or quote inside an unquoted cell");
    // A spreadsheet may split on ';' or TAB (its list separator): never unquoted.
    if (c == ';' || c == '\t') Fail("';' or TAB inside an unquoted cell");
    cells.back() += c;
    at_start = false;
    ++i;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Cells are separated by the byte 0xFF in the input (never valid in UTF-8 anyway).
  std::vector<std::string_view> cells;
  size_t start = 0;
  for (size_t i = 0; i <= input.size(); ++i) {
    if (i == input.size() || static_cast<unsigned char>(input[i]) == 0xFF) {
      cells.push_back(input.substr(start, i - start));
      start = i + 1;
    }
  }
  std::string out;
  clawvisor::CsvWriter writer(out);
  writer.AddRecord(cells);
  const auto read = ReadRecord(out);
  if (read.size() != cells.size()) Fail("cell count differs");
  for (size_t k = 0; k < cells.size(); ++k) {
    if (read[k] != ReferenceSanitize(cells[k])) Fail("cell differs from the reference");
    if (clawvisor::StartsLikeFormula(read[k])) Fail("a cell starts like a formula");
  }
  return 0;
}
