// LoginThrottle: failed sign-ins per source address on a simulated clock.

#include "adapters/http/login_throttle.h"

#include <gtest/gtest.h>

namespace clawvisor {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

TEST(LoginThrottleTest, FreeFailuresThenDoublingWaitsThenTheWindowForgets) {
  ManualClock clock;
  LoginThrottle throttle(clock);
  const std::string ip = "198.51.100.7";
  for (size_t i = 0; i < LoginThrottle::kFreeFailures; ++i) {
    EXPECT_EQ(throttle.Wait(ip), 0);
    throttle.RecordFailure(ip);
  }
  EXPECT_EQ(throttle.Wait(ip), 0);  // twenty failures are free
  throttle.RecordFailure(ip);
  EXPECT_EQ(throttle.Wait(ip), 1'000'000);
  EXPECT_EQ(throttle.Wait("198.51.100.8"), 0);  // another address is not affected
  clock.Advance(seconds(1));
  EXPECT_EQ(throttle.Wait(ip), 0);
  throttle.RecordFailure(ip);
  EXPECT_EQ(throttle.Wait(ip), 2'000'000);
  clock.Advance(seconds(2));
  throttle.RecordFailure(ip);
  EXPECT_EQ(throttle.Wait(ip), 4'000'000);
  // Waits are capped.
  for (int i = 0; i < 40; ++i) throttle.RecordFailure(ip);
  EXPECT_EQ(throttle.Wait(ip), LoginThrottle::kMaxWaitUs);
  // An hour later the failures are forgotten.
  clock.Advance(minutes(61));
  EXPECT_EQ(throttle.Wait(ip), 0);
  throttle.RecordFailure(ip);
  EXPECT_EQ(throttle.Wait(ip), 0);
}

}  // namespace
}  // namespace clawvisor
