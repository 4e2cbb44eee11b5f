#pragma once

// HttpApiTest: HttpApi over a real socket on 127.0.0.1 (port 0), with fake CommandService and
// ReadModel; shared by the http_api_*_test.cc files (commands, secrets, queries, protocol).
// A blocking Beast client sends what a real client would, and bytes no real client would.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdio>
#include <future>
#include <thread>

#include "adapters/http/http_api.h"
#include "adapters/http/ids.h"
#include "engine/clock.h"
#include "events/codec.h"
#include "tests/adapters/http/fakes.h"

namespace clawvisor::http_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using testing::FakeCommandService;
using testing::FakeReadModel;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNowUs = 1'767'323'045'000'000;

struct Response {
  unsigned status = 0;
  std::string body;
  http::response<http::string_body> raw;

  bool Has(std::string_view name) const {
    return raw.find(beast::string_view(name.data(), name.size())) != raw.end();
  }
  bool Has(http::field name) const { return raw.find(name) != raw.end(); }
  std::string Header(std::string_view name) const {
    auto it = raw.find(beast::string_view(name.data(), name.size()));
    return it == raw.end() ? "" : std::string(it->value());
  }
  // The code and message of an {"error":{"code":...,"message":...}} body, "" if absent.
  // Read by hand rather than through google::protobuf::Struct: protobuf's Map is laid out
  // differently when its inline code is built with -fsanitize=thread and the library is not.
  std::string ErrorCode() const { return ErrorMember("\"error\":{\"code\":\""); }
  std::string ErrorMessage() const { return ErrorMember("\",\"message\":\""); }

 private:
  std::string ErrorMember(std::string_view prefix) const {
    const size_t error_at = body.find("\"error\":{");
    if (error_at == std::string::npos) return "";
    const size_t at = body.find(prefix, error_at);
    if (at == std::string::npos) return "";
    std::string out;
    for (size_t i = at + prefix.size(); i < body.size() && body[i] != '"'; ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) ++i;
      out += body[i];
    }
    return out;
  }
};

// A blocking HTTP/1.1 client on one connection, able to send bytes no real client would.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void SendRaw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  Response Read() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(socket_, buffer_, parser);
    Response r;
    r.raw = parser.release();
    r.status = r.raw.result_int();
    r.body = r.raw.body();
    return r;
  }

  Response Send(std::string_view method, std::string_view target, std::string_view body = "",
                std::string_view content_type = "application/json",
                std::string_view extra_headers = "") {
    std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    req += "Host: localhost\r\nUser-Agent: clawvisor-test/1.0\r\n";
    if (!content_type.empty()) req += "Content-Type: " + std::string(content_type) + "\r\n";
    req += extra_headers;
    if (method == "POST" || !body.empty()) {
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    SendRaw(req);
    return Read();
  }

  // Whether the server closed the connection (EOF or reset) instead of sending more.
  bool ServerClosed() {
    if (buffer_.size() > 0) return false;
    char c;
    beast::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// The POST routes, each with a body that is valid for it.
struct PostRoute {
  std::string target;
  std::string valid_body;
  // A well-formed body whose payload this route does not take.
  std::string wrong_payload_body = R"({"command_id":"c1","login":{"email":"x"}})";
};
inline std::vector<PostRoute> PostRoutes() {
  return {
      {"/v1/accounts", R"({"command_id":"c1","register_account":{"email":"a@example.com"}})"},
      {"/v1/accounts/acc_1/instances", R"({"command_id":"c1","create_instance":{"name":"n"}})"},
      {"/v1/accounts/acc_1/instances/ins_1/start", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/stop", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/pause", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/resume", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/delete", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/commands",
       R"({"command_id":"c1","start_subscription":{"plan":"PLAN_PRO"}})",
       R"({"command_id":"c1","register_account":{}})"},
      {"/v1/accounts/acc_1/instances/ins_1/credentials",
       R"({"command_id":"c1","set_credential":{"name":"tg","kind":"CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN","value":"12345678:abcdefgh"}})"},
      {"/v1/accounts/acc_1/instances/ins_1/credentials/tg/remove", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/instances/ins_1/rotate-gateway-token", R"({"command_id":"c1"})"},
      {"/v1/accounts/acc_1/erase", R"({"command_id":"c1"})"},
  };
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { StartApi(HttpApiOptions{}); }

  void StartApi(HttpApiOptions options) {
    api_.reset();
    options.clock = &clock_;
    api_ = std::make_unique<HttpApi>(std::move(options), commands_, reads_, metrics_,
                                     [this] { return ready_.load(); });
    auto port = api_->Start();
    ASSERT_TRUE(port.has_value()) << port.error().ToString();
    port_ = *port;
  }

  Response Post(std::string_view target, std::string_view body,
                std::string_view content_type = "application/json") {
    return Client(port_).Send("POST", target, body, content_type);
  }
  Response Get(std::string_view target) { return Client(port_).Send("GET", target, "", ""); }

  ManualClock clock_{kNowUs};
  FakeCommandService commands_;
  FakeReadModel reads_;
  MetricsRegistry metrics_;
  std::atomic<bool> ready_{true};
  std::unique_ptr<HttpApi> api_;
  uint16_t port_ = 0;
};

inline v1::CommandOutcome ParseOutcome(const std::string& json) {
  v1::CommandOutcome outcome;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // a rejection body also has "error"
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &outcome, options).ok()) << json;
  return outcome;
}
}  // namespace clawvisor::http_test
