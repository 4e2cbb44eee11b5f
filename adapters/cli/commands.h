#pragma once

#include <filesystem>

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

int Main(int argc, char** argv);

// Shared by the subcommands: the default --data-dir, and an error's message and exit code.
std::filesystem::path DefaultDataDir();
int Fail(const Error& error);

}  // namespace clawvisor::cli
