// End to end: the real `clawvisor serve` binary speaking HTTPS, checked with independent TLS
// clients (curl and openssl s_client) as a web tier or an operator would, and the transport flag
// rules of `serve` (issue #4, transport).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/files.h"
#include "tests/support/http_client.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::RunClawvisor;
using testing::ServeProcess;
using testing::ServeTransport;
using testing::Shell;

// The value of `"key":"..."` in the last log line containing `msg`.
std::string LogValue(const std::string& log, const std::string& msg, const std::string& key) {
  const auto line = log.rfind("\"msg\":\"" + msg + "\"");
  if (line == std::string::npos) return "";
  const auto at = log.find("\"" + key + "\":\"", line);
  if (at == std::string::npos) return "";
  const auto start = at + key.size() + 4;
  return log.substr(start, log.find('"', start) - start);
}

std::string OpensslFingerprint(const std::filesystem::path& cert) {
  const std::string out =
      Shell("openssl x509 -in " + cert.string() + " -noout -fingerprint -sha256");
  return out.substr(out.find('=') + 1);
}

// `curl -i` for https://HOST:PORT/PATH with HOST resolved to 127.0.0.1, verifying the server's
// certificate against `ca` for HOST: the response head and body, or curl's error.
std::string Curl(uint16_t port, const std::filesystem::path& ca, const std::string& args,
                 const std::string& host = "127.0.0.1", const std::string& path = "/healthz") {
  const std::string authority = host + ":" + std::to_string(port);
  return Shell("curl -sS -i --max-time 30 --cacert " + ca.string() + " --resolve " + authority +
               ":127.0.0.1 " + args + " https://" + authority + path + " 2>&1");
}

// What openssl s_client reports when it offers only `version_flag` (-tls1 ... -tls1_3) with
// every cipher it has (SECLEVEL 0, so refusing is the server's doing).
std::string SClient(uint16_t port, const std::string& version_flag) {
  return Shell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " " +
               version_flag + " -cipher 'ALL:@SECLEVEL=0' 2>&1");
}

class TlsE2eTest : public ::testing::Test {
 protected:
  std::filesystem::path data() const { return dir_.path() / "data"; }
  std::filesystem::path cert() const { return data() / "tls" / "certificate.pem"; }
  std::filesystem::path key() const { return data() / "tls" / "private-key.pem"; }
  std::filesystem::path log() const { return dir_.path() / "serve.log"; }

  testing::TempDir dir_;
};

