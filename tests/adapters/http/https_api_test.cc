// HttpApi over HTTPS (HttpApiOptions::tls) on 127.0.0.1, port 0, with a self-signed pair from
// adapters/openssl and fake CommandService / ReadModel: versions, headers, and that the
// handshake timeout and the connection cap hold under TLS.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "adapters/http/http_api.h"
#include "adapters/openssl/tls_server_context.h"
#include "engine/clock.h"
#include "tests/adapters/http/fakes.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using testing::FakeCommandService;
using testing::FakeReadModel;

// A blocking HTTPS client that verifies the server against the test's certificate and name.
class TlsClient {
 public:
  // `min_version`/`max_version`: what the client offers (TLS1_VERSION ... TLS1_3_VERSION).
  TlsClient(uint16_t port, const std::filesystem::path& ca_file, int min_version = TLS1_2_VERSION,
            int max_version = TLS1_3_VERSION)
      : ctx_(ssl::context::tls_client), stream_(ioc_, ctx_) {
    ctx_.load_verify_file(ca_file.string());
    // Let this client offer old versions and their ciphers, so that refusing them is the
    // server's doing, not the client's (Debian's openssl.cnf sets SECLEVEL 2 / TLS 1.2).
    SSL_CTX_set_security_level(ctx_.native_handle(), 0);
    SSL_set_security_level(stream_.native_handle(), 0);
    SSL_set_min_proto_version(stream_.native_handle(), min_version);
    SSL_set_max_proto_version(stream_.native_handle(), max_version);
    SSL_set_cipher_list(stream_.native_handle(), "ALL:@SECLEVEL=0");
    stream_.set_verify_mode(ssl::verify_peer);
    stream_.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream_).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  beast::error_code Handshake() {
    beast::error_code ec;
    stream_.handshake(ssl::stream_base::client, ec);
    return ec;
  }
  std::string Version() { return SSL_get_version(stream_.native_handle()); }

  http::response<http::string_body> Get(const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return res;
  }

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

// Reads what a server sends on a plain socket until it closes; "" with `closed` false on a
// read timeout.
std::string ReadUntilClosed(tcp::socket& socket, bool& closed) {
  std::string got;
  char buf[4096];
  beast::error_code ec;
  while (true) {
    const size_t n = socket.read_some(asio::buffer(buf), ec);
    got.append(buf, n);
    if (ec) {
      closed = ec == asio::error::eof || ec == asio::error::connection_reset;
      return got;
    }
  }
}

class HttpsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ensured = openssl::EnsureSelfSignedCertificate(dir_.path() / "tls", {"127.0.0.1"},
                                                        std::chrono::system_clock::now());
    ASSERT_TRUE(ensured.has_value()) << ensured.error().ToString();
    files_ = ensured->files;
  }

  void StartApi(HttpApiOptions options = {}) {
    options.tls = files_;
    options.clock = &clock_;
    api_ = std::make_unique<HttpApi>(std::move(options), commands_, reads_, metrics_,
                                     [] { return true; });
    auto port = api_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().ToString();
    port_ = *port;
  }
  uint64_t HandshakeFailures() {
    return metrics_.GetCounter("clawvisor_http_tls_handshake_failures_total", "").value();
  }
  // The failures counted once the server has seen `n`: it counts a failure after the handshake
  // operation completes, which may be after the client saw its alert or the close.
  uint64_t HandshakeFailuresOnceAtLeast(uint64_t n) {
    for (int i = 0; HandshakeFailures() < n && i < 10'000; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return HandshakeFailures();
  }

  clawvisor::testing::TempDir dir_;
  openssl::TlsServerFiles files_;
  ManualClock clock_{1'767'323'045'000'000};
  FakeCommandService commands_;
  FakeReadModel reads_;
  MetricsRegistry metrics_;
  std::unique_ptr<HttpApi> api_;
  uint16_t port_ = 0;
};

// Over HTTPS every response carries HSTS, nosniff and no-store, and no Server banner; several
// requests share one TLS connection.
TEST_F(HttpsApiTest, ServesWithSecurityHeadersAndKeepAlive) {
  StartApi();
  TlsClient client(port_, files_.certificate_chain_file);
  ASSERT_FALSE(client.Handshake());
  for (const std::string target : {"/healthz", "/v1/accounts/acc_1", "/nope"}) {
    SCOPED_TRACE(target);
    const auto res = client.Get(target);
    EXPECT_NE(res.result_int(), 0u);
    EXPECT_EQ(res[http::field::strict_transport_security], "max-age=63072000");
    EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(res[http::field::cache_control], "no-store");
    EXPECT_EQ(res.find(http::field::server), res.end());
  }
  EXPECT_EQ(client.Get("/healthz").result_int(), 200u);
}

// TLS 1.2 and 1.3 are accepted; 1.0 and 1.1 are refused by the server (the client offers them
// with every cipher it has).
TEST_F(HttpsApiTest, OnlyTls12And13) {
  StartApi();
  for (const auto& [version, name] :
       {std::pair{TLS1_2_VERSION, "TLSv1.2"}, {TLS1_3_VERSION, "TLSv1.3"}}) {
    TlsClient client(port_, files_.certificate_chain_file, version, version);
    ASSERT_FALSE(client.Handshake()) << name;
    EXPECT_EQ(client.Version(), name);
    EXPECT_EQ(client.Get("/healthz").result_int(), 200u);
  }
  const uint64_t failures_before = HandshakeFailures();
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    TlsClient client(port_, files_.certificate_chain_file, version, version);
    const beast::error_code ec = client.Handshake();
    ASSERT_TRUE(ec) << "TLS version " << std::hex << version << " was accepted";
    EXPECT_THAT(ec.message(), ::testing::HasSubstr("protocol version"));
  }
  EXPECT_EQ(HandshakeFailuresOnceAtLeast(failures_before + 2), failures_before + 2);
}

