// login_bench: logins per second through the engine beside raw Argon2id verifications per second
// with the same parameters (OWASP's m = 19 MiB, t = 2, p = 1), measured in the same run, in
// alternating one-second slices so both see the same machine.
//
//   raw verify   Argon2idPasswordHasher::Verify of a stored PHC string: the floor of a login.
//   login        A whole password login through EmbeddedNode's command service on the embedded
//                log (durable): the credential lookup in the projection, opening the sealed PHC,
//                Argon2id verify, sealing the command, the synced append, the processor's
//                decision and transaction, and the projector applying LoginSucceeded.
// With T threads each, on the same number of threads. The ratio says what share of the raw
// Argon2id rate a login keeps (1.00 = the engine costs nothing beside the hash).
//
// Usage: login_bench [seconds per measurement, default 6]

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "adapters/argon2/argon2_password_hasher.h"
#include "adapters/cli/embedded_node.h"

namespace {

using Clock = std::chrono::steady_clock;
using clawvisor::v1::Command;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "login_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

constexpr const char* kPassword = "a bench passphrase of fair length";

Command WebTierCommand(const std::string& account, const std::string& id) {
  Command c;
  c.set_command_id(id);
  c.set_account_id(account);
  c.mutable_actor()->set_kind(clawvisor::v1::Actor::KIND_SERVICE);
  c.mutable_actor()->set_id("bench-web");
  return c;
}

// Runs `op(thread, i)` on `threads` threads for `seconds`; operations per second.
template <typename Op>
double Rate(int threads, double seconds, Op op) {
  std::atomic<int64_t> done{0};
  const auto start = Clock::now();
  {
    std::vector<std::jthread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int64_t i = 0; Seconds(Clock::now() - start) < seconds; ++i) {
          op(t, i);
          done.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
  }
  return static_cast<double>(done.load()) / Seconds(Clock::now() - start);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 6.0;
  if (seconds <= 0) Die("seconds must be positive");
  const auto dir = std::filesystem::temp_directory_path() /
                   ("clawvisor-login-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);

  clawvisor::EmbeddedNodeOptions options;
  options.data_dir = dir;
  options.partitions = 4;
  options.argon2 = clawvisor::kOwaspMinimumArgon2;
  auto node = clawvisor::EmbeddedNode::Open(options);
  if (!node) Die(node.error().ToString());
  if (auto ok = (*node)->Start(); !ok) Die(ok.error().ToString());
  auto& commands = (*node)->commands();

  // One account per thread (logins of one account are decided one after another, as they must).
  constexpr int kMaxThreads = 2;
  for (int t = 0; t < kMaxThreads; ++t) {
    auto reg = WebTierCommand("acc_bench" + std::to_string(t), "reg");
    reg.mutable_register_account()->set_email("bench" + std::to_string(t) + "@example.com");
    reg.mutable_register_account()->set_password(kPassword);
    auto outcome = commands.Submit(reg, std::chrono::seconds(30));
    if (!outcome || !outcome->accepted()) Die("registration failed");
  }
  auto hasher = clawvisor::Argon2idPasswordHasher::Create(options.argon2);
  if (!hasher) Die(hasher.error().ToString());
  const auto phc = (*hasher)->Hash(kPassword, "bench-salt-16byt");
  if (!phc) Die(phc.error().ToString());

  std::printf(
      "login_bench: Argon2id m=%u KiB, t=%u, p=%u; %.0f s per figure; %u hardware "
      "threads\n",
      options.argon2.memory_kib, options.argon2.iterations, options.argon2.parallelism, seconds,
      std::thread::hardware_concurrency());
  std::printf("%-8s %16s %16s %8s\n", "threads", "raw verify/s", "logins/s", "ratio");
  std::atomic<int64_t> sequence{0};
  for (int threads = 1; threads <= kMaxThreads; ++threads) {
    double raw = 0;
    double logins = 0;
    // Alternate one-second slices of each, so both see the same neighbours.
    const int slices = static_cast<int>(seconds);
    for (int s = 0; s < slices; ++s) {
      raw += Rate(threads, 1.0, [&](int, int64_t) {
        auto ok = (*hasher)->Verify(*phc, kPassword);
        if (!ok || !*ok) Die("raw verify failed");
      });
      logins += Rate(threads, 1.0, [&](int t, int64_t) {
        auto login = WebTierCommand("acc_bench" + std::to_string(t),
                                    "login-" + std::to_string(sequence.fetch_add(1)));
        login.mutable_login()->set_email("bench" + std::to_string(t) + "@example.com");
        login.mutable_login()->set_password(kPassword);
        auto outcome = commands.Submit(login, std::chrono::seconds(30));
        if (!outcome || !outcome->accepted()) Die("a login failed");
      });
    }
    raw /= slices;
    logins /= slices;
    std::printf("%-8d %16.1f %16.1f %8.2f\n", threads, raw, logins, logins / raw);
  }
  (*node)->Stop();
  node->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
