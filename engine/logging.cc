#include "engine/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "engine/clock.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<int> g_fd{2};
std::mutex g_write_mu;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// Length of the valid UTF-8 sequence at s[i], or 0 if invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t min = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0)
    n = 2, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    n = 3, min = 0x800;
  else if ((c & 0xF8) == 0xF0)
    n = 4, min = 0x10000;
  else
    return 0;
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level = level; }
void SetLogFd(int fd) { g_fd = fd; }

void AppendJsonEscaped(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const size_t n = Utf8SequenceLength(text, i); n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
}

void Log(LogLevel level, std::string_view component, std::string_view message,
         std::initializer_list<LogField> fields) {
  if (level < g_level.load()) return;
  SystemClock clock;
  std::string line = "{\"ts\":\"" + FormatTimestampUs(clock.NowUs()) + "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"component\":\"";
  AppendJsonEscaped(line, component);
  line += "\",\"msg\":\"";
  AppendJsonEscaped(line, message);
  line += '"';
  for (const auto& field : fields) {
    line += ",\"";
    AppendJsonEscaped(line, field.key);
    line += "\":";
    if (const auto* s = std::get_if<std::string_view>(&field.value)) {
      line += '"';
      AppendJsonEscaped(line, *s);
      line += '"';
    } else {
      line += std::to_string(std::get<int64_t>(field.value));
    }
  }
  line += "}\n";
  std::lock_guard lock(g_write_mu);
  const int fd = g_fd.load();
  for (size_t done = 0; done < line.size();) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

}  // namespace clawvisor