// Plain HTTP sent to the HTTPS port gets no HTTP answer: the server drops it as a failed
// handshake.
TEST_F(HttpsApiTest, PlainHttpOnTheHttpsPortIsDropped) {
  StartApi();
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  bool closed = false;
  const std::string got = ReadUntilClosed(socket, closed);
  EXPECT_TRUE(closed);
  EXPECT_FALSE(got.starts_with("HTTP/"));
  EXPECT_EQ(HandshakeFailuresOnceAtLeast(1), 1u);
}

// A client that connects and never finishes its handshake (slowloris at the TLS layer) is
// closed after handshake_timeout, whether it sent nothing or half a ClientHello.
TEST_F(HttpsApiTest, StalledHandshakeIsClosed) {
  HttpApiOptions options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  StartApi(options);
  for (const std::string& partial : {std::string(), std::string("\x16\x03\x01\x02\x00", 5)}) {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    if (!partial.empty()) asio::write(socket, asio::buffer(partial));
    bool closed = false;
    ReadUntilClosed(socket, closed);
    EXPECT_TRUE(closed) << "partial ClientHello of " << partial.size() << " bytes";
  }
  EXPECT_EQ(HandshakeFailuresOnceAtLeast(2), 2u);
}

// Beyond max_connections a TLS connection is closed before any handshake; a freed slot is
// reusable. Connections still in their handshake hold a slot.
TEST_F(HttpsApiTest, ConnectionCapHolds) {
  HttpApiOptions options;
  options.max_connections = 1;
  StartApi(options);
  auto first = std::make_unique<TlsClient>(port_, files_.certificate_chain_file);
  ASSERT_FALSE(first->Handshake());
  ASSERT_EQ(first->Get("/healthz").result_int(), 200u);  // admitted and held open
  TlsClient second(port_, files_.certificate_chain_file);
  EXPECT_TRUE(second.Handshake());
  EXPECT_EQ(metrics_.GetCounter("clawvisor_http_connections_rejected_total", "").value(), 1u);
  first.reset();
  for (int attempt = 0;; ++attempt) {
    TlsClient third(port_, files_.certificate_chain_file);
    if (!third.Handshake() && third.Get("/healthz").result_int() == 200u) break;
    ASSERT_LT(attempt, 1000) << "slot never freed";
  }
}

// TLS files that cannot be used fail Start with kInvalidArgument (the CLI's usage error).
TEST_F(HttpsApiTest, UnusableFilesFailStart) {
  ASSERT_EQ(::chmod(files_.private_key_file.c_str(), 0644), 0);
  HttpApiOptions options;
  options.tls = files_;
  HttpApi api(options, commands_, reads_, metrics_, [] { return true; });
  auto port = api.Start();
  ASSERT_FALSE(port.has_value());
  EXPECT_EQ(port.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(port.error().message, ::testing::HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace clawvisor
