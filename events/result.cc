#include "events/result.h"

namespace clawvisor {

std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kAlreadyExists:
      return "already_exists";
    case Errc::kFailedPrecondition:
      return "failed_precondition";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kCorruption:
      return "corruption";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kTimeout:
      return "timeout";
    case Errc::kPermissionDenied:
      return "permission_denied";
    case Errc::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Error::ToString() const { return std::string(ErrcName(code)) + ": " + message; }

}  // namespace clawvisor
