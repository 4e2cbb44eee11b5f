// The audit export job end to end through the real `clawvisor serve`: a request_audit_export
// command, the export worker writing the file into DATA_DIR/exports, AuditExportCompleted with
// the row count and SHA-256, the API serving the file; the export appears in later exports; a
// serve killed mid-export completes each export exactly once after its restart; and, in
// process, the worst crash moment (completion appended but not projected) made deterministic.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <thread>

#include "adapters/cli/embedded_node.h"
#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "events/codec.h"
#include "projections/memory_kv_store.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

size_t CountRecords(const std::string& csv) {
  // Records end in CRLF; a CRLF inside a quoted cell would be counted too, so the test's values
  // carry none.
  size_t n = 0;
  for (size_t at = csv.find("\r\n"); at != std::string::npos; at = csv.find("\r\n", at + 2)) ++n;
  return n;
}

class AuditExportE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ = std::make_unique<testing::ServeProcess>(data_dir(), dir_.path() / "serve.log");
    serve_->Start();
    ASSERT_FALSE(HasFailure());
  }
  std::filesystem::path data_dir() const { return dir_.path() / "data"; }
  HttpResponse Post(const std::string& target, const std::string& body) {
    return HttpRequest(serve_->port(), "POST", target, body);
  }
  HttpResponse Get(const std::string& target) { return HttpRequest(serve_->port(), "GET", target); }

  std::string Register() {
    auto r = Post("/v1/accounts",
                  R"({"command_id":"reg-1","register_account":{"email":"owner@example.com"}})");
    EXPECT_EQ(r.status, 201) << r.body;
    return testing::ParseJson<v1::CommandOutcome>(r.body).account_id();
  }
  // Submits a request_audit_export; returns the export id (the id of its requesting event).
  std::string RequestExport(const std::string& account, const std::string& command_id) {
    auto r = Post("/v1/accounts/" + account + "/commands",
                  R"({"command_id":")" + command_id + R"(","request_audit_export":{}})");
    EXPECT_TRUE(r.status == 200 || r.status == 201) << r.status << " " << r.body;
    auto outcome = testing::ParseJson<v1::CommandOutcome>(r.body);
    EXPECT_TRUE(outcome.accepted()) << r.body;
    EXPECT_EQ(outcome.event_types_size(), 1);
    return outcome.event_ids_size() > 0 ? outcome.event_ids(0) : "";
  }
  v1::AuditExportView WaitCompleted(const std::string& account, const std::string& export_id) {
    v1::AuditExportView view;
    for (int i = 0; i < 600; ++i) {
      auto r = Get("/v1/accounts/" + account + "/audit/exports/" + export_id);
      if (r.status == 200) {
        view = testing::ParseJson<v1::AuditExportView>(r.body);
        if (view.status() == "completed") return view;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "export " << export_id << " did not complete";
    return view;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServeProcess> serve_;
};

TEST_F(AuditExportE2eTest, JobWritesServesAndAuditsTheExport) {
  const std::string account = Register();
  ASSERT_FALSE(account.empty());
  const std::string base = "/v1/accounts/" + account;
  auto created =
      Post(base + "/instances",
           R"json({"command_id":"create-1","create_instance":{"name":"=HYPERLINK(\"x\")"}})json");
  ASSERT_EQ(created.status, 201) << created.body;
  auto refused = Post(base + "/instances/nope/start", R"({"command_id":"start-x"})");
  EXPECT_EQ(refused.status, 404);

  const std::string first = RequestExport(account, "export-1");
  ASSERT_FALSE(first.empty());
  const auto view = WaitCompleted(account, first);
  ASSERT_EQ(view.status(), "completed");
  EXPECT_EQ(view.rows(), 4u);  // registered, trial started, instance created, start refused
  EXPECT_EQ(view.sha256().size(), 64u);

  auto csv = Get(base + "/audit/exports/" + first + "/csv");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.headers["content-type"], "text/csv; charset=utf-8; header=present");
  EXPECT_EQ(Sha256Hex(csv.body), view.sha256());
  EXPECT_EQ(csv.headers["x-content-sha256"], view.sha256());
  EXPECT_EQ(csv.body.size(), view.bytes());
  EXPECT_EQ(CountRecords(csv.body), view.rows() + 1);
  EXPECT_TRUE(csv.body.starts_with("time,event_id,account,actor_kind,"));
  EXPECT_NE(csv.body.find("instance.created"), std::string::npos);
  EXPECT_NE(csv.body.find("command.rejected"), std::string::npos);
  // Emails rest masked in the export area (the file outlives an erasure): never in the clear.
  EXPECT_EQ(csv.body.find("owner@example.com"), std::string::npos);
  EXPECT_NE(csv.body.find("o•••@e•••.com"), std::string::npos);
  EXPECT_EQ(csv.body.find("audit.export_requested"), std::string::npos);  // ends at its request

  // The file: in the data directory's export area, the owner's alone.
  struct stat st {};
  const auto file = data_dir() / "exports" / account / (first + ".csv");
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto list = testing::ParseJson<v1::AuditExportList>(Get(base + "/audit/exports").body);
  ASSERT_EQ(list.exports_size(), 1);
  EXPECT_EQ(list.exports(0).export_id(), first);

  // The export is itself audited: the next export holds its request and its completion.
  const std::string second = RequestExport(account, "export-2");
  WaitCompleted(account, second);
  auto later = Get(base + "/audit/exports/" + second + "/csv");
  ASSERT_EQ(later.status, 200);
  EXPECT_NE(later.body.find("audit.export_requested"), std::string::npos);
  EXPECT_NE(later.body.find("audit.export_completed"), std::string::npos);
  EXPECT_NE(later.body.find(first), std::string::npos);
  EXPECT_NE(later.body.find(view.sha256()), std::string::npos);

  // Only the worker (the system principal) reports completions: the permission table refuses
  // every API caller; unknown exports and ids are 404 / 400.
  auto forged =
      Post(base + "/commands", R"({"command_id":"forge","complete_audit_export":{"export_id":")" +
                                   first + R"(","rows":1}})");
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_EQ(Get(base + "/audit/exports/01234567-0000-7000-8000-000000000000").status, 404);
  EXPECT_EQ(Get(base + "/audit/exports/" + first + "/csv?x=1").status, 400);
  EXPECT_EQ(Get(base + "/audit/exports/..%2F..%2Fmaster.key/csv").status, 400);
  auto bad_range = Post(base + "/commands",
                        R"({"command_id":"export-bad","request_audit_export":{"since_us":-1}})");
  EXPECT_EQ(bad_range.status, 422) << bad_range.body;  // a decided refusal, audited
}

