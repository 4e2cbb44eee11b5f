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

}  // namespace clawvisor::testing
