#include "tests/support/files.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace clawvisor::testing {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

const std::string& SourceDir() {
  static const std::string dir = CLAWVISOR_SOURCE_DIR;
  return dir;
}

const std::string& BuildDir() {
  static const std::string dir = CLAWVISOR_BUILD_DIR;
  return dir;
}

}  // namespace clawvisor::testing
