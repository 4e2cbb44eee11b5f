#include "engine/reconcile/guest_images.h"

#include <algorithm>
#include <charconv>

namespace clawvisor {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> Number(std::string_view text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

std::string InDir(std::string_view dir, std::string_view file) {
  if (!file.empty() && file.front() == '/') return std::string(file);
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  return out + std::string(file);
}

}  // namespace

bool IsValidGuestImageName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  return std::all_of(name.begin(), name.end(), ok) && name.front() != '.' && name.front() != '_' &&
         name.front() != '-';
}

Result<GuestImage> ParseGuestImageConf(std::string_view name, std::string_view dir,
                                       std::string_view text) {
  if (!IsValidGuestImageName(name)) {
    return MakeError(Errc::kInvalidArgument,
                     "guest image name must be 1..64 of [a-z0-9._-]: '" + std::string(name) + "'");
  }
  GuestImage image;
  image.name = std::string(name);
  image.boot.image = image.name;
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = Trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string where = "image.conf of '" + image.name + "', line " + std::to_string(line_no);
    if (eq == std::string_view::npos) return MakeError(Errc::kInvalidArgument, where + ": no '='");
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string_view value = Trim(line.substr(eq + 1));
    auto bad = [&](std::string_view why) {
      return MakeError(Errc::kInvalidArgument,
                       where + ": " + std::string(key) + " " + std::string(why));
    };
    if (key == "openclaw_version") {
      if (value.empty() || value.size() > 64) return bad("must be 1..64 characters");
      image.openclaw_version = std::string(value);
    } else if (key == "kernel") {
      image.boot.kernel = InDir(dir, value);
    } else if (key == "initrd") {
      image.boot.initrd = InDir(dir, value);
    } else if (key == "rootfs") {
      image.boot.rootfs = InDir(dir, value);
    } else if (key == "tcg_clock") {
      if (value == "pit") {
        image.boot.tcg_clock = TcgClock::kPit;
      } else if (value == "tsc") {
        image.boot.tcg_clock = TcgClock::kTsc;
      } else {
        return bad("must be pit or tsc");
      }
    } else if (key == "boot_grace_s") {
      auto v = Number(value, 1, 24 * 3600);
      if (!v) return bad("must be 1..86400 seconds");
      image.boot_grace = std::chrono::seconds(*v);
    } else if (key == "health_interval_s") {
      auto v = Number(value, 1, 3600);
      if (!v) return bad("must be 1..3600 seconds");
      image.health_interval = std::chrono::seconds(*v);
    } else if (key == "health_timeout_ms") {
      auto v = Number(value, 100, 60'000);
      if (!v) return bad("must be 100..60000 ms");
      image.health_timeout = std::chrono::milliseconds(*v);
    } else if (key == "health_path") {
      const bool ok = !value.empty() && value.size() <= 128 && value.front() == '/' &&
                      std::all_of(value.begin(), value.end(), [](char c) {
                        return c > 0x20 && c < 0x7f && c != '?' && c != '#';
                      });
      if (!ok) return bad("must be a path (/healthz, /readyz)");
      image.health_path = std::string(value);
    } else if (key == "min_memory_mib") {
      auto v = Number(value, 64, 1 << 20);
      if (!v) return bad("must be 64..1048576");
      image.min_memory_mib = static_cast<uint32_t>(*v);
    } else {
      return bad("is not a known key");
    }
  }
  const std::string what = "image.conf of '" + image.name + "'";
  if (image.boot.kernel.empty())
    return MakeError(Errc::kInvalidArgument, what + " names no kernel");
  if (image.boot.initrd.empty() && image.boot.rootfs.empty()) {
    return MakeError(Errc::kInvalidArgument, what + " names neither an initrd nor a rootfs");
  }
  if (image.openclaw_version.empty()) {
    return MakeError(Errc::kInvalidArgument, what + " names no openclaw_version");
  }
  return image;
}

Status GuestImageCatalog::Add(GuestImage image) {
  if (!IsValidGuestImageName(image.name)) {
    return MakeError(Errc::kInvalidArgument, "bad guest image name '" + image.name + "'");
  }
  if (images_.contains(image.name)) {
    return MakeError(Errc::kInvalidArgument, "guest image '" + image.name + "' registered twice");
  }
  image.boot.image = image.name;
  std::string name = image.name;
  images_.emplace(std::move(name), std::move(image));
  return {};
}

Status GuestImageCatalog::SetDefault(std::string_view name) {
  if (!images_.contains(name)) {
    return MakeError(Errc::kNotFound, "no guest image '" + std::string(name) + "' is registered");
  }
  default_ = std::string(name);
  return {};
}

const GuestImage* GuestImageCatalog::Find(std::string_view name) const {
  auto it = images_.find(name.empty() ? std::string_view(default_) : name);
  return it == images_.end() ? nullptr : &it->second;
}

std::map<std::string, std::string, std::less<>> GuestImageCatalog::Versions() const {
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& [name, image] : images_) out.emplace(name, image.openclaw_version);
  return out;
}

}  // namespace clawvisor
