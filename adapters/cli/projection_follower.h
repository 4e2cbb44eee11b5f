#pragma once

// ProjectionFollower: the read side of a Kafka `api` or `reconcile` process. The read models
// are written by the `clawvisor project` of the same host (the only writer of its RocksDB
// store); this process opens that store as a RocksDB secondary and, every follow interval,
// catches it up with the primary, advances the projected watermarks (read-your-writes), and
// posts to the outcome board every watched command whose outcome the store now shows.
//
// It lives in adapters/cli: it joins a RocksDB secondary (adapters/rocksdb), the Projector and
// the shared vault's tombstones (projections/) and the outcome board (engine/command/), which
// only a composition root may tie together; projections/ may not include RocksDB, and the
// rocksdb adapter stays a store that knows nothing of projections or outcomes.
//
// Thread-safety: Run on one thread (the follower's); the board, the watermarks and the store's
// readers are safe to use from others meanwhile.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stop_token>

#include "adapters/rocksdb/rocksdb_store.h"
#include "engine/clock.h"
#include "engine/command/outcome_board.h"
#include "projections/projector.h"
#include "projections/shared_vault_store.h"

namespace clawvisor {

class ProjectionFollower {
 public:
  // Opens the projector's store at `projections_dir` as a secondary keeping its own state in
  // `secondary_dir`. The read models decide who may do what (sessions, roles), so the directory
  // must be this user's and writable by no one else; kFailedPrecondition without read models.
  static Result<std::unique_ptr<RocksDbStore>> OpenSecondary(
      const std::filesystem::path& projections_dir, const std::filesystem::path& secondary_dir);

  // `projector` reads `secondary`; `vault_store` says when an erased account's keys are gone.
  // Every reference must outlive the follower.
  ProjectionFollower(RocksDbStore& secondary, Projector& projector, SharedVaultStore& vault_store,
                     OutcomeBoard& board, Watermarks& projected, Clock& clock, int32_t partitions)
      : secondary_(secondary),
        projector_(projector),
        vault_store_(vault_store),
        board_(board),
        projected_(projected),
        clock_(clock),
        partitions_(partitions) {}

  // One round: catch up, advance the watermarks, answer the watched commands.
  Status FollowOnce();
  // FollowOnce every `interval` until `stop` (errors are logged and retried).
  void Run(std::stop_token stop, std::chrono::milliseconds interval);

 private:
  RocksDbStore& secondary_;
  Projector& projector_;
  SharedVaultStore& vault_store_;
  OutcomeBoard& board_;
  Watermarks& projected_;
  Clock& clock_;
  int32_t partitions_;
};

}  // namespace clawvisor
