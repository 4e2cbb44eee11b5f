#include "adapters/cli/projection_follower.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "engine/command/processor.h"
#include "engine/partitioner.h"
#include "engine/run_loop.h"

namespace clawvisor {

Result<std::unique_ptr<RocksDbStore>> ProjectionFollower::OpenSecondary(
    const std::filesystem::path& projections_dir, const std::filesystem::path& secondary_dir) {
  // The read models decide who may do what (sessions, roles): only a directory of ours that no
  // one else may write.
  struct stat info {};
  if (::lstat(projections_dir.c_str(), &info) == 0 &&
      (!S_ISDIR(info.st_mode) || info.st_uid != ::geteuid() || (info.st_mode & 022) != 0)) {
    return MakeError(Errc::kFailedPrecondition,
                     projections_dir.string() +
                         " must be a directory of this user that no one else may write (not a "
                         "symlink)");
  }
  if (!std::filesystem::exists(projections_dir / "CURRENT")) {
    return MakeError(Errc::kFailedPrecondition,
                     "no read models at " + projections_dir.string() +
                         ": start `clawvisor project` on this host first and pass its "
                         "DATA_DIR/projections");
  }
  return RocksDbStore::OpenSecondary(projections_dir.string(), secondary_dir.string());
}

Status ProjectionFollower::FollowOnce() {
  if (auto ok = secondary_.CatchUpWithPrimary(); !ok) return ok;
  for (int32_t p = 0; p < partitions_; ++p) {
    auto next = projector_.NextOffset(p);
    if (!next) return std::unexpected(next.error());
    projected_.Advance(p, *next);
  }
  // A watched command is answered from the store, which then already shows its events.
  for (const auto& [account, command] : board_.Watched()) {
    auto outcome = projector_.FindDecidedOutcome(account, command);
    if (!outcome) return std::unexpected(outcome.error());
    if (*outcome) {
      // An erasure is answered once this process's vault shows the account's keys gone
      // (the processor destroys them right after its commit), as `serve` answers it.
      if (std::ranges::find((*outcome)->event_types(), "account_erased") !=
          (*outcome)->event_types().end()) {
        auto gone = vault_store_.HasTombstone(account);
        if (!gone) return std::unexpected(gone.error());
        if (!*gone) continue;
      }
      board_.Publish(**outcome);
      continue;
    }
    // The processor refuses an erased account's commands without recording them, so no
    // outcome will ever show here: answer as it does.
    auto erased = projector_.IsAccountErased(account);
    if (!erased) return std::unexpected(erased.error());
    if (*erased) {
      board_.Publish(AccountErasedOutcome(account, command, PartitionFor(account, partitions_),
                                          clock_.NowUs(), ""));
    }
  }
  return {};
}

void ProjectionFollower::Run(std::stop_token stop, std::chrono::milliseconds interval) {
  RunUntilStopped(
      stop, "projection_follower",
      [this]() -> Result<bool> {
        if (auto ok = FollowOnce(); !ok) return std::unexpected(ok.error());
        return true;  // idle: wait the follow interval
      },
      interval);
}

}  // namespace clawvisor
