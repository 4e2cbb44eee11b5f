#pragma once

// HttpApiTest: HttpApi over a real socket on 127.0.0.1 (port 0), with fake CommandService and
// ReadModel; shared by the http_api_*_test.cc files (commands, secrets, queries, protocol).
// A blocking Beast client sends what a real client would, and bytes no real client would.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/http/http_api.h"
#include "adapters/http/ids.h"
#include "engine/clock.h"
#include "events/codec.h"
#include "tests/adapters/http/fakes.h"

namespace clawvisor::http_test {

using testing::FakeCommandService;
using testing::FakeReadModel;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNowUs = 1'767'323'045'000'000;

struct Response {
  unsigned status = 0;
  std::string body;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order

  bool Has(std::string_view name) const;  // header names compare case-insensitively
  std::string Header(std::string_view name) const;
  // The code and message of an {"error":{"code":...,"message":...}} body, "" if absent.
  // Read by hand rather than through google::protobuf::Struct: protobuf's Map is laid out
  // differently when its inline code is built with -fsanitize=thread and the library is not.
  std::string ErrorCode() const { return ErrorMember("\"error\":{\"code\":\""); }
  std::string ErrorMessage() const { return ErrorMember("\",\"message\":\""); }

 private:
  std::string ErrorMember(std::string_view prefix) const;
};

// A blocking HTTP/1.1 client on one connection, able to send bytes no real client would. Its
// Beast and Asio code lives in http_api_fixture.cc only: instantiated once, not in every test
// file that includes this header.
class Client {
 public:
  explicit Client(uint16_t port);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void SendRaw(std::string_view bytes);
  Response Read();
  Response Send(std::string_view method, std::string_view target, std::string_view body = "",
                std::string_view content_type = "application/json",
                std::string_view extra_headers = "");
  // Whether the server closed the connection (EOF or reset) instead of sending more.
  bool ServerClosed();

 private:
  struct Connection;
  std::unique_ptr<Connection> connection_;
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
