// A command posted through the API is stamped once, by the command service: the ApiHandler hands
// it over unstamped (http_api_commands_test.cc), and what reaches the commands topic carries the
// service's clock time and the schema version.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>

#include "adapters/http/api_handler.h"
#include "adapters/http/ids.h"
#include "adapters/rocksdb/local_event_log.h"
#include "engine/clock.h"
#include "engine/command/log_command_service.h"
#include "engine/command/outcome_board.h"
#include "events/codec.h"
#include "tests/adapters/http/fakes.h"
#include "tests/support/fake_sealer.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

constexpr int32_t kPartitions = 2;
constexpr int64_t kNowUs = 1'767'323'045'000'000;

// The API over a real LogCommandService on a LocalEventLog; no processor runs, so every submit
// is appended and times out (202).
class ApiStampingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalEventLogOptions options;
    options.path = dir_.Sub("log");
    options.topics = {{std::string(kCommandsTopic), kPartitions},
                      {std::string(kEventsTopic), kPartitions}};
    auto log = LocalEventLog::Open(options);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    log_ = std::move(*log);
    commands_ = std::make_unique<LogCommandService>(
        *log_, board_,
        [](std::string_view, std::string_view) -> Result<std::optional<v1::CommandOutcome>> {
          return std::nullopt;
        },
        projected_, sealer_, clock_, metrics_);
    handler_ = std::make_unique<ApiHandler>(*commands_, reads_, metrics_, authenticator_, clock_,
                                            nullptr, std::chrono::milliseconds(0));
  }

  std::vector<v1::Command> Appended() {
    std::vector<v1::Command> out;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto records = log_->Read({std::string(kCommandsTopic), p}, 0, 1000);
      EXPECT_TRUE(records.has_value());
      if (!records) continue;
      for (const auto& r : *records) {
        auto command = DecodeCommand(r.value);
        EXPECT_TRUE(command.has_value());
        if (command) out.push_back(std::move(*command));
      }
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<LocalEventLog> log_;
  OutcomeBoard board_;
  Watermarks projected_;
  testing::FakeSealer sealer_;
  ManualClock clock_{kNowUs};
  MetricsRegistry metrics_;
  testing::FakeReadModel reads_;
  LocalServiceAuthenticator authenticator_;
  std::unique_ptr<LogCommandService> commands_;
  std::unique_ptr<ApiHandler> handler_;
};

// The appended command carries the service's time and schema version, set once.
TEST_F(ApiStampingTest, TheCommandServiceStampsTimeAndSchemaVersion) {
  ApiRequest request;
  request.info.method = "POST";
  request.info.target = "/v1/accounts";
  request.info.peer_ip = "127.0.0.1";
  request.content_type = "application/json";
  request.body = R"({"command_id":"reg-1","register_account":{"plan":"PLAN_TRIAL"}})";
  const ApiResponse r = handler_->Handle(request);
  ASSERT_EQ(r.status, 202u) << r.body;
  const auto appended = Appended();
  ASSERT_EQ(appended.size(), 1u);
  const v1::Command& c = appended[0];
  EXPECT_EQ(c.command_id(), "reg-1");
  EXPECT_EQ(c.account_id(), DeriveAccountId("reg-1"));
  EXPECT_EQ(c.issued_at_us(), kNowUs);
  EXPECT_EQ(c.schema_version(), kSchemaVersion);
}

}  // namespace
}  // namespace clawvisor
