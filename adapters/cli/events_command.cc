#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <vector>

#include "adapters/cli/cli_support.h"
#include "adapters/cli/embedded_node.h"
#include "adapters/cli/flags.h"
#include "adapters/cli/subcommands.h"
#include "events/codec.h"

namespace clawvisor::cli {
namespace {

constexpr std::string_view kEventsHelp = R"(Usage: clawvisor events dump|tail [flags]

Prints events of the embedded log as JSON lines: {"partition":P,"offset":O,"event":{...}}.
Sealed fields print as ciphertext; nothing is decrypted. Stop `clawvisor serve` first
(the log is opened exclusively).

Flags:
  --data-dir DIR         state directory (as for serve)
  --account ID           only this account's events
  --partition N          only this partition
  --from OFFSET          start offset in each partition (default 0; tail: the end)
  --limit N              stop after N events (dump)
  --help                 this help
)";

}  // namespace

int Events(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kEventsHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string verb = args[0];
  if (verb != "dump" && verb != "tail")
    return UsageError("unknown events command " + verb, kEventsHelp);
  auto flags = Flags::Parse(
      {args.begin() + 1, args.end()},
      {{"data-dir"}, {"account"}, {"partition"}, {"from"}, {"limit"}, {"help", false}});
  if (!flags) return UsageError(flags.error().message, kEventsHelp);
  if (flags->Has("help")) {
    std::cout << kEventsHelp;
    return kExitOk;
  }
  auto limit = flags->GetInt("limit", INT64_MAX, 1, INT64_MAX);
  if (!limit) return UsageError(limit.error().message, kEventsHelp);
  auto from = flags->GetInt("from", verb == "tail" ? -1 : 0, 0, INT64_MAX);
  if (!from) return UsageError(from.error().message, kEventsHelp);
  const auto data_dir = flags->Get("data-dir").value_or(DefaultDataDir().string());
  auto log = OpenLocalLog(data_dir, 16, /*create=*/false);
  if (!log) return Fail(log.error());
  auto count = (*log)->PartitionCount(kEventsTopic);
  if (!count) return Fail(count.error());
  auto only_partition = flags->GetInt("partition", -1, 0, *count - 1);
  if (!only_partition) return UsageError(only_partition.error().message, kEventsHelp);
  const auto account = flags->Get("account");

  std::vector<Position> positions;
  for (int32_t p = 0; p < *count; ++p) {
    if (*only_partition >= 0 && p != *only_partition) continue;
    const TopicPartition tp{std::string(kEventsTopic), p};
    int64_t start = *from;
    if (start < 0) {
      auto end = (*log)->EndOffset(tp);
      if (!end) return Fail(end.error());
      start = *end;
    }
    positions.push_back({tp, start});
  }
  if (verb == "tail") {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    ::signal(SIGPIPE, SIG_IGN);
  }
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  int64_t printed = 0;
  while (printed < *limit) {
    auto records = verb == "tail" ? (*log)->Poll(positions, 1024, std::chrono::milliseconds(500))
                                  : (*log)->Poll(positions, 1024, std::chrono::milliseconds(0));
    if (!records) return Fail(records.error());
    if (records->empty()) {
      if (verb == "dump") break;
      continue;
    }
    for (const Record& r : *records) {
      for (auto& pos : positions)
        if (pos.tp.partition == r.partition) pos.next_offset = r.offset + 1;
      auto event = DecodeEnvelope(r.value);
      if (!event) return Fail(event.error());
      if (account && event->account_id() != *account) continue;
      std::string body;
      (void)google::protobuf::util::MessageToJsonString(*event, &body, json);
      std::cout << "{\"partition\":" << r.partition << ",\"offset\":" << r.offset
                << ",\"event\":" << body << "}\n";
      if (!std::cout) return kExitIoErr;
      if (++printed >= *limit) break;
    }
    std::cout.flush();
  }
  return kExitOk;
}

}  // namespace clawvisor::cli
