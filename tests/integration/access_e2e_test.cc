// End to end: `clawvisor serve --service-tokens-file` with real RocksDB. Callers authenticate
// as services; the permission table governs what each may do, the processor enforces it again,
// and the audit trail records who asked and from where.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

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

const std::string kWebToken = "web-token-0123456789abcdef0123456789abcdef";
const std::string kOpToken = "op-token-0123456789abcdef0123456789abcdef";
const std::string kHostToken = "host-token-0123456789abcdef0123456789abcdef";

class AccessE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServe({}); }
  void StartServe(const std::vector<std::string>& extra_args) {
    const std::string tokens = dir_.Sub("tokens");
    {
      std::ofstream out(tokens);
      out << "web web-1 " << kWebToken << "\noperator op-1 " << kOpToken << "\nreconciler host-1 "
          << kHostToken << "\n";
    }
    ASSERT_EQ(::chmod(tokens.c_str(), 0600), 0);
    std::vector<std::string> args = {"--service-tokens-file", tokens};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    if (serve_) {
      ASSERT_EQ(serve_->Stop(), 0);
    }
    serve_ = std::make_unique<testing::ServeProcess>(
        dir_.path() / "data", dir_.path() / ("serve" + std::to_string(++starts_) + ".log"), args);
    serve_->Start();
    ASSERT_FALSE(HasFailure());
  }
  HttpResponse As(const std::string& token, const std::string& method, const std::string& target,
                  const std::string& body = "") {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    return HttpRequest(serve_->port(), method, target, body, "application/json", headers);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServeProcess> serve_;
  int starts_ = 0;
};

TEST_F(AccessE2eTest, ServicesHoldOnlyTheirOwnRights) {
  // No token, or a wrong one: 401, and nothing is appended.
  EXPECT_EQ(As("", "POST", "/v1/accounts", R"({"command_id":"r0","register_account":{}})").status,
            401);
  EXPECT_EQ(As(kWebToken + "x", "GET", "/v1/accounts/acc_x").status, 401);
  EXPECT_EQ(As("", "GET", "/healthz").status, 200);

  // The web tier registers an account (a flow before any session exists).
  auto reg = As(kWebToken, "POST", "/v1/accounts",
                R"({"command_id":"r1","register_account":{"email":"owner@example.com"}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = testing::ParseJson<v1::CommandOutcome>(reg.body).account_id();
  const std::string base = "/v1/accounts/" + account;

  // Without a user, the web tier may neither read the account nor operate it.
  EXPECT_EQ(As(kWebToken, "GET", base).status, 403);
  EXPECT_EQ(As(kWebToken, "GET", base + "/audit").status, 403);
  auto create = As(kWebToken, "POST", base + "/instances",
                   R"({"command_id":"c1","create_instance":{"name":"bot"}})");
  EXPECT_EQ(create.status, 403) << create.body;

  // The operator reads account metadata but not the audit trail; the reconciler reads neither
  // the account nor may it register.
  EXPECT_EQ(As(kOpToken, "GET", base).status, 200);
  EXPECT_EQ(As(kOpToken, "GET", base + "/audit").status, 403);
  EXPECT_EQ(As(kHostToken, "GET", base).status, 403);
  EXPECT_EQ(As(kHostToken, "POST", "/v1/accounts",
               R"({"command_id":"r2","register_account":{"email":"x@example.com"}})")
                .status,
            403);
  // A reconciler may report observations (here about an instance that does not exist: the
  // processor decides, and refuses for that reason, not for permission).
  auto obs = As(kHostToken, "POST", base + "/commands",
                R"({"command_id":"o1","record_observation":{"instance_id":"nope","revision":1}})");
  EXPECT_EQ(obs.status, 404) << obs.body;

  // An operator may not act for a user.
  auto forwarded =
      HttpRequest(serve_->port(), "GET", base, "", "application/json",
                  {{"Authorization", "Bearer " + kOpToken}, {"X-Clawvisor-Session", "whatever"}});
  EXPECT_EQ(forwarded.status, 403);

  // The audit trail (read here by nobody but the data on disk's owner: the events dump) records
  // the registering service; the refused requests appended nothing.
  const int rc = serve_->Stop();
  EXPECT_EQ(rc, 0);
  auto dump = testing::RunClawvisor(
      {"events", "dump", "--data-dir", (dir_.path() / "data").string(), "--account", account});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.out.find("\"web-1\""), std::string::npos) << dump.out;
  EXPECT_NE(dump.out.find("\"KIND_SERVICE\""), std::string::npos);
  EXPECT_NE(dump.out.find("\"host-1\""), std::string::npos);  // the refused observation
  EXPECT_EQ(dump.out.find("\"c1\""), std::string::npos);      // refused at the API: not appended
}

