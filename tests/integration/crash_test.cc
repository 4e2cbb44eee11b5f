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

std::string Key(const std::string& account, const std::string& command_id) {
  return account + '\n' + command_id;
}

// The n-th command of a client's stream: create, start, stop, delete, so the account never
// nears its instance limit.
Sent NthCommand(const std::string& account, int crash, int client, int n) {
  const std::string id =
      "k" + std::to_string(crash) + "-c" + std::to_string(client) + "-n" + std::to_string(n);
  const std::string base = "/v1/accounts/" + account + "/instances";
  const std::string instance =
      "i" + std::to_string(crash) + "-" + std::to_string(client) + "-" + std::to_string(n / 4);
  static constexpr const char* kVerbs[] = {"", "/start", "/stop", "/delete"};
  Sent s{account, id, base, ""};
  if (n % 4 == 0) {
    s.body = R"({"command_id":")" + id + R"(","create_instance":{"instance_id":")" + instance +
             R"(","name":"x"}})";
  } else {
    s.target = base + "/" + instance + kVerbs[n % 4];
    s.body = R"({"command_id":")" + id + R"("})";
  }
  return s;
}

// A decided outcome, accepted or refused, is an acknowledgement; 202 and a cut connection are
// not.
bool Acknowledged(const testing::HttpResponse& r, const std::string& command_id,
                  v1::CommandOutcome& outcome) {
  return r.status != 0 && r.status != 202 && Parse(r.body, outcome) &&
         outcome.command_id() == command_id && outcome.event_ids_size() > 0;
}

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
  std::map<std::string, v1::CommandOutcome> acked;  // Key(account, command id) -> outcome
  std::vector<std::string> fresh;                   // acknowledged during this round's stream
  std::vector<Sent> unacked;
  int total_acked = 0;
  int rounds_with_acks = 0;

  for (int crash = 0; crash < kCrashes; ++crash) {
    const uint16_t port = serve.port();
    std::atomic<bool> stop{false};
    {
      std::vector<std::jthread> clients;
      for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
          for (int n = 0; !stop; ++n) {
            Sent s = NthCommand(accounts[c], crash, c, n);
            auto r = HttpRequest(port, "POST", s.target, s.body);
            v1::CommandOutcome outcome;
            std::lock_guard lock(mu);
            if (Acknowledged(r, s.command_id, outcome)) {
              acked[Key(s.account, s.command_id)] = outcome;
              fresh.push_back(Key(s.account, s.command_id));
              ++total_acked;
            } else {
              const bool gone = r.status == 0;
              unacked.push_back(std::move(s));
              if (gone) return;  // the server is gone
            }
          }
        });
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 400)(rng)));
      serve.Kill();
      stop = true;
    }
    if (!fresh.empty()) ++rounds_with_acks;

    serve.Start();
    ASSERT_FALSE(HasFailure());
    const uint16_t after = serve.port();

    // This round's acknowledged commands are recorded with the very events acknowledged.
    for (const auto& key : fresh) {
      const auto& outcome = acked.at(key);
      const std::string account = key.substr(0, key.find('\n'));
      const std::string command = key.substr(key.find('\n') + 1);
      auto r = HttpRequest(after, "GET", "/v1/accounts/" + account + "/commands/" + command);
      ASSERT_EQ(r.status, 200) << "acknowledged command lost: " << command;
      v1::CommandOutcome recorded;
      ASSERT_TRUE(Parse(r.body, recorded));
      ASSERT_EQ(recorded.event_ids_size(), outcome.event_ids_size()) << command;
      for (int i = 0; i < outcome.event_ids_size(); ++i) {
        ASSERT_EQ(recorded.event_ids(i), outcome.event_ids(i)) << command;
      }
    }
    fresh.clear();

    // Retry what was never acknowledged, with the same command ids: decided at most once.
    for (const auto& s : unacked) {
      auto r = HttpRequest(after, "POST", s.target, s.body);
      v1::CommandOutcome outcome;
      ASSERT_TRUE(Acknowledged(r, s.command_id, outcome)) << r.status << " " << r.body;
      acked[Key(s.account, s.command_id)] = outcome;
    }
    unacked.clear();

    // Exactly once, for every command acknowledged in any round: the audit trail holds exactly
    // its outcome's events.
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
      for (const auto& [key, outcome] : acked) {
        if (!key.starts_with(account + '\n')) continue;
        const std::string command = key.substr(key.find('\n') + 1);
        ASSERT_EQ(per_command[command], outcome.event_ids_size())
            << (per_command[command] == 0 ? "lost: " : "applied twice: ") << command;
      }
    }

    // The projections equal a fresh replay of the log.
    ASSERT_EQ(serve.Stop(), 0);
    auto verify = testing::RunClawvisor(
        {"projections", "verify", "--data-dir", (dir_.path() / "data").string()});
    ASSERT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    serve.Start();
    ASSERT_FALSE(HasFailure());
  }
  std::printf(
      "crash test: %d SIGKILLs, %d of them during a stream that had acknowledged commands; "
      "%d commands acknowledged in streams, %zu checked exactly once\n",
      kCrashes, rounds_with_acks, total_acked, acked.size());
  EXPECT_GE(rounds_with_acks, kCrashes / 2);  // the kills really landed during streams
}

}  // namespace
}  // namespace clawvisor
