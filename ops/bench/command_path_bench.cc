// Command path on the embedded log, durable, beside its ceiling on the same disk.
//
//   ceiling:   raw RocksDB, synced WriteBatch of B records (~200 B each), one writer
//   clawvisor: C concurrent submitters through CommandService (append the command, decide,
//              transact the events + consumed offset, project, answer); each command costs two
//              synced writes (the command, then its decision), merged by group commit
//   rebuild:   projections rebuilt from the log (events/s, one thread)
//
// Usage: command_path_bench [--dir DIR] [--seconds S] [--help]
// DIR must be on the disk you want measured (default: a fresh directory under /var/tmp).

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "adapters/cli/embedded_node.h"
#include "engine/logging.h"
#include "events/codec.h"

namespace {

// A well-formed gateway token (the API draws a random one per instance).
constexpr char kTestGatewayToken[] = "bEnChGaTeWaYtOkEn0123456789_abcdefghijklmno";

using Clock = std::chrono::steady_clock;
using clawvisor::v1::Command;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct RawResult {
  double batches_per_s;
  double records_per_s;
};

RawResult RawSyncedWrites(const std::string& path, int batch_size, double seconds) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, path, &raw).ok()) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(1);
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const std::string value(200, 'v');
  uint64_t key = 0;
  int64_t batches = 0;
  const auto start = Clock::now();
  while (Seconds(Clock::now() - start) < seconds) {
    rocksdb::WriteBatch batch;
    for (int i = 0; i < batch_size; ++i) {
      char k[16];
      std::snprintf(k, sizeof k, "%015llu", static_cast<unsigned long long>(key++));
      batch.Put(k, value);
    }
    db->Write(sync, &batch);
    ++batches;
  }
  const double elapsed = Seconds(Clock::now() - start);
  return {batches / elapsed, batches * batch_size / elapsed};
}

struct PathResult {
  double commands_per_s;
  double p50_ms;
  double p99_ms;
  double records_per_write;
  double writes_per_s;
  int64_t commands;
};

Command NewCommand(const std::string& account, const std::string& id) {
  Command c;
  c.set_command_id(id);
  c.set_account_id(account);
  c.mutable_actor()->set_kind(clawvisor::v1::Actor::KIND_SERVICE);
  c.mutable_actor()->set_id("bench");
  c.mutable_actor()->set_role(clawvisor::v1::ROLE_OWNER);  // the local caller: owner everywhere
  return c;
}