// The web tier signs a user in and then acts for it with the session token; the user's role
// governs; a password change ends every session; logout ends one.
TEST_F(AccessE2eTest, TheWebTierActsForAUserThroughItsSession) {
  const std::string password = "tangerine velvet orbit 42";
  auto reg =
      As(kWebToken, "POST", "/v1/accounts",
         R"({"command_id":"r1","register_account":{"email":"owner@example.com","password":")" +
             password + R"("}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = testing::ParseJson<v1::CommandOutcome>(reg.body).account_id();
  const std::string base = "/v1/accounts/" + account;

  auto login = [&](const std::string& id, const std::string& pw) {
    return As(kWebToken, "POST", "/v1/sessions",
              R"({"command_id":")" + id + R"(","login":{"email":"owner@example.com","password":")" +
                  pw + R"("}})");
  };
  auto token_of = [](const HttpResponse& r) {
    const std::string key = "\"session_token\":\"";
    const size_t at = r.body.find(key);
    if (at == std::string::npos) return std::string();
    return r.body.substr(at + key.size(), 43);
  };
  auto as_user = [&](const std::string& token, const std::string& method, const std::string& target,
                     const std::string& body = "") {
    return HttpRequest(serve_->port(), method, target, body, "application/json",
                       {{"Authorization", "Bearer " + kWebToken},
                        {"X-Clawvisor-Session", token},
                        {"X-Clawvisor-Client-Ip", "203.0.113.9"},
                        {"X-Clawvisor-Client-User-Agent", "Firefox/140"}});
  };

  auto first = login("l1", password);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string token = token_of(first);
  ASSERT_EQ(token.size(), 43u) << first.body;
  // A retried login gets its recorded outcome but no token: only the first answer carries it.
  auto retried = login("l1", password);
  EXPECT_EQ(retried.status, 200) << retried.body;
  EXPECT_TRUE(token_of(retried).empty()) << retried.body;

  // As the owner: read, operate, read the audit trail; the trail names the user and its address.
  EXPECT_EQ(as_user(token, "GET", base).status, 200);
  auto create = as_user(token, "POST", base + "/instances",
                        R"({"command_id":"c1","create_instance":{"name":"bot"}})");
  EXPECT_EQ(create.status, 201) << create.body;
  auto audit = as_user(token, "GET", base + "/audit");
  ASSERT_EQ(audit.status, 200) << audit.body;
  EXPECT_NE(audit.body.find("\"usr_"), std::string::npos);
  EXPECT_NE(audit.body.find("203.0.113.9"), std::string::npos);
  EXPECT_NE(audit.body.find("Firefox/140"), std::string::npos);
  // Another account is out of reach, whether or not it exists.
  EXPECT_EQ(as_user(token, "GET", "/v1/accounts/acc_someoneelse").status, 403);
  // A bad or unknown session token is 401.
  EXPECT_EQ(as_user(std::string(43, 'A'), "GET", base).status, 401);

  // A password change (the current one is required) ends every session.
  auto second = login("l2", password);
  const std::string token2 = token_of(second);
  ASSERT_FALSE(token2.empty());
  auto change = as_user(token, "POST", base + "/commands",
                        R"({"command_id":"p1","change_password":{"current_password":")" + password +
                            R"(","new_password":"quiet lantern meadow 17"}})");
  ASSERT_EQ(change.status, 200) << change.body;
  EXPECT_EQ(as_user(token, "GET", base).status, 401);
  EXPECT_EQ(as_user(token2, "GET", base).status, 401);
  EXPECT_EQ(login("l3", password).status, 401);

  // A new login works; its logout ends it.
  auto third = login("l4", "quiet lantern meadow 17");
  ASSERT_EQ(third.status, 200) << third.body;
  const std::string token3 = token_of(third);
  const std::string key = "\"session_id\":\"";
  const size_t at = third.body.find(key);
  ASSERT_NE(at, std::string::npos);
  const std::string session_id =
      third.body.substr(at + key.size(), third.body.find('"', at + key.size()) - at - key.size());
  EXPECT_EQ(as_user(token3, "GET", base).status, 200);
  auto logout = as_user(token3, "POST", base + "/commands",
                        R"({"command_id":"o1","logout":{"session_id":")" + session_id + R"("}})");
  EXPECT_EQ(logout.status, 200) << logout.body;
  EXPECT_EQ(as_user(token3, "GET", base).status, 401);

  // The log holds no session token, only hashes.
  ASSERT_EQ(serve_->Stop(), 0);
  auto dump = testing::RunClawvisor(
      {"events", "dump", "--data-dir", (dir_.path() / "data").string(), "--account", account});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(dump.out.find(token), std::string::npos);
  EXPECT_EQ(dump.out.find(token3), std::string::npos);
  EXPECT_NE(dump.out.find("session_started"), std::string::npos);
}

