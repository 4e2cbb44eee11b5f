#include "tests/support/luks_check.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/support/files.h"

namespace clawvisor::testing {
namespace {

uint64_t Be(const std::vector<unsigned char>& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = v << 8 | b.at(at + static_cast<size_t>(i));
  return v;
}

// Copies the LUKS header of the qcow2 `disk` (its "full disk encryption header pointer"
// extension, type 0x0537be77: offset and length) to `out`.
bool CopyHeader(const std::string& disk, const std::string& out) {
  std::ifstream in(disk, std::ios::binary);
  std::vector<unsigned char> head(65536);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  if (in.gcount() < 112 || Be(head, 0, 4) != 0x514649fb) return false;  // "QFI\xfb"
  size_t at = Be(head, 100, 4);
  while (at + 24 <= head.size()) {
    const uint64_t type = Be(head, at, 4), length = Be(head, at + 4, 4);
    if (type == 0) return false;
    if (type == 0x0537be77) {
      const uint64_t offset = Be(head, at + 8, 8), size = Be(head, at + 16, 8);
      if (size > (16u << 20)) return false;  // no LUKS1 header is larger
      std::vector<char> header(size);
      in.clear();
      in.seekg(static_cast<std::streamoff>(offset));
      in.read(header.data(), static_cast<std::streamsize>(size));
      if (static_cast<uint64_t>(in.gcount()) != size) return false;
      std::ofstream(out, std::ios::binary).write(header.data(), static_cast<std::streamsize>(size));
      return true;
    }
    at += 8 + ((length + 7) & ~uint64_t{7});
  }
  return false;
}

}  // namespace

std::string LuksDump(const std::string& disk, const std::string& work_dir) {
  const std::string header = work_dir + "/luks-header.bin";
  if (!CopyHeader(disk, header)) return "";
  const std::string dump = Shell("cryptsetup luksDump " + header + " 2>&1");
  std::filesystem::remove(header);
  return dump;
}

bool CryptsetupOpens(const std::string& disk, const std::string& passphrase,
                     const std::string& work_dir) {
  const std::string header = work_dir + "/luks-header.bin", key = work_dir + "/luks-try.key";
  if (!CopyHeader(disk, header)) return false;
  std::ofstream(key, std::ios::binary) << passphrase;
  const std::string rc = Shell("cryptsetup open --test-passphrase --key-file " + key + " " +
                               header + " >/dev/null 2>&1; echo $?");
  std::filesystem::remove(header);
  std::filesystem::remove(key);
  return rc == "0";
}

}  // namespace clawvisor::testing
