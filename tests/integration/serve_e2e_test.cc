// End to end: the real `clawvisor serve` binary, driven over HTTP as the web tier drives it.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <sstream>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;
using testing::ParseJson;

// Sum of a Prometheus counter family's samples in /metrics (0 when absent).
double MetricSum(uint16_t port, const std::string& family) {
  const auto text = HttpRequest(port, "GET", "/metrics").body;
  double sum = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(family)) continue;
    const char next = line.size() > family.size() ? line[family.size()] : '\0';
    if (next != ' ' && next != '{') continue;  // another family with this prefix
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

class ServeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ =
        std::make_unique<testing::ServeProcess>(dir_.path() / "data", dir_.path() / "serve.log");
    serve_->Start();
    ASSERT_FALSE(HasFailure());
    port_ = serve_->port();
  }
  HttpResponse Post(const std::string& target, const std::string& body) {
    return HttpRequest(port_, "POST", target, body);
  }
  std::string RegisterAccount(const std::string& command_id) {
    auto r = Post("/v1/accounts", R"({"command_id":")" + command_id +
                                      R"(","register_account":{"email":"owner@example.com"}})");
    EXPECT_EQ(r.status, 201) << r.body;
    return ParseJson<v1::CommandOutcome>(r.body).account_id();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServeProcess> serve_;
  uint16_t port_ = 0;
};

