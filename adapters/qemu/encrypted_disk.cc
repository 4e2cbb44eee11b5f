#include "adapters/qemu/encrypted_disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <utility>

#include "adapters/posix/atomic_file.h"
#include "adapters/posix/os_random.h"
#include "adapters/qemu/child_process.h"

namespace clawvisor::qemu {
namespace {

using namespace std::chrono_literals;

// Where the disk keeps its LUKS header when it cannot be read from the qcow2 header: within the
// first clusters (QEMU puts it at 256 KiB, about 2 MiB long).
constexpr uint64_t kDefaultKeyMaterialEnd = 8 << 20;
constexpr uint32_t kQcow2CryptHeaderExtension = 0x0537be77;
constexpr int kPbkdfAttempts = 12;

std::string ErrnoText() { return std::strerror(errno); }

std::string SecretObject(const std::string& id, const std::string& key_file) {
  return "secret,id=" + id + ",file=" + key_file + ",format=raw";
}

uint64_t BigEndian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

// The byte range of the disk's LUKS header and key material ([offset, offset + length)), read
// from the qcow2 header's "full disk encryption header pointer" extension.
std::optional<std::pair<uint64_t, uint64_t>> KeyMaterial(int fd) {
  std::array<unsigned char, 4096> header{};
  if (::pread(fd, header.data(), header.size(), 0) < 112) return std::nullopt;
  if (std::memcmp(header.data(), "QFI\xfb", 4) != 0 || BigEndian(&header[4], 4) < 3) {
    return std::nullopt;
  }
  uint64_t at = BigEndian(&header[100], 4);  // header_length: the extensions follow
  while (at + 8 <= header.size()) {
    const uint64_t type = BigEndian(&header[at], 4);
    const uint64_t length = BigEndian(&header[at + 4], 4);
    if (type == 0) return std::nullopt;
    if (type == kQcow2CryptHeaderExtension && length >= 16 && at + 24 <= header.size()) {
      return std::make_pair(BigEndian(&header[at + 8], 8), BigEndian(&header[at + 16], 8));
    }
    at += 8 + ((length + 7) & ~uint64_t{7});
  }
  return std::nullopt;
}

}  // namespace

Status CreateEncryptedDisk(const DiskTools& tools, const std::string& path, uint64_t bytes,
                           std::string_view passphrase, const std::string& work_dir) {
  const std::string scratch = work_dir + "/format.img";
  const std::string log = work_dir + "/disk-tool.log";
  struct RemoveScratch {
    std::string path;
    ~RemoveScratch() { ::unlink(path.c_str()); }
  } remove_scratch{scratch};

  // The filesystem, made in a sparse scratch file.
  {
    ::unlink(scratch.c_str());
    const int fd =
        ::open(scratch.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return MakeError(Errc::kUnavailable, "scratch file: " + ErrnoText());
    const bool sized = ::ftruncate(fd, static_cast<off_t>(bytes)) == 0;
    ::close(fd);
    if (!sized) return MakeError(Errc::kUnavailable, "size the scratch file: " + ErrnoText());
  }
  if (auto made = RunTool(
          {tools.mkfs, "-q", "-F", "-m", "0", "-E",
           "lazy_itable_init=0,lazy_journal_init=0,nodiscard", "-L", "clawvisor-data", scratch},
          log, 120s);
      !made) {
    return MakeError(Errc::kUnavailable, "mkfs of the data disk: " + made.error().message);
  }
  // Encrypted into the volume. Clusters never written read as zeros (qcow2 keeps them
  // unallocated), so only what mkfs wrote that is not zero is stored.
  //
  // qemu-img times PBKDF2 to choose its iteration counts, by the thread's user CPU time in
  // milliseconds; where the kernel accounts CPU time by scheduler ticks, a short first round can
  // measure 0 and qemu-img gives up ("Unable to get accurate CPU usage": about one create in
  // ten on an idle 2-core host, one in four under load). Each failure costs milliseconds: try
  // again, up to kPbkdfAttempts times (a failure of them all is then ~1e-7 under load).
  // The disk appears under `path` only whole (AtomicFile: a 0600 temporary, fsync, rename). A
  // failing qemu-img removes its output, so each attempt has a temporary of its own.
  for (int attempt = 1;; ++attempt) {
    auto disk = AtomicFile::Create(path);
    if (!disk) return MakeError(Errc::kUnavailable, "create the disk: " + disk.error().message);
    const Status converted =
        RunTool({tools.qemu_img, "convert", "-f", "raw", "-O", "qcow2", "--object",
                 SecretObject("vk", SecretPath(0)), "-o",
                 "encrypt.format=luks,encrypt.key-secret=vk,encrypt.cipher-alg=aes-256,"
                 "encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain64,encrypt.hash-alg=sha256,"
                 "encrypt.iter-time=10",
                 scratch, disk->temporary_path().string()},
                log, 120s, {passphrase});
    if (converted) {
      // qemu-img wrote through its own descriptor, into the same file: Commit's fsync covers it.
      if (auto placed = disk->Commit(); !placed) {
        return MakeError(Errc::kUnavailable, "place the encrypted disk: " + placed.error().message);
      }
      return {};
    }
    const bool mismeasured =
        converted.error().message.find("accurate CPU usage") != std::string::npos;
    if (!mismeasured || attempt == kPbkdfAttempts) {
      return MakeError(Errc::kUnavailable, "make the encrypted disk: " + converted.error().message);
    }
    std::this_thread::sleep_for(10ms);
  }
}

Status ShredEncryptedDisk(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    return MakeError(Errc::kUnavailable, "open the disk to shred it: " + ErrnoText());
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string error = ErrnoText();
    ::close(fd);
    return MakeError(Errc::kUnavailable, "stat the disk to shred it: " + error);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  // The key material where the header says, if that range is plausible (a LUKS1 header and its
  // eight key slots: 592 bytes to 16 MiB, inside the file); else the file's first 8 MiB, which
  // hold it wherever QEMU put it.
  uint64_t begin = 0, end = std::min<uint64_t>(size, kDefaultKeyMaterialEnd);
  if (const auto material = KeyMaterial(fd);
      material && material->second >= 592 && material->second <= (16u << 20) &&
      material->first < size && material->second <= size - material->first) {
    begin = material->first;
    end = material->first + material->second;
  }
  OsRandom random;
  std::vector<std::byte> noise(64 * 1024);
  bool ok = true;
  for (uint64_t at = begin; at < end && ok; at += noise.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(noise.size(), end - at));
    random.Fill(std::span(noise).first(n));
    ok = ::pwrite(fd, noise.data(), n, static_cast<off_t>(at)) == static_cast<ssize_t>(n);
  }
  ok = ok && ::fdatasync(fd) == 0;
  const std::string error = ok ? std::string() : ErrnoText();
  ::close(fd);
  if (!ok) return MakeError(Errc::kUnavailable, "shred the disk's key slots: " + error);
  return {};
}

std::vector<std::string> EncryptedDiskArgs(const std::string& path, const std::string& key_file,
                                           const std::string& node) {
  return {"-object",
          SecretObject(node + "-key", key_file),
          "-blockdev",
          "driver=file,node-name=" + node + "-file,filename=" + path + ",aio=threads,discard=unmap",
          "-blockdev",
          "driver=qcow2,node-name=" + node + ",file=" + node +
              "-file,encrypt.format=luks,encrypt.key-secret=" + node + "-key,discard=unmap"};
}

}  // namespace clawvisor::qemu
