// SharedVaultStore: several KeyVaults, each on its own local copy, sharing keys through one keys
// topic. The log is a real LocalEventLog and the copies real RocksDB stores; the same class runs
// over Kafka in tests/integration/kafka_services_e2e_test.cc.

#include "projections/shared_vault_store.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "adapters/openssl/key_vault.h"
#include "adapters/openssl/master_key.h"
#include "adapters/posix/os_random.h"
#include "adapters/rocksdb/local_event_log.h"
#include "adapters/rocksdb/rocksdb_store.h"
#include "engine/partitioner.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

constexpr int32_t kPartitions = 4;

// One process's view: its local copy, the shared store over it, and a vault on top.
struct Process {
  std::unique_ptr<RocksDbStore> local;
  std::unique_ptr<SharedVaultStore> shared;
  std::unique_ptr<KeyVault> vault;
};

class SharedVaultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalEventLogOptions options;
    options.path = (dir_.path() / "log").string();
    options.sync = false;
    options.topics = {{std::string(kKeysTopic), kPartitions}};
    auto log = LocalEventLog::Open(options);
    ASSERT_TRUE(log) << log.error().message;
    log_ = std::move(*log);
  }

  Process Start(const std::string& name, const MasterKey& master) {
    Process p;
    auto local = RocksDbStore::Open((dir_.path() / name).string());
    EXPECT_TRUE(local) << local.error().message;
    p.local = std::move(*local);
    SharedVaultStoreOptions options;
    options.poll_interval = std::chrono::milliseconds(10);
    options.authenticate = MakeRecordAuthenticator(master, "keys-topic");
    auto shared = SharedVaultStore::Open(*log_, *p.local, options);
    EXPECT_TRUE(shared) << shared.error().message;
    p.shared = std::move(*shared);
    auto vault = KeyVault::Create(*p.shared, random_, master);
    EXPECT_TRUE(vault) << vault.error().message;
    p.vault = std::move(*vault);
    KeyVault* raw = p.vault.get();
    p.shared->OnAccountErased([raw](std::string_view account) { raw->ForgetAccount(account); });
    return p;
  }

  std::function<std::string(std::string_view)> Authenticator() {
    return MakeRecordAuthenticator(master_, "keys-topic");
  }

  // The latest value of every key on the topic (what compaction keeps).
  std::map<std::string, std::string> LatestValues() {
    std::map<std::string, std::string> latest;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto records = log_->Read({std::string(kKeysTopic), p}, 0, 100000);
      EXPECT_TRUE(records);
      for (const Record& r : *records) latest[r.key] = r.value;
    }
    return latest;
  }

  size_t TopicRecords() {
    size_t n = 0;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto records = log_->Read({std::string(kKeysTopic), p}, 0, 100000);
      EXPECT_TRUE(records);
      n += records->size();
    }
    return n;
  }

  testing::TempDir dir_;
  OsRandom random_;
  MasterKey master_ = MasterKey::Generate(random_);
  std::unique_ptr<LocalEventLog> log_;
};

TEST_F(SharedVaultStoreTest, ValuesSealedInOneProcessOpenInAnother) {
  Process api = Start("api", master_);
  Process processor = Start("processor", master_);
  const SealContext context{"acc_1", "evt_1", "email"};
  auto sealed = api.vault->Seal(context, "alice@example.com");
  ASSERT_TRUE(sealed) << sealed.error().message;
  // The processor has never seen this key: its store reads the topic on the miss.
  auto opened = processor.vault->Open(context, *sealed);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, "alice@example.com");
  // And the other way round, with a key the processor creates.
  auto back = processor.vault->Seal({"acc_1", "evt_2", "note"}, "hello");
  ASSERT_TRUE(back);
  EXPECT_NE(back->key_id(), sealed->key_id()) << "each process seals under keys of its own";
  EXPECT_EQ(api.vault->Open({"acc_1", "evt_2", "note"}, *back).value_or(""), "hello");
}

TEST_F(SharedVaultStoreTest, EveryProcessHasTheSameLookupKey) {
  Process a = Start("a", master_);
  Process b = Start("b", master_);
  Process c = Start("c", master_);
  auto ha = a.vault->LookupHash("email", "alice@example.com");
  ASSERT_TRUE(ha);
  EXPECT_EQ(*ha, b.vault->LookupHash("email", "alice@example.com").value_or(""));
  EXPECT_EQ(*ha, c.vault->LookupHash("email", "alice@example.com").value_or(""));
}