// The web tier's whole path: register, create an instance, start/stop/delete it, query, and
// repeat a command id (same answer, nothing appended); then a restart keeps everything.
TEST_F(ServeE2eTest, WebTierFlow) {
  EXPECT_EQ(HttpRequest(port_, "GET", "/healthz").status, 200);
  EXPECT_EQ(HttpRequest(port_, "GET", "/readyz").status, 200);
  const std::string account = RegisterAccount("reg-1");
  ASSERT_FALSE(account.empty());

  auto account_view = HttpRequest(port_, "GET", "/v1/accounts/" + account);
  ASSERT_EQ(account_view.status, 200) << account_view.body;
  auto acc = ParseJson<v1::AccountView>(account_view.body);
  EXPECT_EQ(acc.status(), "active");
  EXPECT_EQ(acc.plan(), v1::PLAN_TRIAL);
  EXPECT_EQ(account_view.body.find("owner@example.com"), std::string::npos);

  const std::string base = "/v1/accounts/" + account + "/instances";
  auto created = Post(base, R"({"command_id":"create-1","create_instance":{"name":"my bot"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string instance = ParseJson<v1::CommandOutcome>(created.body).aggregate_id();
  ASSERT_FALSE(instance.empty());
  EXPECT_EQ(created.headers["location"], base + "/" + instance);

  auto started = Post(base + "/" + instance + "/start", R"({"command_id":"start-1"})");
  ASSERT_EQ(started.status, 200) << started.body;
  auto view = ParseJson<v1::InstanceView>(HttpRequest(port_, "GET", base + "/" + instance).body);
  EXPECT_EQ(view.desired_state(), "running");  // read-your-writes: queryable when answered
  EXPECT_EQ(view.name(), "my bot");

  // A repeated command id returns the recorded outcome and appends nothing.
  const double events_before = MetricSum(port_, "clawvisor_projector_events_applied_total");
  auto again = Post(base + "/" + instance + "/start", R"({"command_id":"start-1"})");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(ParseJson<v1::CommandOutcome>(again.body).event_ids(0),
            ParseJson<v1::CommandOutcome>(started.body).event_ids(0));
  auto again_reg = Post(
      "/v1/accounts", R"({"command_id":"reg-1","register_account":{"email":"owner@example.com"}})");
  EXPECT_EQ(again_reg.status, 201);
  EXPECT_EQ(MetricSum(port_, "clawvisor_projector_events_applied_total"), events_before);
  // The same command id for a different request is refused, not answered with the old outcome.
  auto reused = Post(base + "/" + instance + "/stop", R"({"command_id":"start-1"})");
  EXPECT_EQ(reused.status, 409) << reused.body;
  EXPECT_NE(reused.body.find("idempotency_key_reused"), std::string::npos);
  auto reused_reg =
      Post("/v1/accounts",
           R"({"command_id":"reg-1","register_account":{"email":"intruder@example.com"}})");
  EXPECT_EQ(reused_reg.status, 409) << reused_reg.body;
  EXPECT_EQ(MetricSum(port_, "clawvisor_projector_events_applied_total"), events_before);

  // Refusals are decided outcomes with a reason, and they are audited.
  auto pause_twice = Post(base + "/" + instance + "/stop", R"({"command_id":"stop-1"})");
  EXPECT_EQ(pause_twice.status, 200);
  auto bad_pause = Post(base + "/" + instance + "/pause", R"({"command_id":"pause-1"})");
  EXPECT_EQ(bad_pause.status, 409) << bad_pause.body;
  auto deleted = Post(base + "/" + instance + "/delete", R"({"command_id":"delete-1"})");
  EXPECT_EQ(deleted.status, 200);
  auto gone = Post(base + "/" + instance + "/start", R"({"command_id":"start-2"})");
  EXPECT_EQ(gone.status, 404);

  auto list = ParseJson<v1::InstanceList>(HttpRequest(port_, "GET", base).body);
  ASSERT_EQ(list.instances_size(), 1);
  EXPECT_EQ(list.instances(0).desired_state(), "deleted");
  auto audit = ParseJson<v1::AuditPage>(
      HttpRequest(port_, "GET", "/v1/accounts/" + account + "/audit?limit=1000").body);
  std::vector<std::string> types;
  for (const auto& e : audit.entries()) types.push_back(e.event_type());
  EXPECT_EQ(types, (std::vector<std::string>{"account_registered", "trial_started",
                                             "instance_created", "instance_start_requested",
                                             "instance_stop_requested", "command_rejected",
                                             "instance_delete_requested", "command_rejected"}));
  EXPECT_EQ(audit.entries(0).actor().source_ip(), "127.0.0.1");
  EXPECT_EQ(audit.entries(0).actor().user_agent(), "clawvisor-tests/1");
  auto outcome = HttpRequest(port_, "GET", "/v1/accounts/" + account + "/commands/pause-1");
  EXPECT_EQ(outcome.status, 200);
  EXPECT_FALSE(ParseJson<v1::CommandOutcome>(outcome.body).accepted());

  // Restart: same answers, and a repeated command id still appends nothing.
  EXPECT_EQ(serve_->Stop(), 0);
  serve_->Start();
  port_ = serve_->port();
  auto after = ParseJson<v1::InstanceList>(HttpRequest(port_, "GET", base).body);
  EXPECT_EQ(after.SerializeAsString(), list.SerializeAsString());
  auto retried = Post(base + "/" + instance + "/start", R"({"command_id":"start-1"})");
  EXPECT_EQ(retried.status, 200);
  auto audit_after = ParseJson<v1::AuditPage>(
      HttpRequest(port_, "GET", "/v1/accounts/" + account + "/audit?limit=1000").body);
  EXPECT_EQ(audit_after.entries_size(), audit.entries_size());
  EXPECT_NE(HttpRequest(port_, "GET", "/metrics").body.find("clawvisor_processor_commands_total"),
            std::string::npos);
}

// Bad input on every command endpoint gets a 4xx with a machine-readable code, and neither the
// commands topic nor the events topic grows.
TEST_F(ServeE2eTest, BadInputChangesNothing) {
  const std::string account = RegisterAccount("reg-bad");
  const std::string instances = "/v1/accounts/" + account + "/instances";
  ASSERT_EQ(
      Post(instances, R"({"command_id":"mk","create_instance":{"instance_id":"ins_x","name":"x"}})")
          .status,
      201);
  const double decided_before = MetricSum(port_, "clawvisor_processor_commands_total");
  const double appended_before = MetricSum(port_, "clawvisor_commands_appended_total");
  const std::vector<std::string> endpoints = {"/v1/accounts",
                                              instances,
                                              instances + "/ins_x/start",
                                              instances + "/ins_x/stop",
                                              instances + "/ins_x/pause",
                                              instances + "/ins_x/resume",
                                              instances + "/ins_x/delete",
                                              "/v1/accounts/" + account + "/commands"};
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"malformed JSON", R"({"command_id":)"},
      {"unknown field", R"({"command_id":"x1","bogus":1})"},
      {"wrong type", R"({"command_id":12345678,"start_instance":{}})"},
      {"invalid UTF-8", "{\"command_id\":\"x\xff\xfe\"}"},
      {"missing command id", R"({"start_instance":{}})"},
      {"oversize body", R"({"command_id":"x2","register_account":{"email":")" +
                            std::string(200 * 1024, 'a') + R"("}})"},
      {"actor set by the client", R"({"command_id":"x3","actor":{"kind":"KIND_OPERATOR"}})"},
      {"not an object", "[]"},
      {"empty", ""},
  };
  for (const auto& endpoint : endpoints) {
    for (const auto& [what, body] : bodies) {
      auto r = Post(endpoint, body);
      EXPECT_GE(r.status, 400) << endpoint << " " << what << ": " << r.body;
      EXPECT_LT(r.status, 500) << endpoint << " " << what << ": " << r.body;
      if (r.status != 413) {
        EXPECT_NE(r.body.find("\"code\""), std::string::npos) << endpoint << " " << what;
      }
    }
    auto wrong_type = HttpRequest(port_, "POST", endpoint, R"({"command_id":"y"})", "text/plain");
    EXPECT_EQ(wrong_type.status, 415) << endpoint;
  }
  EXPECT_EQ(HttpRequest(port_, "GET", "/v1/accounts/bad%20id").status, 400);
  EXPECT_EQ(HttpRequest(port_, "GET", "/v1/nowhere").status, 404);
  EXPECT_EQ(HttpRequest(port_, "GET", "/v1/accounts/" + account, "", "application/json",
                        {{"Host", "attacker.example"}})
                .status,
            421);
  EXPECT_EQ(MetricSum(port_, "clawvisor_processor_commands_total"), decided_before);
  EXPECT_EQ(MetricSum(port_, "clawvisor_commands_appended_total"), appended_before);
}

