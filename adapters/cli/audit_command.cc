// `clawvisor audit export ...`: one account's audit trail as CSV (issue #7).

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <utility>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/subcommands.h"
#include "adapters/http/request_parsing.h"
#include "adapters/posix/atomic_file.h"
#include "adapters/posix/fd_sink.h"
#include "engine/domain/decider.h"
#include "projections/audit_export.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kAuditHelp =
    R"(Usage: clawvisor audit export --account ID [--since TIME] [--until TIME] [-o FILE]

Writes one account's audit trail (every event of the account, refused commands included) as
CSV, oldest first: one header row, then one row per event; the columns are listed in
README.md ("Audit export"). Cells are RFC 4180-quoted UTF-8, and a cell a spreadsheet would
run as a formula is prefixed with a single quote. Secrets never appear (at most their last 4
characters); emails are masked unless --reveal-personal-data is given, and show as [erased]
for an erased account.

The export seeks to --since through the log's time index and streams in constant memory.
On a terminal it shows progress on stderr; it ends with a summary (rows, bytes, time) on
stderr. Stop `clawvisor serve` first (the log is opened exclusively), or ask the running
service for an export (POST a request_audit_export command; see the API).

Flags:
  --account ID            the account (required)
  --since TIME            first instant included: RFC 3339 (2026-11-01T00:00:00Z) or
                          microseconds since the epoch (default: the beginning)
  --until TIME            first instant excluded (default: none, the log's end)
  -o, --output FILE       write to FILE (created 0600; replaced only when the export
                          succeeds); default: stdout
  --reveal-personal-data  show emails in full (for handing the file to the account's owner)
  --data-dir DIR          state directory (as for serve)
  --master-key-file F     as for serve
  --help                  this help

Exit codes: 0 ok, 1 failure, 64 usage error, 65 unreadable log data, 74 cannot write.
)";

int Usage(std::string_view message) { return UsageError(message, kAuditHelp); }

// Where the CSV goes: stdout, or FILE written atomically (AtomicFile: FILE.partial, 0600,
// renamed over FILE only when the export succeeds). Remembers the first write error (to exit
// 74, not 1).
class OutputSink final : public ByteSink {
 public:
  explicit OutputSink(std::optional<AtomicFile> file) : file_(std::move(file)) {}
  Status Write(std::string_view bytes) override {
    auto ok = file_ ? file_->Write(bytes) : stdout_.Write(bytes);
    if (!ok) failed_ = true;
    return ok;
  }
  bool failed() const { return failed_; }
  // Renames the finished file into place (nothing for stdout). Without it, the destructor
  // removes FILE.partial and leaves FILE as it was.
  Status Commit() { return file_ ? file_->Commit() : Status{}; }

 private:
  std::optional<AtomicFile> file_;
  FdSink stdout_{1};
  bool failed_ = false;
};

// A live progress line on a terminal, redrawn at most every 100 ms.
class ProgressLine {
 public:
  ProgressLine() : tty_(::isatty(2) == 1) {}
  void Update(const AuditExportProgress& p) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const int64_t span = p.end_offset - p.first_offset;
    const int percent =
        span > 0 ? static_cast<int>((p.next_offset - p.first_offset) * 100 / span) : 100;
    std::fprintf(stderr, "\rexporting: %3d%%  %llu rows  %.1f MiB", percent,
                 static_cast<unsigned long long>(p.rows), static_cast<double>(p.bytes) / 1048576.0);
    drawn_ = true;
  }
  void Finish() {
    if (drawn_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

int Export(const std::vector<std::string>& raw_args) {
  std::vector<std::string> args;
  for (const auto& a : raw_args) args.push_back(a == "-o" ? "--output" : a);
  auto flags = Flags::Parse(args, {{"account"},
                                   {"since"},
                                   {"until"},
                                   {"output"},
                                   {"reveal-personal-data", false},
                                   {"data-dir"},
                                   {"master-key-file"},
                                   {"help", false}});
  if (!flags) return Usage(flags.error().message);
  if (flags->Has("help")) {
    std::cout << kAuditHelp;
    return kExitOk;
  }
  if (!flags->positional().empty()) return Usage("unexpected argument " + flags->positional()[0]);
  const auto account = flags->Get("account");
  if (!account) return Usage("--account is required");
  if (!IsValidResourceId(*account)) {
    return Usage("--account must be 1..64 characters of [A-Za-z0-9._:-]");
  }
  AuditExportRange range;
  range.account_id = *account;
  if (auto s = flags->Get("since")) {
    auto t = ParseTimestampUs(*s);
    if (!t) return Usage("--since must be an RFC 3339 time or microseconds since the epoch");
    range.since_us = *t;
  }
  if (auto u = flags->Get("until")) {
    auto t = ParseTimestampUs(*u);
    if (!t) return Usage("--until must be an RFC 3339 time or microseconds since the epoch");
    range.until_us = *t;
  }
  if (range.since_us > range.until_us) return Usage("--since is after --until");
  const auto output = flags->Get("output");
  if (output && output->empty()) return Usage("--output needs a file name");

  OsRandom random;
  auto opened = OpenOfflineDataDir(*flags, random);
  if (!opened) return Fail(opened.error());
  auto& [log, vault_store, vault] = *opened;

  // A file is written beside its destination and renamed over it only when complete.
  std::optional<AtomicFile> file;
  if (output && *output != "-") {
    // A fresh FILE.partial, never one found there: an old one keeps its mode (0644 would expose
    // emails with --reveal-personal-data) and a planted symlink would be followed.
    auto created = AtomicFile::Create(*output, {.mode = 0600, .temp_suffix = ".partial"});
    if (!created) {
      std::cerr << "clawvisor: " << created.error().message << "\n";
      return kExitCantCreat;
    }
    file = std::move(*created);
  }
  OutputSink sink(std::move(file));
  ProgressLine progress;
  AuditExportOptions options;
  options.reader =
      flags->Has("reveal-personal-data") ? AuditReader::kOwner : AuditReader::kOperator;
  options.progress = [&](const AuditExportProgress& p) { progress.Update(p); };
  const auto started = std::chrono::steady_clock::now();
  auto stats = ExportAuditCsv(*log, vault.get(), range, sink, options);
  progress.Finish();
  if (!stats) {
    if (sink.failed()) {
      std::cerr << "clawvisor: " << stats.error().ToString() << "\n";
      return kExitIoErr;
    }
    return Fail(stats.error());
  }
  if (auto committed = sink.Commit(); !committed) {
    std::cerr << "clawvisor: cannot finish " << *output << ": " << committed.error().message
              << "\n";
    return kExitIoErr;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr,
               "exported %llu rows (%llu bytes) in %.2f s (%.0f rows/s); read %llu records of "
               "partition %d from offset %lld\n",
               static_cast<unsigned long long>(stats->rows),
               static_cast<unsigned long long>(stats->bytes), seconds,
               seconds > 0 ? static_cast<double>(stats->rows) / seconds : 0.0,
               static_cast<unsigned long long>(stats->records_read), stats->partition,
               static_cast<long long>(stats->first_offset));
  if (stats->unreadable > 0) {
    std::fprintf(stderr, "warning: %llu sealed values could not be opened ([unreadable])\n",
                 static_cast<unsigned long long>(stats->unreadable));
  }
  return kExitOk;
}

}  // namespace

int Audit(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kAuditHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "export") {
    std::cerr << "clawvisor: unknown audit command " << args[0] << "\n\n" << kAuditHelp;
    return kExitUsage;
  }
  return Export({args.begin() + 1, args.end()});
}

}  // namespace clawvisor::cli