TEST_F(SharedVaultStoreTest, ConcurrentFirstStartsAgreeOnOneLookupKey) {
  // Eight processes start at once on an empty topic: each proposes a lookup key; the first
  // candidate on the topic wins everywhere.
  std::vector<Process> processes(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < processes.size(); ++i) {
    threads.emplace_back([&, i] { processes[i] = Start("p" + std::to_string(i), master_); });
  }
  for (auto& t : threads) t.join();
  const std::string expected = processes[0].vault->LookupHash("x", "y").value_or("?");
  for (auto& p : processes) EXPECT_EQ(p.vault->LookupHash("x", "y").value_or(""), expected);
  // A process started later, on a fresh copy, agrees too.
  Process late = Start("late", master_);
  EXPECT_EQ(late.vault->LookupHash("x", "y").value_or(""), expected);
}

TEST_F(SharedVaultStoreTest, ErasureInOneProcessDestroysEveryProcesssKeys) {
  Process api = Start("api", master_);
  Process processor = Start("processor", master_);
  Process projector = Start("projector", master_);
  const SealContext by_api{"acc_9", "cmd_1", "password"};
  const SealContext by_processor{"acc_9", "evt_1", "email"};
  auto a = api.vault->Seal(by_api, "secret-one");
  auto b = processor.vault->Seal(by_processor, "secret-two");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(projector.vault->Open(by_api, *a));  // cached in the projector
  ASSERT_TRUE(projector.vault->Open(by_processor, *b));
  // Another account is untouched throughout.
  auto other = api.vault->Seal({"acc_2", "cmd_2", "password"}, "keep-me");
  ASSERT_TRUE(other);

  ASSERT_TRUE(processor.vault->DestroyAccountKeys("acc_9"));
  // The processor destroyed the API's key too, not only its own.
  EXPECT_EQ(processor.vault->Open(by_api, *a).error().code, Errc::kNotFound);
  // The others learn it from the topic (their caches included).
  ASSERT_TRUE(api.shared->CatchUp());
  ASSERT_TRUE(projector.shared->CatchUp());
  for (Process* p : {&api, &processor, &projector}) {
    EXPECT_EQ(p->vault->Open(by_api, *a).error().code, Errc::kNotFound);
    EXPECT_EQ(p->vault->Open(by_processor, *b).error().code, Errc::kNotFound);
    EXPECT_FALSE(p->vault->Seal({"acc_9", "cmd_3", "x"}, "new"))
        << "an erased account never gets a key again";
    EXPECT_EQ(p->vault->Open({"acc_2", "cmd_2", "password"}, *other).value_or(""), "keep-me");
  }
  // A fresh process that reads the whole topic has no key of the account: every data-key record
  // of acc_9 on the topic is superseded by an empty one (compaction drops the wrapped bytes).
  Process late = Start("late", master_);
  EXPECT_EQ(late.vault->Open(by_api, *a).error().code, Errc::kNotFound);
  const std::map<std::string, std::string> latest = LatestValues();
  size_t destroyed = 0;
  for (const auto& [key, value] : latest) {
    if (key.starts_with("keyvault/dk/acc_9")) {
      EXPECT_TRUE(SharedVaultStore::IsDestroyedValue(value))
          << "a wrapped key of the erased account is still current";
      ++destroyed;
    }
  }
  EXPECT_EQ(destroyed, 2u);
}

TEST_F(SharedVaultStoreTest, KeyAppendedAfterTheTombstoneIsVoidEverywhere) {
  Process a = Start("a", master_);
  Process b = Start("b", master_);
  ASSERT_TRUE(b.vault->Seal({"acc_3", "cmd_0", "x"}, "before"));
  ASSERT_TRUE(a.vault->DestroyAccountKeys("acc_3"));
  // A process that had not yet read the tombstone when it created a key appends it after the
  // tombstone (the race of an erasure with a seal elsewhere); here appended as such a process
  // would.
  const std::string row = std::string("keyvault/dk/acc_3") + '\0' + "dk_acc_3_00000000000000aa";
  OutgoingRecord late_key;
  late_key.topic = std::string(kKeysTopic);
  late_key.partition = PartitionFor("acc_3", kPartitions);
  late_key.key = row;
  late_key.value = SharedVaultStore::EncodeValue(Authenticator(), row, "wrapped-key-bytes");
  ASSERT_TRUE(log_->Append(std::span(&late_key, 1)));
  ASSERT_TRUE(b.shared->CatchUp());
  Process late = Start("late", master_);
  for (Process* p : {&a, &b, &late}) {
    EXPECT_FALSE(p->local->Get(row).value_or("x").has_value()) << "a key after the tombstone";
    EXPECT_FALSE(p->vault->Seal({"acc_3", "cmd_1", "x"}, "after"));
  }
  // And it is destroyed on the topic, so compaction drops its bytes.
  EXPECT_TRUE(SharedVaultStore::IsDestroyedValue(LatestValues()[row]));
}

