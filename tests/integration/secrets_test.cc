// Secrets end to end (#3), on the real binary, real RocksDB and the real key vault:
//  - the canary test plants a distinct secret through every path that takes one, runs the whole
//    flow (a crash and restart, a rebuild, an erasure of another account) and then searches
//    every byte the project wrote or answered for each canary in plaintext;
//  - the erasure test checks that nothing sealed for an erased account opens with any key the
//    system still holds, and that queries return nothing for it.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "adapters/openssl/key_vault.h"
#include "adapters/openssl/master_key.h"
#include "adapters/posix/os_random.h"
#include "adapters/rocksdb/local_event_log.h"
#include "adapters/rocksdb/rocksdb_store.h"
#include "clawvisor/v1/commands.pb.h"
#include "clawvisor/v1/views.pb.h"
#include "engine/command/seal_fields.h"
#include "engine/domain/totp.h"
#include "events/codec.h"
#include "tests/support/files.h"
#include "tests/support/http_client.h"
#include "tests/support/json.h"
#include "tests/support/serve_process.h"
#include "tests/support/temp_dir.h"

namespace clawvisor {
namespace {

namespace fs = std::filesystem;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::JsonStringArrayMember;
using testing::JsonStringMember;
using testing::ParseJson;
using testing::ReadFile;
using testing::RunClawvisor;
using testing::ServeProcess;

// Something the project wrote or answered, to be searched: where it came from, and its bytes.
struct Output {
  std::string origin;
  std::string bytes;
};

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// Standard base64 of the first multiple-of-3 bytes (a prefix is enough to find an encoding).
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  return out;
}

// A unique suffix, so a canary cannot match anything but itself.
std::string Unique() {
  return std::to_string(::getpid()) + "x" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

class SecretsTest : public ::testing::Test {
 protected:
  fs::path data() const { return dir_.path() / "data"; }

  void StartServe() {
    serve_ = std::make_unique<ServeProcess>(data(), dir_.path() / ("serve-" + Unique() + ".log"));
    serve_->Start();
    ASSERT_FALSE(HasFailure());
  }

  // Every response is kept for the search, unless it is the one designated to show a secret.
  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", bool shows_a_secret = false) {
    HttpResponse r = HttpRequest(serve_->port(), method, target, body);
    if (!shows_a_secret) {
      outputs_.push_back({method + " " + target, r.body});
      for (const auto& [name, value] : r.headers) {
        outputs_.push_back({method + " " + target + " header " + name, value});
      }
    }
    return r;
  }
  HttpResponse Post(const std::string& target, const std::string& body,
                    bool shows_a_secret = false) {
    return Call("POST", target, body, shows_a_secret);
  }

  std::string Register(const std::string& command_id, const std::string& email) {
    auto r = Post("/v1/accounts", R"({"command_id":")" + command_id +
                                      R"(","register_account":{"email":")" + email + R"("}})");
    EXPECT_EQ(r.status, 201) << r.body;
    return ParseJson<v1::CommandOutcome>(r.body).account_id();
  }
  // Creates an instance and returns its gateway token, shown once in this response.
  std::string CreateInstance(const std::string& account, const std::string& instance) {
    auto r = Post("/v1/accounts/" + account + "/instances",
                  R"({"command_id":"mk-)" + instance + R"(","create_instance":{"instance_id":")" +
                      instance + R"(","name":"bot"}})",
                  /*shows_a_secret=*/true);
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.headers["cache-control"], "no-store");
    return JsonStringMember(r.body, "gateway_token");
  }
  void SetCredentialExpecting(const std::string& account, const std::string& instance,
                              const std::string& name, const std::string& value, int status) {
    auto r = Post("/v1/accounts/" + account + "/instances/" + instance + "/credentials",
                  R"({"command_id":"try-)" + name + R"(","set_credential":{"name":")" + name +
                      R"(","kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":")" + value + R"("}})");
    EXPECT_EQ(r.status, status) << r.body;
  }
  void SetCredential(const std::string& account, const std::string& instance,
                     const std::string& name, const std::string& kind, const std::string& value) {
    auto r = Post("/v1/accounts/" + account + "/instances/" + instance + "/credentials",
                  R"({"command_id":"set-)" + name + R"(","set_credential":{"name":")" + name +
                      R"(","kind":")" + kind + R"(","value":")" + value + R"("}})");
    EXPECT_EQ(r.status, 200) << r.body;
  }

  // Every file under the data directory, raw, and every key and value of its RocksDB databases
  // read through RocksDB (so compression cannot hide a plaintext from the raw search).
  void CollectDataDirectory() {
    for (const auto& entry : fs::recursive_directory_iterator(data())) {
      if (entry.is_regular_file()) {
        outputs_.push_back({entry.path().string(), ReadFile(entry.path())});
      }
    }
    for (const char* db : {"log", "projections", "vault"}) {
      auto store = RocksDbStore::Open((data() / db).string());
      ASSERT_TRUE(store.has_value()) << db << ": " << store.error().ToString();
      std::string all;
      ASSERT_TRUE((*store)
                      ->Scan("", "",
                             [&](std::string_view key, std::string_view value) {
                               all.append(key).append(value);
                               return true;
                             })
                      .has_value());
      outputs_.push_back({std::string("rocksdb ") + db, std::move(all)});
    }
  }
  void CollectLogs() {
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      if (entry.path().extension() == ".log") {
        outputs_.push_back({entry.path().string(), ReadFile(entry.path())});
      }
    }
  }
  void Run(const std::vector<std::string>& args) {
    auto result = RunClawvisor(args);
    EXPECT_EQ(result.exit_code, 0) << args[0] << " " << result.err;
    outputs_.push_back({"clawvisor " + args[0] + " stdout", result.out});
    outputs_.push_back({"clawvisor " + args[0] + " stderr", result.err});
  }

  // The vault as the system holds it: its store under DATA_DIR/vault and the current master key.
  std::unique_ptr<KeyVault> OpenVaultOffline() {
    auto store = RocksDbStore::Open((data() / "vault").string());
    EXPECT_TRUE(store.has_value());
    if (!store) return nullptr;
    vault_store_ = std::move(*store);
    auto master = LoadMasterKeyFile(data() / "master.key");
    EXPECT_TRUE(master.has_value());
    if (!master) return nullptr;
    auto vault = KeyVault::Create(*vault_store_, random_, std::move(*master));
    EXPECT_TRUE(vault.has_value()) << vault.error().ToString();
    return vault ? std::move(*vault) : nullptr;
  }

  // Calls `visit(account, record id, field path, sealed)` for every sealed value in `topic` of
  // the embedded log: an event's sealed fields, or a command's sealed copies.
  void ForEachSealedValue(std::string_view topic,
                          const std::function<void(const std::string&, const std::string&,
                                                   const std::string&, const v1::Sealed&)>& visit) {
    LocalEventLogOptions options;
    options.path = (data() / "log").string();
    auto log = LocalEventLog::Open(options);
    ASSERT_TRUE(log.has_value()) << log.error().ToString();
    auto partitions = (*log)->PartitionCount(topic);
    ASSERT_TRUE(partitions.has_value());
    for (int32_t p = 0; p < *partitions; ++p) {
      auto records = (*log)->Read({std::string(topic), p}, 0, 1'000'000);
      ASSERT_TRUE(records.has_value());
      for (const auto& record : *records) {
        if (topic == kEventsTopic) {
          auto event = DecodeEnvelope(record.value);
          ASSERT_TRUE(event.has_value());
          ForEachSealedField(*event, [&](const std::string& path, const v1::Sealed& sealed) {
            visit(event->account_id(), event->event_id(), path, sealed);
          });
        } else {
          auto command = DecodeCommand(record.value);
          ASSERT_TRUE(command.has_value());
          for (const auto& [path, sealed] : command->sealed_fields()) {
            visit(command->account_id(), "cmd:" + command->command_id(), path, sealed);
          }
        }
      }
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<ServeProcess> serve_;
  OsRandom random_;
  std::unique_ptr<RocksDbStore> vault_store_;
  std::vector<Output> outputs_;
};

// No canary appears in plaintext anywhere: API responses (but the one that shows a gateway token
// once), /metrics, the data export, the logs, the CLI's output, the event log, the projections
// and the vault, after a crash and restart, a rebuild and another account's erasure. Credentials
// show their last four characters.
TEST_F(SecretsTest, CanariesNeverAppearInPlaintext) {
  const std::string u = Unique();
  const std::string email = "canary.email." + u + "@example.com";
  const std::map<std::string, std::pair<std::string, std::string>> credentials = {
      {"openai", {"CREDENTIAL_KIND_MODEL_API_KEY", "sk-CanaryModelKey" + u + "MK01"}},
      {"telegram", {"CREDENTIAL_KIND_TELEGRAM_BOT_TOKEN", "123456:CanaryTelegram" + u + "TG02"}},
      {"discord", {"CREDENTIAL_KIND_DISCORD_BOT_TOKEN", "CanaryDiscord." + u + ".DC03"}},
      {"whatsapp", {"CREDENTIAL_KIND_WHATSAPP_TOKEN", "CanaryWhatsApp" + u + "WA04"}},
  };
  const std::string other_email = "canary.erased." + u + "@example.com";
  const std::string other_credential = "sk-CanaryErased" + u + "ER05";

  const std::string password = "Canary-Passphrase-" + u + "-Zq";
  const std::string wrong_password = "Canary-WrongPass-" + u + "-Wp";

  StartServe();
  auto registered = Post("/v1/accounts", R"({"command_id":"reg-a","register_account":{"email":")" +
                                             email + R"(","password":")" + password + R"("}})");
  ASSERT_EQ(registered.status, 201) << registered.body;
  const std::string account = ParseJson<v1::CommandOutcome>(registered.body).account_id();
  // A login shows its session token once; a failed one shows nothing.
  auto login = Post("/v1/sessions",
                    R"({"command_id":"login-1","login":{"email":")" + email + R"(","password":")" +
                        password + R"("}})",
                    /*shows_a_secret=*/true);
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string session_token = JsonStringMember(login.body, "session_token");
  ASSERT_FALSE(session_token.empty()) << login.body;
  EXPECT_EQ(Post("/v1/sessions", R"({"command_id":"login-2","login":{"email":")" + email +
                                     R"(","password":")" + wrong_password + R"("}})")
                .status,
            401);
  // TOTP: the secret and the recovery codes are shown once, in the enrolment's answer; codes and
  // recovery codes at sign-in never reach a log or a file.
  auto enrolled = Post("/v1/accounts/" + account + "/totp", R"({"command_id":"totp-1"})",
                       /*shows_a_secret=*/true);
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  EXPECT_EQ(enrolled.headers["cache-control"], "no-store");
  const std::string totp_secret = JsonStringMember(enrolled.body, "totp_secret");
  ASSERT_EQ(totp_secret.size(), 32u) << enrolled.body;
  const std::vector<std::string> recovery_codes =
      JsonStringArrayMember(enrolled.body, "recovery_codes");
  ASSERT_EQ(recovery_codes.size(), 10u) << enrolled.body;
  auto enrolled_again = Post("/v1/accounts/" + account + "/totp", R"({"command_id":"totp-1"})");
  EXPECT_NE(enrolled_again.body.find("\"totp_secret\":null"), std::string::npos);
  const std::string totp_key = *Base32Decode(totp_secret);
  const std::span<const uint8_t> key_bytes(reinterpret_cast<const uint8_t*>(totp_key.data()),
                                           totp_key.size());
  const uint64_t step = TotpTimeStep(std::time(nullptr));
  ASSERT_EQ(Post("/v1/accounts/" + account + "/totp/confirm",
                 R"({"command_id":"totp-2","confirm_totp":{"code":")" + TotpCode(key_bytes, step) +
                     R"("}})")
                .status,
            200);
  auto totp_login =
      Post("/v1/sessions",
           R"({"command_id":"login-3","login":{"email":")" + email + R"(","password":")" +
               password + R"(","totp_code":")" + TotpCode(key_bytes, step + 1) + R"("}})",
           /*shows_a_secret=*/true);
  ASSERT_EQ(totp_login.status, 200) << totp_login.body;
  auto recovery_login =
      Post("/v1/sessions",
           R"({"command_id":"login-4","login":{"email":")" + email + R"(","password":")" +
               password + R"(","totp_code":")" + recovery_codes[0] + R"("}})",
           /*shows_a_secret=*/true);
  ASSERT_EQ(recovery_login.status, 200) << recovery_login.body;
  const std::string first_token = CreateInstance(account, "ins_a");
  ASSERT_EQ(first_token.size(), 43u);
  for (const auto& [name, kv] : credentials) {
    SetCredential(account, "ins_a", name, kv.first, kv.second);
  }
  // A retry of the creation shows no token at all.
  auto retry = Post("/v1/accounts/" + account + "/instances",
                    R"({"command_id":"mk-ins_a","create_instance":{"instance_id":"ins_a",)"
                    R"("name":"bot"}})");
  EXPECT_EQ(retry.status, 201) << retry.body;
  EXPECT_NE(retry.body.find("\"gateway_token\":null"), std::string::npos) << retry.body;
  auto rotated = Post("/v1/accounts/" + account + "/instances/ins_a/rotate-gateway-token",
                      R"({"command_id":"rotate-1"})", /*shows_a_secret=*/true);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string second_token = JsonStringMember(rotated.body, "gateway_token");
  ASSERT_EQ(second_token.size(), 43u);
  EXPECT_NE(second_token, first_token);

  const std::string other = Register("reg-b", other_email);
  CreateInstance(other, "ins_b");
  SetCredential(other, "ins_b", "openai", "CREDENTIAL_KIND_MODEL_API_KEY", other_credential);
  ASSERT_EQ(Post("/v1/accounts/" + other + "/erase", R"({"command_id":"bye"})").status, 200);

  serve_->Kill();  // a crash
  StartServe();
  auto view = Call("GET", "/v1/accounts/" + account + "/instances/ins_a");
  ASSERT_EQ(view.status, 200) << view.body;
  for (const auto& [name, kv] : credentials) {
    const std::string last4 = kv.second.substr(kv.second.size() - 4);
    EXPECT_NE(view.body.find("\"last4\":\"" + last4 + "\""), std::string::npos) << name;
  }
  EXPECT_EQ(Call("GET", "/v1/accounts/" + account + "/data-export").status, 200);
  Call("GET", "/v1/accounts/" + account);
  Call("GET", "/v1/accounts/" + account + "/audit?limit=1000");
  Call("GET", "/v1/accounts/" + account + "/instances");
  Call("GET", "/v1/accounts/" + other + "/data-export");
  Call("GET", "/v1/accounts/" + account + "/commands/set-openai");
  // Secrets through the generic route and through every kind of refusal: a value the decider
  // refuses (a space), a JSON type error beside it, a path mismatch, an unknown instance.
  const std::string refused = "sk-CanaryRefused" + u + " RF06";
  const std::string generic = "sk-CanaryGeneric" + u + "GN07";
  EXPECT_EQ(Post("/v1/accounts/" + account + "/commands",
                 R"({"command_id":"gen","set_credential":{"instance_id":"ins_a","name":"gen",)"
                 R"("kind":"CREDENTIAL_KIND_MODEL_API_KEY","value":")" +
                     generic + R"("}})")
                .status,
            200);
  SetCredentialExpecting(account, "ins_a", "bad", refused, 422);
  SetCredentialExpecting(account, "ins_404", "x", generic, 404);
  EXPECT_EQ(Post("/v1/accounts/" + account + "/instances/ins_a/credentials",
                 R"({"command_id":"t","set_credential":{"name":"x","kind":[7],"value":")" +
                     refused + R"("}})")
                .status,
            400);
  EXPECT_EQ(Post("/v1/accounts/" + account + "/instances/ins_b/credentials",
                 R"({"command_id":"m","set_credential":{"instance_id":"ins_a","value":")" +
                     refused + R"("}})")
                .status,
            400);
  Call("GET", "/metrics");
  ASSERT_EQ(serve_->Stop(), 0);

  Run({"projections", "rebuild", "--data-dir", data().string()});
  Run({"projections", "verify", "--data-dir", data().string()});
  Run({"events", "dump", "--data-dir", data().string()});
  StartServe();
  Call("GET", "/v1/accounts/" + account + "/data-export");
  ASSERT_EQ(serve_->Stop(), 0);
  CollectLogs();
  CollectDataDirectory();

  std::vector<std::string> canaries = {email,          other_email,  other_credential, first_token,
                                       second_token,   refused,      generic,          password,
                                       wrong_password, session_token};
  for (const auto& [name, kv] : credentials) canaries.push_back(kv.second);
  canaries.push_back(totp_secret);
  canaries.push_back(totp_key);
  for (const std::string& code : recovery_codes) {
    canaries.push_back(code);
    canaries.push_back(*NormalizeRecoveryCode(code));
  }
  // Each also hex- and base64-encoded (as a log or a JSON bytes field would carry it).
  const size_t plain = canaries.size();
  for (size_t i = 0; i < plain; ++i) {
    canaries.push_back(Hex(canaries[i]));
    canaries.push_back(Base64(canaries[i]));
  }
  // The master key, in the text form it is stored in, must appear only in its own file.
  const std::string master_key = ReadFile(data() / "master.key");
  std::string master_hex;
  for (char c : master_key) {
    if (std::isxdigit(static_cast<unsigned char>(c))) master_hex += c;
  }
  ASSERT_EQ(master_hex.size(), 64u);
  size_t searched = 0;
  for (const auto& output : outputs_) {
    searched += output.bytes.size();
    for (const auto& canary : canaries) {
      EXPECT_EQ(output.bytes.find(canary), std::string::npos)
          << "canary " << canary.substr(0, 12) << "… found in " << output.origin;
    }
    if (!output.origin.ends_with("master.key")) {
      EXPECT_EQ(output.bytes.find(master_hex), std::string::npos)
          << "master key in " << output.origin;
    }
  }
  // The search covered real data: the log holds every event, sealed.
  EXPECT_GT(searched, 100'000u);
}

