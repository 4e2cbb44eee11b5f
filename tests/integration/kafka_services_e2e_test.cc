// The Kafka deployment end to end (#5): two `clawvisor processor`, one `clawvisor project` and
// one `clawvisor api`, each its own process, on a real broker. The web tier's requests go through
// the API; one processor is killed with SIGKILL and the other takes its partitions; every later
// command succeeds, every command is decided exactly once, the secrets planted on the way appear
// nowhere in plaintext, and an erasure decided by one process destroys the keys of all of them.

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/kafka/kafka_event_log.h"
#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "engine/domain/host_registry.h"
#include "engine/partitioner.h"
#include "events/codec.h"
#include "projections/shared_vault_store.h"
#include "tests/support/files.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

using testing::HttpRequest;
using testing::HttpResponse;
using testing::ParseJson;
using testing::ServiceProcess;

constexpr int32_t kPartitions = 4;

class KafkaServicesE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::KafkaCluster>(dir_.path() / "kafka", 1);
    ASSERT_TRUE(cluster_->ok());
    // The operator's librdkafka properties reach every client (TLS and SASL go here in
    // production; this broker is plaintext, so harmless ones).
    kafka_config_ = dir_.path() / "kafka.properties";
    std::ofstream(kafka_config_)
        << "# e2e\nclient.id=clawvisor-e2e\nsocket.keepalive.enable=true\n";
    std::filesystem::permissions(
        kafka_config_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
        std::filesystem::perm_options::replace);
    auto init = testing::RunClawvisor({"kafka", "init", "--kafka-config", kafka_config_.string(),
                                       "--bootstrap-servers", cluster_->bootstrap(), "--partitions",
                                       std::to_string(kPartitions), "--replication-factor", "1",
                                       "--min-insync-replicas", "1"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    key_file_ = dir_.path() / "master.key";
    std::ofstream(key_file_)
        << "6b1d0c5e4f3a29187766554433221100ffeeddccbbaa99887766554433221100\n";
    std::filesystem::permissions(
        key_file_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  std::unique_ptr<ServiceProcess> Service(const std::string& name, std::vector<std::string> args,
                                          const std::string& ready = "ready") {
    args.insert(args.end(), {"--kafka-config", kafka_config_.string(), "--bootstrap-servers",
                             cluster_->bootstrap(), "--master-key-file", key_file_.string(),
                             "--data-dir", (dir_.path() / name).string()});
    return std::make_unique<ServiceProcess>(std::move(args), dir_.path() / (name + ".log"), ready);
  }

  HttpResponse Post(const std::string& target, const std::string& body) {
    return HttpRequest(api_->port(), "POST", target, body);
  }

  // Submits until decided: a 202 (not decided within the API's wait, e.g. while the group moves
  // a dead processor's partitions) is retried with the same command id, as a web tier does.
  HttpResponse PostUntilDecided(const std::string& target, const std::string& body) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (;;) {
      HttpResponse r = Post(target, body);
      if (r.status != 202 || std::chrono::steady_clock::now() > deadline) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

  // Every committed event of the events topic, partition by partition.
  std::vector<v1::Envelope> ReadAllEvents() {
    std::vector<v1::Envelope> out;
    KafkaEventLogOptions options;
    options.bootstrap_servers = cluster_->bootstrap();
    auto reader = KafkaEventLog::Open(options);
    EXPECT_TRUE(reader) << reader.error().ToString();
    if (!reader) return out;
    for (int32_t p = 0; p < kPartitions; ++p) {
      for (int64_t next = 0;;) {
        auto records = (*reader)->Read({std::string(kEventsTopic), p}, next, 1000);
        EXPECT_TRUE(records) << records.error().ToString();
        if (!records || records->empty()) break;
        for (const Record& r : *records) {
          if (auto e = DecodeEnvelope(r.value)) out.push_back(std::move(*e));
          next = r.offset + 1;
        }
      }
    }
    return out;
  }

  void TearDown() override {
    // Nothing may outlive the test: end a QEMU left in our VM directory, by its pid file.
    if (vm_dir_.empty() || !std::filesystem::exists(vm_dir_)) return;
    for (const auto& e : std::filesystem::directory_iterator(vm_dir_)) {
      const std::string pid = testing::ReadFile(e.path() / "qemu.pid");
      if (pid.empty()) continue;
      const std::string cmdline =
          testing::ReadFile("/proc/" + std::to_string(std::stoi(pid)) + "/cmdline");
      if (cmdline.find(vm_dir_) != std::string::npos) ::kill(std::stoi(pid), SIGKILL);
    }
    std::filesystem::remove_all(vm_dir_);
  }

  bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  bool LogHas(const std::string& name, const std::string& text) {
    return testing::ReadFile(dir_.path() / (name + ".log")).find(text) != std::string::npos;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::KafkaCluster> cluster_;
  std::filesystem::path key_file_;
  std::filesystem::path kafka_config_;
  std::unique_ptr<ServiceProcess> api_;
  std::string vm_dir_;
};

TEST_F(KafkaServicesE2eTest, TwoProcessorsApiAndProjectorSurviveAProcessorKill) {
  auto projector = Service("project", {"project"});
  projector->Start();
  ASSERT_FALSE(HasFailure());
  auto a = Service("processor-a", {"processor", "--transactional-id", "proc-a", "--metrics-listen",
                                   "127.0.0.1:0"});
  auto b = Service("processor-b", {"processor", "--transactional-id", "proc-b"});
  a->Start();
  b->Start();
  ASSERT_FALSE(HasFailure());
  api_ = Service("api",
                 {"api", "--projections", (dir_.path() / "project" / "projections").string(),
                  "--listen", "127.0.0.1:0", "--insecure-http", "--command-wait-ms", "30000"},
                 "listening");
  api_->Start();
  ASSERT_FALSE(HasFailure());
  // Both processors own partitions before anything is sent.
  const auto joined = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(LogHas("processor-a", "partition assigned") &&
           LogHas("processor-b", "partition assigned")) &&
         std::chrono::steady_clock::now() < joined) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(LogHas("processor-a", "partition assigned"));
  ASSERT_TRUE(LogHas("processor-b", "partition assigned"));
  EXPECT_EQ(HttpRequest(api_->port(), "GET", "/readyz").status, 200);
  // The processor serves its metrics for an operator's scraper.
  {
    const std::string log = testing::ReadFile(dir_.path() / "processor-a.log");
    const auto at = log.find("\"metrics_port\":");
    ASSERT_NE(at, std::string::npos);
    const auto metrics_port = static_cast<uint16_t>(std::stoi(log.substr(at + 15)));
    ASSERT_GT(metrics_port, 0);
    auto metrics = HttpRequest(metrics_port, "GET", "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("clawvisor_"), std::string::npos) << metrics.body;
    EXPECT_EQ(HttpRequest(metrics_port, "GET", "/readyz").status, 200);
    EXPECT_EQ(HttpRequest(metrics_port, "GET", "/nope").status, 404);
  }

  // Accounts on every partition, each with a password, an instance and a credential: secrets
  // sealed by the API, opened and sealed again by a processor, read back by the projector.
  std::vector<std::string> canaries;
  std::map<std::string, std::string> email_of;  // account -> email
  std::set<int32_t> partitions;
  std::vector<std::string> accounts;
  std::set<std::string> submitted;  // account/command id
  for (int i = 0; partitions.size() < kPartitions && i < 48; ++i) {
    const std::string email = "user" + std::to_string(i) + "@example.com";
    const std::string password = "Canary-Passphrase-" + std::to_string(i) + "-Kq7";
    canaries.push_back(password);
    const std::string id = "reg-" + std::to_string(i);
    auto r = PostUntilDecided("/v1/accounts", R"({"command_id":")" + id +
                                                  R"(","register_account":{"email":")" + email +
                                                  R"(","password":")" + password + R"("}})");
    ASSERT_EQ(r.status, 201) << r.body;
    auto outcome = ParseJson<v1::CommandOutcome>(r.body);
    accounts.push_back(outcome.account_id());
    email_of[outcome.account_id()] = email;
    partitions.insert(outcome.partition());
    submitted.insert(outcome.account_id() + "/" + id);
  }
  ASSERT_EQ(partitions.size(), static_cast<size_t>(kPartitions));
  for (size_t i = 0; i < accounts.size(); ++i) {
    const std::string base = "/v1/accounts/" + accounts[i] + "/instances";
    auto created = PostUntilDecided(
        base, R"({"command_id":"ci-1","create_instance":{"instance_id":"ins_one","name":"one"}})");
    ASSERT_EQ(created.status, 201) << created.body;
    submitted.insert(accounts[i] + "/ci-1");
    const std::string secret = "sk-canary-credential-" + std::to_string(i) + "-Xw3Lp9Qz";
    canaries.push_back(secret);
    auto set = PostUntilDecided(base + "/ins_one/credentials",
                                R"({"command_id":"cred-1","set_credential":{"name":"openai",)"
                                R"("kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":")" +
                                    secret + R"("}})");
    ASSERT_EQ(set.status, 200) << set.body;
    submitted.insert(accounts[i] + "/cred-1");
  }
  // A sign-in: the API checks a password hash that a processor sealed under its own key.
  auto login =
      Post("/v1/sessions", R"({"command_id":"login-1","login":{"email":")" + email_of[accounts[0]] +
                               R"(","password":"Canary-Passphrase-0-Kq7"}})");
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_NE(login.body.find("session_token"), std::string::npos);
  submitted.insert(accounts[0] + "/login-1");

  // Kill processor A; B takes every partition and every later command succeeds.
  a->Kill();
  for (size_t i = 0; i < accounts.size(); ++i) {
    const std::string base = "/v1/accounts/" + accounts[i] + "/instances";
    auto created = PostUntilDecided(
        base, R"({"command_id":"ci-2","create_instance":{"instance_id":"ins_two","name":"two"}})");
    ASSERT_EQ(created.status, 201) << created.body;
    submitted.insert(accounts[i] + "/ci-2");
    // Read-your-writes across processes: the answer came once the read models showed it.
    auto list = HttpRequest(api_->port(), "GET", base);
    ASSERT_EQ(list.status, 200);
    EXPECT_EQ(ParseJson<v1::InstanceList>(list.body).instances_size(), 2) << list.body;
  }
  EXPECT_TRUE(LogHas("processor-b", R"("count":4)")) << "B never held every partition";

  // The web tier may also produce a command without secrets straight to the commands topic (the
  // record format of ARCHITECTURE.md); the processor decides it and the API shows its effect.
  {
    KafkaEventLogOptions producer_options;
    producer_options.bootstrap_servers = cluster_->bootstrap();
    auto producer = KafkaEventLog::Open(producer_options);
    ASSERT_TRUE(producer) << producer.error().ToString();
    v1::Command start;
    start.set_command_id("direct-start-1");
    start.set_account_id(accounts[2]);
    start.set_schema_version(kSchemaVersion);
    // The actor the web tier stamps as a service (the API's development caller, here).
    start.mutable_actor()->set_kind(v1::Actor::KIND_SERVICE);
    start.mutable_actor()->set_id("local");
    start.mutable_actor()->set_role(v1::ROLE_OWNER);
    start.mutable_start_instance()->set_instance_id("ins_one");
    OutgoingRecord record;
    record.topic = std::string(kCommandsTopic);
    record.partition = PartitionFor(accounts[2], kPartitions);
    record.key = accounts[2];
    record.value = EncodeCommand(start);
    ASSERT_TRUE((*producer)->Append(std::span(&record, 1)));
    submitted.insert(accounts[2] + "/direct-start-1");
    const std::string target = "/v1/accounts/" + accounts[2] + "/commands/direct-start-1";
    HttpResponse decided;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    do {
      decided = HttpRequest(api_->port(), "GET", target);
      if (decided.status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < until);
    ASSERT_EQ(decided.status, 200) << decided.body;
    EXPECT_TRUE(ParseJson<v1::CommandOutcome>(decided.body).accepted()) << decided.body;
    auto instance =
        HttpRequest(api_->port(), "GET", "/v1/accounts/" + accounts[2] + "/instances/ins_one");
    EXPECT_EQ(ParseJson<v1::InstanceView>(instance.body).desired_state(), "running")
        << instance.body;
  }

  // Erasure, decided by B, destroys the keys every process holds for the account.
  const std::string erased = accounts[1];
  auto erase = PostUntilDecided("/v1/accounts/" + erased + "/erase", R"({"command_id":"erase-1"})");
  ASSERT_EQ(erase.status, 200) << erase.body;
  submitted.insert(erased + "/erase-1");
  EXPECT_EQ(HttpRequest(api_->port(), "GET", "/v1/accounts/" + erased).status, 404);
  // The API learns it from the keys topic (its reader's interval), then refuses to seal for it.
  const std::string forgotten = R"("account_id":")" + erased + R"(")";
  const auto learned = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!LogHas("api", "account keys destroyed by another process\"," + forgotten) &&
         std::chrono::steady_clock::now() < learned) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Post("/v1/accounts/" + erased + "/instances/ins_one/credentials",
                 R"({"command_id":"cred-9","set_credential":{"name":"x",)"
                 R"("kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":"sk-after-erasure-123456"}})")
                .status,
            410);

  // Every command decided exactly once (a read_committed reader of the events topic).
  KafkaEventLogOptions reader_options;
  reader_options.bootstrap_servers = cluster_->bootstrap();
  auto reader = KafkaEventLog::Open(reader_options);
  ASSERT_TRUE(reader) << reader.error().ToString();
  std::map<std::string, std::set<int64_t>> decisions;
  std::map<std::string, std::string> latest_key_values;
  for (int32_t p = 0; p < kPartitions; ++p) {
    int64_t next = 0;
    for (;;) {
      auto records = (*reader)->Read({std::string(kEventsTopic), p}, next, 1000);
      ASSERT_TRUE(records) << records.error().ToString();
      if (records->empty()) break;
      for (const Record& r : *records) {
        auto e = DecodeEnvelope(r.value);
        ASSERT_TRUE(e);
        decisions[e->account_id() + "/" + e->command_id()].insert(e->occurred_at_us());
        next = r.offset + 1;
      }
    }
    next = 0;
    for (;;) {
      auto records = (*reader)->Read({std::string(kKeysTopic), p}, next, 1000);
      ASSERT_TRUE(records) << records.error().ToString();
      if (records->empty()) break;
      for (const Record& r : *records) {
        latest_key_values[r.key] = r.value;
        next = r.offset + 1;
      }
    }
  }
  for (const std::string& id : submitted) {
    auto it = decisions.find(id);
    ASSERT_NE(it, decisions.end()) << id << " was never decided";
    EXPECT_EQ(it->second.size(), 1u) << id << " was decided " << it->second.size() << " times";
  }
  // The erased account's wrapped keys (the API's and the processors') are superseded on the keys
  // topic; compaction drops their bytes.
  size_t erased_keys = 0;
  for (const auto& [key, value] : latest_key_values) {
    if (key.starts_with("keyvault/dk/" + erased + std::string(1, '\0'))) {
      EXPECT_TRUE(SharedVaultStore::IsDestroyedValue(value))
          << "a wrapped key of the erased account is still current";
      ++erased_keys;
    }
  }
  EXPECT_GE(erased_keys, 2u) << "the API's and a processor's keys";

  EXPECT_EQ(api_->Stop(), 0);
  EXPECT_EQ(b->Stop(), 0);
  EXPECT_EQ(projector->Stop(), 0);

  // No canary in plaintext: not in any process's log, data directory, or the broker's files.
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  ASSERT_GT(files.size(), 20u);
  for (const auto& file : files) {
    const std::string bytes = testing::ReadFile(file);
    for (const std::string& canary : canaries) {
      EXPECT_EQ(bytes.find(canary), std::string::npos) << canary << " in " << file;
    }
  }
}

