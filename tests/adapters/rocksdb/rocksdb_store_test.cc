// RocksDbStore: the KvStore contract on a real RocksDB database.

#include "adapters/rocksdb/rocksdb_store.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = RocksDbStore::Open(dir_.Sub("store"));
    ASSERT_TRUE(store.has_value()) << store.error().ToString();
    store_ = std::move(*store);
  }

  std::vector<std::pair<std::string, std::string>> ScanAll(std::string_view begin,
                                                           std::string_view end) {
    std::vector<std::pair<std::string, std::string>> out;
    auto s = store_->Scan(begin, end, [&](std::string_view k, std::string_view v) {
      out.emplace_back(k, v);
      return true;
    });
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return out;
  }

  void WriteOk(const KvBatch& batch) {
    auto s = store_->Write(batch, true);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
  }

  testing::TempDir dir_;
  std::unique_ptr<RocksDbStore> store_;
};

using KV = std::vector<std::pair<std::string, std::string>>;

// A missing key is an empty optional, not an error.
TEST_F(RocksDbStoreTest, GetMissingKey) {
  auto v = store_->Get("missing");
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->has_value());
}

// Puts and deletes apply in order; binary keys and values round-trip.
TEST_F(RocksDbStoreTest, PutDeleteAndBinaryData) {
  const std::string key("k\0\xff", 3);
  const std::string value("\0v\0", 3);
  KvBatch batch;
  batch.Put(key, value);
  batch.Put("gone", "1");
  batch.Delete("gone");
  WriteOk(batch);
  EXPECT_EQ(store_->Get(key).value(), value);
  EXPECT_FALSE(store_->Get("gone").value().has_value());
}

// Range deletions apply before the batch's puts, so a rebuild can clear and refill at once.
TEST_F(RocksDbStoreTest, RangesApplyBeforeOps) {
  KvBatch seed;
  for (const char* k : {"a", "b1", "b2", "c"}) seed.Put(k, "old");
  WriteOk(seed);
  KvBatch batch;
  batch.Put("b1", "new");
  batch.DeleteRange("b", "c");
  batch.DeleteRange("x", "x");  // empty: ignored
  WriteOk(batch);
  EXPECT_EQ(ScanAll("", ""), (KV{{"a", "old"}, {"b1", "new"}, {"c", "old"}}));
}

// A range whose begin is after its end is refused and nothing is written.
TEST_F(RocksDbStoreTest, BackwardsRangeIsRefused) {
  KvBatch batch;
  batch.Put("p", "1");
  batch.DeleteRange("z", "a");
  auto s = store_->Write(batch, false);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(store_->Get("p").value().has_value());
}

// Scan visits [begin, end) in order, stops when asked, and an empty end means no bound.
TEST_F(RocksDbStoreTest, ScanBoundsAndEarlyStop) {
  KvBatch batch;
  for (const char* k : {"a", "b", "c", "d"}) batch.Put(k, std::string(k) + "!");
  WriteOk(batch);
  EXPECT_EQ(ScanAll("b", "d"), (KV{{"b", "b!"}, {"c", "c!"}}));
  EXPECT_EQ(ScanAll("c", ""), (KV{{"c", "c!"}, {"d", "d!"}}));
  EXPECT_TRUE(ScanAll("d", "b").empty());
  int visited = 0;
  ASSERT_TRUE(
      store_->Scan("a", "", [&](std::string_view, std::string_view) { return ++visited < 2; })
          .has_value());
  EXPECT_EQ(visited, 2);
}

// Data survives closing and reopening the store.
TEST_F(RocksDbStoreTest, PersistsAcrossReopen) {
  KvBatch batch;
  batch.Put("offset", "42");
  WriteOk(batch);
  store_.reset();
  auto store = RocksDbStore::Open(dir_.Sub("store"));
  ASSERT_TRUE(store.has_value()) << store.error().ToString();
  EXPECT_EQ((*store)->Get("offset").value(), "42");
}

// Destroy and DestroyAndReopen leave an empty store for a rebuild.
TEST_F(RocksDbStoreTest, DestroyEmptiesTheStore) {
  KvBatch batch;
  batch.Put("k", "v");
  WriteOk(batch);
  ASSERT_TRUE(store_->DestroyAndReopen().has_value());
  EXPECT_FALSE(store_->Get("k").value().has_value());
  WriteOk(batch);
  store_.reset();
  ASSERT_TRUE(RocksDbStore::Destroy(dir_.Sub("store")).has_value());
  auto store = RocksDbStore::Open(dir_.Sub("store"));
  ASSERT_TRUE(store.has_value());
  EXPECT_FALSE((*store)->Get("k").value().has_value());
  EXPECT_TRUE(RocksDbStore::Destroy(dir_.Sub("never-created")).has_value());
}

// Opening a store that is already open reports kUnavailable (RocksDB's lock), not a crash.
TEST_F(RocksDbStoreTest, SecondOpenIsUnavailable) {
  auto second = RocksDbStore::Open(dir_.Sub("store"));
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::kUnavailable) << second.error().ToString();
}

// Without create_if_missing a missing store is an error.
TEST_F(RocksDbStoreTest, MissingStoreWithoutCreate) {
  RocksDbStoreOptions options;
  options.create_if_missing = false;
  EXPECT_FALSE(RocksDbStore::Open(dir_.Sub("absent"), options).has_value());
}

// A secondary follows what the primary (another process, in production) writes, and refuses
// writes of its own.
TEST_F(RocksDbStoreTest, SecondaryFollowsThePrimaryAndIsReadOnly) {
  KvBatch first;
  first.Put("a", "1");
  WriteOk(first);
  auto secondary = RocksDbStore::OpenSecondary(dir_.Sub("store"), dir_.Sub("secondary"));
  ASSERT_TRUE(secondary) << secondary.error().ToString();
  EXPECT_EQ((*secondary)->Get("a")->value_or(""), "1");
  KvBatch second;
  second.Put("b", "2");
  second.Delete("a");
  WriteOk(second);
  ASSERT_TRUE((*secondary)->CatchUpWithPrimary());
  EXPECT_EQ((*secondary)->Get("b")->value_or(""), "2");
  EXPECT_FALSE((*secondary)->Get("a")->has_value());
  KvBatch refused;
  refused.Put("c", "3");
  EXPECT_EQ((*secondary)->Write(refused, true).error().code, Errc::kFailedPrecondition);
  EXPECT_FALSE(store_->Get("c")->has_value());
  EXPECT_EQ(store_->CatchUpWithPrimary().error().code, Errc::kFailedPrecondition);
}

TEST_F(RocksDbStoreTest, SecondaryOfMissingStoreFails) {
  EXPECT_FALSE(RocksDbStore::OpenSecondary(dir_.Sub("absent"), dir_.Sub("secondary")));
}

}  // namespace
}  // namespace clawvisor
