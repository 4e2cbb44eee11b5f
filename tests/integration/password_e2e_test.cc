// End to end: passwords through the real `clawvisor serve` (Argon2id at OWASP's full parameters,
// real RocksDB, real key vault). The plaintext never reaches the log; the sealed PHC does; a
// change needs the current password and revokes every session.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "clawvisor/v1/commands.pb.h"
#include "tests/support/http_client.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;

const std::string kPassword = "tangerine velvet orbit 42";
const std::string kNewPassword = "quiet lantern meadow 17";

// Whether any file under `dir` contains `needle` (a plaintext that must not be stored).
bool AnyFileContains(const std::filesystem::path& dir, const std::string& needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string bytes;
    if (FILE* f = std::fopen(entry.path().c_str(), "rb")) {
      char buf[65536];
      while (size_t n = std::fread(buf, 1, sizeof buf, f)) bytes.append(buf, n);
      std::fclose(f);
    }
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

class PasswordE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    serve_ =
        std::make_unique<testing::ServeProcess>(dir_.path() / "data", dir_.path() / "serve.log");
    serve_->Start();
    ASSERT_FALSE(HasFailure());
  }
  HttpResponse Post(const std::string& target, const std::string& body) {
    return HttpRequest(serve_->port(), "POST", target, body);
  }
  std::string ErrorCode(const HttpResponse& r) {
    const std::string key = "\"error\":{\"code\":\"";
    const size_t at = r.body.find(key);
    if (at == std::string::npos) return "";
    return r.body.substr(at + key.size(), r.body.find('"', at + key.size()) - at - key.size());
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ServeProcess> serve_;
};

TEST_F(PasswordE2eTest, RegisterAndChangePassword) {
  // The policy refuses before anything is stored.
  auto weak = Post(
      "/v1/accounts",
      R"({"command_id":"r0","register_account":{"email":"o@example.com","password":"password1"}})");
  EXPECT_EQ(weak.status, 422) << weak.body;
  EXPECT_EQ(ErrorCode(weak), "invalid_argument");
  EXPECT_EQ(weak.body.find("password1"), std::string::npos);
  // A client may not hand in its own hash.
  auto own_hash = Post(
      "/v1/accounts",
      R"({"command_id":"r0","register_account":{"email":"o@example.com","password_hash":"$argon2id$v=19$m=8,t=1,p=1$YQ$Yg"}})");
  EXPECT_EQ(own_hash.status, 400) << own_hash.body;
  EXPECT_EQ(ErrorCode(own_hash), "field_not_allowed");

  const std::string reg_body =
      R"({"command_id":"r1","register_account":{"email":"o@example.com","password":")" + kPassword +
      R"("}})";
  auto reg = Post("/v1/accounts", reg_body);
  ASSERT_EQ(reg.status, 201) << reg.body;
  v1::CommandOutcome outcome;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(reg.body, &outcome, options).ok());
  const std::string account = outcome.account_id();
  // A retry of the same request gets the recorded outcome (same salt, same fingerprint).
  auto retry = Post("/v1/accounts", reg_body);
  EXPECT_EQ(retry.status, 201) << retry.body;

  const std::string commands = "/v1/accounts/" + account + "/commands";
  auto wrong = Post(
      commands,
      R"({"command_id":"c1","change_password":{"current_password":"not it at all","new_password":")" +
          kNewPassword + R"("}})");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  auto weak_new = Post(commands, R"({"command_id":"c2","change_password":{"current_password":")" +
                                     kPassword + R"(","new_password":"12345678"}})");
  EXPECT_EQ(weak_new.status, 422) << weak_new.body;
  auto verdict =
      Post(commands, R"({"command_id":"c3","change_password":{"current_password_verified":true}})");
  EXPECT_EQ(verdict.status, 400) << verdict.body;
  auto changed = Post(commands, R"({"command_id":"c4","change_password":{"current_password":")" +
                                    kPassword + R"(","new_password":")" + kNewPassword + R"("}})");
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_NE(changed.body.find("password_changed"), std::string::npos);
  EXPECT_NE(changed.body.find("all_sessions_revoked"), std::string::npos);
  // The old password no longer verifies; the new one does.
  auto old_again = Post(commands, R"({"command_id":"c5","change_password":{"current_password":")" +
                                      kPassword + R"(","new_password":"yet another phrase 9"}})");
  EXPECT_EQ(old_again.status, 401) << old_again.body;
  auto new_works =
      Post(commands, R"({"command_id":"c6","change_password":{"current_password":")" +
                         kNewPassword + R"(","new_password":"yet another phrase 9"}})");
  EXPECT_EQ(new_works.status, 200) << new_works.body;

  // The log holds the sealed hash, never the plaintext (nor an unsealed PHC string).
  ASSERT_EQ(serve_->Stop(), 0);
  auto dump = testing::RunClawvisor(
      {"events", "dump", "--data-dir", (dir_.path() / "data").string(), "--account", account});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.out.find("\"password_hash\":{\"key_id\""), std::string::npos) << dump.out;
  EXPECT_EQ(dump.out.find("argon2id"), std::string::npos);
  EXPECT_EQ(dump.out.find(kPassword), std::string::npos);
  EXPECT_FALSE(AnyFileContains(dir_.path() / "data", kPassword));
  EXPECT_FALSE(AnyFileContains(dir_.path() / "data", "$argon2id$"));
  EXPECT_FALSE(AnyFileContains(dir_.path(), kNewPassword));  // nor in the log file
}

// Login: POST /v1/sessions finds the account by email. A wrong password and an unknown email
// get the same status and body; a hash made with weaker parameters than the server's is
// replaced at the next login.
TEST_F(PasswordE2eTest, LoginAndRehashWhenParametersRise) {
  auto reg =
      Post("/v1/accounts",
           R"({"command_id":"r1","register_account":{"email":"Owner@Example.com","password":")" +
               kPassword + R"("}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  auto login = [&](const std::string& id, const std::string& email, const std::string& password) {
    return Post("/v1/sessions", R"({"command_id":")" + id + R"(","login":{"email":")" + email +
                                    R"(","password":")" + password + R"("}})");
  };
  auto ok = login("l1", "owner@example.com", kPassword);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(ok.body.find("login_succeeded"), std::string::npos);
  EXPECT_EQ(ok.body.find("password_changed"), std::string::npos);  // same parameters

  auto wrong = login("l2", "owner@example.com", kPassword + "x");
  auto unknown = login("l3", "nobody@example.com", kPassword);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.body, unknown.body);
  EXPECT_EQ(ErrorCode(wrong), "unauthenticated");

  // The operators raise the cost; the next login rehashes, the one after does not.
  ASSERT_EQ(serve_->Stop(), 0);
  serve_ =
      std::make_unique<testing::ServeProcess>(dir_.path() / "data", dir_.path() / "serve2.log",
                                              std::vector<std::string>{"--argon2-iterations", "3"});
  serve_->Start();
  ASSERT_FALSE(HasFailure());
  auto first = login("l4", "owner@example.com", kPassword);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("password_changed"), std::string::npos) << first.body;
  auto second = login("l5", "owner@example.com", kPassword);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.body.find("password_changed"), std::string::npos) << second.body;
  EXPECT_EQ(login("l6", "owner@example.com", "not the password").status, 401);
}

}  // namespace
}  // namespace clawvisor