// A serve killed while exports are requested or being written completes each export exactly
// once after restarting (the completion's command id derives from the export id).
TEST_F(AuditExportE2eTest, KilledMidExportCompletesEachExportOnce) {
  const std::string account = Register();
  ASSERT_FALSE(account.empty());
  for (int i = 0; i < 30; ++i) {
    Post("/v1/accounts/" + account + "/instances",
         R"({"command_id":"create-)" + std::to_string(i) + R"(","create_instance":{"name":"n"}})");
  }
  std::vector<std::string> exports;
  for (int round = 0; round < 3; ++round) {
    // An account may have two exports pending: the third waits for the first (on a loaded
    // machine the restarted worker may not have finished it yet, and the request is refused).
    if (round >= 2) WaitCompleted(account, exports[static_cast<size_t>(round) - 2]);
    exports.push_back(RequestExport(account, "export-k" + std::to_string(round)));
    serve_->Kill();  // at once: the worker may be anywhere in the export
    serve_->Start();
    ASSERT_FALSE(HasFailure());
  }
  for (const auto& id : exports) WaitCompleted(account, id);
  ASSERT_EQ(serve_->Stop(), 0);

  auto dump = testing::RunClawvisor(
      {"events", "dump", "--data-dir", data_dir().string(), "--account", account});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  std::map<std::string, int> completions;
  std::istringstream lines(dump.out);
  for (std::string line; std::getline(lines, line);) {
    const auto at = line.find("\"audit_export_completed\"");
    if (at == std::string::npos) continue;
    for (const auto& id : exports) {
      if (line.find(id, at) != std::string::npos) ++completions[id];
    }
  }
  for (const auto& id : exports) EXPECT_EQ(completions[id], 1) << id;
}

