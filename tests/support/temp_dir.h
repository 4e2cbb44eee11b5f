#pragma once

// A fresh directory under $TMPDIR, removed with everything in it when the object dies.

#include <filesystem>
#include <string>

namespace clawvisor::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace clawvisor::testing
