// The role matrix at the HTTP API: every route x every kind of caller x own / other account,
// checked against the permission table (engine/access.h), including the negative cases: a
// refused request is 403 and reaches neither the command log nor the read model's data.
// (tests/engine/access_test.cc checks the table itself against the issue's words and Decide's
// enforcement of it.)

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "adapters/http/api_handler.h"
#include "adapters/http/router.h"
#include "engine/clock.h"
#include "engine/domain/access.h"
#include "tests/adapters/http/fakes.h"

namespace clawvisor {
namespace {

using testing::FakeCommandService;
using testing::FakeReadModel;

struct Caller {
  std::string name;
  v1::Actor actor;
};

v1::Actor MakeActor(v1::Actor::Kind kind, std::string id, v1::Role claimed = v1::ROLE_UNSPECIFIED) {
  v1::Actor a;
  a.set_kind(kind);
  a.set_id(std::move(id));
  a.set_role(claimed);
  return a;
}

// Users of acc_1 (owner, admin, viewer), the owner of acc_2 (a stranger to acc_1, who claims
// to be an owner), and the service callers.
std::vector<Caller> Callers() {
  return {
      {"owner", MakeActor(v1::Actor::KIND_USER, "usr_o")},
      {"admin", MakeActor(v1::Actor::KIND_USER, "usr_a")},
      {"viewer", MakeActor(v1::Actor::KIND_USER, "usr_v")},
      {"stranger", MakeActor(v1::Actor::KIND_USER, "usr_x", v1::ROLE_OWNER)},
      {"web_tier", MakeActor(v1::Actor::KIND_SERVICE, "web-1")},
      {"local_owner", MakeActor(v1::Actor::KIND_SERVICE, "local", v1::ROLE_OWNER)},
      {"operator", MakeActor(v1::Actor::KIND_OPERATOR, "op-1")},
      {"reconciler", MakeActor(v1::Actor::KIND_RECONCILER, "host-1")},
  };
}

// Answers "Bearer <caller name>" with that caller.
class NamedCallerAuthenticator final : public Authenticator {
 public:
  Result<v1::Actor> Authenticate(const RequestInfo& request) override {
    for (const Caller& c : Callers()) {
      if (request.authorization == "Bearer " + c.name) return c.actor;
    }
    return MakeError(Errc::kInvalidArgument, "unknown");
  }
};

// Every email belongs to acc_1.
class FixedLoginDirectory final : public LoginDirectory {
 public:
  Result<std::optional<std::string>> FindAccountByEmail(std::string_view) override {
    return std::optional<std::string>("acc_1");
  }
  void SpendLoginWork(std::string_view) override {}
  Result<std::string> ResetAccountFor(std::string_view) override { return std::string("acc_1"); }
  Result<std::optional<std::string>> FindAccountByResetToken(std::string_view) override {
    return std::optional<std::string>("acc_1");
  }
  Result<std::pair<std::string, std::string>> NewSessionToken() override {
    return std::pair<std::string, std::string>(std::string(43, 'T'), std::string(64, 'a'));
  }
};

// Every export is committed at a fixed path; the matrix checks who reaches it, not the file.
class FixedAuditExportArea final : public AuditExportArea {
 public:
  Result<std::unique_ptr<AuditExportFile>> Create(std::string_view, std::string_view) override {
    return MakeError(Errc::kFailedPrecondition, "the matrix writes no exports");
  }
  Status Remove(std::string_view, std::string_view) override { return {}; }
  Result<std::string> PathOf(std::string_view, std::string_view) override {
    return std::string("/nonexistent/export.csv");
  }
};

class AccessMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handler_.SetAuditExportArea(&export_area_);
    auto member = [&](const std::string& account, const std::string& user, v1::Role role) {
      v1::MemberView m;
      m.set_account_id(account);
      m.set_user_id(user);
      m.set_role(role);
      reads_.PutMember(m);
    };
    member("acc_1", "usr_o", v1::ROLE_OWNER);
    member("acc_1", "usr_a", v1::ROLE_ADMIN);
    member("acc_1", "usr_v", v1::ROLE_VIEWER);
    member("acc_2", "usr_x", v1::ROLE_OWNER);
    for (const char* account : {"acc_1", "acc_2"}) {
      v1::AccountView view;
      view.set_account_id(account);
      view.set_status("active");
      reads_.PutAccount(view);
      v1::InstanceView instance;
      instance.set_account_id(account);
      instance.set_instance_id("ins_1");
      reads_.PutInstance(instance);
      v1::CommandOutcome outcome;
      outcome.set_account_id(account);
      outcome.set_command_id("c0");
      reads_.PutOutcome(outcome);
      v1::AuditExportView audit_export;
      audit_export.set_account_id(account);
      audit_export.set_export_id("exp_1");
      audit_export.set_status("completed");
      reads_.PutAuditExport(audit_export);
    }
  }

