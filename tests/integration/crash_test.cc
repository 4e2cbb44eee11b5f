// Crash safety of `clawvisor serve` (design D2): SIGKILL at random moments while commands
// stream in; after every restart each acknowledged command is present exactly once with the
// outcome that was acknowledged, and the projections equal a fresh replay of the log.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "tests/support/http_client.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;

template <typename Message>
bool Parse(const std::string& json, Message& m) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(json, &m, options).ok();
}

struct Sent {
  std::string account;
  std::string command_id;
  std::string target;
  std::string body;
};

constexpr int kCrashes = 50;
constexpr int kClients = 4;

class CrashTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

// Every command acknowledged before a SIGKILL survives it exactly once.
TEST_F(CrashTest, SigkillDuringACommandStreamLosesAndDuplicatesNothing) {
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  testing::ServeProcess serve(dir_.path() / "data", dir_.path() / "serve.log");
  serve.Start();
  ASSERT_FALSE(HasFailure());

  std::vector<std::string> accounts;
  for (int c = 0; c < kClients; ++c) {
    auto r = HttpRequest(serve.port(), "POST", "/v1/accounts",
                         R"({"command_id":"reg-)" + std::to_string(c) +
                             R"(","register_account":{"email":"crash@example.com"}})");
    ASSERT_EQ(r.status, 201) << r.body;
    v1::CommandOutcome o;
    ASSERT_TRUE(Parse(r.body, o));
    accounts.push_back(o.account_id());
  }

  std::mutex mu;
  std::map<std::string, v1::CommandOutcome> acked;  // account \0 command id -> outcome
  std::vector<Sent> unacked;
  int total_acked = 0;

  for (int crash = 0; crash < kCrashes; ++crash) {
    if (!serve.running()) {
      serve.Start();
      ASSERT_FALSE(HasFailure());
    }
    const uint16_t port = serve.port();
    std::atomic<bool> stop{false};
    std::vector<std::jthread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        const std::string base = "/v1/accounts/" + accounts[c] + "/instances";
        for (int n = 0; !stop; ++n) {
          const std::string id =
              "k" + std::to_string(crash) + "-c" + std::to_string(c) + "-n" + std::to_string(n);
          Sent s{accounts[c], id, base, ""};
          if (n % 3 == 0) {
            s.body = R"({"command_id":")" + id + R"(","create_instance":{"instance_id":"i)" + id +
                     R"(","name":"x"}})";
          } else {
            s.target = base + "/i" + "k" + std::to_string(crash) + "-c" + std::to_string(c) + "-n" +
                       std::to_string(n - n % 3) + (n % 3 == 1 ? "/start" : "/stop");
            s.body = R"({"command_id":")" + id + R"("})";
          }
          auto r = HttpRequest(port, "POST", s.target, s.body);
          v1::CommandOutcome outcome;
          std::lock_guard lock(mu);
          if ((r.status == 200 || r.status == 201) && Parse(r.body, outcome)) {
            acked[s.account + '\0' + id] = outcome;
            ++total_acked;
          } else {
            unacked.push_back(std::move(s));
            if (r.status == 0) return;  // the server is gone
          }
        }
      });
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 400)(rng)));
    serve.Kill();
    stop = true;
    clients.clear();

    serve.Start();
    ASSERT_FALSE(HasFailure());
    const uint16_t after = serve.port();

    // Retry what was never acknowledged, with the same command ids: at most once each.
    {
      std::lock_guard lock(mu);
      for (const auto& s : unacked) {
        auto r = HttpRequest(after, "POST", s.target, s.body);
        v1::CommandOutcome outcome;
        // Decided either way (a retried start may find its instance's create refused).
        ASSERT_TRUE(Parse(r.body, outcome)) << s.target << " " << r.status << " " << r.body;
        ASSERT_EQ(outcome.command_id(), s.command_id) << r.status << " " << r.body;
        acked[s.account + '\0' + s.command_id] = outcome;
      }
      unacked.clear();
    }

    // Every acknowledged command: present, with the very events that were acknowledged.
    for (const auto& [key, outcome] : acked) {
      const std::string account = key.substr(0, key.find('\0'));
      const std::string command = key.substr(key.find('\0') + 1);
      auto r = HttpRequest(after, "GET", "/v1/accounts/" + account + "/commands/" + command);
      ASSERT_EQ(r.status, 200) << "acknowledged command lost: " << command;
      v1::CommandOutcome recorded;
      ASSERT_TRUE(Parse(r.body, recorded));
      ASSERT_EQ(recorded.event_ids_size(), outcome.event_ids_size()) << command;
      for (int i = 0; i < outcome.event_ids_size(); ++i) {
        ASSERT_EQ(recorded.event_ids(i), outcome.event_ids(i)) << command;
      }
    }
    // Exactly once: in the audit trail each command id has exactly its outcome's events.
    for (const auto& account : accounts) {
      std::map<std::string, int> per_command;
      std::string cursor;
      do {
        auto r = HttpRequest(after, "GET",
                             "/v1/accounts/" + account + "/audit?limit=1000&cursor=" + cursor);
        ASSERT_EQ(r.status, 200) << r.body;
        v1::AuditPage page;
        ASSERT_TRUE(Parse(r.body, page));
        for (const auto& e : page.entries()) ++per_command[e.command_id()];
        cursor = page.next_cursor();
      } while (!cursor.empty());
      for (const auto& [command, count] : per_command) {
        auto it = acked.find(account + '\0' + command);
        if (it == acked.end()) continue;  // decided but never acknowledged: allowed once
        ASSERT_EQ(count, it->second.event_ids_size()) << "applied twice: " << command;
      }
    }
    // The projections equal a fresh replay of the log.
    ASSERT_EQ(serve.Stop(), 0);
    auto verify = testing::RunClawvisor(
        {"projections", "verify", "--data-dir", (dir_.path() / "data").string()});
    ASSERT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  }
  std::printf("crash test: %d SIGKILLs, %d commands acknowledged during streams, %zu checked\n",
              kCrashes, total_acked, acked.size());
  EXPECT_GT(total_acked, kCrashes);  // the kills really landed during a stream
}

}  // namespace
}  // namespace clawvisor
