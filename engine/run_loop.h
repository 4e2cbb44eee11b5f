#pragma once

// The loop of a long-running component (processor, projector): call one step after another
// until stopped; after a failed step, log it and wait with exponential backoff (50 ms doubling
// to 5 s); after an idle step, wait `idle_wait`. Every wait is cut short by a stop request, so
// shutdown is prompt. The only real waits of those components live here and in EventLog::Poll;
// tests call their single-step functions instead.

#include <chrono>
#include <functional>
#include <stop_token>
#include <string_view>

#include "events/result.h"

namespace clawvisor {

// `step` returns whether it found nothing to do (idle).
void RunUntilStopped(std::stop_token stop, std::string_view component,
                     const std::function<Result<bool>()>& step,
                     std::chrono::milliseconds idle_wait = std::chrono::milliseconds(0));

}  // namespace clawvisor
