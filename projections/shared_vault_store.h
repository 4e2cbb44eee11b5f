#pragma once

// SharedVaultStore: the KvStore under a KeyVault (adapters/openssl/key_vault.h) when several
// processes share one vault: the API, the processors and the projectors of a Kafka deployment
// (design D4, ARCHITECTURE.md "Sharing the vault on Kafka").
//
// The wrapped data keys travel on the compacted keys topic (`kKeysTopic`); each process keeps a
// copy in a local store of its own, applied from the topic like a projection (rows and the
// consumed offsets in one atomic batch). What a process writes is appended to the topic first,
// durably, and applied to its copy only then, so no value is ever sealed under a key another
// process cannot find. Nothing on the topic is secret without the master key.
//
//   vault row                    on the topic                      rule when applied
//   keyvault/dk/<acct>\0<id>     key = the row, payload = wrapped  put; skipped after the
//                                key; empty payload = destroyed    account's tombstone
//   keyvault/tomb/<acct>         key = the row                     put; every dk row of the
//                                                                  account deleted; listeners told
//   keyvault/meta/lookup_key     key = the row + "\0" + hex of     the FIRST candidate in
//                                the candidate (unique: all stay   partition 0 wins, in every
//                                through compaction)               process alike
//   keyvault/cur/..., others     never: private to the process (each process seals under data
//                                keys it created itself, so use counts stay local)
//
// A record's value is: u8 version (1), the payload (the row's value; empty for a destroyed key),
// then a 32-byte MAC (options.authenticate) over u32 BE len(key) || key || payload.
// When a tombstone is applied, any key of the account still in the copy (one appended between
// the eraser's read and its tombstone) is destroyed on the topic too, and so is any key of the
// account that appears after the tombstone; the copy's files are purged of them.
//
// A destroyed key is a record with an empty value under the same key: compaction then drops the
// wrapped bytes from the brokers' segments (bounded by the topic's min.compaction.lag.ms and
// delete.retention.ms).
//
// Reads: a data-key row missing from the copy (a key another process just created) makes the
// store catch up with the topic's end before answering "not found". Scans catch up first.
// CatchUp() also runs in the background (Run), so tombstones reach every process within its
// poll interval. Master-key rotation is refused (kUnsupported): every process would have to
// hold the new key before the first record wrapped under it is appended.
//
// Thread-safety: every method may be called concurrently.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_log.h"
#include "events/result.h"
#include "projections/kv_store.h"

namespace clawvisor {

struct SharedVaultStoreOptions {
  std::string topic = std::string(kKeysTopic);
  // Authenticates every record: returns a 32-byte MAC of its input under a key only holders of
  // the master key have (MakeRecordAuthenticator, adapters/openssl/master_key.h). A record whose
  // MAC does not verify is skipped, so someone who can merely write to the topic can neither
  // destroy an account's keys nor plant a lookup key. Required.
  std::function<std::string(std::string_view)> authenticate;
  // How often Run() applies what other processes appended.
  std::chrono::milliseconds poll_interval{250};
};

class SharedVaultStore final : public KvStore {
 public:
  // Opens over `log` (which must hold the keys topic) and `local` (this process's copy; its
  // rows under "sharedvault/" hold the consumed offsets), and catches up with the topic, so a
  // vault created on it finds the shared lookup key. Both must outlive the store.
  static Result<std::unique_ptr<SharedVaultStore>> Open(EventLog& log, KvStore& local,
                                                        SharedVaultStoreOptions options = {});

  // Called (on the applying thread, after the copy was updated, under this store's lock) for
  // each account whose tombstone arrives from the topic: the vault drops the keys it holds in
  // memory. It must not call back into this store.
  void OnAccountErased(std::function<void(std::string_view account_id)> listener);

  // Applies every record appended to the topic up to its end as of this call.
  Status CatchUp();
  // Whether this process's copy holds the account's tombstone (its keys are destroyed here).
  Result<bool> HasTombstone(std::string_view account_id);
  // Whether a record value read from the topic is a destroyed key (tests, tools).
  static bool IsDestroyedValue(std::string_view value);
  // The value of a record holding `payload` for `key`, authenticated (see the format above).
  static std::string EncodeValue(const std::function<std::string(std::string_view)>& authenticate,
                                 std::string_view key, std::string_view payload);
  // Calls CatchUp every poll interval until `stop`.
  void Run(std::stop_token stop);

  // KvStore
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Write(const KvBatch& batch, bool sync) override;
  Status Scan(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) override;
  Status Purge(std::string_view begin, std::string_view end) override;

 private:
  SharedVaultStore(EventLog& log, KvStore& local, SharedVaultStoreOptions options,
                   int32_t partitions);
  // REQUIRES: mu_ held. `only`: one partition, else all.
  Status CatchUpLocked(std::optional<int32_t> only = std::nullopt);
  OutgoingRecord MakeRecord(std::string key, std::string_view payload, std::string_view account);
  // The payload of a record whose version and MAC verify.
  std::optional<std::string_view> VerifiedPayload(const Record& record);
  // Catches up until `partition` was applied past `offset`.
  Status CatchUpPastLocked(int32_t partition, int64_t offset);
  Status ApplyLocked(std::span<const Record> records, std::vector<std::string>& erased);

  EventLog& log_;
  KvStore& local_;
  const SharedVaultStoreOptions options_;
  const int32_t partitions_;
  // Serializes every change of the local copy (applied records, this process's own writes), so
  // an older record from the topic never lands after a newer local write of the same row.
  std::mutex mu_;
  std::function<void(std::string_view)> on_erased_;  // GUARDED_BY(mu_)
  uint64_t verified_records_ = 0;                    // GUARDED_BY(mu_)
  uint64_t refused_records_ = 0;                     // GUARDED_BY(mu_)
};

}  // namespace clawvisor
