// The encrypted data disk beside an unencrypted one, same host, same run:
//   make:   CreateEncryptedDisk (qcow2 + LUKS, mkfs in a scratch file, encrypted by qemu-img)
//           beside a raw sparse file formatted by mkfs.ext4 (what data disks were before #16)
//   I/O:    `qemu-io` (QEMU's own block layer: the path every guest I/O takes after virtio)
//           writing then reading back (and checking) the same bytes through the encrypted
//           disk, a plain qcow2 and a raw file, sequentially, O_DIRECT (no host page cache); the
//           ratio is what encryption costs the guest's disk bandwidth.
// Usage: disk_bench [--disk-mib N] [--io-mib N] [--dir D]
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "adapters/qemu/encrypted_disk.h"

namespace {

using namespace clawvisor;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

uint64_t Allocated(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

// Runs `command` (qemu-io), returns the MiB/s of each operation it reports, in order
// ("(629.999 MiB/sec and ...)", "(2.417 GiB/sec ...)").
std::vector<double> QemuIoRates(const std::string& command) {
  std::vector<double> rates;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return rates;
  char line[512];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    const char* open = std::strchr(line, '(');
    double rate = 0;
    char unit[4] = {};
    if (open != nullptr && std::strstr(line, "/sec") != nullptr &&
        std::sscanf(open, "(%lf %3[KMGT]iB/sec", &rate, unit) == 2) {
      const double scale = unit[0] == 'K' ? 1.0 / 1024 : unit[0] == 'G' ? 1024 : 1;
      rates.push_back(rate * scale);
    } else if (std::strstr(line, "Pattern verification failed") != nullptr) {
      std::fprintf(stderr, "read back other bytes than written: %s", line);
      rates.clear();
      break;
    }
  }
  ::pclose(p);
  return rates;
}

int Usage(const char* why) {
  std::fprintf(
      stderr,
      "%s\nusage: disk_bench [--disk-mib N (1024)] [--io-mib N (512)] [--dir D (/var/tmp)]\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t disk_mib = 1024, io_mib = 512;
  std::string base = "/var/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      Usage("disk_bench: the encrypted data disk beside an unencrypted one");
      return 0;
    }
    if (i + 1 >= argc) return Usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (a == "--dir") {
      base = v;
    } else if (*end != '\0' || n == 0) {
      return Usage(("not a positive number: " + a + " " + v).c_str());
    } else if (a == "--disk-mib") {
      disk_mib = n;
    } else if (a == "--io-mib") {
      io_mib = n;
    } else {
      return Usage(("unknown flag " + a).c_str());
    }
  }
  if (io_mib > disk_mib) return Usage("--io-mib must not exceed --disk-mib");
  const std::string dir = base + "/clawvisor-disk-bench-" + std::to_string(::getpid());
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  const uint64_t bytes = disk_mib << 20;
  const std::string passphrase = "disk-bench-volume-key-0123456789abcdefghijk";

  std::printf("== make a %llu MiB data disk\n", static_cast<unsigned long long>(disk_mib));
  const std::string encrypted = dir + "/encrypted.qcow2";
  auto t0 = Clock::now();
  if (auto made = qemu::CreateEncryptedDisk({}, encrypted, bytes, passphrase, dir); !made) {
    std::fprintf(stderr, "%s\n", made.error().ToString().c_str());
    return 1;
  }
  const double make_encrypted = Seconds(Clock::now() - t0);
  const std::string raw = dir + "/raw.img";
  t0 = Clock::now();
  const std::string mkfs = "truncate -s " + std::to_string(bytes) + " " + raw +
                           " && mkfs.ext4 -q -F -m 0 -E lazy_itable_init=0,lazy_journal_init=0 " +
                           raw;
  if (std::system(mkfs.c_str()) != 0) return std::fprintf(stderr, "mkfs failed\n"), 1;
  const double make_raw = Seconds(Clock::now() - t0);
  std::printf("   %-44s %8.2f s  %8.1f MiB on the host\n", "encrypted (qcow2 + LUKS, clawvisor)",
              make_encrypted, static_cast<double>(Allocated(encrypted)) / (1 << 20));
  std::printf("   %-44s %8.2f s  %8.1f MiB on the host\n", "raw file + mkfs.ext4 (peer)", make_raw,
              static_cast<double>(Allocated(raw)) / (1 << 20));

  // A plain qcow2 too: tells the container's cost from the cipher's.
  const std::string plain = dir + "/plain.qcow2";
  if (std::system(("qemu-img create -q -f qcow2 " + plain + " " + std::to_string(bytes)).c_str()) !=
      0) {
    return std::fprintf(stderr, "qemu-img create failed\n"), 1;
  }
  // qemu-io reads the passphrase from a file here (the bench's own, in its 0700 directory).
  const std::string key_file = dir + "/volume.key";
  if (FILE* f = std::fopen(key_file.c_str(), "w")) {
    std::fputs(passphrase.c_str(), f);
    std::fclose(f);
  }
  const std::string size = std::to_string(io_mib) + "M";
  const std::string io = " -c 'write -P 171 0 " + size + "' -c 'read -P 171 0 " + size + "'";
  struct Subject {
    const char* name;
    std::string command;
  };
  const std::vector<Subject> subjects = {
      {"encrypted (qcow2 + LUKS, clawvisor)",
       "qemu-io -t none --object secret,id=vk,file=" + key_file +
           ",format=raw --image-opts driver=qcow2,encrypt.key-secret=vk,file.filename=" +
           encrypted + io},
      {"plain qcow2 (peer)",
       "qemu-io -t none --image-opts driver=qcow2,file.filename=" + plain + io},
      {"raw file (peer)", "qemu-io -t none --image-opts driver=raw,file.filename=" + raw + io},
  };
  std::printf(
      "== I/O through QEMU's block layer: %llu MiB written then read back, "
      "sequential, O_DIRECT\n",
      static_cast<unsigned long long>(io_mib));
  std::printf("   %-44s %11s %11s %8s %8s\n", "", "write MiB/s", "read MiB/s", "w ratio",
              "r ratio");
  std::vector<std::pair<double, double>> figures;
  for (const auto& subject : subjects) {
    const auto rates = QemuIoRates(subject.command);
    figures.push_back(rates.size() == 2 ? std::make_pair(rates[0], rates[1])
                                        : std::make_pair(0.0, 0.0));
  }
  const auto [raw_w, raw_r] = figures.back();
  for (size_t i = 0; i < subjects.size(); ++i) {
    std::printf("   %-44s %11.1f %11.1f %8.2f %8.2f\n", subjects[i].name, figures[i].first,
                figures[i].second, raw_w > 0 ? figures[i].first / raw_w : 0,
                raw_r > 0 ? figures[i].second / raw_r : 0);
  }
  fs::remove_all(dir);
  return 0;
}
