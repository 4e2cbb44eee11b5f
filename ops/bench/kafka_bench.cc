// KafkaEventLog append throughput/latency and projection consume throughput on a real broker.
// Run by ops/bench/kafka_bench.sh, which prints Kafka's own ProducerPerformance and
// ConsumerPerformance figures beside these, same broker, same record size, same run.
//
//   kafka_bench --bootstrap-servers B [--records N] [--record-size BYTES] [--concurrency C]
//               [--consume 0] (append only)
//
// Appends N events (AccountRegistered envelopes padded to about BYTES) to clawvisor.events
// from C threads, one record per Append (what the processor and the API do), then replays the
// events topic into a projection (Projector over an in-memory store) and through bare Polls.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "adapters/kafka/kafka_event_log.h"
#include "engine/metrics.h"
#include "events/codec.h"
#include "projections/memory_kv_store.h"
#include "projections/projector.h"

namespace clawvisor {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Event(int i, int32_t partition, size_t size) {
  v1::Envelope e;
  e.set_event_id("evt-" + std::to_string(i));
  e.set_account_id("acc_" + std::to_string(i));
  e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
  e.set_aggregate_id(e.account_id());
  e.set_aggregate_version(1);
  e.set_occurred_at_us(1'700'000'000'000'000 + i);
  e.set_command_id("cmd-" + std::to_string(i));
  e.set_schema_version(kSchemaVersion);
  e.mutable_account_registered()->set_display_name_masked("bench");
  std::string bytes = EncodeEnvelope(e);
  if (bytes.size() < size) {
    e.mutable_account_registered()->set_display_name_masked(
        std::string(size - bytes.size() + 5, 'x'));
    bytes = EncodeEnvelope(e);
  }
  (void)partition;
  return bytes;
}

int Main(int argc, char** argv) {
  std::string bootstrap;
  int records = 20000;
  size_t record_size = 256;
  int concurrency = 64;
  int32_t partitions = 4;
  bool consume = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--bootstrap-servers") bootstrap = value;
    if (flag == "--records") records = std::stoi(value);
    if (flag == "--record-size") record_size = std::stoul(value);
    if (flag == "--concurrency") concurrency = std::stoi(value);
    if (flag == "--partitions") partitions = std::stoi(value);
    if (flag == "--consume") consume = value != "0";
  }
  if (bootstrap.empty() || records < 1 || concurrency < 1) {
    std::fprintf(stderr,
                 "usage: kafka_bench --bootstrap-servers B [--records N] [--record-size BYTES] "
                 "[--concurrency C] [--partitions P] [--consume 0|1]\n");
    return 64;
  }
  KafkaEventLogOptions options;
  options.bootstrap_servers = bootstrap;
  auto log = KafkaEventLog::Open(options);
  if (!log) {
    std::fprintf(stderr, "kafka_bench: %s\n", log.error().ToString().c_str());
    return 69;
  }
  std::vector<std::string> values;
  values.reserve(static_cast<size_t>(records));
  size_t total_bytes = 0;
  for (int i = 0; i < records; ++i) {
    values.push_back(Event(i, i % partitions, record_size));
    total_bytes += values.back().size();
  }

  // ---- append: C threads, one record per Append
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(concurrency));
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      for (int i = next++; i < records; i = next++) {
        OutgoingRecord r{std::string(kEventsTopic),
                         i % partitions,
                         "acc_" + std::to_string(i),
                         values[static_cast<size_t>(i)],
                         {},
                         0};
        const auto t0 = Clock::now();
        if (!(*log)->Append(std::span(&r, 1))) ++failures;
        latencies[static_cast<size_t>(t)].push_back(Seconds(Clock::now() - t0) * 1000);
      }
    });
  }
  for (auto& th : threads) th.join();
  const double append_s = Seconds(Clock::now() - started);
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all[static_cast<size_t>(p * static_cast<double>(all.size() - 1))];
  };
  double sum = 0;
  for (double x : all) sum += x;
  const auto stats = (*log)->GetStats();
  std::printf(
      "clawvisor KafkaEventLog.Append: %d records, %.0f B avg, %d threads: %.1f records/s "
      "(%.2f MB/s), latency avg %.2f ms, p50 %.2f ms, p99 %.2f ms, max %.2f ms; %llu "
      "transactions (%.1f records each), %d failures\n",
      records, static_cast<double>(total_bytes) / records, concurrency, records / append_s,
      static_cast<double>(total_bytes) / append_s / 1e6, sum / static_cast<double>(all.size()),
      pct(0.5), pct(0.99), all.back(), static_cast<unsigned long long>(stats.transactions),
      static_cast<double>(stats.requests) /
          static_cast<double>(std::max<uint64_t>(1, stats.transactions)),
      failures.load());

  if (!consume) return failures.load() == 0 ? 0 : 1;
  // ---- consume: bare Polls over every partition, then a full projection replay
  {
    auto reader = KafkaEventLog::Open(options);
    if (!reader) return 69;
    std::vector<Position> positions;
    for (int32_t p = 0; p < partitions; ++p)
      positions.push_back({{std::string(kEventsTopic), p}, 0});
    size_t seen = 0;
    const auto t0 = Clock::now();
    while (seen < static_cast<size_t>(records)) {
      auto got = (*reader)->Poll(positions, 4096, std::chrono::milliseconds(5000));
      if (!got || got->empty()) break;
      for (const Record& r : *got) {
        for (Position& p : positions) {
          if (p.tp.partition == r.partition) p.next_offset = r.offset + 1;
        }
      }
      seen += got->size();
    }
    const double s = Seconds(Clock::now() - t0);
    std::printf(
        "clawvisor KafkaEventLog.Poll (read_committed): %zu records in %.2f s: %.1f records/s "
        "(%.2f MB/s)\n",
        seen, s, static_cast<double>(seen) / s,
        static_cast<double>(total_bytes) * static_cast<double>(seen) / records / s / 1e6);
  }
  {
    auto reader = KafkaEventLog::Open(options);
    if (!reader) return 69;
    MemoryKvStore store;
    MetricsRegistry metrics;
    SystemClock projector_clock;
    Projector projector(store, nullptr, metrics, nullptr, projector_clock);
    const auto t0 = Clock::now();
    auto ok = projector.CatchUp(**reader, nullptr);
    const double s = Seconds(Clock::now() - t0);
    if (!ok) {
      std::fprintf(stderr, "kafka_bench: projection: %s\n", ok.error().ToString().c_str());
      return 1;
    }
    std::printf(
        "clawvisor Projector.CatchUp (KafkaEventLog -> in-memory read models): %d events in %.2f "
        "s: %.1f events/s\n",
        records, s, records / s);
  }
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace clawvisor

int main(int argc, char** argv) { return clawvisor::Main(argc, argv); }
