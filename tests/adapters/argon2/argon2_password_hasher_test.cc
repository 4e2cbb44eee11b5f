// Argon2idPasswordHasher at OWASP's full parameters, checked against the independent `argon2`
// command-line tool (Debian package `argon2`): the same password, salt and parameters give the
// same PHC string, and each verifies the other's.

#include "adapters/argon2/argon2_password_hasher.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

// Runs the argon2 CLI with the password on stdin (never in argv) and returns its stdout.
std::string Argon2Cli(const std::string& password, const std::string& args) {
  testing::TempDir dir;
  const std::string input = dir.Sub("password");
  { std::ofstream(input, std::ios::binary) << password; }
  const std::string command = "argon2 " + args + " < '" + input + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  std::array<char, 256> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "argon2 CLI failed: " << out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

constexpr std::string_view kSalt = "clawvisor-salt16";  // 16 bytes, printable for the CLI

TEST(Argon2idPasswordHasherTest, FullParametersMatchTheArgon2Cli) {
  auto hasher = Argon2idPasswordHasher::Create(kOwaspMinimumArgon2);
  ASSERT_TRUE(hasher.has_value()) << hasher.error().ToString();
  const std::string password = "correct horse battery staple \xC3\xA9t\xC3\xA9";
  auto phc = (*hasher)->Hash(password, kSalt);
  ASSERT_TRUE(phc.has_value()) << phc.error().ToString();
  EXPECT_TRUE(phc->starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << *phc;
  const std::string cli = Argon2Cli(password, std::string(kSalt) + " -id -t 2 -k 19456 -p 1 -e");
  EXPECT_EQ(*phc, cli);
  EXPECT_EQ((*hasher)->Verify(*phc, password).value(), true);
  EXPECT_EQ((*hasher)->Verify(*phc, password + " ").value(), false);
  EXPECT_EQ((*hasher)->Verify(*phc, password.substr(0, password.size() - 1)).value(), false);
  EXPECT_FALSE((*hasher)->NeedsRehash(*phc));
}

// A long password is hashed whole: no truncation (a 200-byte password differs from its
// 199-byte prefix). The CLI reads at most 127 bytes, so it checks a 120-byte one.
TEST(Argon2idPasswordHasherTest, LongPasswordsAreNotTruncated) {
  auto hasher = Argon2idPasswordHasher::ForTests({.memory_kib = 64, .iterations = 1});
  const std::string long_password(200, 'x');
  auto phc = hasher->Hash(long_password, kSalt);
  ASSERT_TRUE(phc.has_value());
  EXPECT_EQ(hasher->Verify(*phc, long_password).value(), true);
  EXPECT_EQ(hasher->Verify(*phc, long_password.substr(0, 199)).value(), false);
  const std::string cli_long(120, 'y');
  EXPECT_EQ(*hasher->Hash(cli_long, kSalt),
            Argon2Cli(cli_long, std::string(kSalt) + " -id -t 1 -k 64 -p 1 -e"));
}

// A hash made by the CLI with stronger parameters verifies here and needs no rehash; one made
// with weaker parameters verifies and asks to be rehashed.
TEST(Argon2idPasswordHasherTest, RehashWhenParametersRise) {
  auto hasher = Argon2idPasswordHasher::ForTests({.memory_kib = 256, .iterations = 2});
  const std::string password = "a password of some length";
  const std::string stronger = Argon2Cli(password, std::string(kSalt) + " -id -t 3 -k 512 -p 1 -e");
  const std::string weaker = Argon2Cli(password, std::string(kSalt) + " -id -t 1 -k 128 -p 1 -e");
  EXPECT_EQ(hasher->Verify(stronger, password).value(), true);
  EXPECT_EQ(hasher->Verify(weaker, password).value(), true);
  EXPECT_FALSE(hasher->NeedsRehash(stronger));
  EXPECT_TRUE(hasher->NeedsRehash(weaker));
  EXPECT_TRUE(hasher->NeedsRehash("not a hash"));
  // Argon2i and Argon2d hashes are not ours.
  const std::string argon2i = Argon2Cli(password, std::string(kSalt) + " -i -t 2 -k 256 -e");
  EXPECT_FALSE(hasher->Verify(argon2i, password).has_value());
}

TEST(Argon2idPasswordHasherTest, RefusesWeakParametersAndBadInput) {
  EXPECT_FALSE(Argon2idPasswordHasher::Create({.memory_kib = 8192}).has_value());
  EXPECT_FALSE(Argon2idPasswordHasher::Create({.iterations = 1}).has_value());
  EXPECT_FALSE(Argon2idPasswordHasher::Create({.parallelism = 0}).has_value());
  EXPECT_TRUE(Argon2idPasswordHasher::Create({.memory_kib = 65536, .iterations = 3}).has_value());
  auto hasher = Argon2idPasswordHasher::ForTests({.memory_kib = 64, .iterations = 1});
  EXPECT_FALSE(hasher->Hash("pw", "short salt").has_value());
  for (const char* bad : {"", "$argon2id$v=19$", "$argon2id$v=19$m=64,t=1$x$y",
                          "$argon2id$v=19$m=64,t=1,p=1$$", "$argon2id$v=16$m=64,t=1,p=1$a$b",
                          "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaA"}) {
    EXPECT_FALSE(hasher->Verify(bad, "pw").has_value()) << bad;
  }
  auto params = ParseArgon2idParams("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ(params->memory_kib, 19456u);
  EXPECT_EQ(params->iterations, 2u);
  EXPECT_EQ(params->parallelism, 1u);
}

}  // namespace
}  // namespace clawvisor