PathResult CommandPath(clawvisor::EmbeddedNode& node, int submitters, double seconds, int round) {
  auto& service = node.commands();
  // Each submitter owns an account with one instance and toggles it start/stop.
  for (int s = 0; s < submitters; ++s) {
    const std::string account = "acc_r" + std::to_string(round) + "s" + std::to_string(s);
    auto reg = NewCommand(account, "reg");
    reg.mutable_register_account()->set_email("bench@example.com");
    auto create = NewCommand(account, "create");
    create.mutable_create_instance()->set_instance_id("ins_1");
    create.mutable_create_instance()->set_gateway_token(kTestGatewayToken);
    create.mutable_create_instance()->set_volume_key("volumeKeyFromTheApi_0123456789abcdef");
    create.mutable_create_instance()->set_name("bench");
    if (!service.Submit(reg, std::chrono::seconds(30)) ||
        !service.Submit(create, std::chrono::seconds(30))) {
      std::fprintf(stderr, "setup failed\n");
      std::exit(1);
    }
  }
  const auto stats_before = node.log().Stats();
  std::vector<std::vector<double>> latencies(static_cast<size_t>(submitters));
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  {
    std::vector<std::jthread> threads;
    for (int s = 0; s < submitters; ++s) {
      threads.emplace_back([&, s] {
        const std::string account = "acc_r" + std::to_string(round) + "s" + std::to_string(s);
        auto& mine = latencies[static_cast<size_t>(s)];
        for (int64_t i = 0; Seconds(Clock::now() - start) < seconds; ++i) {
          auto c = NewCommand(account, "c" + std::to_string(i));
          if (i % 2 == 0)
            c.mutable_start_instance()->set_instance_id("ins_1");
          else
            c.mutable_stop_instance()->set_instance_id("ins_1");
          const auto t0 = Clock::now();
          auto outcome = service.Submit(c, std::chrono::seconds(30));
          if (!outcome || !outcome->accepted()) {
            failed = true;
            return;
          }
          mine.push_back(Seconds(Clock::now() - t0) * 1000);
        }
      });
    }
  }
  const double elapsed = Seconds(Clock::now() - start);
  if (failed) {
    std::fprintf(stderr, "a command failed during the run\n");
    std::exit(1);
  }
  const auto stats_after = node.log().Stats();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[static_cast<size_t>(p * (all.size() - 1))]; };
  const double writes = static_cast<double>(stats_after.write_batches - stats_before.write_batches);
  const double records = static_cast<double>(stats_after.records - stats_before.records);
  return {all.size() / elapsed,
          pct(0.50),
          pct(0.99),
          writes > 0 ? records / writes : 0,
          writes / elapsed,
          static_cast<int64_t>(all.size())};
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  double seconds = 3;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::puts(
          "Usage: command_path_bench [--dir DIR] [--seconds S] [--keep]\n"
          "Prints durable commands/s with p50/p99 beside raw synced RocksDB WriteBatch\n"
          "rates on the same disk, then projection rebuild events/s. --keep leaves DIR/node\n"
          "behind (a data directory to try `clawvisor projections rebuild` on).");
      return 0;
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown argument %s (try --help)\n", a.c_str());
      return 64;
    }
  }
  if (dir.empty()) {
    char tmpl[] = "/var/tmp/clawvisor-bench-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  std::filesystem::create_directories(dir);
  clawvisor::SetLogLevel(clawvisor::LogLevel::kWarn);

  std::printf("== ceiling: raw RocksDB synced WriteBatch, one writer, 200-byte records (%s)\n",
              dir.c_str());
  std::printf("%10s %14s %14s\n", "batch", "writes/s", "records/s");
  for (int b : {1, 2, 4, 8, 16, 32, 64}) {
    const auto path = dir + "/raw-" + std::to_string(b);
    auto r = RawSyncedWrites(path, b, seconds / 2);
    std::printf("%10d %14.0f %14.0f\n", b, r.batches_per_s, r.records_per_s);
    std::filesystem::remove_all(path);
  }

  clawvisor::EmbeddedNodeOptions options;
  options.data_dir = dir + "/node";
  auto node = clawvisor::EmbeddedNode::Open(options);
  if (!node || !(*node)->Start()) {
    std::fprintf(stderr, "cannot start the node\n");
    return 1;
  }
  std::printf("\n== clawvisor: durable commands through CommandService (2 synced writes each)\n");
  std::printf("%10s %12s %10s %10s %16s %12s\n", "clients", "commands/s", "p50 ms", "p99 ms",
              "records/write", "writes/s");
  int round = 0;
  for (int c : {1, 4, 16, 64}) {
    auto r = CommandPath(**node, c, seconds, round++);
    std::printf("%10d %12.0f %10.2f %10.2f %16.2f %12.0f\n", c, r.commands_per_s, r.p50_ms,
                r.p99_ms, r.records_per_write, r.writes_per_s);
  }
  (*node)->Stop();
  node->reset();

  std::printf("\n== projection rebuild from the log\n");
  auto log = clawvisor::OpenLocalLog(options.data_dir, 16, false);
  clawvisor::OsRandom random;
  std::unique_ptr<clawvisor::RocksDbStore> vault_store;
  auto vault = clawvisor::OpenVault(options.data_dir, std::nullopt, random, vault_store);
  if (!log || !vault) {
    std::fprintf(stderr, "cannot reopen for rebuild\n");
    return 1;
  }
  // Three rebuilds into fresh stores (as `clawvisor projections rebuild` does: no WAL); the
  // median is reported.
  std::vector<double> rates;
  int64_t events = 0;
  for (int run = 0; run < 3; ++run) {
    const std::string rebuild_path = dir + "/rebuild-" + std::to_string(run);
    clawvisor::RocksDbStoreOptions store_options;
    store_options.disable_wal = true;
    auto store = clawvisor::RocksDbStore::Open(rebuild_path, store_options);
    if (!store) {
      std::fprintf(stderr, "cannot open the rebuild store\n");
      return 1;
    }
    clawvisor::MetricsRegistry metrics;
    clawvisor::SystemClock projector_clock;
    clawvisor::Projector projector(**store, vault->get(), metrics, nullptr, projector_clock);
    const auto t0 = Clock::now();
    if (!projector.CatchUp(**log, [&](int64_t done, int64_t) { events = done; })) {
      std::fprintf(stderr, "rebuild failed\n");
      return 1;
    }
    rates.push_back(events / Seconds(Clock::now() - t0));
  }
  std::sort(rates.begin(), rates.end());
  std::printf("%lld events: %.0f events/s median of 3 (min %.0f, max %.0f), one thread\n",
              static_cast<long long>(events), rates[1], rates[0], rates[2]);
  // The peer: reading and decoding the same events without applying them.
  const auto scan0 = Clock::now();
  int64_t scanned = 0;
  const int32_t partitions = *(*log)->PartitionCount(clawvisor::kEventsTopic);
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t next = 0;
    while (true) {
      auto batch = (*log)->Read({std::string(clawvisor::kEventsTopic), p}, next, 4096);
      if (!batch || batch->empty()) break;
      for (const auto& r : *batch) {
        if (clawvisor::DecodeEnvelope(r.value)) ++scanned;
        next = r.offset + 1;
      }
    }
  }
  std::printf("%lld events: %.0f events/s to read and decode the log alone (the floor)\n",
              static_cast<long long>(scanned), scanned / Seconds(Clock::now() - scan0));
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}