  ApiResponse Send(const Caller& caller, std::string method, std::string target,
                   std::string body = "") {
    ApiRequest request;
    request.info.method = std::move(method);
    request.info.target = std::move(target);
    request.info.authorization = "Bearer " + caller.name;
    request.info.peer_ip = "127.0.0.1";
    request.content_type = "application/json";
    request.body = std::move(body);
    return handler_.Handle(request);
  }

  // The principals the table should see for `caller` on `account`.
  static Principals Expected(const Caller& caller, const std::string& account) {
    std::optional<v1::Role> role;
    const std::string& id = caller.actor.id();
    if (caller.actor.kind() == v1::Actor::KIND_USER) {
      if (account == "acc_1" && id == "usr_o") role = v1::ROLE_OWNER;
      if (account == "acc_1" && id == "usr_a") role = v1::ROLE_ADMIN;
      if (account == "acc_1" && id == "usr_v") role = v1::ROLE_VIEWER;
      if (account == "acc_2" && id == "usr_x") role = v1::ROLE_OWNER;
    }
    return PrincipalsOf(caller.actor, role);
  }

  ManualClock clock_{1'767'323'045'000'000};
  FakeCommandService commands_;
  FakeReadModel reads_;
  MetricsRegistry metrics_;
  NamedCallerAuthenticator authenticator_;
  FixedLoginDirectory logins_;
  FixedAuditExportArea export_area_;
  ApiHandler handler_{commands_,
                      reads_,
                      metrics_,
                      authenticator_,
                      clock_,
                      [] { return true; },
                      std::chrono::milliseconds(100),
                      &logins_};
};

// Every GET route (each one query) for every caller on its own and another account.
TEST_F(AccessMatrixTest, EveryQueryRoute) {
  const std::map<std::string, Query> routes = {
      {"/v1/accounts/{a}", Query::kGetAccount},
      {"/v1/accounts/{a}/members", Query::kListMembers},
      {"/v1/accounts/{a}/instances", Query::kListInstances},
      {"/v1/accounts/{a}/instances/ins_1", Query::kGetInstance},
      {"/v1/accounts/{a}/audit", Query::kListAudit},
      {"/v1/accounts/{a}/commands/c0", Query::kGetCommand},
      {"/v1/accounts/{a}/data-export", Query::kDataExport},
      {"/v1/accounts/{a}/audit/exports", Query::kListAuditExports},
      {"/v1/accounts/{a}/audit/exports/exp_1", Query::kGetAuditExport},
      {"/v1/accounts/{a}/audit/exports/exp_1/csv", Query::kDownloadAuditExport},
  };
  size_t get_routes = 0;
  for (const RouteSpec& spec : Routes()) {
    get_routes += spec.method == "GET" && spec.path_template.starts_with("/v1/") ? 1 : 0;
  }
  ASSERT_EQ(get_routes, routes.size()) << "a GET route is missing from this matrix";
  int allowed = 0;
  int denied = 0;
  for (const auto& [tmpl, query] : routes) {
    for (const Caller& caller : Callers()) {
      for (const std::string account : {"acc_1", "acc_2"}) {
        std::string target = tmpl;
        target.replace(target.find("{a}"), 3, account);
        const ApiResponse r = Send(caller, "GET", target);
        const bool may = MayQuery(Expected(caller, account), query);
        if (may) {
          EXPECT_EQ(r.status, 200u) << target << " by " << caller.name << ": " << r.body;
          ++allowed;
        } else {
          EXPECT_EQ(r.status, 403u) << target << " by " << caller.name << ": " << r.body;
          EXPECT_EQ(r.body.find("acc_"), std::string::npos) << "a refusal leaked data";
          ++denied;
        }
      }
    }
  }
  EXPECT_GT(allowed, 0);
  EXPECT_GT(denied, 0);
}

// Every POST route, and the generic command route with every payload, for every caller on its
// own and another account: a refusal is 403 and nothing is submitted.
TEST_F(AccessMatrixTest, EveryCommandRouteAndPayload) {
  struct Post {
    std::string target;  // {a}: the account
    std::string body;
    v1::Command::PayloadCase payload;
  };
  std::vector<Post> posts = {
      {"/v1/accounts", R"({"command_id":"c1","register_account":{"email":"a@example.com"}})",
       v1::Command::kRegisterAccount},
      {"/v1/accounts/{a}/instances", R"({"command_id":"c1","create_instance":{"name":"n"}})",
       v1::Command::kCreateInstance},
      {"/v1/accounts/{a}/instances/ins_1/start", R"({"command_id":"c1"})",
       v1::Command::kStartInstance},
      {"/v1/accounts/{a}/instances/ins_1/stop", R"({"command_id":"c1"})",
       v1::Command::kStopInstance},
      {"/v1/accounts/{a}/instances/ins_1/pause", R"({"command_id":"c1"})",
       v1::Command::kPauseInstance},
      {"/v1/accounts/{a}/instances/ins_1/resume", R"({"command_id":"c1"})",
       v1::Command::kResumeInstance},
      {"/v1/accounts/{a}/instances/ins_1/delete", R"({"command_id":"c1"})",
       v1::Command::kDeleteInstance},
      {"/v1/accounts/{a}/instances/ins_1/credentials",
       R"({"command_id":"c1","set_credential":{"name":"llm","kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":"sk-0123456789"}})",
       v1::Command::kSetCredential},
      {"/v1/accounts/{a}/instances/ins_1/credentials/llm/remove", R"({"command_id":"c1"})",
       v1::Command::kRemoveCredential},
      {"/v1/accounts/{a}/instances/ins_1/rotate-gateway-token", R"({"command_id":"c1"})",
       v1::Command::kRotateGatewayToken},
      {"/v1/accounts/{a}/instances/ins_1/console-link", R"({"command_id":"c1"})",
       v1::Command::kIssueConsoleLink},
      {"/v1/accounts/{a}/instances/ins_1/rotate-webhook-path", R"({"command_id":"c1"})",
       v1::Command::kRotateWebhookPath},
      {"/v1/accounts/{a}/instances/ins_1/disable-webhook-path", R"({"command_id":"c1"})",
       v1::Command::kDisableWebhookPath},
      {"/v1/accounts/{a}/instances/ins_1/upgrade",
       R"({"command_id":"c1","upgrade_instance":{"image":"openclaw-2"}})",
       v1::Command::kUpgradeInstance},
      {"/v1/accounts/{a}/erase", R"({"command_id":"c1"})", v1::Command::kRequestAccountErasure},
      {"/v1/sessions",
       R"({"command_id":"c1","login":{"email":"o@example.com","password":"some password"}})",
       v1::Command::kLogin},
      {"/v1/password-resets",
       R"({"command_id":"c1","request_password_reset":{"email":"o@example.com"}})",
       v1::Command::kRequestPasswordReset},
      {"/v1/password-resets/complete",
       R"({"command_id":"c1","complete_password_reset":{"token":"t","new_password":"p"}})",
       v1::Command::kCompletePasswordReset},
      {"/v1/accounts/{a}/totp", R"({"command_id":"c1"})", v1::Command::kEnrollTotp},
      {"/v1/accounts/{a}/totp/confirm", R"({"command_id":"c1","confirm_totp":{"code":"123456"}})",
       v1::Command::kConfirmTotp},
      {"/v1/accounts/{a}/totp/disable",
       R"({"command_id":"c1","disable_totp":{"password":"some password","code":"123456"}})",
       v1::Command::kDisableTotp},
  };
  size_t post_routes = 0;
  for (const RouteSpec& spec : Routes()) post_routes += spec.method == "POST" ? 1 : 0;
  ASSERT_EQ(post_routes, posts.size() + 1) << "a POST route is missing from this matrix";
  const auto* oneof = v1::Command::descriptor()->FindOneofByName("payload");
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* field = oneof->field(i);
    // Registration and login have their own routes (the generic one refuses registration).
    if (field->number() == v1::Command::kRegisterAccount) continue;
    posts.push_back({"/v1/accounts/{a}/commands",
                     R"({"command_id":"c1",")" + field->name() + R"(":{}})",
                     static_cast<v1::Command::PayloadCase>(field->number())});
  }
  int allowed = 0;
  int denied = 0;
  for (const Post& post : posts) {
    for (const Caller& caller : Callers()) {
      for (const std::string account : {"acc_1", "acc_2"}) {
        std::string target = post.target;
        const bool scoped = target.find("{a}") != std::string::npos;
        if (scoped) target.replace(target.find("{a}"), 3, account);
        const size_t before = commands_.count();
        const ApiResponse r = Send(caller, "POST", target, post.body);
        const bool may = MayCommand(Expected(caller, scoped ? account : ""), post.payload);
        const std::string what = target + " " + post.body + " by " + caller.name;
        if (may) {
          EXPECT_NE(r.status, 403u) << what << ": " << r.body;
          EXPECT_EQ(commands_.count(), before + 1) << what << ": " << r.body;
          EXPECT_EQ(commands_.last().actor().id(), caller.actor.id()) << what;
          ++allowed;
        } else {
          EXPECT_EQ(r.status, 403u) << what << ": " << r.body;
          EXPECT_EQ(commands_.count(), before) << what << " reached the command log";
          ++denied;
        }
        if (!scoped) break;  // registration has no account in its path
      }
    }
  }
  EXPECT_GT(allowed, 0);
  EXPECT_GT(denied, 0);
}

}  // namespace
}  // namespace clawvisor
