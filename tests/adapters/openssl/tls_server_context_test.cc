// The TLS configuration and the self-signed pair (adapters/openssl/tls_server_context.h), checked
// with OpenSSL's API where the property lives in the SSL_CTX and with the independent `openssl`
// command-line tool where a file is read by others.

#include "adapters/openssl/tls_server_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

namespace clawvisor::openssl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kHosts = {"localhost", "127.0.0.1", "::1"};

class TlsServerContextTest : public ::testing::Test {
 protected:
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
  clawvisor::testing::TempDir dir_;

  TlsServerFiles Ensure(const std::vector<std::string>& hosts = kHosts) {
    auto ensured = EnsureSelfSignedCertificate(dir_.path() / "tls", hosts, now_);
    EXPECT_TRUE(ensured.has_value()) << ensured.error().ToString();
    return ensured ? ensured->files : TlsServerFiles{};
  }
  std::string Openssl(const std::string& args) {
    return clawvisor::testing::Shell("openssl " + args + " 2>&1");
  }
};

// The generated pair: key 0600 in a 0700 directory, a certificate openssl reads as ECDSA P-256,
// self-signed, with the hosts in its SAN, serverAuth, not a CA, valid now.
TEST_F(TlsServerContextTest, SelfSignedPairIsPrivateAndWellFormed) {
  const auto files = Ensure({"localhost", "127.0.0.1", "::1", "api.example.test", "10.1.2.3"});
  struct stat key_stat {
  }, dir_stat{};
  ASSERT_EQ(::stat(files.private_key_file.c_str(), &key_stat), 0);
  ASSERT_EQ(::stat((dir_.path() / "tls").c_str(), &dir_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600u);
  EXPECT_EQ(dir_stat.st_mode & 0777, 0700u);
  const std::string cert = files.certificate_chain_file.string();
  const std::string text = Openssl("x509 -in " + cert + " -noout -text");
  EXPECT_THAT(text, HasSubstr("ASN1 OID: prime256v1"));
  EXPECT_THAT(text, HasSubstr("DNS:localhost"));
  EXPECT_THAT(text, HasSubstr("DNS:api.example.test"));
  EXPECT_THAT(text, HasSubstr("IP Address:127.0.0.1"));
  EXPECT_THAT(text, HasSubstr("IP Address:0:0:0:0:0:0:0:1"));
  EXPECT_THAT(text, HasSubstr("IP Address:10.1.2.3"));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication"));
  EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  EXPECT_THAT(Openssl("verify -CAfile " + cert + " " + cert), HasSubstr(": OK"));
  EXPECT_THAT(Openssl("x509 -in " + cert + " -noout -checkend 0"), HasSubstr("will not expire"));
  // The key file holds the certificate's key (openssl derives the same public key from both).
  EXPECT_EQ(Openssl("pkey -in " + files.private_key_file.string() + " -pubout"),
            Openssl("x509 -in " + cert + " -noout -pubkey"));
}

// The fingerprint is what `openssl x509 -fingerprint -sha256` prints.
TEST_F(TlsServerContextTest, FingerprintMatchesOpensslTool) {
  const auto files = Ensure();
  auto fingerprint = CertificateSha256Fingerprint(files.certificate_chain_file);
  ASSERT_TRUE(fingerprint.has_value()) << fingerprint.error().ToString();
  EXPECT_EQ("sha256 Fingerprint=" + *fingerprint,
            Openssl("x509 -in " + files.certificate_chain_file.string() +
                    " -noout -fingerprint -sha256"));
}

// A pair that still fits is kept; one that expires within 30 days, or lacks a host, is replaced.
TEST_F(TlsServerContextTest, SelfSignedPairIsKeptOrRenewed) {
  const auto files = Ensure();
  const auto first = CertificateSha256Fingerprint(files.certificate_chain_file).value();
  Ensure();
  EXPECT_EQ(CertificateSha256Fingerprint(files.certificate_chain_file).value(), first);

  Ensure({"localhost", "127.0.0.1", "::1", "192.0.2.7"});  // a new listen host
  const auto second = CertificateSha256Fingerprint(files.certificate_chain_file).value();
  EXPECT_NE(second, first);
  EXPECT_THAT(Openssl("x509 -in " + files.certificate_chain_file.string() + " -noout -text"),
              HasSubstr("IP Address:192.0.2.7"));

  now_ += std::chrono::hours(24 * 380);  // within 30 days of the end of its 397
  Ensure({"localhost", "127.0.0.1", "::1", "192.0.2.7"});
  EXPECT_NE(CertificateSha256Fingerprint(files.certificate_chain_file).value(), second);
}

// The context allows TLS 1.2 and 1.3 only, no compression, no renegotiation, no tickets.
TEST_F(TlsServerContextTest, ContextSettings) {
  auto ctx = MakeTlsServerContext(Ensure());
  ASSERT_TRUE(ctx.has_value()) << ctx.error().ToString();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx->get()), TLS1_3_VERSION);
  const uint64_t options = SSL_CTX_get_options(ctx->get());
  EXPECT_TRUE(options & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(options & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(options & SSL_OP_NO_TICKET);
  // Every cipher offered is ECDHE (TLS 1.2) or a TLS 1.3 suite, and every one is an AEAD.
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx->get());
  ASSERT_NE(ciphers, nullptr);
  ASSERT_GT(sk_SSL_CIPHER_num(ciphers), 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    SCOPED_TRACE(SSL_CIPHER_get_name(c));
    EXPECT_TRUE(SSL_CIPHER_is_aead(c));
    const int kx = SSL_CIPHER_get_kx_nid(c);
    EXPECT_TRUE(kx == NID_kx_ecdhe || kx == NID_kx_any) << OBJ_nid2sn(kx);
  }
}

