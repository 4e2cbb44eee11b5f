#include "adapters/http/json_check.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/hex.h"

namespace clawvisor {

size_t Utf8SequenceLength(std::string_view s) {
  if (s.empty()) return 0;
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;  // bounds of the second byte; tighter after E0, ED, F0, F4
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // UTF-16 surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;  // continuation byte, C0/C1 (overlong 2-byte), F5..FF
  }
  if (s.size() < len) return 0;
  const auto b1 = static_cast<unsigned char>(s[1]);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return len;
}

std::optional<size_t> FindInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = Utf8SequenceLength(s.substr(i));
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

namespace {

// A recursive-descent recogniser; it builds nothing but the keys of the objects it is inside.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view s) : s_(s) {}

  std::optional<JsonSyntaxError> Run() {
    SkipWs();
    if (pos_ >= s_.size()) return Fail("the body is empty");
    if (s_[pos_] != '{') return Fail("the body must be a JSON object");
    if (!Value(0)) return error_;
    SkipWs();
    if (pos_ != s_.size()) return Fail("unexpected data after the JSON object");
    return std::nullopt;
  }

 private:
  std::optional<JsonSyntaxError> Fail(std::string_view what) {
    if (!error_) {
      error_ = JsonSyntaxError{std::string(what) + " (at byte " + std::to_string(pos_) + ")"};
    }
    return error_;
  }
  bool Error(std::string_view what) {
    Fail(what);
    return false;
  }

  void SkipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return Error("invalid JSON value");
    pos_ += word.size();
    return true;
  }

  bool Value(int depth) {
    SkipWs();
    if (pos_ >= s_.size()) return Error("unexpected end of the body");
    switch (s_[pos_]) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"':
        return String(nullptr);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  bool Object(int depth) {
    if (depth > kMaxJsonDepth) return Error("JSON nested too deeply");
    ++pos_;  // '{'
    std::vector<std::string> keys;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected a quoted object key");
      const size_t key_pos = pos_;
      std::string key;
      if (!String(&key)) return false;
      // protobuf reads "command_id" and "commandId" as the same field: compare keys with
      // underscores removed and case folded, so either spelling twice counts as a duplicate.
      std::string folded;
      for (char c : key) {
        if (c == '_') continue;
        folded += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      if (std::find(keys.begin(), keys.end(), folded) != keys.end()) {
        pos_ = key_pos;
        return Error("duplicate object key");
      }
      keys.push_back(std::move(folded));
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Error("expected ':' after an object key");
      ++pos_;
      if (!Value(depth)) return false;
      SkipWs();
      if (pos_ >= s_.size()) return Error("unexpected end of the body");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return Error("expected ',' or '}' in an object");
    }
  }

  bool Array(int depth) {
    if (depth > kMaxJsonDepth) return Error("JSON nested too deeply");
    ++pos_;  // '['
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      if (!Value(depth)) return false;
      SkipWs();
      if (pos_ >= s_.size()) return Error("unexpected end of the body");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return Error("expected ',' or ']' in an array");
    }
  }

  // Reads \uXXXX at pos_ (pointing at the 'u'); -1 if malformed.
  int32_t Hex4() {
    if (pos_ + 5 > s_.size()) return -1;
    int32_t v = 0;
    for (size_t i = 1; i <= 4; ++i) {
      const int h = HexDigitValue(s_[pos_ + i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    pos_ += 5;
    return v;
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  // A string at pos_ (pointing at '"'); its decoded value goes to `out` when not null.
  bool String(std::string* out) {
    ++pos_;  // '"'
    while (true) {
      if (pos_ >= s_.size()) return Error("unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in a string");
      if (c != '\\') {
        if (out) *out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) return Error("unterminated string");
      const char e = s_[pos_];
      char plain = 0;
      switch (e) {
        case '"':
          plain = '"';
          break;
        case '\\':
          plain = '\\';
          break;
        case '/':
          plain = '/';
          break;
        case 'b':
          plain = '\b';
          break;
        case 'f':
          plain = '\f';
          break;
        case 'n':
          plain = '\n';
          break;
        case 'r':
          plain = '\r';
          break;
        case 't':
          plain = '\t';
          break;
        case 'u':
          break;
        default:
          return Error("invalid escape in a string");
      }
      if (e != 'u') {
        if (out) *out += plain;
        ++pos_;
        continue;
      }
      int32_t cp = Hex4();
      if (cp < 0) return Error("invalid \\u escape in a string");
      if (cp >= 0xdc00 && cp <= 0xdfff) return Error("unpaired surrogate in a string");
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (pos_ + 1 >= s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') {
          return Error("unpaired surrogate in a string");
        }
        ++pos_;
        const int32_t low = Hex4();
        if (low < 0xdc00 || low > 0xdfff) return Error("unpaired surrogate in a string");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
      }
      if (out) AppendUtf8(*out, static_cast<uint32_t>(cp));
    }
  }

  bool Digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool Number() {
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return Error("invalid JSON value");
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      Digits();
    } else {
      return Error("invalid JSON value");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!Digits()) return Error("invalid number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!Digits()) return Error("invalid number");
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::optional<JsonSyntaxError> error_;
};

}  // namespace

std::optional<JsonSyntaxError> CheckJsonObject(std::string_view json) {
  return JsonChecker(json).Run();
}

}  // namespace clawvisor