// After erasure nothing sealed for the account opens with any key the vault still holds (the
// events' fields and the commands' sealed copies alike), its data keys are gone from the vault's
// store, and every query answers as for an unknown account; another account is untouched.
TEST_F(SecretsTest, ErasureLeavesNothingReadable) {
  StartServe();
  const std::string erased = Register("reg-e", "erase.me@example.com");
  const std::string kept = Register("reg-k", "keep.me@example.com");
  for (const std::string& account : {erased, kept}) {
    CreateInstance(account, "ins_1");
    SetCredential(account, "ins_1", "openai", "CREDENTIAL_KIND_MODEL_API_KEY",
                  "sk-erasure-test-0123456789");
  }
  // The wrapped data keys as stored, to look for in the vault's files after the erasure.
  ASSERT_EQ(serve_->Stop(), 0);
  std::vector<std::string> wrapped_keys;
  {
    auto store = RocksDbStore::Open((data() / "vault").string());
    ASSERT_TRUE(store.has_value());
    ASSERT_TRUE((*store)
                    ->Scan("keyvault/dk/" + erased + std::string(1, '\0'),
                           "keyvault/dk/" + erased + std::string(1, '\x01'),
                           [&](std::string_view, std::string_view value) {
                             // The random tail (nonce, wrapped key, tag): a compressed table
                             // keeps it verbatim, while the repeated master-key id may not be.
                             wrapped_keys.emplace_back(value.substr(value.size() - 48));
                             return true;
                           })
                    .has_value());
  }
  ASSERT_FALSE(wrapped_keys.empty());
  StartServe();
  auto bye = Post("/v1/accounts/" + erased + "/erase", R"({"command_id":"bye"})");
  ASSERT_EQ(bye.status, 200) << bye.body;
  const auto outcome = ParseJson<v1::CommandOutcome>(bye.body);
  EXPECT_EQ(outcome.event_types(outcome.event_types_size() - 1), "account_erased");

  EXPECT_EQ(Call("GET", "/v1/accounts/" + erased).status, 404);
  EXPECT_EQ(Call("GET", "/v1/accounts/" + erased + "/data-export").status, 404);
  EXPECT_EQ(ParseJson<v1::InstanceList>(Call("GET", "/v1/accounts/" + erased + "/instances").body)
                .instances_size(),
            0);
  EXPECT_EQ(ParseJson<v1::AuditPage>(Call("GET", "/v1/accounts/" + erased + "/audit").body)
                .entries_size(),
            0);
  EXPECT_EQ(Call("GET", "/v1/accounts/" + erased + "/instances/ins_1").status, 404);
  // Commands with secrets cannot even be sealed any more; others are refused as erased.
  auto create = Post("/v1/accounts/" + erased + "/instances",
                     R"({"command_id":"late","create_instance":{"name":"x"}})");
  EXPECT_EQ(create.status, 410) << create.body;
  auto start = Post("/v1/accounts/" + erased + "/instances/ins_1/start", R"({"command_id":"s"})");
  EXPECT_EQ(start.status, 410) << start.body;
  // The refused commands left nothing behind to query.
  EXPECT_EQ(ParseJson<v1::AuditPage>(Call("GET", "/v1/accounts/" + erased + "/audit").body)
                .entries_size(),
            0);
  EXPECT_EQ(Call("GET", "/v1/accounts/" + erased + "/commands/s").status, 404);
  EXPECT_EQ(Call("GET", "/v1/accounts/" + erased + "/commands/bye").status, 404);
  EXPECT_EQ(Call("GET", "/v1/accounts/" + kept).status, 200);
  ASSERT_EQ(serve_->Stop(), 0);

  // Everything the system holds: the vault's store under the master key, and the log.
  auto vault = OpenVaultOffline();
  ASSERT_NE(vault, nullptr);
  size_t data_key_rows = 0;
  ASSERT_TRUE(vault_store_
                  ->Scan("keyvault/dk/" + erased + std::string(1, '\0'),
                         "keyvault/dk/" + erased + std::string(1, '\x01'),
                         [&](std::string_view, std::string_view) {
                           ++data_key_rows;
                           return true;
                         })
                  .has_value());
  EXPECT_EQ(data_key_rows, 0u);
  // Not in the store's view, and not in its files either (no stale table or log keeps them).
  for (const auto& entry : fs::recursive_directory_iterator(data() / "vault")) {
    if (!entry.is_regular_file()) continue;
    const std::string bytes = ReadFile(entry.path());
    for (const auto& wrapped : wrapped_keys) {
      EXPECT_EQ(bytes.find(wrapped), std::string::npos) << entry.path();
    }
  }

  size_t erased_sealed = 0;
  size_t kept_opened = 0;
  std::set<std::string> erased_volume_keys;  // where the erased account's disk passphrase sat
  for (const std::string_view topic : {kEventsTopic, kCommandsTopic}) {
    ForEachSealedValue(topic, [&](const std::string& account, const std::string& record_id,
                                  const std::string& field, const v1::Sealed& sealed) {
      auto opened = vault->Open({account, record_id, field}, sealed);
      if (account == erased) {
        ++erased_sealed;
        if (field.ends_with("volume_key")) erased_volume_keys.insert(field);
        EXPECT_FALSE(opened.has_value()) << field;
        if (!opened) {
          EXPECT_EQ(opened.error().code, Errc::kNotFound) << field;
        }
      } else if (opened) {
        ++kept_opened;
      }
    });
  }
  // email, gateway token, volume key and credential in events and in commands
  EXPECT_GE(erased_sealed, 8u);
  EXPECT_GE(kept_opened, 8u);  // the same fields of the kept account still open
  // The instance's disk passphrase is among what no longer opens: its encrypted disk (and any
  // copy of the file) opens with no key the system holds (adapters/qemu/encrypted_disk.h).
  EXPECT_EQ(erased_volume_keys,
            (std::set<std::string>{"create_instance.volume_key", "instance_created.volume_key"}));
}

