#include "adapters/cli/guest_image_flags.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace clawvisor::cli {
namespace {

constexpr std::string_view kHelp =
    R"(  --guest-images NAME=DIR[,NAME=DIR...]
                         the guest images instances may run (an OpenClaw version each), each
                         a directory with an image.conf (ops/guest/build*.sh write them)
  --default-guest-image NAME  what a new instance runs (default: the first listed)
)";

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(Errc::kInvalidArgument, "cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 64 * 1024) return MakeError(Errc::kInvalidArgument, path + " too large");
  return text.str();
}

Status Readable(const std::string& name, const std::string& path) {
  if (path.empty() || ::access(path.c_str(), R_OK) != 0) {
    return MakeError(Errc::kInvalidArgument,
                     "guest image '" + name + "': cannot read '" + path + "'");
  }
  return {};
}

}  // namespace

std::string_view GuestImageFlagsHelp() { return kHelp; }

std::vector<FlagSpec> GuestImageFlagSpecs() { return {{"guest-images"}, {"default-guest-image"}}; }

Result<std::shared_ptr<const GuestImageCatalog>> ParseGuestImageFlags(const Flags& flags) {
  auto list = flags.Get("guest-images");
  if (!list) {
    if (flags.Has("default-guest-image")) {
      return MakeError(Errc::kInvalidArgument, "--default-guest-image needs --guest-images");
    }
    return std::shared_ptr<const GuestImageCatalog>();
  }
  auto catalog = std::make_shared<GuestImageCatalog>();
  std::string first;
  std::string_view rest = *list;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      return MakeError(
          Errc::kInvalidArgument,
          "--guest-images takes NAME=DIR[,NAME=DIR...]; got '" + std::string(item) + "'");
    }
    const std::string name(item.substr(0, eq));
    const std::string dir(item.substr(eq + 1));
    auto text = ReadSmallFile(dir + "/image.conf");
    if (!text) {
      return MakeError(Errc::kInvalidArgument, "guest image '" + name +
                                                   "': " + text.error().message +
                                                   " (build it with ops/guest/build*.sh)");
    }
    auto image = ParseGuestImageConf(name, dir, *text);
    if (!image) return std::unexpected(image.error());
    if (auto ok = Readable(name, image->boot.kernel); !ok) return std::unexpected(ok.error());
    for (const std::string* file : {&image->boot.initrd, &image->boot.rootfs}) {
      if (file->empty()) continue;
      if (auto ok = Readable(name, *file); !ok) return std::unexpected(ok.error());
    }
    if (first.empty()) first = name;
    if (auto ok = catalog->Add(std::move(*image)); !ok) return std::unexpected(ok.error());
  }
  if (first.empty()) return MakeError(Errc::kInvalidArgument, "--guest-images is empty");
  if (auto ok = catalog->SetDefault(flags.GetOr("default-guest-image", first)); !ok) {
    return MakeError(Errc::kInvalidArgument, "--default-guest-image: " + ok.error().message);
  }
  return std::shared_ptr<const GuestImageCatalog>(std::move(catalog));
}

void UseGuestImages(DecideOptions& decide, const GuestImageCatalog& catalog) {
  decide.guest_images = catalog.Versions();
  decide.default_image = catalog.default_name();
}

}  // namespace clawvisor::cli