// The worst moment for a crash, made deterministic: the completion was decided and appended,
// but the projections had not applied it when the worker died, so after the restart the export
// still looks pending. The worker runs it again (here: a second worker over a projection that
// stops just before the completion) and reports again with the same command id: it gets the
// recorded outcome, the log keeps exactly one AuditExportCompleted, and the rerun wrote the
// same bytes.
TEST(AuditExportWorkerRestartTest, RerunAfterAnUnprojectedCompletionAppendsNothing) {
  testing::TempDir dir;
  EmbeddedNodeOptions options;
  options.data_dir = dir.path() / "data";
  options.partitions = 2;
  options.sync = false;
  auto node = EmbeddedNode::Open(options);
  ASSERT_TRUE(node.has_value()) << node.error().ToString();
  ASSERT_TRUE((*node)->Start().has_value());
  auto& commands = (*node)->commands();

  v1::Command reg;
  reg.set_command_id("reg-1");
  reg.set_account_id("acc_worker");
  reg.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  reg.mutable_actor()->set_role(v1::ROLE_OWNER);
  reg.mutable_register_account()->set_email("owner@example.com");
  ASSERT_TRUE(commands.Submit(reg, std::chrono::seconds(10)).has_value());
  v1::Command request = reg;
  request.set_command_id("export-1");
  request.mutable_request_audit_export();
  auto requested = commands.Submit(request, std::chrono::seconds(10));
  ASSERT_TRUE(requested.has_value() && requested->accepted());
  const std::string export_id = requested->event_ids(0);

  std::optional<v1::AuditExportView> done;
  for (int i = 0; i < 400 && !(done && done->status() == "completed"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    auto view = (*node)->projector().GetAuditExport("acc_worker", export_id);
    ASSERT_TRUE(view.has_value());
    done = *view;
  }
  ASSERT_TRUE(done && done->status() == "completed");

  // A projection of the partition up to, not including, the completion.
  const TopicPartition tp{std::string(kEventsTopic), done->request_partition()};
  auto records = (*node)->log().Read(tp, 0, 1000);
  ASSERT_TRUE(records.has_value());
  std::vector<Record> before;
  int completions = 0;
  for (const auto& r : *records) {
    auto e = DecodeEnvelope(r.value);
    ASSERT_TRUE(e.has_value());
    if (e->has_audit_export_completed()) break;
    before.push_back(r);
  }
  MemoryKvStore stale_store;
  MetricsRegistry metrics;
  ManualClock stale_clock;
  Projector stale(stale_store, &(*node)->vault(), metrics, nullptr, stale_clock);
  ASSERT_TRUE(stale.Apply(before).has_value());
  auto pending = stale.ListPendingAuditExports(10);
  ASSERT_TRUE(pending.has_value());
  ASSERT_EQ(pending->size(), 1u);

  FileAuditExportArea area(dir.path() / "rerun");
  AuditExportWorker rerun((*node)->log(), (*node)->vault(), stale, commands, area, metrics);
  auto ran = rerun.RunOnce();
  ASSERT_TRUE(ran.has_value()) << ran.error().ToString();
  EXPECT_EQ(*ran, 1u);  // accepted: the recorded outcome of the same command id

  auto after = (*node)->log().Read(tp, 0, 1000);
  ASSERT_TRUE(after.has_value());
  for (const auto& r : *after) {
    auto e = DecodeEnvelope(r.value);
    ASSERT_TRUE(e.has_value());
    if (e->has_audit_export_completed()) ++completions;
  }
  EXPECT_EQ(completions, 1);
  auto rerun_path = area.PathOf("acc_worker", export_id);
  ASSERT_TRUE(rerun_path.has_value());
  std::string bytes;
  if (FILE* f = std::fopen(rerun_path->c_str(), "rb")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
    std::fclose(f);
  }
  EXPECT_EQ(Sha256Hex(bytes), done->sha256());  // the rerun wrote the same file
  (*node)->Stop();
}

}  // namespace
}  // namespace clawvisor
