// TOTP end to end through the real `clawvisor serve`, with the codes made by oathtool (liboath,
// an independent implementation) at the real time: enrol (secret and recovery codes shown once),
// confirm, sign-in needs a code, a code works once, a recovery code works once, disabling needs
// the password and a code; neither the secret nor a recovery code is stored in plaintext.

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "clawvisor/v1/commands.pb.h"
#include "tests/support/files.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;
using testing::JsonStringArrayMember;
using testing::JsonStringMember;

const std::string kEmail = "totp.owner@example.com";
const std::string kPassword = "tangerine velvet orbit 42";

// oathtool's code for `base32_secret` at the real time plus `offset_seconds`.
std::string Oathtool(const std::string& base32_secret, int64_t offset_seconds = 0) {
  const std::string command = "oathtool --totp -b --now '@" +
                              std::to_string(std::time(nullptr) + offset_seconds) + "' " +
                              base32_secret + " 2>/dev/null";
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[64];
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    if (pclose(p) != 0) return "";
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string ErrorCode(const HttpResponse& r) {
  const std::string key = "\"error\":{\"code\":\"";
  const size_t at = r.body.find(key);
  if (at == std::string::npos) return "";
  return r.body.substr(at + key.size(), r.body.find('"', at + key.size()) - at - key.size());
}

TEST(TotpE2eTest, EnrolConfirmSignInRecoverDisable) {
  ASSERT_EQ(std::system("command -v oathtool >/dev/null 2>&1"), 0)
      << "oathtool is missing (ops/install-deps.sh installs it)";
  testing::TempDir dir;
  testing::ServeProcess serve(dir.path() / "data", dir.path() / "serve.log");
  serve.Start();
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto post = [&](const std::string& target, const std::string& body) {
    return HttpRequest(serve.port(), "POST", target, body);
  };
  auto login = [&](const std::string& id, const std::string& code) {
    std::string body = R"({"command_id":")" + id + R"(","login":{"email":")" + kEmail +
                       R"(","password":")" + kPassword + R"(")";
    if (!code.empty()) body += R"(,"totp_code":")" + code + R"(")";
    return post("/v1/sessions", body + "}}");
  };

  auto reg = post("/v1/accounts", R"({"command_id":"r1","register_account":{"email":")" + kEmail +
                                      R"(","password":")" + kPassword + R"("}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = JsonStringMember(reg.body, "account_id");
  const std::string base = "/v1/accounts/" + account + "/totp";

  // A client may not choose the secret.
  auto chosen = post(base, R"({"command_id":"t0","enroll_totp":{"secret":"JBSWY3DPEHPK3PXP"}})");
  EXPECT_EQ(chosen.status, 400) << chosen.body;
  EXPECT_EQ(ErrorCode(chosen), "field_not_allowed");

  auto enrolled = post(base, R"({"command_id":"t1"})");
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  EXPECT_EQ(enrolled.headers["cache-control"], "no-store");
  const std::string secret = JsonStringMember(enrolled.body, "totp_secret");
  ASSERT_EQ(secret.size(), 32u) << enrolled.body;
  const std::string uri = JsonStringMember(enrolled.body, "otpauth_uri");
  EXPECT_EQ(uri, "otpauth://totp/clawvisor:" + account + "?secret=" + secret +
                     "&issuer=clawvisor&algorithm=SHA1&digits=6&period=30");
  const auto recovery = JsonStringArrayMember(enrolled.body, "recovery_codes");
  ASSERT_EQ(recovery.size(), 10u) << enrolled.body;
  // Shown once: a retry of the command gets none of it.
  auto again = post(base, R"({"command_id":"t1"})");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_NE(again.body.find("\"totp_secret\":null"), std::string::npos) << again.body;
  EXPECT_EQ(again.body.find(secret), std::string::npos);
  EXPECT_EQ(again.body.find(recovery[0]), std::string::npos);

  // Until confirmed, the password alone signs in.
  EXPECT_EQ(login("l0", "").status, 200);
  auto wrong_confirm = post(base + "/confirm", R"({"command_id":"t2","confirm_totp":{"code":")" +
                                                   Oathtool(secret, 300) + R"("}})");
  EXPECT_EQ(wrong_confirm.status, 401) << wrong_confirm.body;
  const std::string now_code = Oathtool(secret);
  ASSERT_EQ(now_code.size(), 6u);
  auto confirmed = post(base + "/confirm",
                        R"({"command_id":"t3","confirm_totp":{"code":")" + now_code + R"("}})");
  ASSERT_EQ(confirmed.status, 200) << confirmed.body;
  EXPECT_NE(confirmed.body.find("totp_enabled"), std::string::npos);

  // Now the password alone is not enough, and the answer says a code is due.
  auto no_code = login("l1", "");
  EXPECT_EQ(no_code.status, 401) << no_code.body;
  EXPECT_EQ(ErrorCode(no_code), "totp_required");
  // The confirming code is spent (replay); the next step's code is accepted once (+1 step).
  auto replay = login("l2", now_code);
  EXPECT_EQ(replay.status, 401) << replay.body;
  EXPECT_EQ(ErrorCode(replay), "unauthenticated");
  const std::string next_code = Oathtool(secret, 30);
  auto with_code = login("l3", next_code);
  ASSERT_EQ(with_code.status, 200) << with_code.body;
  EXPECT_FALSE(JsonStringMember(with_code.body, "session_token").empty());
  EXPECT_EQ(login("l4", next_code).status, 401);
  // A recovery code, once.
  auto recovered = login("l5", recovery[3]);
  ASSERT_EQ(recovered.status, 200) << recovered.body;
  EXPECT_EQ(login("l6", recovery[3]).status, 401);

  // Disabling needs the password and a code.
  auto no_password =
      post(base + "/disable", R"({"command_id":"t4","disable_totp":{"password":"not the password",)"
                              R"("code":")" +
                                  recovery[4] + R"("}})");
  EXPECT_EQ(no_password.status, 401) << no_password.body;
  auto disabled = post(base + "/disable", R"({"command_id":"t5","disable_totp":{"password":")" +
                                              kPassword + R"(","code":")" + recovery[4] + R"("}})");
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(login("l7", "").status, 200);

  // Neither the secret nor any recovery code is stored in plaintext (the log holds the sealed
  // secret and keyed hashes only).
  ASSERT_EQ(serve.Stop(), 0);
  auto dump = testing::RunClawvisor(
      {"events", "dump", "--data-dir", (dir.path() / "data").string(), "--account", account});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.out.find("totp_enrolled"), std::string::npos);
  EXPECT_NE(dump.out.find("used_recovery_code"), std::string::npos);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = testing::ReadFile(entry.path());
    EXPECT_EQ(bytes.find(secret), std::string::npos) << entry.path();
    for (const auto& code : recovery) {
      EXPECT_EQ(bytes.find(code), std::string::npos) << entry.path();
    }
  }
  EXPECT_EQ(dump.out.find(secret), std::string::npos);
}

}  // namespace
}  // namespace clawvisor
