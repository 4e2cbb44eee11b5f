// The audit export read back by two independent CSV readers: a data directory whose log holds
// an event of every type (hostile values in every free-text field, real sealing by the key
// vault) is exported by the real `clawvisor audit export`, then Python's csv module and
// DuckDB's read_csv (from PyPI, installed by ops/fetch-duckdb.sh) must both find the same row
// count and field values as the log (tests/integration/audit_csv_check.py).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <initializer_list>

#include "adapters/cli/embedded_node.h"
#include "engine/logging.h"
#include "engine/partitioner.h"
#include "events/codec.h"
#include "projections/audit_csv.h"
#include "tests/support/audit_events.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::RunClawvisor;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult Shell(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Json(std::string_view s) {
  std::string out = "\"";
  AppendJsonEscaped(out, s);
  return out + "\"";
}

constexpr std::string_view kAccount = "acct_audit";
constexpr int64_t kStartUs = 1'763'700'000'000'000;

class AuditCsvReadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.path() / "data";
    std::filesystem::create_directories(data_);
    ::chmod(data_.c_str(), 0700);
    auto log = OpenLocalLog(data_, 4, /*create=*/true);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    OsRandom random;
    std::unique_ptr<RocksDbStore> vault_store;
    auto vault = OpenVault(data_, std::nullopt, random, vault_store);
    ASSERT_TRUE(vault.has_value()) << vault.error().ToString();

    // Another account in the same partition: its events interleave and must stay out.
    std::string other;
    for (int i = 0; other.empty(); ++i) {
      const std::string candidate = "acct_other_" + std::to_string(i);
      if (PartitionFor(candidate, 4) == PartitionFor(kAccount, 4)) other = candidate;
    }
    events_ = testing::EveryEventType(std::string(kAccount), **vault, kStartUs, 2000);
    const auto noise = testing::EveryEventType(other, **vault, kStartUs + 1000, 2000);
    std::vector<OutgoingRecord> records;
    for (size_t i = 0; i < events_.size(); ++i) {
      for (const v1::Envelope* e :
           std::initializer_list<const v1::Envelope*>{&events_[i], &noise[i]}) {
        OutgoingRecord r;
        r.topic = std::string(kEventsTopic);
        r.partition = PartitionFor(e->account_id(), 4);
        r.key = e->account_id();
        r.value = EncodeEnvelope(*e);
        r.timestamp_ms = e->occurred_at_us() / 1000;
        records.push_back(std::move(r));
      }
    }
    ASSERT_TRUE((*log)->Append(records).has_value());
  }

  void WriteExpected(const std::filesystem::path& path, bool owner) {
    std::string json = "{\"columns\":[";
    for (size_t i = 0; i < kAuditColumnCount; ++i) {
      json += (i ? "," : "") + Json(kAuditColumns[i]);
    }
    json += "],\"secrets\":[" + Json(testing::kAuditTestSecret) + "],\"rows\":[";
    for (size_t i = 0; i < events_.size(); ++i) {
      const auto row = testing::ExpectedRow(events_[i], owner);
      json += i ? ",{\"cells\":{" : "{\"cells\":{";
      bool first = true;
      for (const auto& [k, v] : row.cells) {
        json += (first ? "" : ",") + Json(k) + ":" + Json(v);
        first = false;
      }
      json += "},\"details\":{";
      first = true;
      for (const auto& [k, v] : row.details) {
        json += (first ? "" : ",") + Json(k) + ":" + Json(v);
        first = false;
      }
      json += "}}";
    }
    json += "]}";
    std::ofstream(path) << json;
  }

  // Both readers against the log; fails the test with the checker's report.
  void CheckWithReaders(const std::filesystem::path& csv, bool owner) {
    const auto expected = dir_.path() / "expected.json";
    WriteExpected(expected, owner);
    const std::string src = CLAWVISOR_SOURCE_DIR;
    auto python = Shell(src + "/ops/fetch-duckdb.sh");
    ASSERT_EQ(python.exit_code, 0) << python.output;
    std::string interpreter =
        python.output.substr(python.output.rfind('\n', python.output.size() - 2) + 1);
    while (!interpreter.empty() && interpreter.back() == '\n') interpreter.pop_back();
    auto check = Shell(interpreter + " " + src + "/tests/integration/audit_csv_check.py " +
                       csv.string() + " " + expected.string());
    EXPECT_EQ(check.exit_code, 0) << check.output;
    EXPECT_NE(check.output.find(std::to_string(events_.size()) + " rows checked"),
              std::string::npos)
        << check.output;
  }

  testing::TempDir dir_;
  std::filesystem::path data_;
  std::vector<v1::Envelope> events_;
};

