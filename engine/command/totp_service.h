#pragma once

// TotpService: the TOTP work of a command, done by the command service before the command is
// stored (like PasswordService): the processor never holds a TOTP secret in the clear in its
// state, so it cannot check a code; it checks what this service found (a time step, a recovery
// code's keyed hash) against what it remembers (the last accepted step, the unused codes).
//
// Prepare() rewrites a command in place:
//   - enroll_totp -> each recovery code (the API drew them) becomes its keyed hash
//     (recovery_code_hashes); the plaintext codes are cleared. The secret stays, to be sealed.
//   - confirm_totp -> the code is checked against the pending secret (totp_time_step).
//   - login, disable_totp -> when the account has TOTP enrolled, the code is checked: six digits
//     against the secret (totp_time_step), anything else as a recovery code (its keyed hash,
//     recovery_code_hash). The code is cleared.
// Times come from the injected clock; ±1 step of drift is accepted (engine/totp.h).
//
// Thread-safety: safe for concurrent use if its ports are (they are, by contract).

#include <functional>
#include <optional>
#include <string>

#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "engine/clock.h"
#include "engine/sealer.h"

namespace clawvisor {

// The keyed-hash purpose of recovery codes (Sealer::LookupHash of "<account>/<code>").
inline constexpr std::string_view kRecoveryCodePurpose = "clawvisor.totp-recovery.v1";

class TotpService {
 public:
  // The account's sealed TOTP secret (the credentials projection); nullopt if none is enrolled.
  using TotpLookup =
      std::function<Result<std::optional<v1::TotpCredential>>(std::string_view account_id)>;

  TotpService(Sealer& sealer, Clock& clock, TotpLookup lookup);

  // kInvalidArgument for a malformed enrolment; kUnavailable/kInternal when a port fails.
  Status Prepare(v1::Command& command);

  // The keyed hash (hex) of a recovery code as typed, or "" if it is not shaped like one.
  Result<std::string> RecoveryCodeHash(std::string_view account_id, std::string_view typed);

 private:
  struct Factor {
    uint64_t time_step = 0;
    std::string recovery_code_hash;
  };
  // Checks `code` against the account's secret; `require_enabled` for sign-in and disabling.
  Result<Factor> Check(const std::string& account_id, const std::string& code,
                       bool require_enabled);

  Sealer& sealer_;
  Clock& clock_;
  TotpLookup lookup_;
};

}  // namespace clawvisor