// A private key other users may read is refused, with the file and the fix in the message.
TEST_F(TlsServerContextTest, KeyReadableByOthersIsRefused) {
  auto files = Ensure();
  for (const mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(files.private_key_file.c_str(), mode), 0);
    auto ctx = MakeTlsServerContext(files);
    ASSERT_FALSE(ctx.has_value()) << std::oct << mode;
    EXPECT_EQ(ctx.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(ctx.error().message, HasSubstr(files.private_key_file.string()));
    EXPECT_THAT(ctx.error().message, HasSubstr("chmod 600"));
    EXPECT_FALSE(CheckPrivateKeyFileMode(files.private_key_file).has_value());
  }
  for (const mode_t mode : {0600, 0400}) {
    ASSERT_EQ(::chmod(files.private_key_file.c_str(), mode), 0);
    EXPECT_TRUE(MakeTlsServerContext(files).has_value()) << std::oct << mode;
  }
}

// A key that is not the certificate's, a file that is not PEM, an encrypted key: refused with a
// message that names the file and carries no key material.
TEST_F(TlsServerContextTest, BadFilesAreRefusedClearly) {
  const auto files = Ensure();
  const std::string key_pem = clawvisor::testing::ReadFile(files.private_key_file);
  ASSERT_THAT(key_pem, HasSubstr("PRIVATE KEY"));

  auto other = GenerateSelfSignedCertificate(kHosts, now_, std::chrono::hours(24));
  ASSERT_TRUE(other.has_value());
  const auto other_key = dir_.path() / "other-key.pem";
  { std::ofstream(other_key) << other->private_key; }
  ASSERT_EQ(::chmod(other_key.c_str(), 0600), 0);
  auto mismatched = MakeTlsServerContext({files.certificate_chain_file, other_key});
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_THAT(mismatched.error().message, HasSubstr("does not belong to certificate"));

  const auto garbage = dir_.path() / "garbage.pem";
  { std::ofstream(garbage) << "not a key"; }
  ASSERT_EQ(::chmod(garbage.c_str(), 0600), 0);
  auto bad_key = MakeTlsServerContext({files.certificate_chain_file, garbage});
  ASSERT_FALSE(bad_key.has_value());
  EXPECT_THAT(bad_key.error().message, HasSubstr(garbage.string()));
  auto bad_cert = MakeTlsServerContext({garbage, files.private_key_file});
  ASSERT_FALSE(bad_cert.has_value());
  EXPECT_THAT(bad_cert.error().message, HasSubstr("certificate chain"));

  const auto encrypted = dir_.path() / "encrypted.pem";
  Openssl("pkey -in " + files.private_key_file.string() + " -aes256 -passout pass:secret -out " +
          encrypted.string());
  ASSERT_EQ(::chmod(encrypted.c_str(), 0600), 0);
  auto enc = MakeTlsServerContext({files.certificate_chain_file, encrypted});
  ASSERT_FALSE(enc.has_value());
  EXPECT_THAT(enc.error().message, HasSubstr("unencrypted"));

  for (const auto& error : {mismatched.error(), bad_key.error(), bad_cert.error(), enc.error()}) {
    EXPECT_THAT(error.message, Not(HasSubstr("PRIVATE KEY")));
    EXPECT_THAT(error.message, Not(HasSubstr(key_pem.substr(40, 32))));
  }
}

}  // namespace
}  // namespace clawvisor::openssl
