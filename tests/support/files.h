#pragma once

// Small file and process helpers shared by tests.

#include <filesystem>
#include <string>

namespace clawvisor::testing {

// The whole file, bytes as they are ("" if it cannot be read).
std::string ReadFile(const std::filesystem::path& path);

// Runs `command` with /bin/sh and returns its standard output without trailing newlines or
// spaces ("" if it cannot be started).
std::string Shell(const std::string& command);

// The source and build trees of this checkout. Out of line on purpose: GCC 12 warns
// (-Warray-bounds, a known false positive) on `std::string(LITERAL) + "..."` for some lengths of
// the literal, so a path baked into each test would fail the build in some checkout folders.
const std::string& SourceDir();
const std::string& BuildDir();

}  // namespace clawvisor::testing
