// Runs the EventLog contract suite (tests/contract/event_log_contract.h) against LocalEventLog,
// each test on a fresh database in its own temporary directory.

#include <memory>

#include "adapters/rocksdb/local_event_log.h"
#include "tests/contract/event_log_contract.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

class LocalEventLogUnderTest : public contract::EventLogUnderTest {
 public:
  explicit LocalEventLogUnderTest(const contract::EventLogContractSpec& spec)
      : partitions_(spec.partitions) {}

  Result<std::unique_ptr<EventLog>> Open() override {
    LocalEventLogOptions options;
    options.path = dir_.Sub("log");
    options.topics = {{std::string(kCommandsTopic), partitions_},
                      {std::string(kEventsTopic), partitions_}};
    auto log = LocalEventLog::Open(options);
    if (!log) return std::unexpected(log.error());
    return std::unique_ptr<EventLog>(std::move(*log));
  }

 private:
  testing::TempDir dir_;
  int32_t partitions_;
};

CLAWVISOR_EVENT_LOG_CONTRACT(LocalEventLog,
                             [](const contract::EventLogContractSpec& spec)
                                 -> std::unique_ptr<contract::EventLogUnderTest> {
                               return std::make_unique<LocalEventLogUnderTest>(spec);
                             });

}  // namespace
}  // namespace clawvisor
