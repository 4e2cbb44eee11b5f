#pragma once

// What a decision returns: the events it decided, or why the command was refused. Shared by the
// account decider (engine/decider.h) and the host registry's (engine/host_registry.h).

#include <expected>
#include <string>
#include <vector>

#include "clawvisor/v1/common.pb.h"
#include "clawvisor/v1/events.pb.h"

namespace clawvisor {

struct Rejection {
  v1::RejectionReason reason = v1::REJECTION_INVALID_ARGUMENT;
  std::string message;  // for people; never contains a secret or a payload value
};

using Decision = std::expected<std::vector<v1::Envelope>, Rejection>;

}  // namespace clawvisor
