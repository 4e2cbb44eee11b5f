#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/pid_file.h"
#include "adapters/cli/subcommands.h"
#include "adapters/openssl/master_key.h"
#include "adapters/openssl/master_key_rotation.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kVaultHelp = R"(Usage: clawvisor vault rotate-master-key [flags]

Draws a new master key and re-wraps every account's data key under it; sealed values are
untouched and stay readable throughout. The new key is written to KEY_FILE.next (0600) before
anything is re-wrapped and renamed over KEY_FILE at the end, so an interruption loses nothing:
the next start finishes the rotation.

While `clawvisor serve` runs on the data directory, the rotation happens inside it without
downtime (this command signals it, SIGUSR1, and waits for the new key); otherwise this command
rotates directly. Only a key kept in a file can be rotated this way (DATA_DIR/master.key,
--master-key-file or $CLAWVISOR_MASTER_KEY_FILE); a key from the environment or a systemd
credential is rotated by the operator's secret store.

Flags:
  --data-dir DIR         state directory (as for serve)
  --master-key-file F    as for serve
  --timeout-s N          how long to wait for a running serve (default 600)
  --help                 this help
)";

}  // namespace

int Vault(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kVaultHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] != "rotate-master-key") {
    return UsageError("unknown vault command " + args[0], kVaultHelp);
  }
  auto flags = Flags::Parse({args.begin() + 1, args.end()},
                            {{"data-dir"}, {"master-key-file"}, {"timeout-s"}, {"help", false}});
  if (!flags) return UsageError(flags.error().message, kVaultHelp);
  if (flags->Has("help")) {
    std::cout << kVaultHelp;
    return kExitOk;
  }
  auto timeout_s = flags->GetInt("timeout-s", 600, 1, 86'400);
  if (!timeout_s) return UsageError(timeout_s.error().message, kVaultHelp);
  const std::filesystem::path data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  std::optional<std::filesystem::path> key_file;
  if (auto k = flags->Get("master-key-file")) key_file = *k;

  if (auto pid = RunningServe(data_dir)) {
    // Online: serve rotates on SIGUSR1; the key file changes when it is done. The key file is
    // found as serve finds it (flag, $CLAWVISOR_MASTER_KEY_FILE, DATA_DIR/master.key).
    if (!key_file) {
      if (const char* f = std::getenv("CLAWVISOR_MASTER_KEY_FILE"); f && *f) key_file = f;
    }
    const std::filesystem::path path = key_file.value_or(data_dir / "master.key");
    auto before = LoadMasterKeyFile(path);
    if (!before) return Fail(before.error());
    if (::kill(*pid, SIGUSR1) != 0) {
      return Fail(
          Error{Errc::kUnavailable, "cannot signal serve (pid " + std::to_string(*pid) + ")"});
    }
    std::cerr << "clawvisor: asked serve (pid " << *pid << ") to rotate master key " << before->id()
              << "\n";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (std::filesystem::exists(NextMasterKeyPath(path))) continue;
      auto after = LoadMasterKeyFile(path);
      if (after && after->id() != before->id()) {
        std::cout << "master key rotated: " << before->id() << " -> " << after->id() << "\n";
        return kExitOk;
      }
    }
    return Fail(Error{Errc::kTimeout,
                      "serve did not finish the rotation in time; see its log (a key from the "
                      "environment or a systemd credential cannot be rotated in place)"});
  }
  // Offline: open the vault directly.
  OsRandom random;
  std::unique_ptr<RocksDbStore> vault_store;
  std::optional<std::filesystem::path> rewritable;
  auto vault = OpenVault(data_dir, key_file, random, vault_store, &rewritable);
  if (!vault) return Fail(vault.error());
  if (!rewritable) {
    return Fail(Error{Errc::kFailedPrecondition,
                      "the master key comes from the environment or a systemd credential; "
                      "give a writable key file with --master-key-file"});
  }
  auto rotated = RotateMasterKeyFile(**vault, *rewritable, random);
  if (!rotated) return Fail(rotated.error());
  std::cout << "master key rotated: " << rotated->old_key_id << " -> " << rotated->new_key_id
            << "\n";
  return kExitOk;
}

}  // namespace clawvisor::cli