// `clawvisor reconcile` on Kafka: the reconciler as its own service beside a processor, a
// projector and an API, driving a real microVM; killed and restarted, it adopts the VM.
TEST_F(KafkaServicesE2eTest, ReconcilerServiceDrivesAMicroVmOverKafka) {
  const std::string guest =
      testing::Shell(testing::SourceDir() + "/ops/guest/build.sh 2>&1 | tail -1");
  ASSERT_TRUE(std::filesystem::exists(guest + "/initramfs.cpio.gz")) << guest;
  vm_dir_ = "/tmp/cvkr-" + std::to_string(::getpid());
  const std::string canary = "sk-canary-kafka-" + std::to_string(::getpid()) + "Vq8";
  const std::string projections = (dir_.path() / "project" / "projections").string();
  auto projector = Service("project", {"project"});
  auto processor = Service("processor", {"processor", "--transactional-id", "proc-1"});
  projector->Start();
  processor->Start();
  ASSERT_FALSE(HasFailure());
  api_ = Service("api",
                 {"api", "--projections", projections, "--listen", "127.0.0.1:0", "--insecure-http",
                  "--command-wait-ms", "30000"},
                 "listening");
  api_->Start();
  const std::vector<std::string> reconcile_args = {
      "reconcile", "--host",          "host-1",      "--projections", projections,
      "--vm-dir",  vm_dir_,           "--guest-dir", guest,           "--health-interval-ms",
      "500",       "--boot-grace-ms", "20000"};
  auto reconciler = Service("reconcile", reconcile_args);
  reconciler->Start(std::chrono::seconds(120));
  // A second host, too small for the instance: the registry must place it on host-1.
  const std::string small_vm_dir = vm_dir_ + "-h2";
  auto small_host = Service(
      "reconcile-2", {"reconcile", "--host", "host-2", "--projections", projections, "--vm-dir",
                      small_vm_dir, "--guest-dir", guest, "--capacity-memory-mib", "128"});
  small_host->Start(std::chrono::seconds(120));
  ASSERT_FALSE(HasFailure());

  auto reg = PostUntilDecided(
      "/v1/accounts",
      R"({"command_id":"reg-1","register_account":{"email":"o@example.com","plan":"PLAN_STANDARD"}})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  const std::string account = testing::JsonStringMember(reg.body, "account_id");
  const std::string base = "/v1/accounts/" + account + "/instances";
  auto created = PostUntilDecided(
      base,
      R"({"command_id":"mk","create_instance":{"instance_id":"ins_vm","name":"bot","spec":{"memory_mib":256,"disk_mib":64}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string token = testing::JsonStringMember(created.body, "gateway_token");
  ASSERT_FALSE(token.empty()) << created.body;
  auto cred = PostUntilDecided(
      base + "/ins_vm/credentials",
      R"({"command_id":"cred","set_credential":{"name":"openai","kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":")" +
          canary + R"("}})");
  ASSERT_EQ(cred.status, 200) << cred.body;
  ASSERT_EQ(PostUntilDecided(base + "/ins_vm/start", R"({"command_id":"go"})").status, 200);

  auto observed = [&] {
    auto r = HttpRequest(api_->port(), "GET", base + "/ins_vm");
    return testing::JsonStringMember(r.body, "observed_state");
  };
  ASSERT_TRUE(WaitFor([&] { return observed() == "VM_STATE_RUNNING"; }, std::chrono::seconds(150)))
      << observed() << "\n"
      << testing::ReadFile(dir_.path() / "reconcile.log");
  std::string vm;
  for (const auto& e : std::filesystem::directory_iterator(vm_dir_)) {
    if (e.is_directory()) vm = e.path().string();
  }
  ASSERT_FALSE(vm.empty());
  EXPECT_EQ(
      testing::JsonStringMember(HttpRequest(api_->port(), "GET", base + "/ins_vm").body, "host_id"),
      "host-1");
  EXPECT_TRUE(!std::filesystem::exists(small_vm_dir) || std::filesystem::is_empty(small_vm_dir));
  const auto port = static_cast<uint16_t>(std::stoi(testing::ReadFile(vm + "/port")));
  const int qemu_pid = std::stoi(testing::ReadFile(vm + "/qemu.pid"));
  // The guest got the credential the API sealed, opened by the reconciler through the shared
  // vault (its hash, asked with the gateway token).
  const std::string sha =
      testing::Shell("printf '%s' '" + canary + "' | sha256sum | cut -d' ' -f1");
  auto inside = HttpRequest(port, "GET", "/v1/credentials/openai", "", "",
                            {{"Authorization", "Bearer " + token}});
  EXPECT_NE(inside.body.find(sha), std::string::npos) << inside.body;

  // Kill the reconciler while the VM runs: the VM survives and the restarted one adopts it.
  reconciler->Kill();
  EXPECT_EQ(::kill(qemu_pid, 0), 0);
  reconciler->Start(std::chrono::seconds(120));
  ASSERT_FALSE(HasFailure());
  std::this_thread::sleep_for(std::chrono::seconds(3));  // several health rounds
  EXPECT_EQ(::kill(qemu_pid, 0), 0);
  EXPECT_EQ(std::stoi(testing::ReadFile(vm + "/qemu.pid")), qemu_pid);
  EXPECT_EQ(observed(), "VM_STATE_RUNNING");

  // Delete: the VM ends and its directory is gone.
  ASSERT_EQ(PostUntilDecided(base + "/ins_vm/delete", R"({"command_id":"rm"})").status, 200);
  ASSERT_TRUE(WaitFor([&] { return !std::filesystem::exists(vm); }, std::chrono::seconds(60)));
  EXPECT_TRUE(WaitFor([&] { return ::kill(qemu_pid, 0) != 0; }, std::chrono::seconds(10)));

  // The host registry's trail: both hosts registered (host-1 twice: it restarted), the instance
  // scheduled once, on host-1, and its room given back after the delete.
  auto registry_events = [&] {
    std::map<std::string, std::vector<v1::Envelope>> by_type;
    for (const v1::Envelope& e : ReadAllEvents()) {
      if (e.account_id() == kHostRegistryAccountId) {
        by_type[std::string(EventTypeName(e))].push_back(e);
      }
    }
    return by_type;
  };
  ASSERT_TRUE(WaitFor([&] { return registry_events()["placement_released"].size() == 1; },
                      std::chrono::seconds(60)));
  auto trail = registry_events();
  std::map<std::string, int> registered;
  for (const auto& e : trail["host_registered"]) ++registered[e.aggregate_id()];
  EXPECT_EQ(registered["host-1"], 2);
  EXPECT_EQ(registered["host-2"], 1);
  ASSERT_EQ(trail["instance_scheduled"].size(), 1u);
  EXPECT_EQ(trail["instance_scheduled"][0].aggregate_id(), "host-1");
  EXPECT_EQ(trail["instance_scheduled"][0].instance_scheduled().instance_account_id(), account);
  EXPECT_TRUE(trail["instance_queued"].empty());
  EXPECT_EQ(small_host->Stop(), 0);
  std::filesystem::remove_all(small_vm_dir);
  EXPECT_EQ(reconciler->Stop(), 0);
  EXPECT_EQ(api_->Stop(), 0);

  // Neither the canary nor the token in any log, data directory or broker file.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = testing::ReadFile(entry.path());
    EXPECT_EQ(bytes.find(canary), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find(token), std::string::npos) << entry.path();
  }
}

}  // namespace
}  // namespace clawvisor
