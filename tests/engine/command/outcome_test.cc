// The outcome fold (engine/command/outcome.h): what the processor, the command service and the
// commands projection all answer with, so each path answers a repeated command alike.

#include "engine/command/outcome.h"

#include <gtest/gtest.h>

namespace clawvisor {
namespace {

v1::Envelope Event(v1::AggregateType type, const std::string& aggregate_id) {
  v1::Envelope event;
  event.set_event_id("evt-" + aggregate_id);
  event.set_account_id("acc_1");
  event.set_command_id("cmd-1");
  event.set_aggregate_type(type);
  event.set_aggregate_id(aggregate_id);
  event.set_occurred_at_us(1'700'000'000'000'000);
  event.set_command_hash("req.sub");
  return event;
}

// The first event sets the command's identity, time, position and request hash.
TEST(OutcomeTest, FirstEventSetsIdentityAndPosition) {
  const v1::CommandOutcome outcome =
      OutcomeOfFirstEvent(Event(v1::AGGREGATE_TYPE_ACCOUNT, "acc_1"), 3, 42);
  EXPECT_EQ(outcome.command_id(), "cmd-1");
  EXPECT_EQ(outcome.account_id(), "acc_1");
  EXPECT_TRUE(outcome.accepted());
  EXPECT_EQ(outcome.decided_at_us(), 1'700'000'000'000'000);
  EXPECT_EQ(outcome.partition(), 3);
  EXPECT_EQ(outcome.first_offset(), 42u);
  EXPECT_EQ(outcome.request_hash(), "req.sub");
  EXPECT_EQ(outcome.event_ids_size(), 0);
}

// Each event is listed; an instance event names the aggregate, and a refusal marks it rejected.
TEST(OutcomeTest, EventsAreAddedInstanceAggregateWinsAndARefusalRejects) {
  v1::CommandOutcome outcome;
  AddToOutcome(outcome, Event(v1::AGGREGATE_TYPE_ACCOUNT, "acc_1"));
  EXPECT_EQ(outcome.aggregate_id(), "acc_1");
  AddToOutcome(outcome, Event(v1::AGGREGATE_TYPE_INSTANCE, "inst-1"));
  EXPECT_EQ(outcome.aggregate_id(), "inst-1");
  AddToOutcome(outcome, Event(v1::AGGREGATE_TYPE_ACCOUNT, "acc_1"));
  EXPECT_EQ(outcome.aggregate_id(), "inst-1");
  EXPECT_EQ(outcome.event_ids_size(), 3);

  outcome.set_accepted(true);
  v1::Envelope refusal = Event(v1::AGGREGATE_TYPE_ACCOUNT, "acc_1");
  refusal.mutable_command_rejected()->set_reason(v1::REJECTION_INVALID_STATE);
  refusal.mutable_command_rejected()->set_message("no");
  AddToOutcome(outcome, refusal);
  EXPECT_FALSE(outcome.accepted());
  EXPECT_EQ(outcome.rejection_reason(), v1::REJECTION_INVALID_STATE);
  EXPECT_EQ(outcome.message(), "no");
  EXPECT_EQ(outcome.event_types(3), "command_rejected");
}

// The request part decides "same request"; the whole fingerprint decides "same submission".
TEST(OutcomeTest, SameRequestComparesTheRequestPartSameSubmissionTheWhole) {
  v1::CommandOutcome recorded;
  EXPECT_TRUE(SameRequest(recorded, "anything.at-all"));  // recorded before fingerprints
  recorded.set_request_hash("req.sub1");
  EXPECT_TRUE(SameRequest(recorded, "req.sub2"));
  EXPECT_FALSE(SameRequest(recorded, "other.sub1"));
  EXPECT_TRUE(SameSubmission(recorded, "req.sub1"));
  EXPECT_FALSE(SameSubmission(recorded, "req.sub2"));
  EXPECT_FALSE(SameSubmission(v1::CommandOutcome{}, ""));
}

// A reused key and an erased account are refusals with their own reasons; neither is recorded.
TEST(OutcomeTest, ReusedKeyAndErasedAccountAreRefusals) {
  const v1::CommandOutcome reused = ReusedKeyOutcome("acc_1", "cmd-1");
  EXPECT_FALSE(reused.accepted());
  EXPECT_EQ(reused.rejection_reason(), v1::REJECTION_IDEMPOTENCY_KEY_REUSED);
  EXPECT_EQ(reused.account_id(), "acc_1");
  EXPECT_EQ(reused.command_id(), "cmd-1");
  EXPECT_EQ(reused.event_ids_size(), 0);

  const v1::CommandOutcome erased = AccountErasedOutcome("acc_1", "cmd-2", 5, 77, "req.sub");
  EXPECT_FALSE(erased.accepted());
  EXPECT_EQ(erased.rejection_reason(), v1::REJECTION_ACCOUNT_ERASED);
  EXPECT_EQ(erased.partition(), 5);
  EXPECT_EQ(erased.decided_at_us(), 77);
  EXPECT_EQ(erased.request_hash(), "req.sub");
  EXPECT_EQ(erased.event_ids_size(), 0);
  ASSERT_EQ(erased.event_types_size(), 1);
  EXPECT_EQ(erased.event_types(0), "command_rejected");
}

// The index key separates account and command with a NUL, so no two pairs share a key.
TEST(OutcomeTest, CommandKeySeparatesTheParts) {
  EXPECT_EQ(CommandKey("acc_1", "cmd"), std::string("acc_1\0cmd", 9));
  EXPECT_NE(CommandKey("a", "bc"), CommandKey("ab", "c"));
}

}  // namespace
}  // namespace clawvisor