TEST_F(AuditCsvReadersTest, EveryEventTypeReadsBackInPythonCsvAndDuckDb) {
  const auto csv = dir_.path() / "owner.csv";
  auto run = RunClawvisor({"audit", "export", "--data-dir", data_.string(), "--account",
                           std::string(kAccount), "--reveal-personal-data", "-o", csv.string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("exported " + std::to_string(events_.size()) + " rows"), std::string::npos)
      << run.err;
  EXPECT_TRUE(run.out.empty());
  struct stat st {};
  ASSERT_EQ(::stat(csv.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(csv.string() + ".partial"));
  CheckWithReaders(csv, /*owner=*/true);
}

TEST_F(AuditCsvReadersTest, OperatorExportMasksEmailsAndStreamsToStdout) {
  auto run = RunClawvisor(
      {"audit", "export", "--data-dir", data_.string(), "--account", std::string(kAccount)});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.find("@example.com"), std::string::npos);
  EXPECT_NE(run.out.find(MaskEmail(testing::kAuditTestEmail)), std::string::npos);
  EXPECT_EQ(run.out.find(testing::kAuditTestSecret), std::string::npos);
  const auto csv = dir_.path() / "operator.csv";
  std::ofstream(csv, std::ios::binary) << run.out;
  CheckWithReaders(csv, /*owner=*/false);
}

TEST_F(AuditCsvReadersTest, RangeFlagsSelectByTime) {
  // Events are 2 ms apart: [start + 10 ms, start + 20 ms) holds events 5..9.
  auto run = RunClawvisor({"audit", "export", "--data-dir", data_.string(), "--account",
                           std::string(kAccount), "--since", std::to_string(kStartUs + 10'000),
                           "--until", FormatTimestampUs(kStartUs + 20'000)});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("exported 5 rows"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find(events_[5].event_id().substr(1)), std::string::npos);
  EXPECT_EQ(run.out.find(events_[10].event_id().substr(1)), std::string::npos);
}

TEST_F(AuditCsvReadersTest, UsageErrorsAndHelp) {
  const std::string dir = data_.string();
  EXPECT_EQ(RunClawvisor({"audit", "export", "--help"}).exit_code, 0);
  EXPECT_NE(RunClawvisor({"audit", "export", "--help"}).out.find("--since"), std::string::npos);
  EXPECT_EQ(RunClawvisor({"audit"}).exit_code, 64);
  EXPECT_EQ(RunClawvisor({"audit", "import"}).exit_code, 64);
  EXPECT_EQ(RunClawvisor({"audit", "export", "--data-dir", dir}).exit_code, 64);
  EXPECT_EQ(RunClawvisor({"audit", "export", "--data-dir", dir, "--account", "../x"}).exit_code,
            64);
  EXPECT_EQ(
      RunClawvisor({"audit", "export", "--data-dir", dir, "--account", "a", "--since", "yesterday"})
          .exit_code,
      64);
  EXPECT_EQ(RunClawvisor({"audit", "export", "--data-dir", dir, "--account", "a", "--since", "20",
                          "--until", "10"})
                .exit_code,
            64);
  EXPECT_EQ(RunClawvisor({"audit", "export", "--data-dir", dir, "--account", "a", "-o",
                          (dir_.path() / "no/such/dir/x.csv").string()})
                .exit_code,
            73);
  // No log there: a clear failure, not a usage error.
  auto missing = RunClawvisor(
      {"audit", "export", "--data-dir", (dir_.path() / "nothing").string(), "--account", "a"});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
}

}  // namespace
}  // namespace clawvisor
