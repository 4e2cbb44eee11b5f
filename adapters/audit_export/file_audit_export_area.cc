#include "adapters/audit_export/file_audit_export_area.h"

#include <sys/stat.h>

#include <memory>
#include <string>

#include "adapters/openssl/aes_gcm.h"
#include "adapters/posix/atomic_file.h"
#include "engine/domain/decider.h"

namespace clawvisor {
namespace {

Status CheckIds(std::string_view account_id, std::string_view export_id) {
  // Both become path components: the shared id rules exclude '/', "." and "..".
  if (!IsValidResourceId(account_id) || !IsValidResourceId(export_id)) {
    return MakeError(Errc::kInvalidArgument, "account or export id is not a valid id");
  }
  return {};
}

class File final : public AuditExportFile {
 public:
  File(AtomicFile file, openssl::Sha256Hasher sha) : file_(std::move(file)), sha_(std::move(sha)) {}
  Status Write(std::string_view bytes) override {
    if (committed_) return MakeError(Errc::kFailedPrecondition, "export file already committed");
    if (auto hashed = sha_.Update(openssl::AsBytes(bytes)); !hashed) return hashed;
    if (auto ok = file_.Write(bytes); !ok) return ok;
    size_ += bytes.size();
    return {};
  }
  Result<Committed> Commit() override {
    if (committed_) return MakeError(Errc::kFailedPrecondition, "export file already committed");
    auto digest = sha_.Finish();
    if (!digest) return std::unexpected(digest.error());
    Committed out;
    out.sha256.assign(reinterpret_cast<const char*>(digest->data()), digest->size());
    out.bytes = size_;
    committed_ = true;
    if (auto ok = file_.Commit(); !ok) {
      return MakeError(ok.error().code, "cannot publish the export file: " + ok.error().message);
    }
    return out;
  }

 private:
  AtomicFile file_;
  openssl::Sha256Hasher sha_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

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
  auto sha = openssl::Sha256Hasher::Create();
  if (!sha) return std::unexpected(sha.error());
  return std::unique_ptr<AuditExportFile>(new File(std::move(*file), std::move(*sha)));
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
