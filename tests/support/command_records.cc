#include "tests/support/command_records.h"

#include "engine/command/seal_fields.h"
#include "engine/partitioner.h"
#include "events/codec.h"

namespace clawvisor::testing {
namespace {

v1::Command WebTierCommand(const std::string& account, const std::string& command_id) {
  v1::Command c;
  c.set_command_id(command_id);
  c.set_account_id(account);
  c.set_schema_version(kSchemaVersion);
  c.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
  return c;
}

}  // namespace

v1::Command RegisterCommand(const std::string& account, const std::string& command_id) {
  v1::Command c = WebTierCommand(account, command_id);
  c.mutable_register_account()->set_email(account + "@example.com");
  return c;
}

v1::Command CreateInstanceCommand(const std::string& account, const std::string& command_id,
                                  const std::string& instance) {
  v1::Command c = WebTierCommand(account, command_id);
  c.mutable_create_instance()->set_instance_id(instance);
  c.mutable_create_instance()->set_name("bot");
  return c;
}

Result<OutgoingRecord> CommandRecord(v1::Command command, Sealer& sealer, int32_t partitions) {
  if (auto ok = SealCommandSecrets(command, sealer); !ok) return std::unexpected(ok.error());
  OutgoingRecord r;
  r.topic = std::string(kCommandsTopic);
  r.partition = PartitionFor(command.account_id(), partitions);
  r.key = command.account_id();
  r.value = EncodeCommand(command);
  return r;
}

}  // namespace clawvisor::testing