// The master key rotates while serve runs (the CLI signals it) and again offline; commands go on
// meanwhile, and afterwards the vault opens with the newest key alone and every sealed value
// the log holds still opens.
TEST_F(SecretsTest, MasterKeyRotatesOnlineAndOffline) {
  StartServe();
  std::vector<std::string> accounts;
  for (int i = 0; i < 3; ++i) {
    accounts.push_back(Register("reg-" + std::to_string(i), "rot" + std::to_string(i) + "@ex.com"));
    CreateInstance(accounts.back(), "ins_1");
  }
  const std::string first_key = ReadFile(data() / "master.key");
  auto online = RunClawvisor({"vault", "rotate-master-key", "--data-dir", data().string()});
  ASSERT_EQ(online.exit_code, 0) << online.err;
  EXPECT_NE(online.out.find("master key rotated: mk_"), std::string::npos) << online.out;
  EXPECT_NE(ReadFile(data() / "master.key"), first_key);
  EXPECT_FALSE(fs::exists(data() / "master.key.next"));
  // The service never stopped: new secrets are sealed under the rotated vault.
  CreateInstance(accounts[0], "ins_2");
  ASSERT_EQ(serve_->Stop(), 0);

  const std::string second_key = ReadFile(data() / "master.key");
  auto offline = RunClawvisor({"vault", "rotate-master-key", "--data-dir", data().string()});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_NE(ReadFile(data() / "master.key"), second_key);
  EXPECT_NE(RunClawvisor({"vault", "rotate", "--data-dir", data().string()}).exit_code, 0);

  StartServe();  // starts with the newest key alone
  EXPECT_EQ(Call("GET", "/v1/accounts/" + accounts[1]).status, 200);
  ASSERT_EQ(serve_->Stop(), 0);

  auto vault = OpenVaultOffline();
  ASSERT_NE(vault, nullptr);
  size_t opened = 0;
  ForEachSealedValue(kEventsTopic, [&](const std::string& account, const std::string& record_id,
                                       const std::string& field, const v1::Sealed& sealed) {
    auto value = vault->Open({account, record_id, field}, sealed);
    EXPECT_TRUE(value.has_value()) << field << ": " << value.error().ToString();
    ++opened;
  });
  EXPECT_EQ(opened, 3u + 4u + 4u);  // three emails, four gateway tokens, four volume keys
}

}  // namespace
}  // namespace clawvisor
