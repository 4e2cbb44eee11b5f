#pragma once

// Structured JSON logs, one object per line on stderr:
//   {"ts":"2026-11-21T01:58:03.123456Z","level":"info","component":"processor","msg":"...",...}
// Field values are strings or integers chosen by the caller. Never log a secret, a command's
// payload, or an email: log ids (account, instance, command) and counts.
//
// Thread-safety: lines from concurrent threads never interleave.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace clawvisor {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct LogField {
  std::string_view key;
  std::variant<std::string_view, int64_t> value;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  template <typename Int>
  requires std::is_integral_v<Int> LogField(std::string_view k, Int v)
      : key(k), value(static_cast<int64_t>(v)) {}
};

void SetLogLevel(LogLevel level);
// Redirects log lines to `fd` (default 2). For tests and `--log-file`.
void SetLogFd(int fd);
void Log(LogLevel level, std::string_view component, std::string_view message,
         std::initializer_list<LogField> fields = {});

// Appends `text` to `out` as the body of a JSON string (quotes not included), escaping
// control characters and replacing invalid UTF-8 with U+FFFD.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace clawvisor
