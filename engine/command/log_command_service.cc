#include "engine/command/log_command_service.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "engine/command/outcome.h"
#include "engine/command/password_service.h"
#include "engine/command/seal_fields.h"
#include "engine/domain/ids.h"
#include "engine/logging.h"
#include "engine/partitioner.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

// A console link's or a webhook path's token becomes its keyed hash here, in every command
// service (a headless reconciler's front door has no password service): only the hash is
// recorded.
Status HashFrontDoorToken(v1::Command& command, Sealer& sealer) {
  std::string* token = nullptr;
  std::string* hash = nullptr;
  std::string_view purpose = kConsoleLinkPurpose;
  std::string_view what = "a console link";
  if (command.has_issue_console_link()) {
    token = command.mutable_issue_console_link()->mutable_token();
    hash = command.mutable_issue_console_link()->mutable_token_hash();
  } else if (command.has_redeem_console_link()) {
    token = command.mutable_redeem_console_link()->mutable_token();
    hash = command.mutable_redeem_console_link()->mutable_token_hash();
  } else if (command.has_rotate_webhook_path()) {
    token = command.mutable_rotate_webhook_path()->mutable_token();
    hash = command.mutable_rotate_webhook_path()->mutable_token_hash();
    purpose = kWebhookPathPurpose;
    what = "a webhook path";
  } else {
    return {};
  }
  if (!IsSessionTokenShape(*token)) {
    return MakeError(Errc::kInvalidArgument,
                     "token is not " + std::string(what) + " token (the API draws it)");
  }
  auto hashed = sealer.LookupHash(purpose, *token);
  if (!hashed) return std::unexpected(hashed.error());
  *hash = std::move(*hashed);
  std::fill(token->begin(), token->end(), '\0');
  token->clear();
  return {};
}

}  // namespace

LogCommandService::LogCommandService(EventLog& log, OutcomeBoard& board, OutcomeLookup lookup,
                                     Watermarks& projected, Sealer& sealer, Clock& clock,
                                     MetricsRegistry& metrics, PasswordService* passwords,
                                     TotpService* totp)
    : log_(log),
      passwords_(passwords),
      totp_(totp),
      board_(board),
      lookup_(std::move(lookup)),
      projected_(projected),
      sealer_(sealer),
      clock_(clock),
      submit_seconds_(metrics.GetHistogram("clawvisor_command_submit_seconds",
                                           "From accepting a command to answering its outcome.")),
      timeouts_(metrics.GetCounter("clawvisor_command_submit_timeouts_total",
                                   "Commands not decided within the caller's wait.")),
      appended_(metrics.GetCounter("clawvisor_commands_appended_total",
                                   "Commands appended to the commands topic.")) {
  auto count = log_.PartitionCount(kCommandsTopic);
  partition_count_ = count ? *count : 0;
}

Result<v1::CommandOutcome> LogCommandService::Submit(const v1::Command& command,
                                                     std::chrono::milliseconds wait) {
  // The whole submission shares one budget, measured on the injected clock: each wait below
  // gets what is left of it.
  const auto started = clock_.Monotonic();
  const auto deadline = started + wait;
  auto remaining = [&] {
    return std::max(
        std::chrono::microseconds::zero(),
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - clock_.Monotonic()));
  };
  if (!IsValidCommandId(command.command_id())) {
    return MakeError(Errc::kInvalidArgument, "command_id is missing or malformed");
  }
  if (!IsValidResourceId(command.account_id())) {
    return MakeError(Errc::kInvalidArgument, "account_id is missing or malformed");
  }
  if (command.payload_case() == v1::Command::PAYLOAD_NOT_SET) {
    return MakeError(Errc::kInvalidArgument, "command has no payload");
  }
  if (partition_count_ <= 0) return MakeError(Errc::kUnavailable, "commands topic is missing");

  // What this request asks for, before its secrets are sealed: a command id already decided for
  // a different request must not answer with that request's outcome.
  if (!command.sealed_fields().empty()) {
    return MakeError(Errc::kInvalidArgument, "sealed_fields is set by the service; omit it");
  }
  auto fingerprint = CommandFingerprint(command, sealer_);
  if (!fingerprint) return std::unexpected(fingerprint.error());
  auto answer = [&](const v1::CommandOutcome& outcome) {
    if (!SameRequest(outcome, *fingerprint)) {
      return ReusedKeyOutcome(command.account_id(), command.command_id());
    }
    v1::CommandOutcome answered = outcome;
    answered.set_generated_values_decided(fingerprint->find('.') != std::string::npos &&
                                          SameSubmission(outcome, *fingerprint));
    return answered;
  };

  auto ticket = board_.Watch(command.account_id(), command.command_id());
  auto recorded = lookup_(command.account_id(), command.command_id());
  if (!recorded) return std::unexpected(recorded.error());
  if (recorded->has_value()) return answer(**recorded);

  v1::Command stamped = command;
  if (auto hashed = HashFrontDoorToken(stamped, sealer_); !hashed) {
    return std::unexpected(hashed.error());
  }
  if (passwords_ != nullptr) {
    // Argon2id here, on the request's thread, never in the processor (ARCHITECTURE.md).
    if (auto prepared = passwords_->Prepare(stamped); !prepared) {
      return std::unexpected(prepared.error());
    }
  }
  if (totp_ != nullptr) {
    if (auto prepared = totp_->Prepare(stamped); !prepared) {
      return std::unexpected(prepared.error());
    }
  }
  stamped.set_request_fingerprint(*fingerprint);
  stamped.set_schema_version(kSchemaVersion);
  stamped.set_issued_at_us(clock_.NowUs());
  if (auto sealed = SealCommandSecrets(stamped, sealer_); !sealed) {
    return std::unexpected(sealed.error());
  }
  if (HasPlaintextSecret(stamped)) {
    Log(LogLevel::kError, "commands", "BUG: a command still holds a plaintext secret; aborting");
    std::abort();
  }
  OutgoingRecord record;
  record.topic = std::string(kCommandsTopic);
  record.partition = PartitionFor(command.account_id(), partition_count_);
  record.key = command.account_id();
  record.value = EncodeCommand(stamped);
  record.timestamp_ms = stamped.issued_at_us() / 1000;
  if (auto appended = log_.Append(std::span(&record, 1)); !appended) {
    return std::unexpected(appended.error());
  }
  appended_.Inc();

  auto outcome = ticket->Wait(remaining());
  if (!outcome) {
    timeouts_.Inc();
    return MakeError(Errc::kTimeout, "the command was accepted but not decided in time");
  }
  if (outcome->event_ids_size() > 0) {
    const int64_t applied_through =
        static_cast<int64_t>(outcome->first_offset()) + outcome->event_ids_size();
    if (!projected_.WaitFor(outcome->partition(), applied_through, remaining())) {
      timeouts_.Inc();
      // A value this submission generated (a gateway token) is shown only in this answer:
      // better an answer before the read models catch up than a token nobody ever sees.
      v1::CommandOutcome answered = answer(*outcome);
      if (answered.generated_values_decided()) return answered;
      return MakeError(Errc::kTimeout, "the command was decided but is not yet queryable");
    }
  }
  submit_seconds_.Observe(std::chrono::duration<double>(clock_.Monotonic() - started).count());
  return answer(*outcome);
}

Result<std::optional<v1::CommandOutcome>> LogCommandService::Lookup(std::string_view account_id,
                                                                    std::string_view command_id) {
  return lookup_(account_id, command_id);
}

}  // namespace clawvisor
