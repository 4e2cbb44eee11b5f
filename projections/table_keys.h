#pragma once

// The key coding every projection table shares: a table is one letter, its rows are
// "<letter>|<account>|<id>" (or "<letter>|<id>" for the few tables not scoped to an account),
// and integers inside keys are big-endian so keys sort by number. Each table's header says which
// letter is its own (projector.h lists them all, so two tables never take the same one).
//
// Thread-safety: pure functions.

#include <cstdint>
#include <string>
#include <string_view>

namespace clawvisor::projection {

inline void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
inline void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
inline uint64_t GetU64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < in.size(); ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// "<table>|<id>": a row of a table keyed by one id (an account, a session, a hash).
inline std::string TableKey(char table, std::string_view id) {
  std::string key(1, table);
  key += '|';
  key += id;
  return key;
}
// "<table>|<account>|": the start of an account's rows in a per-account table.
inline std::string AccountPrefix(char table, std::string_view account) {
  std::string prefix = TableKey(table, account);
  prefix += '|';
  return prefix;
}
// "<table>|<account>|<id>".
inline std::string RowKey(char table, std::string_view account, std::string_view id) {
  std::string key = AccountPrefix(table, account);
  key += id;
  return key;
}
// The end of a prefix range: the prefix with its last byte ('|') incremented.
inline std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

}  // namespace clawvisor::projection
