#include "projections/shared_vault_store.h"

#include <charconv>
#include <set>
#include <unordered_map>

#include "engine/hex.h"
#include "engine/logging.h"
#include "engine/partitioner.h"
#include "engine/run_loop.h"

namespace clawvisor {
namespace {

constexpr std::string_view kComponent = "shared_vault";
constexpr std::string_view kVaultRows = "keyvault/";
constexpr std::string_view kDataKeyRows = "keyvault/dk/";
constexpr std::string_view kTombRows = "keyvault/tomb/";
constexpr std::string_view kCurrentRows = "keyvault/cur/";
constexpr std::string_view kLookupRow = "keyvault/meta/lookup_key";
constexpr std::string_view kRotationRow = "keyvault/meta/rotation";
constexpr std::string_view kOffsetRows = "sharedvault/offset/";
constexpr size_t kReadBatch = 1000;
constexpr uint8_t kRecordVersion = 1;
constexpr size_t kMacSize = 32;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

// "keyvault/dk/<account>\0<key id>" -> account; empty for a malformed row.
std::string_view DataKeyAccount(std::string_view row) {
  const std::string_view rest = row.substr(kDataKeyRows.size());
  const size_t nul = rest.find('\0');
  return nul == std::string_view::npos ? std::string_view() : rest.substr(0, nul);
}

std::string DataKeyRange(std::string_view account) {
  std::string begin(kDataKeyRows);
  begin.append(account);
  begin.push_back('\0');
  return begin;
}

std::string LookupCandidateKey(std::string_view wrapped) {
  std::string key(kLookupRow);
  key.push_back('\0');
  AppendHex(key, wrapped);
  return key;
}

std::string OffsetRow(int32_t partition) {
  return std::string(kOffsetRows) + std::to_string(partition);
}

Result<int64_t> StoredOffset(KvStore& store, int32_t partition) {
  auto row = store.Get(OffsetRow(partition));
  if (!row) return std::unexpected(row.error());
  if (!*row) return 0;
  int64_t offset = 0;
  const auto [end, ec] = std::from_chars((*row)->data(), (*row)->data() + (*row)->size(), offset);
  if (ec != std::errc() || end != (*row)->data() + (*row)->size() || offset < 0) {
    return MakeError(Errc::kCorruption, "the vault copy's offset row is malformed");
  }
  return offset;
}

// The MAC covers the key too, so a valid payload cannot be moved to another row.
std::string MacInput(std::string_view key, std::string_view payload) {
  std::string input;
  const auto n = static_cast<uint32_t>(key.size());
  for (int shift = 24; shift >= 0; shift -= 8) input.push_back(static_cast<char>(n >> shift));
  input.append(key);
  input.append(payload);
  return input;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Does [begin, end) (empty end: unbounded) reach any row that may come from the topic?
bool Overlaps(std::string_view begin, std::string_view end, std::string_view prefix) {
  std::string prefix_end(prefix);
  prefix_end.back() = static_cast<char>(prefix_end.back() + 1);
  return begin < prefix_end && (end.empty() || end > prefix);
}

}  // namespace

SharedVaultStore::SharedVaultStore(EventLog& log, KvStore& local, SharedVaultStoreOptions options,
                                   int32_t partitions)
    : log_(log), local_(local), options_(std::move(options)), partitions_(partitions) {}

Result<std::unique_ptr<SharedVaultStore>> SharedVaultStore::Open(EventLog& log, KvStore& local,
                                                                 SharedVaultStoreOptions options) {
  if (!options.authenticate) {
    return MakeError(Errc::kInvalidArgument, "the keys topic's records need an authenticator");
  }
  auto partitions = log.PartitionCount(options.topic);
  if (!partitions) {
    return MakeError(partitions.error().code, "the keys topic " + options.topic +
                                                  " is not usable (run `clawvisor kafka init`): " +
                                                  partitions.error().message);
  }
  std::unique_ptr<SharedVaultStore> store(
      new SharedVaultStore(log, local, std::move(options), *partitions));
  if (auto caught_up = store->CatchUp(); !caught_up) return std::unexpected(caught_up.error());
  if (store->refused_records_ > 0 && store->verified_records_ == 0) {
    // Every record fails: this process holds another master key than the deployment's.
    return MakeError(Errc::kFailedPrecondition,
                     "no record of the keys topic " + store->options_.topic +
                         " authenticates under this master key: it is not the deployment's");
  }
  return store;
}

void SharedVaultStore::OnAccountErased(std::function<void(std::string_view)> listener) {
  std::lock_guard lock(mu_);
  on_erased_ = std::move(listener);
}

Status SharedVaultStore::CatchUp() {
  std::lock_guard lock(mu_);
  return CatchUpLocked();
}

Result<bool> SharedVaultStore::HasTombstone(std::string_view account_id) {
  auto row = local_.Get(std::string(kTombRows) + std::string(account_id));
  if (!row) return std::unexpected(row.error());
  return row->has_value();
}

bool SharedVaultStore::IsDestroyedValue(std::string_view value) {
  return value.size() == 1 + kMacSize;
}

OutgoingRecord SharedVaultStore::MakeRecord(std::string key, std::string_view payload,
                                            std::string_view account) {
  OutgoingRecord out;
  out.topic = options_.topic;
  out.partition = account.empty() ? 0 : PartitionFor(account, partitions_);
  out.value = EncodeValue(options_.authenticate, key, payload);
  out.key = std::move(key);
  return out;
}

std::string SharedVaultStore::EncodeValue(
    const std::function<std::string(std::string_view)>& authenticate, std::string_view key,
    std::string_view payload) {
  std::string value;
  value.reserve(1 + payload.size() + kMacSize);
  value.push_back(static_cast<char>(kRecordVersion));
  value.append(payload);
  value.append(authenticate(MacInput(key, payload)));
  return value;
}

std::optional<std::string_view> SharedVaultStore::VerifiedPayload(const Record& record) {
  const std::string_view value = record.value;
  if (value.size() < 1 + kMacSize || static_cast<uint8_t>(value[0]) != kRecordVersion) {
    return std::nullopt;
  }
  const std::string_view payload = value.substr(1, value.size() - 1 - kMacSize);
  const std::string expected = options_.authenticate(MacInput(record.key, payload));
  if (expected.size() != kMacSize ||
      !ConstantTimeEqual(expected, value.substr(value.size() - kMacSize))) {
    return std::nullopt;
  }
  return payload;
}

Status SharedVaultStore::CatchUpLocked(std::optional<int32_t> only) {
  std::vector<std::string> erased;
  for (int32_t p = only.value_or(0); p < (only ? *only + 1 : partitions_); ++p) {
    const TopicPartition tp{options_.topic, p};
    auto end = log_.EndOffset(tp);
    if (!end) return std::unexpected(end.error());
    auto next = StoredOffset(local_, p);
    if (!next) return std::unexpected(next.error());
    while (*next < *end) {
      auto records = log_.Read(tp, *next, kReadBatch);
      if (!records) return std::unexpected(records.error());
      if (records->empty()) {
        // Nothing committed before the end (transaction markers, aborted records): skip it.
        KvBatch skip;
        skip.Put(OffsetRow(p), std::to_string(*end));
        if (auto written = local_.Write(skip, /*sync=*/false); !written) return written;
        break;
      }
      if (auto applied = ApplyLocked(*records, erased); !applied) return applied;
      *next = records->back().offset + 1;
    }
  }
  for (const std::string& account : erased) {
    // The listener takes only the vault's short in-memory lock, never this store's.
    Log(LogLevel::kInfo, kComponent, "account keys destroyed by another process",
        {{"account_id", account}});
    if (on_erased_) on_erased_(account);
  }
  return {};
}

Status SharedVaultStore::ApplyLocked(std::span<const Record> records,
                                     std::vector<std::string>& erased) {
  KvBatch batch;
  std::set<std::string, std::less<>> tombed;
  std::unordered_map<std::string, std::vector<std::string>> put_in_batch;  // account -> dk rows
  std::vector<OutgoingRecord> destroy;  // keys the topic still holds for an erased account
  auto has_tomb = [&](std::string_view account) -> Result<bool> {
    if (tombed.contains(account)) return true;
    return HasTombstone(account);
  };
  std::optional<bool> lookup_known;
  for (const Record& r : records) {
    const auto payload = VerifiedPayload(r);
    ++(payload ? verified_records_ : refused_records_);
    if (!payload) {
      Log(LogLevel::kWarn, kComponent,
          "skipping a record of the keys topic that fails authentication",
          {{"partition", static_cast<int64_t>(r.partition)}, {"offset", r.offset}});
      continue;
    }
    if (StartsWith(r.key, std::string(kLookupRow) + '\0')) {
      if (!lookup_known) {
        auto row = local_.Get(kLookupRow);
        if (!row) return std::unexpected(row.error());
        lookup_known = row->has_value();
      }
      if (!*lookup_known && r.partition == 0 && !payload->empty()) {
        batch.Put(std::string(kLookupRow), std::string(*payload));  // the first candidate wins
        lookup_known = true;
      }
    } else if (StartsWith(r.key, kDataKeyRows)) {
      const std::string account(DataKeyAccount(r.key));
      if (account.empty()) continue;
      if (payload->empty()) {
        batch.Delete(r.key);
        continue;
      }
      auto tomb = has_tomb(account);
      if (!tomb) return std::unexpected(tomb.error());
      if (*tomb) {
        // Created after the erasure began (a seal that raced with it): void everywhere, and
        // destroyed on the topic so compaction drops its bytes.
        destroy.push_back(MakeRecord(r.key, "", account));
        continue;
      }
      batch.Put(r.key, std::string(*payload));
      put_in_batch[account].push_back(r.key);
    } else if (StartsWith(r.key, kTombRows)) {
      const std::string account = r.key.substr(kTombRows.size());
      if (account.empty()) continue;
      batch.Put(r.key, std::string(*payload));
      // The eraser destroyed every key it had read before its tombstone, and those records
      // come first: a key still here was appended between its read and its tombstone.
      const std::string begin = DataKeyRange(account);
      std::string end = begin;
      end.back() = '\x01';
      auto scanned = local_.Scan(begin, end, [&](std::string_view key, std::string_view) {
        batch.Delete(std::string(key));
        destroy.push_back(MakeRecord(std::string(key), "", account));
        return true;
      });
      if (!scanned) return scanned;
      for (const std::string& key : put_in_batch[account]) {
        batch.Delete(key);
        destroy.push_back(MakeRecord(key, "", account));
      }
      batch.Delete(std::string(kCurrentRows) + account);
      if (tombed.insert(account).second) erased.push_back(account);
    } else {
      Log(LogLevel::kWarn, kComponent, "ignoring a record of unknown kind on the keys topic",
          {{"partition", static_cast<int64_t>(r.partition)}, {"offset", r.offset}});
    }
  }
  std::unordered_map<int32_t, int64_t> next;
  for (const Record& r : records) next[r.partition] = std::max(next[r.partition], r.offset + 1);
  for (const auto& [partition, offset] : next) {
    batch.Put(OffsetRow(partition), std::to_string(offset));
  }
  // Not synced: a crash loses only what the topic still holds.
  if (auto written = local_.Write(batch, /*sync=*/false); !written) return written;
  for (const std::string& account : tombed) {
    // The wrapped keys must leave this copy's files too, not just its view.
    const std::string begin = DataKeyRange(account);
    std::string end = begin;
    end.back() = '\x01';
    if (auto purged = local_.Purge(begin, end); !purged) return purged;
  }
  if (!destroy.empty()) {
    // Idempotent: several processes may destroy the same key.
    if (auto appended = log_.Append(destroy); !appended) return std::unexpected(appended.error());
  }
  return {};
}

void SharedVaultStore::Run(std::stop_token stop) {
  RunUntilStopped(
      stop, kComponent,
      [this]() -> Result<bool> {
        if (auto caught_up = CatchUp(); !caught_up) return std::unexpected(caught_up.error());
        return true;  // wait the poll interval
      },
      options_.poll_interval);
}

Result<std::optional<std::string>> SharedVaultStore::Get(std::string_view key) {
  auto row = local_.Get(key);
  if (!row || row->has_value() || !StartsWith(key, kDataKeyRows)) return row;
  const std::string_view account = DataKeyAccount(key);
  if (account.empty()) return row;
  // A data key another process created moments ago: read its partition to the end, then answer.
  std::lock_guard lock(mu_);
  if (auto caught_up = CatchUpLocked(PartitionFor(account, partitions_)); !caught_up) {
    return std::unexpected(caught_up.error());
  }
  return local_.Get(key);
}

Status SharedVaultStore::Write(const KvBatch& batch, bool sync) {
  std::lock_guard lock(mu_);
  std::vector<OutgoingRecord> records;
  KvBatch local;
  bool lookup_proposed = false;
  for (const auto& [begin, end] : batch.ranges()) {
    if (Overlaps(begin, end, kDataKeyRows)) {
      // Destroying keys: every process's keys of the range, so first everything on the topic.
      if (auto caught_up = CatchUpLocked(); !caught_up) return caught_up;
      auto scanned = local_.Scan(begin, end, [&](std::string_view key, std::string_view) {
        if (StartsWith(key, kDataKeyRows)) {
          records.push_back(MakeRecord(std::string(key), "", DataKeyAccount(key)));
        }
        return true;
      });
      if (!scanned) return scanned;
    }
    local.DeleteRange(begin, end);
  }
  for (const KvBatch::Op& op : batch.ops()) {
    if (op.key == kRotationRow) {
      return MakeError(Errc::kUnsupported,
                       "master-key rotation is not supported on a vault shared through Kafka "
                       "yet: every process must hold the new key first");
    }
    if (StartsWith(op.key, kDataKeyRows)) {
      const std::string_view account = DataKeyAccount(op.key);
      if (op.value) {
        // A key for an account erased meanwhile would be void everywhere else: refuse it here.
        auto tomb = HasTombstone(account);
        if (!tomb) return std::unexpected(tomb.error());
        if (*tomb) {
          return MakeError(Errc::kFailedPrecondition,
                           "the account's data keys were destroyed (account erased)");
        }
      }
      records.push_back(MakeRecord(op.key, op.value.value_or(""), account));
    } else if (StartsWith(op.key, kTombRows)) {
      if (!op.value) return MakeError(Errc::kInvalidArgument, "an account tombstone is forever");
      records.push_back(
          MakeRecord(op.key, *op.value, std::string_view(op.key).substr(kTombRows.size())));
    } else if (op.key == kLookupRow) {
      if (!op.value) return MakeError(Errc::kInvalidArgument, "the lookup key is forever");
      records.push_back(MakeRecord(LookupCandidateKey(*op.value), *op.value, ""));
      lookup_proposed = true;
      continue;  // applied from the topic: another process's candidate may come first
    }
    if (op.value) {
      local.Put(op.key, *op.value);
    } else {
      local.Delete(op.key);
    }
  }
  // Durable on the topic before this process uses (or forgets) the keys: all or nothing.
  std::optional<int64_t> candidate_offset;
  if (!records.empty()) {
    auto appended = log_.Append(records);
    if (!appended) return std::unexpected(appended.error());
    if (lookup_proposed) candidate_offset = appended->offsets.back();
  }
  if (!local.empty()) {
    if (auto written = local_.Write(local, sync); !written) return written;
  }
  if (candidate_offset) return CatchUpPastLocked(0, *candidate_offset);
  return {};
}

Status SharedVaultStore::CatchUpPastLocked(int32_t partition, int64_t offset) {
  if (auto caught_up = CatchUpLocked(partition); !caught_up) return caught_up;
  auto next = StoredOffset(local_, partition);
  if (!next) return std::unexpected(next.error());
  if (*next > offset) return {};
  // Another process's transaction still open before our record holds the readable end below
  // it (Kafka's last stable offset): the log waits for every transaction appended before now to
  // be decided (bounded by the transactions' timeout; kTimeout past it), and only then does
  // catching up reach our record. The wait is the log's (EventLog::SettledEndOffset), not ours.
  auto settled = log_.SettledEndOffset({options_.topic, partition});
  if (!settled) return std::unexpected(settled.error());
  if (auto caught_up = CatchUpLocked(partition); !caught_up) return caught_up;
  next = StoredOffset(local_, partition);
  if (!next) return std::unexpected(next.error());
  if (*next > offset) return {};
  return MakeError(Errc::kTimeout, "the keys topic did not show this process's own record");
}

Status SharedVaultStore::Scan(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view key, std::string_view value)>& visit) {
  if (Overlaps(begin, end, kVaultRows)) {
    if (auto caught_up = CatchUp(); !caught_up) return caught_up;
  }
  return local_.Scan(begin, end, visit);
}

Status SharedVaultStore::Purge(std::string_view begin, std::string_view end) {
  return local_.Purge(begin, end);
}

}  // namespace clawvisor