// With no TLS flags serve makes a self-signed pair on first run (key 0600), logs the
// certificate's fingerprint (never the key), serves HTTPS that curl verifies for 127.0.0.1 and
// localhost, and keeps the same pair on restart.
TEST_F(TlsE2eTest, SelfSignedHttpsByDefault) {
  ServeProcess serve(data(), log(), {}, ServeTransport::kHttps);
  serve.Start();
  ASSERT_FALSE(HasFailure());

  struct stat key_stat {};
  ASSERT_EQ(::stat(key().c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  const std::string first_log = ReadFile(log());
  const std::string fingerprint =
      LogValue(first_log, "generated a self-signed TLS certificate", "sha256_fingerprint");
  EXPECT_EQ(fingerprint, OpensslFingerprint(cert()));
  const std::string key_pem = ReadFile(key());
  ASSERT_THAT(key_pem, HasSubstr("PRIVATE KEY"));
  const std::string key_body = key_pem.substr(key_pem.find('\n') + 1, 40);
  EXPECT_THAT(first_log, Not(HasSubstr(key_body)));

  for (const std::string host : {"127.0.0.1", "localhost"}) {
    const std::string out = Curl(serve.port(), cert(), "", host);
    EXPECT_THAT(out, HasSubstr("HTTP/1.1 200 OK")) << host;
  }
  // Plain HTTP on the HTTPS port gets no HTTP answer.
  EXPECT_EQ(testing::HttpRequest(serve.port(), "GET", "/healthz").status, 0);

  EXPECT_EQ(serve.Stop(), 0);
  serve.Start();
  ASSERT_FALSE(HasFailure());
  const std::string second_log = ReadFile(log()).substr(first_log.size());
  EXPECT_EQ(LogValue(second_log, "TLS certificate", "sha256_fingerprint"), fingerprint);
  EXPECT_THAT(Curl(serve.port(), cert(), ""), HasSubstr("HTTP/1.1 200 OK"));
}

// Security headers on the wire: HSTS, nosniff and no-store on a health check and on a command
// (register an account: the response names the account), no Server banner.
TEST_F(TlsE2eTest, SecurityHeaders) {
  ServeProcess serve(data(), log(), {}, ServeTransport::kHttps);
  serve.Start();
  ASSERT_FALSE(HasFailure());
  const std::string body =
      R"('{"command_id":"c1","register_account":{"email":"owner@example.com"}}')";
  for (const std::string& out :
       {Curl(serve.port(), cert(), ""),
        Curl(serve.port(), cert(), "-X POST -H 'Content-Type: application/json' -d " + body,
             "127.0.0.1", "/v1/accounts")}) {
    EXPECT_THAT(out, HasSubstr("Strict-Transport-Security: max-age=63072000"));
    EXPECT_THAT(out, HasSubstr("X-Content-Type-Options: nosniff"));
    EXPECT_THAT(out, HasSubstr("Cache-Control: no-store"));
    EXPECT_THAT(out, Not(HasSubstr("Server:")));
    EXPECT_THAT(out, Not(HasSubstr("server:")));
  }
}

// TLS 1.0 and 1.1 are refused with a protocol_version alert; 1.2 (with an ECDHE AEAD cipher)
// and 1.3 are accepted.
TEST_F(TlsE2eTest, ProtocolVersions) {
  ServeProcess serve(data(), log(), {}, ServeTransport::kHttps);
  serve.Start();
  ASSERT_FALSE(HasFailure());
  for (const std::string old : {"-tls1", "-tls1_1"}) {
    const std::string out = SClient(serve.port(), old);
    EXPECT_THAT(out, HasSubstr("alert protocol version")) << old << "\n" << out;
  }
  const std::string tls12 = SClient(serve.port(), "-tls1_2");
  EXPECT_THAT(tls12, HasSubstr("New, TLSv1.2, Cipher is ECDHE-ECDSA-"));
  EXPECT_THAT(tls12,
              ::testing::ContainsRegex(
                  "Cipher is ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)"));
  EXPECT_THAT(SClient(serve.port(), "-tls1_3"), HasSubstr("New, TLSv1.3, Cipher is TLS_"));
  // No renegotiation: openssl's client asks with "R" on a TLS 1.2 session and is refused.
  const std::string reneg = Shell("(echo R; sleep 1) | openssl s_client -connect 127.0.0.1:" +
                                  std::to_string(serve.port()) + " -tls1_2 2>&1");
  EXPECT_THAT(reneg, HasSubstr("RENEGOTIATING"));
  EXPECT_THAT(reneg, HasSubstr("no renegotiation"));
}

// A certificate and key made elsewhere (RSA 3072 by the openssl tool) are served as given; a key
// file other users may read is refused before serve starts, with the file and the fix named.
TEST_F(TlsE2eTest, GivenCertificateAndKey) {
  const auto given_cert = dir_.path() / "given-cert.pem";
  const auto given_key = dir_.path() / "given-key.pem";
  Shell(
      "openssl req -x509 -newkey rsa:3072 -nodes -days 2 -subj /CN=clawvisor-test -addext "
      "subjectAltName=IP:127.0.0.1 -keyout " +
      given_key.string() + " -out " + given_cert.string() + " 2>&1");
  ASSERT_TRUE(std::filesystem::exists(given_key));

  ASSERT_EQ(::chmod(given_key.c_str(), 0644), 0);
  const auto refused =
      RunClawvisor({"serve", "--data-dir", data().string(), "--listen", "127.0.0.1:0", "--tls-cert",
                    given_cert.string(), "--tls-key", given_key.string()});
  EXPECT_EQ(refused.exit_code, 64);
  EXPECT_THAT(refused.err, HasSubstr(given_key.string()));
  EXPECT_THAT(refused.err, HasSubstr("mode 0644"));
  EXPECT_THAT(refused.err, HasSubstr("chmod 600"));

  ASSERT_EQ(::chmod(given_key.c_str(), 0600), 0);
  ServeProcess serve(data(), log(),
                     {"--tls-cert", given_cert.string(), "--tls-key", given_key.string()},
                     ServeTransport::kHttps);
  serve.Start();
  ASSERT_FALSE(HasFailure());
  EXPECT_THAT(Curl(serve.port(), given_cert, ""), HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_EQ(LogValue(ReadFile(log()), "TLS certificate", "sha256_fingerprint"),
            OpensslFingerprint(given_cert));
  EXPECT_FALSE(std::filesystem::exists(key())) << "no self-signed pair when one is given";
}

// The flag rules: plain HTTP only on loopback and only alone; the two TLS files together; an
// address other than loopback only with service authentication. Each is a usage error (64).
TEST_F(TlsE2eTest, TransportFlagRules) {
  const std::string d = data().string();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--listen", "0.0.0.0:0", "--insecure-http"}, "allowed only on a loopback"},
           {{"--listen", "192.0.2.1:0", "--insecure-http"}, "allowed only on a loopback"},
           {{"--listen", "127.0.0.1:0", "--insecure-http", "--tls-cert", "c.pem", "--tls-key",
             "k.pem"},
            "cannot be combined"},
           {{"--listen", "127.0.0.1:0", "--tls-cert", "c.pem"}, "must be given together"},
           {{"--listen", "0.0.0.0:0"}, "needs --service-tokens-file"},
           // A check after the transport's (the tokens file) still runs before the self-signed
           // pair is written.
           {{"--listen", "127.0.0.1:0", "--service-tokens-file", (dir_.path() / "none").string()},
            ""},
       }) {
    std::vector<std::string> args{"serve", "--data-dir", d};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto run = RunClawvisor(args);
    EXPECT_EQ(run.exit_code, 64) << c.message << run.err;
    if (!c.message.empty()) {
      EXPECT_THAT(run.err, HasSubstr(c.message));
    }
  }
  EXPECT_FALSE(std::filesystem::exists(data())) << "a refused start creates nothing";

  // --insecure-http on loopback serves plain HTTP, without HSTS.
  ServeProcess plain(data(), log());
  plain.Start();
  ASSERT_FALSE(HasFailure());
  const auto r = testing::HttpRequest(plain.port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.headers.contains("strict-transport-security"));
  EXPECT_EQ(r.headers.at("x-content-type-options"), "nosniff");
  EXPECT_FALSE(std::filesystem::exists(key())) << "no certificate for plain HTTP";
}

}  // namespace
}  // namespace clawvisor
