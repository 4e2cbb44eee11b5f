#include "engine/domain/ids.h"

#include <algorithm>

#include "engine/sealer.h"

namespace clawvisor {
namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

bool IsValidId(std::string_view id, size_t max) {
  return !id.empty() && id.size() <= max && std::all_of(id.begin(), id.end(), IsIdChar);
}

}  // namespace

bool IsValidCommandId(std::string_view id) { return IsValidId(id, 128); }

// "." and ".." are refused too: proxies and clients may rewrite them as path segments.
bool IsValidResourceId(std::string_view id) { return IsValidId(id, 64) && id != "." && id != ".."; }

std::string SessionIdFor(std::string_view token_hash) {
  return "ses_" + std::string(token_hash.substr(0, 24));
}

std::string InvitedUserId(std::string_view account_id, uint64_t sequence) {
  const size_t underscore = account_id.find('_');
  const std::string_view suffix =
      underscore == std::string_view::npos ? account_id : account_id.substr(underscore + 1);
  return "usr_" + std::string(suffix) + "_m" + std::to_string(sequence);
}

std::string CredentialLast4(std::string_view value) {
  if (value.size() < kMinMaskedSecretBytes) return "";
  return std::string(value.substr(value.size() - 4));
}

}  // namespace clawvisor
