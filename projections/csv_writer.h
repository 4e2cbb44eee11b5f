#pragma once

// CsvWriter: any bytes in, a safe CSV cell out. No dependency but the standard library, so the
// fuzz target (tests/fuzz) builds it alone.
//
// The rules (README "Audit export"):
//   - RFC 4180: fields separated by ',', records ended by CRLF; a field holding ',', '"', CR or
//     LF is enclosed in double quotes and its quotes doubled. So is one holding ';' or TAB, the
//     separators a spreadsheet may split on instead (its locale's list separator), where the
//     text after them would otherwise start a cell of its own, unneutralized.
//   - UTF-8: every byte sequence that is not valid UTF-8 (and NUL, which spreadsheet and CSV
//     readers mishandle) becomes U+FFFD, so the file is always valid UTF-8.
//   - Formula neutralization (OWASP "CSV injection"): a cell starting with '=', '+', '-', '@',
//     TAB or CR is prefixed with a single quote, so a spreadsheet shows it as text instead of
//     running it.
//
// Thread-safety: a CsvWriter is one thread's; AppendCell and StartsLikeFormula are pure.

#include <string>
#include <string_view>

namespace clawvisor {

// Appends CSV records to a caller-owned buffer.
class CsvWriter {
 public:
  explicit CsvWriter(std::string& out) : out_(out) {}

  // Appends one cell (quoted, validated and neutralized as above) without a separator.
  static void AppendCell(std::string& out, std::string_view value);
  // Appends one record: cells separated by ',' and a CRLF.
  template <typename Cells>
  void AddRecord(const Cells& cells) {
    bool first = true;
    for (const auto& cell : cells) {
      if (!first) out_ += ',';
      first = false;
      AppendCell(out_, cell);
    }
    out_ += "\r\n";
  }

 private:
  std::string& out_;
};

// Whether a spreadsheet would treat a cell starting with this text as a formula.
bool StartsLikeFormula(std::string_view value);

}  // namespace clawvisor
