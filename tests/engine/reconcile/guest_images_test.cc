// image.conf, as ops/guest's build scripts write it and operators edit it: every key it knows,
// and a clear error naming the line for anything else.

#include "engine/reconcile/guest_images.h"

#include <gtest/gtest.h>

namespace clawvisor {
namespace {

using namespace std::chrono_literals;

TEST(GuestImagesTest, TheProductionImagesConfNamesItsFilesClockAndHealth) {
  auto image = ParseGuestImageConf("oc-2026.9.6", "/img/oc", R"(# written by build-openclaw.sh
openclaw_version=2026.9.6
kernel=kernel
initrd=initramfs.cpio.gz
rootfs = /shared/rootfs.img   # absolute: kept
tcg_clock=tsc
boot_grace_s=1800
health_interval_s=5
health_timeout_ms=5000
health_path=/readyz
min_memory_mib=2048
)");
  ASSERT_TRUE(image.has_value()) << image.error().ToString();
  EXPECT_EQ(image->name, "oc-2026.9.6");
  EXPECT_EQ(image->boot.image, "oc-2026.9.6");
  EXPECT_EQ(image->openclaw_version, "2026.9.6");
  EXPECT_EQ(image->boot.kernel, "/img/oc/kernel");
  EXPECT_EQ(image->boot.initrd, "/img/oc/initramfs.cpio.gz");
  EXPECT_EQ(image->boot.rootfs, "/shared/rootfs.img");
  EXPECT_EQ(image->boot.tcg_clock, TcgClock::kTsc);
  EXPECT_EQ(image->boot_grace, std::chrono::microseconds(1800s));
  EXPECT_EQ(image->health_interval, std::chrono::microseconds(5s));
  EXPECT_EQ(image->health_timeout, 5000ms);
  EXPECT_EQ(image->health_path, "/readyz");
  EXPECT_EQ(image->min_memory_mib, 2048u);
}

TEST(GuestImagesTest, TheTestImageKeepsTheDefaults) {
  auto image = ParseGuestImageConf(
      "test", "/img/t/", "openclaw_version=test\nkernel=kernel\ninitrd=initramfs.cpio.gz\n");
  ASSERT_TRUE(image.has_value()) << image.error().ToString();
  EXPECT_EQ(image->boot.initrd, "/img/t/initramfs.cpio.gz");
  EXPECT_TRUE(image->boot.rootfs.empty());
  EXPECT_EQ(image->boot.tcg_clock, TcgClock::kPit);
  EXPECT_FALSE(image->boot_grace.has_value());
  EXPECT_FALSE(image->health_path.has_value());
  EXPECT_EQ(image->min_memory_mib, 0u);
}

TEST(GuestImagesTest, AnythingItDoesNotUnderstandIsRefusedWithItsLine) {
  const std::string base = "openclaw_version=1\nkernel=k\ninitrd=i\n";
  struct Case {
    std::string text, error;
  };
  for (const Case& c : std::vector<Case>{
           {base + "tcg_clock=hpet\n", "line 4: tcg_clock must be pit or tsc"},
           {base + "boot_grace_s=0\n", "line 4: boot_grace_s"},
           {base + "health_timeout_ms=10\n", "line 4: health_timeout_ms"},
           {base + "health_path=healthz\n", "line 4: health_path"},
           {base + "health_path=/a?b\n", "line 4: health_path"},
           {base + "min_memory_mib=2048MiB\n", "line 4: min_memory_mib"},
           {base + "colour=blue\n", "line 4: colour is not a known key"},
           {base + "just words\n", "line 4: no '='"},
           {"openclaw_version=1\nkernel=k\n", "names neither an initrd nor a rootfs"},
           {"openclaw_version=1\ninitrd=i\n", "names no kernel"},
           {"kernel=k\ninitrd=i\n", "names no openclaw_version"},
       }) {
    auto image = ParseGuestImageConf("img", "/d", c.text);
    ASSERT_FALSE(image.has_value()) << c.text;
    EXPECT_EQ(image.error().code, Errc::kInvalidArgument);
    EXPECT_NE(image.error().message.find(c.error), std::string::npos)
        << image.error().message << " / wanted: " << c.error;
  }
  EXPECT_FALSE(ParseGuestImageConf("Bad Name", "/d", base).has_value());
  EXPECT_FALSE(ParseGuestImageConf("-x", "/d", base).has_value());
}

TEST(GuestImagesTest, TheCatalogFindsByNameOrDefaultAndRefusesDuplicates) {
  GuestImageCatalog catalog;
  auto a = ParseGuestImageConf("a", "/a", "openclaw_version=1\nkernel=k\ninitrd=i\n");
  auto b = ParseGuestImageConf("b", "/b", "openclaw_version=2\nkernel=k\nrootfs=r\n");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(catalog.Add(*a).has_value());
  ASSERT_TRUE(catalog.Add(*b).has_value());
  EXPECT_FALSE(catalog.Add(*a).has_value());
  EXPECT_FALSE(catalog.SetDefault("c").has_value());
  ASSERT_TRUE(catalog.SetDefault("b").has_value());
  ASSERT_NE(catalog.Find(""), nullptr);
  EXPECT_EQ(catalog.Find("")->name, "b");
  EXPECT_EQ(catalog.Find("a")->openclaw_version, "1");
  EXPECT_EQ(catalog.Find("c"), nullptr);
  EXPECT_EQ(catalog.Versions().at("b"), "2");
}

}  // namespace
}  // namespace clawvisor
