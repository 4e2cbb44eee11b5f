// OutcomeBoard: waiters registered before an outcome is posted get it; Watched lists what is
// waited for (the API service on Kafka looks those up).

#include "engine/command/outcome_board.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace clawvisor {
namespace {

v1::CommandOutcome Outcome(const std::string& account, const std::string& command) {
  v1::CommandOutcome outcome;
  outcome.set_account_id(account);
  outcome.set_command_id(command);
  outcome.set_accepted(true);
  return outcome;
}

TEST(OutcomeBoardTest, WatchedListsEachWatchedCommandOnceUntilItsTicketsAreDropped) {
  OutcomeBoard board;
  EXPECT_TRUE(board.Watched().empty());
  auto a1 = board.Watch("acc_1", "cmd-a");
  auto a2 = board.Watch("acc_1", "cmd-a");  // a concurrent duplicate submission
  auto b = board.Watch("acc_2", "cmd-b");
  auto watched = board.Watched();
  std::sort(watched.begin(), watched.end());
  const std::vector<std::pair<std::string, std::string>> expected = {{"acc_1", "cmd-a"},
                                                                     {"acc_2", "cmd-b"}};
  EXPECT_EQ(watched, expected);

  board.Publish(Outcome("acc_1", "cmd-a"));
  const auto no_wait = std::chrono::microseconds::zero();
  EXPECT_TRUE(a1->Wait(no_wait).has_value());
  EXPECT_TRUE(a2->Wait(no_wait).has_value());
  EXPECT_FALSE(b->Wait(no_wait).has_value());
  a1.reset();
  a2.reset();
  EXPECT_EQ(board.Watched(),
            (std::vector<std::pair<std::string, std::string>>{{"acc_2", "cmd-b"}}));
  b.reset();
  EXPECT_TRUE(board.Watched().empty());
}

}  // namespace
}  // namespace clawvisor