// Ten failed sign-ins lock the account's sign-in (the right password then fails alike, and the
// answer never differs from an unknown email's); an operator unlocks it.
// Password reset: the request answers the same for a known and an unknown email, and only to the
// web tier; the token works once; completing it sets the password and ends every session.
TEST_F(AccessE2eTest, PasswordResetIsBlindSingleUseAndRevokesSessions) {
  const std::string password = "tangerine velvet orbit 42";
  const std::string new_password = "quiet lantern meadow 17";
  auto reg =
      As(kWebToken, "POST", "/v1/accounts",
         R"({"command_id":"r1","register_account":{"email":"owner@example.com","password":")" +
             password + R"("}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = testing::ParseJson<v1::CommandOutcome>(reg.body).account_id();
  auto login = [&](const std::string& id, const std::string& pw) {
    return As(kWebToken, "POST", "/v1/sessions",
              R"({"command_id":")" + id + R"(","login":{"email":"owner@example.com","password":")" +
                  pw + R"("}})");
  };
  auto member = [](const std::string& body, const std::string& name) {
    const std::string key = "\"" + name + "\":\"";
    const size_t at = body.find(key);
    if (at == std::string::npos) return std::string();
    return body.substr(at + key.size(), body.find('"', at + key.size()) - at - key.size());
  };
  auto session_get = [&](const std::string& token) {
    return HttpRequest(serve_->port(), "GET", "/v1/accounts/" + account, "", "application/json",
                       {{"Authorization", "Bearer " + kWebToken}, {"X-Clawvisor-Session", token}});
  };
  auto signed_in = login("l1", password);
  ASSERT_EQ(signed_in.status, 200) << signed_in.body;
  const std::string session = member(signed_in.body, "session_token");
  ASSERT_EQ(session_get(session).status, 200);

  auto request = [&](const std::string& id, const std::string& email) {
    return As(
        kWebToken, "POST", "/v1/password-resets",
        R"({"command_id":")" + id + R"(","request_password_reset":{"email":")" + email + R"("}})");
  };
  auto known = request("p1", "Owner@Example.com");
  auto unknown = request("p1", "nobody@example.com");
  ASSERT_EQ(known.status, 200) << known.body;
  const std::string token = member(known.body, "reset_token");
  ASSERT_EQ(token.size(), 43u) << known.body;
  // Byte for byte the same answer, but for the random token itself.
  EXPECT_EQ(unknown.status, known.status);
  std::string known_masked = known.body;
  std::string unknown_masked = unknown.body;
  known_masked.replace(known_masked.find(token), token.size(), "TOKEN");
  const std::string decoy_token = member(unknown.body, "reset_token");
  ASSERT_EQ(decoy_token.size(), 43u) << unknown.body;
  unknown_masked.replace(unknown_masked.find(decoy_token), decoy_token.size(), "TOKEN");
  EXPECT_EQ(known_masked, unknown_masked);
  EXPECT_EQ(known.headers["cache-control"], "no-store");
  EXPECT_EQ(unknown.headers["cache-control"], "no-store");
  EXPECT_EQ(known.body.find(account), std::string::npos);
  // A retry shows no token (it was returned once).
  auto retry = request("p1", "owner@example.com");
  EXPECT_NE(retry.body.find("\"reset_token\":null"), std::string::npos) << retry.body;
  // A user session may not ask (the token would go back to the user).
  auto by_user =
      HttpRequest(serve_->port(), "POST", "/v1/password-resets",
                  R"({"command_id":"p2","request_password_reset":{"email":"owner@example.com"}})",
                  "application/json",
                  {{"Authorization", "Bearer " + kWebToken}, {"X-Clawvisor-Session", session}});
  EXPECT_EQ(by_user.status, 403) << by_user.body;

  auto complete = [&](const std::string& id, const std::string& t, const std::string& pw) {
    return As(kWebToken, "POST", "/v1/password-resets/complete",
              R"({"command_id":")" + id + R"(","complete_password_reset":{"token":")" + t +
                  R"(","new_password":")" + pw + R"("}})");
  };
  EXPECT_EQ(complete("x1", decoy_token, new_password).status, 401);
  EXPECT_EQ(complete("x2", token, "password1").status, 422);  // the policy, as ever
  auto done = complete("x3", token, new_password);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_NE(done.body.find("password_reset_completed"), std::string::npos);
  EXPECT_NE(done.body.find("all_sessions_revoked"), std::string::npos);
  auto reused = complete("x4", token, "yet another phrase 9");
  EXPECT_EQ(reused.status, 401) << reused.body;
  EXPECT_EQ(session_get(session).status, 401);  // every session ended
  EXPECT_EQ(login("l2", password).status, 401);
  EXPECT_EQ(login("l3", new_password).status, 200);
}

