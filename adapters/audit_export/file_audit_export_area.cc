#include "adapters/posix/file_audit_export_area.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "adapters/posix/atomic_file.h"
#include "engine/domain/decider.h"

namespace clawvisor {
namespace {

Status WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return MakeError(Errc::kUnavailable, std::string("write failed: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status CheckIds(std::string_view account_id, std::string_view export_id) {
  // Both become path components: the shared id rules exclude '/', "." and "..".
  if (!IsValidResourceId(account_id) || !IsValidResourceId(export_id)) {
    return MakeError(Errc::kInvalidArgument, "account or export id is not a valid id");
  }
  return {};
}

class File final : public AuditExportFile {
 public:
  File(AtomicFile file, EVP_MD_CTX* sha) : file_(std::move(file)), sha_(sha) {}
  ~File() override { EVP_MD_CTX_free(sha_); }
  Status Write(std::string_view bytes) override {
    if (committed_) return MakeError(Errc::kFailedPrecondition, "export file already committed");
    if (EVP_DigestUpdate(sha_, bytes.data(), bytes.size()) != 1) {
      return MakeError(Errc::kInternal, "SHA-256 update failed");
    }
    if (auto ok = file_.Write(bytes); !ok) return ok;
    size_ += bytes.size();
    return {};
  }
  Result<Committed> Commit() override {
    if (committed_) return MakeError(Errc::kFailedPrecondition, "export file already committed");
    Committed out;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(sha_, digest, &length) != 1 || length != 32) {
      return MakeError(Errc::kInternal, "SHA-256 final failed");
    }
    out.sha256.assign(reinterpret_cast<const char*>(digest), length);
    out.bytes = size_;
    committed_ = true;
    if (auto ok = file_.Commit(); !ok) {
      return MakeError(ok.error().code, "cannot publish the export file: " + ok.error().message);
    }
    return out;
  }

 private:
  AtomicFile file_;
  EVP_MD_CTX* sha_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

Status FdSink::Write(std::string_view bytes) { return WriteAll(fd_, bytes); }

Result<std::unique_ptr<AuditExportFile>> FileAuditExportArea::Create(std::string_view account_id,
                                                                     std::string_view export_id) {
  if (auto ok = CheckIds(account_id, export_id); !ok) return std::unexpected(ok.error());
  const auto dir = root_ / std::string(account_id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return MakeError(Errc::kUnavailable, "cannot create " + dir.string() + ": " + ec.message());
  ::chmod(root_.c_str(), 0700);
  ::chmod(dir.c_str(), 0700);
  // <export id>.csv.partial until committed; a stale one from a crash is replaced.
  auto file = AtomicFile::Create(dir / (std::string(export_id) + ".csv"),
                                 {.mode = 0600, .temp_suffix = ".partial"});
  if (!file) return std::unexpected(file.error());
  EVP_MD_CTX* sha = EVP_MD_CTX_new();
  if (sha == nullptr || EVP_DigestInit_ex(sha, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(sha);
    return MakeError(Errc::kInternal, "SHA-256 init failed");
  }
  return std::unique_ptr<AuditExportFile>(new File(std::move(*file), sha));
}

Result<std::string> FileAuditExportArea::PathOf(std::string_view account_id,
                                                std::string_view export_id) {
  if (auto ok = CheckIds(account_id, export_id); !ok) return std::unexpected(ok.error());
  const auto path = root_ / std::string(account_id) / (std::string(export_id) + ".csv");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return MakeError(Errc::kNotFound, "no file for this export");
  }
  return path.string();
}

Status FileAuditExportArea::Remove(std::string_view account_id, std::string_view export_id) {
  if (auto ok = CheckIds(account_id, export_id); !ok) return ok;
  const auto path = root_ / std::string(account_id) / (std::string(export_id) + ".csv");
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) return MakeError(Errc::kInternal, "removing the export file failed: " + ec.message());
  return {};
}

}  // namespace clawvisor
