// ScanClientHello against ClientHellos a real TLS stack wrote (OpenSSL, through a memory BIO),
// and against bytes that are not one.
#include "engine/egress/client_hello.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

namespace clawvisor::egress {
namespace {

// The first flight of an OpenSSL client: its ClientHello records, as they would go on the wire.
std::vector<uint8_t> OpenSslClientHello(const char* server_name) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (server_name != nullptr) {
    // SSL_set_tlsext_host_name, without its C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(server_name));
  }
  SSL_connect(ssl);  // wants to read the answer: returns at once with the hello written
  std::vector<uint8_t> bytes(static_cast<size_t>(BIO_pending(out)));
  BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return bytes;
}

TEST(ClientHelloTest, ReadsTheServerNameOfARealClientHello) {
  const auto hello = OpenSslClientHello("API.OpenAI.com");
  const HelloScan scan = ScanClientHello(hello);
  ASSERT_EQ(scan.state, HelloScanState::kComplete) << scan.problem;
  EXPECT_EQ(scan.server_name, "api.openai.com");
}

TEST(ClientHelloTest, AHelloWithoutServerNameIsCompleteAndNamesNothing) {
  const HelloScan scan = ScanClientHello(OpenSslClientHello(nullptr));
  ASSERT_EQ(scan.state, HelloScanState::kComplete) << scan.problem;
  EXPECT_EQ(scan.server_name, "");
}

TEST(ClientHelloTest, EveryPrefixAsksForMore) {
  const auto hello = OpenSslClientHello("example.org");
  for (size_t n = 1; n < hello.size(); ++n) {
    const HelloScan scan = ScanClientHello(std::span(hello).first(n));
    ASSERT_EQ(scan.state, HelloScanState::kNeedMore) << "prefix of " << n << " bytes";
  }
}

TEST(ClientHelloTest, AHelloSplitAcrossRecordsIsReassembled) {
  const auto hello = OpenSslClientHello("chat.example.org");
  // Re-frame the handshake message into records of 100 bytes.
  const std::vector<uint8_t> message(hello.begin() + 5, hello.end());
  std::vector<uint8_t> framed;
  for (size_t at = 0; at < message.size(); at += 100) {
    const size_t n = std::min<size_t>(100, message.size() - at);
    framed.insert(framed.end(),
                  {0x16, 0x03, 0x01, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    framed.insert(framed.end(), message.begin() + static_cast<ptrdiff_t>(at),
                  message.begin() + static_cast<ptrdiff_t>(at + n));
  }
  ASSERT_GT(framed.size(), hello.size() + 5);
  const HelloScan scan = ScanClientHello(framed);
  ASSERT_EQ(scan.state, HelloScanState::kComplete) << scan.problem;
  EXPECT_EQ(scan.server_name, "chat.example.org");
}

TEST(ClientHelloTest, PlainHttpAndOtherProtocolsAreNotTls) {
  for (std::string text :
       {"GET / HTTP/1.1\r\n", "SSH-2.0-OpenSSH_9.2\r\n", "\x15\x03\x01\x00\x02"}) {
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    EXPECT_EQ(ScanClientHello(bytes).state, HelloScanState::kNotTls) << text;
  }
}

TEST(ClientHelloTest, DamagedHellosAreMalformedNotMisread) {
  auto hello = OpenSslClientHello("example.org");
  // A handshake message that is not a ClientHello (ServerHello, type 2).
  auto wrong_type = hello;
  wrong_type[5] = 0x02;
  EXPECT_EQ(ScanClientHello(wrong_type).state, HelloScanState::kMalformed);
  // An extensions block longer than the message.
  auto truncated = hello;
  const size_t message = (size_t{hello[6]} << 16) | (size_t{hello[7]} << 8) | hello[8];
  truncated[8] = static_cast<uint8_t>(message - 10);
  truncated[7] = static_cast<uint8_t>((message - 10) >> 8);
  EXPECT_EQ(ScanClientHello(truncated).state, HelloScanState::kMalformed);
  // A zero-length record.
  const std::vector<uint8_t> empty_record = {0x16, 0x03, 0x01, 0x00, 0x00};
  EXPECT_EQ(ScanClientHello(empty_record).state, HelloScanState::kMalformed);
}

TEST(ClientHelloTest, AnAddressLiteralAsServerNameIsMalformed) {
  // OpenSSL sends what it is given; RFC 6066 forbids literal addresses in SNI.
  const HelloScan scan = ScanClientHello(OpenSslClientHello("10.0.0.1"));
  EXPECT_EQ(scan.state, HelloScanState::kMalformed);
}

}  // namespace
}  // namespace clawvisor::egress
