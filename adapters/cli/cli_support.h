#pragma once

// What every subcommand of the `clawvisor` binary shares: the exit codes, how an error becomes a
// message and an exit code, the default data directory, and the signal scaffolding of a
// long-running service (block the stop signals before any thread starts, then wait for one).
// Thread-safety: call from the main thread, before any other thread is started (the signal
// mask is inherited by the threads started after it).

#include <signal.h>

#include <filesystem>
#include <functional>
#include <string_view>

#include "events/result.h"

namespace clawvisor::cli {

// Exit codes (sysexits-style, documented in README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // the work failed (environment, I/O)
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad flags or arguments
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: input data is invalid
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: a dependency is down
inline constexpr int kExitSoftware = 70;     // EX_SOFTWARE: internal error
inline constexpr int kExitCantCreat = 73;    // EX_CANTCREAT: cannot create an output file
inline constexpr int kExitIoErr = 74;        // EX_IOERR

// The default --data-dir: $CLAWVISOR_DATA_DIR, else $XDG_DATA_HOME/clawvisor, else
// ~/.local/share/clawvisor, else /var/lib/clawvisor.
std::filesystem::path DefaultDataDir();
// Prints "clawvisor: ERROR" to stderr; returns the exit code of its kind.
int Fail(const Error& error);
// Prints "clawvisor: MESSAGE", then the command's help, to stderr; returns kExitUsage.
int UsageError(std::string_view message, std::string_view help);

// Blocks SIGINT and SIGTERM (and SIGUSR1 when `usr1`) in this thread and every thread started
// after it, so a long-running command takes them with sigwait(&signals); ignores SIGPIPE.
void BlockServiceSignals(sigset_t& signals, bool usr1 = false);

// A service's life between its start and its stop: blocks the stop signals, runs `start`
// (which opens and starts the service; its exit code, when not kExitOk, ends the command),
// waits for SIGINT or SIGTERM, logs "stopping" as `component`, and runs `stop`.
// REQUIRES: no other thread runs yet.
int RunUntilStopSignal(std::string_view component, const std::function<int()>& start,
                       const std::function<void()>& stop);

}  // namespace clawvisor::cli
