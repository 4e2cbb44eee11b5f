#include "engine/reconcile/reconciler_service.h"

#include <algorithm>

#include "engine/logging.h"
#include "engine/run_loop.h"
#include "events/codec.h"

namespace clawvisor {
namespace {
constexpr std::string_view kComponent = "reconciler";
}

ReconcilerService::ReconcilerService(EventLog& log, Reconciler& reconciler, Clock& clock,
                                     std::chrono::milliseconds max_poll)
    : log_(log), reconciler_(reconciler), clock_(clock), max_poll_(max_poll) {}

Result<size_t> ReconcilerService::ApplyRecords(const std::vector<Record>& records) {
  for (const Record& record : records) {
    auto event = DecodeEnvelope(record.value);
    if (!event) {
      return MakeError(event.error().code, "events partition " + std::to_string(record.partition) +
                                               " offset " + std::to_string(record.offset) + ": " +
                                               event.error().message);
    }
    reconciler_.Apply(*event);
    for (Position& p : positions_) {
      if (p.tp.partition == record.partition) p.next_offset = record.offset + 1;
    }
  }
  return records.size();
}

Status ReconcilerService::CatchUp() {
  auto count = log_.PartitionCount(kEventsTopic);
  if (!count) return std::unexpected(count.error());
  positions_.clear();
  size_t applied = 0;
  for (int32_t p = 0; p < *count; ++p) {
    TopicPartition tp{std::string(kEventsTopic), p};
    auto end = log_.EndOffset(tp);
    if (!end) return std::unexpected(end.error());
    positions_.push_back(Position{tp, 0});
    while (positions_.back().next_offset < *end) {
      auto batch = log_.Read(tp, positions_.back().next_offset, 4096);
      if (!batch) return std::unexpected(batch.error());
      if (batch->empty()) break;
      auto n = ApplyRecords(*batch);
      if (!n) return std::unexpected(n.error());
      applied += *n;
    }
  }
  Log(LogLevel::kInfo, kComponent, "caught up with the events topic",
      {{"partitions", *count}, {"events", applied}});
  return reconciler_.Start();
}

Result<bool> ReconcilerService::Step() {
  auto wait = max_poll_;
  if (auto due = reconciler_.NextDue()) {
    const auto until = std::chrono::microseconds(std::max<int64_t>(0, *due - clock_.NowUs()));
    wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(until));
  }
  auto records = log_.Poll(positions_, 1024, wait);
  if (!records) return std::unexpected(records.error());
  auto applied = ApplyRecords(*records);
  if (!applied) return std::unexpected(applied.error());
  const size_t ran = reconciler_.RunDue();
  return *applied == 0 && ran == 0;
}

void ReconcilerService::Run(std::stop_token stop) {
  bool caught_up = false;
  RunUntilStopped(stop, kComponent, [&]() -> Result<bool> {
    if (!caught_up) {
      if (auto ok = CatchUp(); !ok) return std::unexpected(ok.error());
      caught_up = true;
    }
    return Step();
  });
}

}  // namespace clawvisor