// The CLI: --help everywhere, usage errors exit 64, and events dump prints decoded events
// with sealed fields unreadable.
TEST_F(ServeE2eTest, CliHelpDumpAndRebuild) {
  RegisterAccount("reg-cli");
  EXPECT_EQ(serve_->Stop(), 0);
  for (auto args : std::vector<std::vector<std::string>>{
           {"--help"}, {"serve", "--help"}, {"events", "--help"}, {"projections", "--help"}}) {
    auto r = testing::RunClawvisor(args);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_EQ(testing::RunClawvisor({"serve", "--bogus"}).exit_code, 64);
  EXPECT_EQ(testing::RunClawvisor({"serve", "--listen", "0.0.0.0:80"}).exit_code, 64);
  EXPECT_EQ(testing::RunClawvisor({"nonsense"}).exit_code, 64);
  const std::string data = (dir_.path() / "data").string();
  auto dump = testing::RunClawvisor({"events", "dump", "--data-dir", data});
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.out.find("\"account_registered\""), std::string::npos);
  EXPECT_EQ(dump.out.find("owner@example.com"), std::string::npos);
  auto rebuild = testing::RunClawvisor({"projections", "rebuild", "--data-dir", data});
  EXPECT_EQ(rebuild.exit_code, 0) << rebuild.err;
  EXPECT_NE(rebuild.out.find("rebuilt projections: 2 events"), std::string::npos) << rebuild.out;
  auto verify = testing::RunClawvisor({"projections", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto missing = testing::RunClawvisor({"events", "dump", "--data-dir", data + "/nope"});
  EXPECT_NE(missing.exit_code, 0);
}

}  // namespace
}  // namespace clawvisor
