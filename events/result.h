#pragma once

// The error type of the domain. Functions that can fail return Result<T>; exceptions from
// third-party libraries are caught in the adapter that calls them (see ARCHITECTURE.md).

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace clawvisor {

enum class Errc {
  kInvalidArgument,  // the caller's input is wrong; retrying the same input fails again
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,  // environmental: broker down, disk full; retrying may succeed
  kCorruption,   // stored bytes fail a check
  kUnsupported,  // e.g. an unknown schema version
  kTimeout,
  kPermissionDenied,
  kInternal,  // a broken invariant that did not warrant an abort
};

std::string_view ErrcName(Errc code);

struct Error {
  Errc code;
  std::string message;  // for people; never contains a secret

  std::string ToString() const;
};

template <typename T>
using Result = std::expected<T, Error>;

// Result<void> spelled as a status, leveldb-style.
using Status = std::expected<void, Error>;

inline std::unexpected<Error> MakeError(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace clawvisor