// An operator disables an account: its sessions end, sign-in is refused, its running instance is
// asked to stop; enabling it restores sign-in. Neither the web tier nor the owner may do either.
TEST_F(AccessE2eTest, OperatorDisablesAndEnablesAnAccount) {
  const std::string password = "tangerine velvet orbit 42";
  auto reg =
      As(kWebToken, "POST", "/v1/accounts",
         R"({"command_id":"r1","register_account":{"email":"owner@example.com","password":")" +
             password + R"("}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = testing::ParseJson<v1::CommandOutcome>(reg.body).account_id();
  const std::string base = "/v1/accounts/" + account;
  auto login = [&](const std::string& id) {
    return As(kWebToken, "POST", "/v1/sessions",
              R"({"command_id":")" + id + R"(","login":{"email":"owner@example.com","password":")" +
                  password + R"("}})");
  };
  auto signed_in = login("l1");
  ASSERT_EQ(signed_in.status, 200) << signed_in.body;
  const std::string key = "\"session_token\":\"";
  const std::string session = signed_in.body.substr(signed_in.body.find(key) + key.size(), 43);
  auto as_user = [&](const std::string& method, const std::string& target,
                     const std::string& body = "") {
    return HttpRequest(
        serve_->port(), method, target, body, "application/json",
        {{"Authorization", "Bearer " + kWebToken}, {"X-Clawvisor-Session", session}});
  };
  ASSERT_EQ(as_user("POST", base + "/instances",
                    R"({"command_id":"c1","create_instance":{"instance_id":"ins_1","name":"bot"}})")
                .status,
            201);
  ASSERT_EQ(as_user("POST", base + "/instances/ins_1/start", R"({"command_id":"c2"})").status, 200);

  const std::string disable =
      R"({"command_id":"d1","disable_account":{"reason":"abuse report 17"}})";
  EXPECT_EQ(As(kWebToken, "POST", base + "/commands", disable).status, 403);
  EXPECT_EQ(as_user("POST", base + "/commands", disable).status, 403);
  auto disabled = As(kOpToken, "POST", base + "/commands", disable);
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_NE(disabled.body.find("account_disabled"), std::string::npos);
  EXPECT_NE(disabled.body.find("all_sessions_revoked"), std::string::npos);
  EXPECT_NE(disabled.body.find("instance_stop_requested"), std::string::npos);
  EXPECT_EQ(as_user("GET", base).status, 401);  // the session ended
  EXPECT_EQ(login("l2").status, 401);
  auto view = As(kOpToken, "GET", base);
  EXPECT_NE(view.body.find("\"status\":\"disabled\""), std::string::npos) << view.body;
  auto instance = As(kOpToken, "GET", base + "/instances/ins_1");
  EXPECT_NE(instance.body.find("\"desired_state\":\"stopped\""), std::string::npos)
      << instance.body;

  auto enabled =
      As(kOpToken, "POST", base + "/commands", R"({"command_id":"e1","enable_account":{}})");
  ASSERT_EQ(enabled.status, 200) << enabled.body;
  EXPECT_EQ(login("l3").status, 200);
}

