#pragma once

// OutcomeBoard: where the processor posts each decided command's outcome and where a submitter
// waits for it. Keyed by (account id, command id). A waiter registers *before* it looks the
// command up or appends it, so an outcome published in between is never missed.
//
// Thread-safety: all methods are safe from any thread.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "clawvisor/v1/commands.pb.h"

namespace clawvisor {

class OutcomeBoard {
 public:
  class Ticket;

  // Registers interest in a command's outcome. Drop the ticket to withdraw.
  std::shared_ptr<Ticket> Watch(const std::string& account_id, const std::string& command_id);

  // Posts an outcome to every current watcher of its command.
  void Publish(const v1::CommandOutcome& outcome);

  // The (account id, command id) of every command watched right now, each once: a process
  // that learns outcomes by looking them up (the API service over Kafka) asks for these.
  std::vector<std::pair<std::string, std::string>> Watched();

  class Ticket {
   public:
    // Waits until the outcome is posted or `timeout` passes (zero: only looks). A timeout, not a
    // deadline: the caller measures its budget on its own Clock (engine/clock.h).
    std::optional<v1::CommandOutcome> Wait(std::chrono::microseconds timeout);
    ~Ticket();

   private:
    friend class OutcomeBoard;
    OutcomeBoard* board_ = nullptr;
    std::string key_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<v1::CommandOutcome> outcome_;  // GUARDED_BY(mu_)
  };

 private:
  void Forget(const std::string& key, Ticket* ticket);
  static std::string Key(const std::string& account_id, const std::string& command_id);

  std::mutex mu_;
  std::unordered_multimap<std::string, Ticket*> watchers_;  // GUARDED_BY(mu_)
};

// Per-partition progress of a consumer (the projector), so a submitter can wait until its
// command's events are queryable (read-your-writes).
class Watermarks {
 public:
  // Records that everything below `next_offset` of `partition` is applied.
  void Advance(int32_t partition, int64_t next_offset);
  // Waits until `partition` has applied everything below `next_offset`, or `timeout` passes.
  bool WaitFor(int32_t partition, int64_t next_offset, std::chrono::microseconds timeout);
  int64_t Get(int32_t partition);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<int32_t, int64_t> next_;  // GUARDED_BY(mu_)
};

}  // namespace clawvisor
