#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/subcommands.h"
#include "engine/logging.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kProjectionsHelp = R"(Usage: clawvisor projections rebuild|verify [flags]

rebuild   deletes the read models and replays the whole event log into new ones,
          showing progress on stderr
verify    replays the log into a scratch store and compares it with the read models;
          exit 0 when equal, 1 when they differ

Stop `clawvisor serve` first (the stores are opened exclusively).

Flags:
  --data-dir DIR         state directory (as for serve)
  --master-key-file F    as for serve
  --help                 this help
)";

// Progress on stderr: a live line on a terminal, a JSON log line every 5% otherwise.
class Progress {
 public:
  explicit Progress(std::string_view what) : what_(what), tty_(::isatty(2) == 1) {}
  void Update(int64_t done, int64_t total) {
    const int percent = total > 0 ? static_cast<int>(done * 100 / total) : 100;
    if (tty_) {
      std::fprintf(stderr, "\r%s: %lld / %lld events (%d%%)", what_.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total), percent);
    } else if (percent >= last_percent_ + 5 || done == total) {
      Log(LogLevel::kInfo, "projections", what_, {{"applied", done}, {"total", total}});
    }
    last_percent_ = std::max(last_percent_, percent);
  }
  void Finish() {
    if (tty_) std::fputc('\n', stderr);
  }

 private:
  std::string what_;
  bool tty_;
  int last_percent_ = -5;
};

}  // namespace

int Projections(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kProjectionsHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string verb = args[0];
  if (verb != "rebuild" && verb != "verify") {
    return UsageError("unknown projections command " + verb, kProjectionsHelp);
  }
  auto flags = Flags::Parse({args.begin() + 1, args.end()},
                            {{"data-dir"}, {"master-key-file"}, {"help", false}});
  if (!flags) return UsageError(flags.error().message, kProjectionsHelp);
  if (flags->Has("help")) {
    std::cout << kProjectionsHelp;
    return kExitOk;
  }
  const std::filesystem::path data_dir = DataDirFlag(*flags);
  OsRandom random;
  auto opened = OpenOfflineDataDir(*flags, random);
  if (!opened) return Fail(opened.error());
  auto& [log, vault_store, vault] = *opened;
  MetricsRegistry metrics;

  const auto started = std::chrono::steady_clock::now();
  const auto target = data_dir / (verb == "rebuild" ? "projections" : "projections-verify");
  if (auto ok = RocksDbStore::Destroy(target.string()); !ok) return Fail(ok.error());
  int64_t applied = 0;
  std::string fingerprint;
  {
    // No write-ahead log while rebuilding: an interrupted rebuild is simply run again.
    RocksDbStoreOptions rebuild_options;
    rebuild_options.disable_wal = true;
    auto store = RocksDbStore::Open(target.string(), rebuild_options);
    if (!store) return Fail(store.error());
    SystemClock projector_clock;
    Projector projector(**store, vault.get(), metrics, nullptr, projector_clock);
    Progress progress(verb == "rebuild" ? "rebuilding projections" : "replaying for verify");
    auto ok = projector.CatchUp(*log, [&](int64_t done, int64_t total) {
      applied = done;
      progress.Update(done, total);
    });
    progress.Finish();
    if (!ok) return Fail(ok.error());
    if (verb == "verify") {
      auto fp = projector.Fingerprint();
      if (!fp) return Fail(fp.error());
      fingerprint = std::move(*fp);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (verb == "rebuild") {
    std::printf("rebuilt projections: %lld events in %.2f s (%.0f events/s)\n",
                static_cast<long long>(applied), seconds, seconds > 0 ? applied / seconds : 0.0);
    return kExitOk;
  }
  (void)RocksDbStore::Destroy(target.string());
  auto current_store = RocksDbStore::Open((data_dir / "projections").string());
  if (!current_store) return Fail(current_store.error());
  SystemClock projector_clock;
  Projector current(**current_store, vault.get(), metrics, nullptr, projector_clock);
  auto current_fp = current.Fingerprint();
  if (!current_fp) return Fail(current_fp.error());
  if (*current_fp != fingerprint) {
    std::printf("projections DIFFER from a fresh replay of %lld events\n",
                static_cast<long long>(applied));
    return kExitFailure;
  }
  std::printf("projections equal a fresh replay of %lld events\n", static_cast<long long>(applied));
  return kExitOk;
}

}  // namespace clawvisor::cli