// Independent of timing: the fifth consecutive failure locks sign-in until an operator unlocks
// it, so there is no timed window to expire between two slow attempts (the doubling delays
// before the lockout are tested on a manual clock in tests/engine/password_test.cc).
TEST_F(AccessE2eTest, LockoutAndOperatorUnlock) {
  StartServe({"--login-free-failures", "4", "--login-lockout-failures", "5"});
  ASSERT_FALSE(HasFailure());
  const std::string password = "tangerine velvet orbit 42";
  auto reg =
      As(kWebToken, "POST", "/v1/accounts",
         R"({"command_id":"r1","register_account":{"email":"owner@example.com","password":")" +
             password + R"("}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = testing::ParseJson<v1::CommandOutcome>(reg.body).account_id();
  auto login = [&](const std::string& id, const std::string& pw) {
    return As(kWebToken, "POST", "/v1/sessions",
              R"({"command_id":")" + id + R"(","login":{"email":"owner@example.com","password":")" +
                  pw + R"("}})");
  };
  const std::string unknown = login("u0", "whatever it is").body;
  for (int i = 0; i < 10; ++i) {
    auto r = login("f" + std::to_string(i), "not the password at all");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body, unknown);
  }
  auto locked = login("ok1", password);
  EXPECT_EQ(locked.status, 401);
  EXPECT_EQ(locked.body, unknown);

  const std::string user = "usr_" + account.substr(4);
  const std::string unlock = R"({"command_id":"un1","unlock_login":{"user_id":")" + user + R"("}})";
  EXPECT_EQ(As(kWebToken, "POST", "/v1/accounts/" + account + "/commands", unlock).status, 403);
  auto unlocked = As(kOpToken, "POST", "/v1/accounts/" + account + "/commands", unlock);
  ASSERT_EQ(unlocked.status, 200) << unlocked.body;
  EXPECT_EQ(login("ok2", password).status, 200);
}

TEST(AccessE2eFlagsTest, AWorldReadableTokensFileIsRefused) {
  testing::TempDir dir;
  const std::string tokens = dir.Sub("tokens");
  { std::ofstream(tokens) << "web web-1 " << kWebToken << "\n"; }
  ASSERT_EQ(::chmod(tokens.c_str(), 0644), 0);
  auto run = testing::RunClawvisor({"serve", "--data-dir", dir.Sub("data"), "--service-tokens-file",
                                    tokens, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(run.exit_code, 64);
  EXPECT_NE(run.err.find("chmod 600"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find(kWebToken), std::string::npos);
}

}  // namespace
}  // namespace clawvisor
