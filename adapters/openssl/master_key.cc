#include "adapters/openssl/master_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "adapters/openssl/aes_gcm.h"
#include "adapters/posix/atomic_file.h"
#include "engine/hex.h"

namespace clawvisor {
namespace {

using openssl::Cleanse;

constexpr std::string_view kIdDomain = "clawvisor.master-key-id.v1";

std::string_view Trim(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Standard base64 with padding: 32 bytes are 44 characters ending in one '='.
bool DecodeBase64(std::string_view text, std::span<unsigned char, kMasterKeySize> out) {
  constexpr size_t kEncodedSize = 4 * ((kMasterKeySize + 2) / 3);
  if (text.size() != kEncodedSize || text.back() != '=' || text[text.size() - 2] == '=') {
    return false;
  }
  for (char c : text.substr(0, text.size() - 1)) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return false;
  }
  // EVP_DecodeBlock counts the padding as zero bytes: 44 characters decode to 33 bytes.
  std::array<unsigned char, 3 * (kEncodedSize / 4)> buf{};
  const int n = EVP_DecodeBlock(buf.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  const bool ok = n == static_cast<int>(buf.size());
  if (ok) std::copy_n(buf.begin(), kMasterKeySize, out.begin());
  Cleanse(buf);
  return ok;
}

std::string Errno(int err) { return std::strerror(err); }

// Refuses a directory that anyone may write to: another user could swap the key file.
Status CheckDirectory(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return MakeError(err == ENOENT ? Errc::kNotFound : Errc::kUnavailable,
                     "master key directory " + dir.string() + ": " + Errno(err));
  }
  if (!S_ISDIR(st.st_mode)) {
    return MakeError(Errc::kInvalidArgument,
                     "master key directory " + dir.string() + " is not a directory");
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    return MakeError(Errc::kPermissionDenied,
                     "master key directory " + dir.string() +
                         " is world-writable; keep the key in a private directory (chmod o-w)");
  }
  return {};
}

std::filesystem::path DirectoryOf(const std::filesystem::path& path) {
  auto dir = path.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// Reads a key file through an open descriptor after checking what the descriptor points at, so
// the checks and the read concern the same file.
Result<MasterKey> ReadKeyFd(int fd, const std::filesystem::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return MakeError(Errc::kUnavailable, "master key file " + path.string() + ": " + Errno(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Errc::kInvalidArgument,
                     "master key file " + path.string() + " is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    return MakeError(Errc::kPermissionDenied, "master key file " + path.string() +
                                                  " is owned by another user; it must belong to "
                                                  "the user running clawvisor");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return MakeError(Errc::kPermissionDenied,
                     "master key file " + path.string() + " has mode " + mode +
                         "; it must not be readable by group or others (chmod 600 " +
                         path.string() + ")");
  }
  // A key file holds one line of text; anything much larger is not a key file.
  std::array<char, 256> buf{};
  size_t total = 0;
  while (total < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + total, buf.size() - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      Cleanse(std::span(reinterpret_cast<unsigned char*>(buf.data()), buf.size()));
      return MakeError(Errc::kUnavailable, "master key file " + path.string() + ": " + Errno(err));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  Result<MasterKey> key = MakeError(Errc::kCorruption, "too long");
  if (total < buf.size()) key = MasterKey::Parse(std::string_view(buf.data(), total));
  Cleanse(std::span(reinterpret_cast<unsigned char*>(buf.data()), buf.size()));
  if (!key) {
    return MakeError(Errc::kCorruption, "master key file " + path.string() +
                                            " does not hold a key (expected 64 hex digits or "
                                            "base64 of 32 bytes)");
  }
  return key;
}

// Writes the key to a private temporary, makes it durable, then links it at `path` (AtomicFile
// with replace_existing = false). link(2) fails if `path` exists, so a concurrent creator never
// has its key replaced; and a crash leaves either no key file or a complete one (never a
// truncated key that would look like corruption).
Status CreateKeyFile(const std::filesystem::path& path, const MasterKey& key) {
  auto file = AtomicFile::Create(path, {.mode = 0600, .replace_existing = false});
  if (!file) {
    return MakeError(Errc::kUnavailable, "cannot create master key file " + path.string() + ": " +
                                             file.error().message);
  }
  std::string text = key.ToHex() + "\n";
  Status status = file->Write(text);
  Cleanse(text);
  if (status) status = file->Commit();
  if (!status && status.error().code != Errc::kAlreadyExists) {
    status.error().message =
        "writing master key file " + path.string() + ": " + status.error().message;
  }
  return status;
}

}  // namespace

Result<MasterKey> MasterKey::FromBytes(std::span<const std::byte> bytes) {
  if (bytes.size() != kMasterKeySize) {
    return MakeError(Errc::kInvalidArgument, "a master key is exactly 32 bytes");
  }
  MasterKey key;
  std::memcpy(key.key_.data(), bytes.data(), kMasterKeySize);
  key.DeriveId();
  return key;
}

Result<MasterKey> MasterKey::Parse(std::string_view text) {
  text = Trim(text);
  MasterKey key;
  if (!HexDecodeInto(text, key.key_) && !DecodeBase64(text, key.key_)) {
    return MakeError(Errc::kInvalidArgument,
                     "a master key is 64 hex digits or the base64 of 32 bytes");
  }
  key.DeriveId();
  return key;
}

MasterKey MasterKey::Generate(RandomSource& random) {
  MasterKey key;
  random.Fill(std::as_writable_bytes(std::span(key.key_)));
  key.DeriveId();
  return key;
}

MasterKey::MasterKey(const MasterKey& other) : key_(other.key_), id_(other.id_) {}

MasterKey& MasterKey::operator=(const MasterKey& other) {
  key_ = other.key_;
  id_ = other.id_;
  return *this;
}

MasterKey::~MasterKey() { Cleanse(key_); }

std::string MasterKey::ToHex() const { return HexEncode(key_); }

void MasterKey::DeriveId() {
  std::array<unsigned char, kIdDomain.size() + kMasterKeySize> input{};
  std::copy(kIdDomain.begin(), kIdDomain.end(), input.begin());
  std::copy(key_.begin(), key_.end(), input.begin() + kIdDomain.size());
  auto digest = openssl::Sha256(input);
  Cleanse(input);
  if (!digest) {
    // SHA-256 is always present in OpenSSL's default provider; without it nothing is safe.
    std::fputs("FATAL: SHA-256 unavailable; cannot name the master key\n", stderr);
    std::abort();
  }
  id_ = "mk_" + HexEncode(std::span<const unsigned char>(digest->data(), 8));
}

Result<MasterKey> LoadMasterKeyFile(const std::filesystem::path& path) {
  if (auto dir = CheckDirectory(DirectoryOf(path)); !dir) return std::unexpected(dir.error());
  // O_NONBLOCK: a FIFO planted at the path must not hang startup (regular files ignore it).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) {
      return MakeError(Errc::kPermissionDenied, "master key file " + path.string() +
                                                    " is a symbolic link; refusing to follow it");
    }
    return MakeError(err == ENOENT ? Errc::kNotFound : Errc::kUnavailable,
                     "master key file " + path.string() + ": " + Errno(err));
  }
  auto key = ReadKeyFd(fd, path);
  ::close(fd);
  return key;
}

Result<MasterKey> LoadOrCreateMasterKeyFile(const std::filesystem::path& path,
                                            RandomSource& random) {
  auto loaded = LoadMasterKeyFile(path);
  if (loaded || loaded.error().code != Errc::kNotFound) return loaded;
  if (auto dir = CheckDirectory(DirectoryOf(path)); !dir) return std::unexpected(dir.error());
  MasterKey key = MasterKey::Generate(random);
  auto created = CreateKeyFile(path, key);
  if (created) return key;
  // Someone created it between our read and our link: theirs is the key.
  if (created.error().code == Errc::kAlreadyExists) return LoadMasterKeyFile(path);
  return std::unexpected(created.error());
}

Result<MasterKey> LoadMasterKeyFromEnv(std::string_view name) {
  const std::string var(name);
  const char* value = std::getenv(var.c_str());
  if (value == nullptr || *value == '\0') {
    return MakeError(Errc::kNotFound, "environment variable " + var + " is not set");
  }
  auto key = MasterKey::Parse(value);
  if (!key) {
    return MakeError(Errc::kInvalidArgument,
                     "environment variable " + var +
                         " does not hold a master key (expected 64 hex digits or base64 of 32 "
                         "bytes)");
  }
  return key;
}

std::function<std::string(std::string_view)> MakeRecordAuthenticator(const MasterKey& master,
                                                                     std::string_view purpose) {
  std::string label = "clawvisor.record-mac.v1:";
  label.append(purpose);
  auto derived = openssl::HmacSha256(master.bytes(), openssl::AsBytes(label));
  auto key = std::make_shared<openssl::SecretKey>();
  if (derived) std::copy(derived->begin(), derived->end(), key->bytes.begin());
  if (derived) openssl::Cleanse(std::span<unsigned char>(*derived));
  return [key, ok = derived.has_value()](std::string_view data) -> std::string {
    if (!ok) return {};  // an empty tag verifies nothing: every record is refused
    auto mac = openssl::HmacSha256(key->bytes, openssl::AsBytes(data));
    if (!mac) return {};
    return std::string(reinterpret_cast<const char*>(mac->data()), mac->size());
  };
}

}  // namespace clawvisor
