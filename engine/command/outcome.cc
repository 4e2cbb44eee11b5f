#include "engine/command/outcome.h"

#include "engine/command/seal_fields.h"
#include "events/codec.h"

namespace clawvisor {

void AddToOutcome(v1::CommandOutcome& outcome, const v1::Envelope& event) {
  outcome.add_event_ids(event.event_id());
  outcome.add_event_types(std::string(EventTypeName(event)));
  if (outcome.aggregate_id().empty() || event.aggregate_type() == v1::AGGREGATE_TYPE_INSTANCE) {
    outcome.set_aggregate_id(event.aggregate_id());
  }
  if (event.has_command_rejected()) {
    outcome.set_accepted(false);
    outcome.set_rejection_reason(event.command_rejected().reason());
    outcome.set_message(event.command_rejected().message());
  }
}

v1::CommandOutcome OutcomeOfFirstEvent(const v1::Envelope& event, int32_t partition,
                                       int64_t offset) {
  v1::CommandOutcome outcome;
  outcome.set_command_id(event.command_id());
  outcome.set_account_id(event.account_id());
  outcome.set_accepted(true);
  outcome.set_decided_at_us(event.occurred_at_us());
  outcome.set_partition(partition);
  outcome.set_first_offset(static_cast<uint64_t>(offset));
  outcome.set_request_hash(event.command_hash());
  return outcome;
}

bool SameRequest(const v1::CommandOutcome& recorded, std::string_view fingerprint) {
  // An outcome recorded before fingerprints existed matches anything.
  return recorded.request_hash().empty() ||
         RequestPart(recorded.request_hash()) == RequestPart(fingerprint);
}

bool SameSubmission(const v1::CommandOutcome& recorded, std::string_view fingerprint) {
  return !fingerprint.empty() && recorded.request_hash() == fingerprint;
}

v1::CommandOutcome AccountErasedOutcome(std::string_view account_id, std::string_view command_id,
                                        int32_t partition, TimestampUs now_us,
                                        std::string_view request_hash) {
  v1::CommandOutcome refused;
  refused.set_command_id(std::string(command_id));
  refused.set_account_id(std::string(account_id));
  refused.set_accepted(false);
  refused.set_decided_at_us(now_us);
  refused.set_partition(partition);
  refused.set_rejection_reason(v1::REJECTION_ACCOUNT_ERASED);
  refused.set_message("account was erased");
  refused.set_request_hash(std::string(request_hash));
  (void)refused.add_event_types("command_rejected");
  return refused;
}

v1::CommandOutcome ReusedKeyOutcome(std::string_view account_id, std::string_view command_id) {
  v1::CommandOutcome outcome;
  outcome.set_account_id(std::string(account_id));
  outcome.set_command_id(std::string(command_id));
  outcome.set_accepted(false);
  outcome.set_rejection_reason(v1::REJECTION_IDEMPOTENCY_KEY_REUSED);
  outcome.set_message("this command_id was already used for a different request");
  return outcome;
}

std::string CommandKey(std::string_view account_id, std::string_view command_id) {
  std::string key(account_id);
  key += '\0';
  key += command_id;
  return key;
}

}  // namespace clawvisor
