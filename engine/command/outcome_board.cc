#include "engine/command/outcome_board.h"

namespace clawvisor {

std::string OutcomeBoard::Key(const std::string& account_id, const std::string& command_id) {
  return account_id + '\0' + command_id;
}

std::shared_ptr<OutcomeBoard::Ticket> OutcomeBoard::Watch(const std::string& account_id,
                                                          const std::string& command_id) {
  auto ticket = std::make_shared<Ticket>();
  ticket->board_ = this;
  ticket->key_ = Key(account_id, command_id);
  std::lock_guard lock(mu_);
  watchers_.emplace(ticket->key_, ticket.get());
  return ticket;
}

void OutcomeBoard::Publish(const v1::CommandOutcome& outcome) {
  std::lock_guard lock(mu_);
  auto [begin, end] = watchers_.equal_range(Key(outcome.account_id(), outcome.command_id()));
  for (auto it = begin; it != end; ++it) {
    Ticket* t = it->second;
    std::lock_guard tlock(t->mu_);
    t->outcome_ = outcome;
    t->cv_.notify_all();
  }
}

std::vector<std::pair<std::string, std::string>> OutcomeBoard::Watched() {
  std::vector<std::pair<std::string, std::string>> out;
  std::lock_guard lock(mu_);
  for (auto it = watchers_.begin(); it != watchers_.end();
       it = watchers_.equal_range(it->first).second) {
    const std::string& key = it->first;
    const size_t nul = key.find('\0');
    out.emplace_back(key.substr(0, nul), key.substr(nul + 1));
  }
  return out;
}

void OutcomeBoard::Forget(const std::string& key, Ticket* ticket) {
  std::lock_guard lock(mu_);
  auto [begin, end] = watchers_.equal_range(key);
  for (auto it = begin; it != end; ++it) {
    if (it->second == ticket) {
      watchers_.erase(it);
      return;
    }
  }
}

OutcomeBoard::Ticket::~Ticket() {
  if (board_ != nullptr) board_->Forget(key_, this);
}

std::optional<v1::CommandOutcome> OutcomeBoard::Ticket::Wait(std::chrono::microseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return outcome_.has_value(); });
  return outcome_;
}

void Watermarks::Advance(int32_t partition, int64_t next_offset) {
  std::lock_guard lock(mu_);
  auto& current = next_[partition];
  if (next_offset > current) {
    current = next_offset;
    cv_.notify_all();
  }
}

bool Watermarks::WaitFor(int32_t partition, int64_t next_offset,
                         std::chrono::microseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return next_[partition] >= next_offset; });
}

int64_t Watermarks::Get(int32_t partition) {
  std::lock_guard lock(mu_);
  return next_[partition];
}

}  // namespace clawvisor
