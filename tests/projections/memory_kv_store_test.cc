#include "projections/memory_kv_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace clawvisor {
namespace {

std::vector<std::string> Keys(MemoryKvStore& store, std::string_view begin, std::string_view end) {
  std::vector<std::string> keys;
  EXPECT_TRUE(store.Scan(begin, end, [&](std::string_view key, std::string_view) {
    keys.emplace_back(key);
    return true;
  }));
  return keys;
}

// Puts, overwrites and deletes are visible to Get.
TEST(MemoryKvStoreTest, PutGetDelete) {
  MemoryKvStore store;
  EXPECT_EQ(store.Get("a").value(), std::nullopt);
  KvBatch batch;
  batch.Put("a", "1");
  batch.Put("a", "2");
  batch.Put("b", std::string("x\0y", 3));
  ASSERT_TRUE(store.Write(batch, /*sync=*/true));
  EXPECT_EQ(store.Get("a").value(), "2");
  EXPECT_EQ(store.Get("b").value(), std::string("x\0y", 3));
  batch.Clear();
  batch.Delete("a");
  batch.Delete("missing");
  ASSERT_TRUE(store.Write(batch, /*sync=*/false));
  EXPECT_EQ(store.Get("a").value(), std::nullopt);
  EXPECT_EQ(store.writes(), 2u);
  EXPECT_EQ(store.synced_writes(), 1u);
}

// DeleteRange removes [begin, end) and is applied before the batch's puts.
TEST(MemoryKvStoreTest, DeleteRangeIsHalfOpenAndPrecedesOps) {
  MemoryKvStore store;
  KvBatch batch;
  for (const char* k : {"a", "b", "b1", "c", "d"}) batch.Put(k, "v");
  ASSERT_TRUE(store.Write(batch, true));
  batch.Clear();
  batch.Put("b", "new");  // written after the range delete even though it was added first
  batch.DeleteRange("b", "c");
  ASSERT_TRUE(store.Write(batch, true));
  EXPECT_EQ(Keys(store, "", "z"), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(store.Get("b").value(), "new");
}

// A batch with an inverted range is refused whole.
TEST(MemoryKvStoreTest, InvalidBatchAppliesNothing) {
  MemoryKvStore store;
  KvBatch batch;
  batch.Put("a", "1");
  batch.DeleteRange("z", "b");
  auto written = store.Write(batch, true);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(store.size(), 0u);
}

// Scan visits [begin, end) in byte order and stops when told to.
TEST(MemoryKvStoreTest, ScanIsOrderedBoundedAndStoppable) {
  MemoryKvStore store;
  KvBatch batch;
  for (const char* k : {"k3", "k1", "k2", "j", "l"}) batch.Put(k, k);
  batch.Put(std::string("k\0", 2), "nul");
  ASSERT_TRUE(store.Write(batch, true));
  EXPECT_EQ(Keys(store, "k", "l"),
            (std::vector<std::string>{std::string("k\0", 2), "k1", "k2", "k3"}));
  EXPECT_TRUE(Keys(store, "l", "k").empty());
  int visited = 0;
  ASSERT_TRUE(
      store.Scan("a", "z", [&](std::string_view, std::string_view) { return ++visited < 2; }));
  EXPECT_EQ(visited, 2);
}

// The visitor may write to the store: Scan reads a snapshot and holds no lock while visiting.
TEST(MemoryKvStoreTest, ScanVisitorMayWrite) {
  MemoryKvStore store;
  KvBatch batch;
  batch.Put("a", "1");
  batch.Put("b", "2");
  ASSERT_TRUE(store.Write(batch, true));
  std::vector<std::string> seen;
  ASSERT_TRUE(store.Scan("a", "z", [&](std::string_view key, std::string_view) {
    seen.emplace_back(key);
    KvBatch more;
    more.Put("c" + std::string(key), "x");
    EXPECT_TRUE(store.Write(more, false));
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(store.size(), 4u);
}

// FailWrites makes writes fail without applying them, until cleared.
TEST(MemoryKvStoreTest, InjectedWriteFailure) {
  MemoryKvStore store;
  store.FailWrites(Error{Errc::kUnavailable, "disk full"});
  KvBatch batch;
  batch.Put("a", "1");
  auto written = store.Write(batch, true);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, Errc::kUnavailable);
  EXPECT_EQ(store.size(), 0u);
  store.ClearFailure();
  EXPECT_TRUE(store.Write(batch, true));
  EXPECT_EQ(store.size(), 1u);
}

// A reader never sees half a batch.
TEST(MemoryKvStoreTest, BatchesAreAtomicForReaders) {
  MemoryKvStore store;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 2000; ++i) {
      KvBatch batch;
      batch.Put("x", std::to_string(i));
      batch.Put("y", std::to_string(i));
      ASSERT_TRUE(store.Write(batch, false));
    }
    done = true;
  });
  while (!done) {
    std::vector<std::string> values;
    ASSERT_TRUE(store.Scan("x", "z", [&](std::string_view, std::string_view v) {
      values.emplace_back(v);
      return true;
    }));
    if (!values.empty()) {
      ASSERT_EQ(values.size(), 2u);
      EXPECT_EQ(values[0], values[1]);
    }
  }
  writer.join();
}

}  // namespace
}  // namespace clawvisor
