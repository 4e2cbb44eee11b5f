// The audit export benchmark's log generator. ops/bench/audit_export_bench.py runs it, then
// times `clawvisor audit export` beside DuckDB's `COPY (...) TO ... (FORMAT CSV)` over the same
// rows, one thread each, and prints both.
//
//   audit_export_bench generate --data-dir DIR [--events N] [--account ID]
//
// Writes N events of one account (a realistic mix: instance lifecycle, logins, refusals,
// registrations with a sealed email, credentials) into DIR's embedded log, as `serve` would
// lay them out (4 partitions, a key vault, one event per millisecond).

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "adapters/cli/embedded_node.h"
#include "engine/partitioner.h"
#include "events/codec.h"

namespace clawvisor {
namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: audit_export_bench generate --data-dir DIR [--events N] [--account ID]\n"
               "Run ops/bench/audit_export_bench.py for the benchmark itself.\n");
  return 64;
}

int Generate(const std::string& dir, int64_t events, const std::string& account) {
  std::filesystem::create_directories(dir);
  auto log = OpenLocalLog(dir, 4, /*create=*/true);
  if (!log) return std::fprintf(stderr, "%s\n", log.error().ToString().c_str()), 1;
  OsRandom random;
  std::unique_ptr<RocksDbStore> vault_store;
  auto vault = OpenVault(dir, std::nullopt, random, vault_store);
  if (!vault) return std::fprintf(stderr, "%s\n", vault.error().ToString().c_str()), 1;
  const int32_t partition = PartitionFor(account, 4);
  const int64_t start_us = 1'763'700'000'000'000;
  std::vector<OutgoingRecord> batch;
  for (int64_t i = 0; i < events; ++i) {
    v1::Envelope e;
    char id[64];
    std::snprintf(id, sizeof id, "0193%04llx-%04llx-7%03llx-8000-%012llx",
                  static_cast<unsigned long long>((i >> 32) & 0xffff),
                  static_cast<unsigned long long>((i >> 16) & 0xffff),
                  static_cast<unsigned long long>(i & 0xfff), static_cast<unsigned long long>(i));
    e.set_event_id(id);
    e.set_account_id(account);
    e.set_occurred_at_us(start_us + i * 1000);
    e.set_command_id("cmd-" + std::to_string(i));
    e.set_schema_version(kSchemaVersion);
    auto* actor = e.mutable_actor();
    actor->set_kind(v1::Actor::KIND_SERVICE);
    actor->set_id("web-tier");
    actor->set_role(v1::ROLE_OWNER);
    actor->set_source_ip("203.0.113." + std::to_string(i % 250));
    actor->set_user_agent("Mozilla/5.0 (X11; Linux x86_64) clawvisor-web/1.4");
    const std::string instance = "inst_" + std::to_string(i % 97);
    e.set_aggregate_type(v1::AGGREGATE_TYPE_INSTANCE);
    e.set_aggregate_id(instance);
    switch (i % 10) {
      case 0:
        e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
        e.set_aggregate_id(account);
        if (i % 1000 == 0) {
          auto* p = e.mutable_account_registered();
          auto sealed =
              (*vault)->Seal({account, id, "account_registered.email"}, "owner@example.com");
          if (!sealed) return std::fprintf(stderr, "%s\n", sealed.error().ToString().c_str()), 1;
          *p->mutable_email() = *sealed;
          p->set_plan(v1::PLAN_PRO);
          p->set_owner_user_id("usr_bench");
        } else {
          auto* p = e.mutable_login_failed();
          p->set_user_id("usr_bench");
          p->set_reason("bad_password");
          p->set_consecutive_failures(static_cast<uint32_t>(i % 5));
        }
        break;
      case 1: {
        auto* p = e.mutable_instance_created();
        p->set_name("support bot, \"eu\" #" + std::to_string(i % 97));
        p->mutable_spec()->set_vcpus(2);
        p->mutable_spec()->set_memory_mib(2048);
        p->mutable_spec()->set_disk_mib(10240);
        p->set_revision(1);
        break;
      }
      case 2:
        e.mutable_instance_start_requested();
        break;
      case 3: {
        auto* p = e.mutable_instance_started();
        p->set_host_id("host-eu-1");
        p->set_revision(1);
        e.mutable_actor()->set_kind(v1::Actor::KIND_RECONCILER);
        break;
      }
      case 4:
        e.mutable_instance_activity_observed()->set_last_activity_us(start_us + i * 1000);
        break;
      case 5: {
        auto* p = e.mutable_instance_credential_set();
        p->set_name("openai");
        p->set_kind(v1::CREDENTIAL_KIND_MODEL_API_KEY);
        p->set_last4("x9Qz");
        break;
      }
      case 6:
        e.mutable_instance_pause_requested()->set_reason("idle");
        break;
      case 7: {
        auto* p = e.mutable_instance_health_check_failed();
        p->set_consecutive_failures(1);
        p->set_detail("GET /healthz: connection refused");
        break;
      }
      case 8:
        e.mutable_instance_stop_requested()->set_immediate(i % 3 == 0);
        break;
      default: {
        e.set_aggregate_type(v1::AGGREGATE_TYPE_ACCOUNT);
        e.set_aggregate_id(account);
        auto* p = e.mutable_command_rejected();
        p->set_reason(v1::REJECTION_INVALID_STATE);
        p->set_message("only a running instance can be paused (it is stopped)");
        p->set_command_type("pause_instance");
        break;
      }
    }
    batch.push_back({std::string(kEventsTopic),
                     partition,
                     account,
                     EncodeEnvelope(e),
                     {},
                     e.occurred_at_us() / 1000});
    if (batch.size() == 10'000 || i + 1 == events) {
      if (auto ok = (*log)->Append(batch); !ok) {
        return std::fprintf(stderr, "%s\n", ok.error().ToString().c_str()), 1;
      }
      batch.clear();
    }
  }
  std::printf("generated %lld events of %s in partition %d\n", static_cast<long long>(events),
              account.c_str(), partition);
  return 0;
}

}  // namespace
}  // namespace clawvisor

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "generate") != 0) return clawvisor::Usage();
  std::string dir;
  int64_t events = 1'000'000;
  std::string account = "acct_bench";
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") return clawvisor::Usage(), 0;
    if (i + 1 >= argc) return clawvisor::Usage();
    if (flag == "--data-dir") {
      dir = argv[++i];
    } else if (flag == "--events") {
      events = std::atoll(argv[++i]);
    } else if (flag == "--account") {
      account = argv[++i];
    } else {
      return clawvisor::Usage();
    }
  }
  if (dir.empty() || events < 1) return clawvisor::Usage();
  return clawvisor::Generate(dir, events, account);
}