// Someone who can write to the topic but lacks the master key can neither destroy an account's
// keys nor plant a lookup key nor a data key.
TEST_F(SharedVaultStoreTest, UnauthenticatedRecordsAreIgnored) {
  Process a = Start("a", master_);
  auto sealed = a.vault->Seal({"acc_7", "e", "f"}, "v");
  ASSERT_TRUE(sealed);
  const MasterKey other = MasterKey::Generate(random_);
  const auto forged_auth = MakeRecordAuthenticator(other, "keys-topic");
  std::vector<OutgoingRecord> forged(3);
  forged[0].key = "keyvault/tomb/acc_7";
  forged[0].partition = PartitionFor("acc_7", kPartitions);
  forged[0].value = SharedVaultStore::EncodeValue(forged_auth, forged[0].key, "\x01");
  forged[1].key = std::string("keyvault/dk/acc_7") + '\0' + sealed->key_id();
  forged[1].partition = forged[0].partition;
  forged[1].value = SharedVaultStore::EncodeValue(forged_auth, forged[1].key, "");
  forged[2].key = std::string("keyvault/meta/lookup_key") + '\0' + "00";
  forged[2].value = "\x01garbage";
  for (auto& r : forged) r.topic = std::string(kKeysTopic);
  ASSERT_TRUE(log_->Append(forged));
  ASSERT_TRUE(a.shared->CatchUp());
  Process late = Start("late", master_);
  for (Process* p : {&a, &late}) {
    EXPECT_EQ(p->vault->Open({"acc_7", "e", "f"}, *sealed).value_or(""), "v");
    EXPECT_FALSE(*p->shared->HasTombstone("acc_7"));
  }
  EXPECT_EQ(a.vault->LookupHash("x", "y").value_or("a"),
            late.vault->LookupHash("x", "y").value_or("b"));
}

TEST_F(SharedVaultStoreTest, RestartedProcessResumesFromItsCopy) {
  std::string key_id;
  {
    Process p = Start("p", master_);
    auto sealed = p.vault->Seal({"acc_1", "e", "f"}, "v");
    ASSERT_TRUE(sealed);
    key_id = sealed->key_id();
  }
  const size_t before = TopicRecords();
  Process again = Start("p", master_);
  auto sealed = again.vault->Seal({"acc_1", "e2", "f"}, "v");
  ASSERT_TRUE(sealed);
  EXPECT_EQ(sealed->key_id(), key_id) << "its private current-key row survived the restart";
  EXPECT_EQ(TopicRecords(), before) << "nothing new on the topic";
}

TEST_F(SharedVaultStoreTest, WrongMasterKeyIsRefusedAtStart) {
  Process a = Start("a", master_);
  ASSERT_TRUE(a.vault->Seal({"acc_1", "e", "f"}, "v"));
  auto local = RocksDbStore::Open((dir_.path() / "wrong").string());
  ASSERT_TRUE(local);
  SharedVaultStoreOptions options;
  options.authenticate = MakeRecordAuthenticator(MasterKey::Generate(random_), "keys-topic");
  auto shared = SharedVaultStore::Open(*log_, **local, options);
  ASSERT_FALSE(shared);
  EXPECT_EQ(shared.error().code, Errc::kFailedPrecondition) << shared.error().message;
}

TEST_F(SharedVaultStoreTest, MasterKeyRotationIsRefusedAndChangesNothing) {
  Process a = Start("a", master_);
  auto sealed = a.vault->Seal({"acc_1", "e", "f"}, "v");
  ASSERT_TRUE(sealed);
  const size_t before = TopicRecords();
  auto rotated = a.vault->RotateMasterKey(MasterKey::Generate(random_));
  ASSERT_FALSE(rotated);
  EXPECT_EQ(rotated.error().code, Errc::kUnsupported);
  EXPECT_EQ(TopicRecords(), before);
}

TEST_F(SharedVaultStoreTest, BackgroundReaderAppliesTombstones) {
  Process a = Start("a", master_);
  Process b = Start("b", master_);
  auto sealed = a.vault->Seal({"acc_5", "e", "f"}, "v");
  ASSERT_TRUE(sealed);
  ASSERT_TRUE(b.vault->Open({"acc_5", "e", "f"}, *sealed));
  std::jthread reader([&](std::stop_token stop) { b.shared->Run(stop); });
  ASSERT_TRUE(a.vault->DestroyAccountKeys("acc_5"));
  for (int i = 0; i < 5000; ++i) {
    if (!b.vault->Open({"acc_5", "e", "f"}, *sealed)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(b.vault->Open({"acc_5", "e", "f"}, *sealed).error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace clawvisor
