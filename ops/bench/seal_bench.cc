// seal_bench: what sealing costs through the Sealer (KeyVault) beside raw OpenSSL AES-256-GCM,
// measured side by side in the same run, for 32 B, 256 B and 4 KiB payloads.
//
// Columns (operations per second, one thread):
//   vault seal   KeyVault::Seal: the vault mutex and key-cache lookup, the use counter, a 96-bit
//                nonce from OsRandom (getrandom), the AAD encoding, an EVP context with key
//                schedule, AES-256-GCM encrypt + tag, and building the v1::Sealed message.
//   raw enc      The bare minimum a careful caller of EVP does for one independent message: the
//                same OsRandom nonce, EVP_CIPHER_CTX_new, EVP_EncryptInit_ex2 with the same
//                pre-fetched cipher and the key, the same AAD bytes, update, final, GET_TAG,
//                free; into a preallocated buffer.
//   vault open   KeyVault::Open of a sealed value whose data key is cached: checks, cache lookup,
//                AAD encoding, EVP decrypt + tag check, the plaintext string.
//   raw dec      EVP_CIPHER_CTX_new, DecryptInit_ex2, AAD, update, SET_TAG, final, free.
// The ratio columns say what share of raw speed the vault keeps (1.00 = no overhead).
// The store is an in-memory map: after an account's first seal the vault touches it only once
// per 2^20 seals (a use reservation), so it does not show in these figures.

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/openssl/key_vault.h"
#include "adapters/posix/os_random.h"
#include "projections/memory_kv_store.h"

namespace clawvisor {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "seal_bench: %s\n", what.c_str());
  std::exit(1);
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

// Runs `a` and `b` in alternating slices of a few milliseconds until `seconds` have passed in
// all, and returns each one's operations per second. Alternating makes both see the same
// machine: a busy neighbour or a frequency change slows both, not just whichever ran second.
std::pair<double, double> MeasurePair(double seconds, const std::function<void()>& a,
                                      const std::function<void()>& b) {
  constexpr int kRound = 32;
  constexpr auto kSlice = std::chrono::milliseconds(5);
  for (int i = 0; i < kRound; ++i) {  // warm caches and the vault's key cache
    a();
    b();
  }
  std::chrono::duration<double> spent[2]{};
  uint64_t done[2] = {0, 0};
  const std::function<void()>* ops[2] = {&a, &b};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  for (int which = 0; Clock::now() < deadline; which ^= 1) {
    const auto start = Clock::now();
    Clock::time_point now;
    do {
      for (int i = 0; i < kRound; ++i) (*ops[which])();
      done[which] += kRound;
      now = Clock::now();
    } while (now - start < kSlice);
    spent[which] += now - start;
  }
  return {static_cast<double>(done[0]) / spent[0].count(),
          static_cast<double>(done[1]) / spent[1].count()};
}

void RawEncrypt(EVP_CIPHER* cipher, const unsigned char* key, RandomSource& random,
                const std::string& aad, const std::string& plaintext, std::string& out) {
  unsigned char nonce[12];
  random.Fill(std::as_writable_bytes(std::span(nonce)));
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0, total = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), cipher, key, nonce, nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    Die("raw encrypt failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), dst + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, dst + total + len) != 1) {
    Die("raw encrypt final failed");
  }
}

void RawDecrypt(EVP_CIPHER* cipher, const unsigned char* key, const unsigned char* nonce,
                const std::string& aad, const std::string& ciphertext_and_tag, std::string& out) {
  const size_t n = ciphertext_and_tag.size() - 16;
  const auto* src = reinterpret_cast<const unsigned char*>(ciphertext_and_tag.data());
  unsigned char tag[16];
  std::memcpy(tag, src + n, 16);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), cipher, key, nonce, nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), dst, &len, src, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), dst + len, &len) != 1) {
    Die("raw decrypt failed");
  }
}

constexpr const char* kUsage =
    "usage: seal_bench [--seconds-per-case S]\n"
    "\n"
    "Seals and opens 32 B, 256 B and 4 KiB payloads through the key vault (KeyVault, the\n"
    "Sealer of design D4) and, in the same run, with raw OpenSSL EVP AES-256-GCM, and prints\n"
    "operations per second for each (one thread). Each of the 12 figures gets S seconds\n"
    "(default 0.8, about 10 s in all); a vault figure and its raw peer are measured in\n"
    "alternating 5 ms slices so both see the same machine. See the head of\n"
    "ops/bench/seal_bench.cc for what each column counts.\n";

int Main(int argc, char** argv) {
  double seconds = 0.8;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--seconds-per-case" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
      if (!(seconds > 0 && seconds <= 60)) Die("--seconds-per-case must be in (0, 60]");
      continue;
    }
    std::fputs(kUsage, stderr);
    return 2;
  }

  OsRandom random;
  MemoryKvStore store;
  auto created = KeyVault::Create(store, random, MasterKey::Generate(random));
  if (!created) Die(created.error().ToString());
  KeyVault& vault = **created;
  const SealContext context{"0190f3a2-7c4e-7b1a-9c2d-5e6f7a8b9c0d",
                            "0190f3a2-7c4e-7b1a-9c2d-000000000001", "credential_added.secret"};

  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) Die("AES-256-GCM unavailable");
  unsigned char raw_key[32];
  random.Fill(std::as_writable_bytes(std::span(raw_key)));
  // The same number of AAD bytes as the vault binds (domain, four length-prefixed parts).
  auto probe = vault.Seal(context, "x");
  if (!probe) Die(probe.error().ToString());
  const std::string aad(std::strlen("clawvisor.sealed.v1") + 16 + context.account_id.size() +
                            context.record_id.size() + context.field.size() +
                            probe->key_id().size(),
                        'a');

  std::printf("AES-256-GCM, one thread, %.1f s per case (ops/s; ratio = vault / raw)\n\n", seconds);
  std::printf("%8s %12s %12s %6s %12s %12s %6s\n", "payload", "vault seal", "raw enc", "ratio",
              "vault open", "raw dec", "ratio");
  for (size_t size : {size_t{32}, size_t{256}, size_t{4096}}) {
    std::string plaintext(size, '\0');
    random.Fill(std::as_writable_bytes(std::span(plaintext)));
    unsigned sink = 0;

    std::string raw_out(size + 16, '\0');
    const auto [seal, enc] = MeasurePair(
        2 * seconds,
        [&] {
          auto sealed = vault.Seal(context, plaintext);
          if (!sealed) Die(sealed.error().ToString());
          sink += static_cast<unsigned char>(sealed->ciphertext()[0]);
        },
        [&] {
          RawEncrypt(cipher, raw_key, random, aad, plaintext, raw_out);
          sink += static_cast<unsigned char>(raw_out[0]);
        });

    auto sealed = vault.Seal(context, plaintext);
    if (!sealed) Die(sealed.error().ToString());
    unsigned char nonce[12];
    random.Fill(std::as_writable_bytes(std::span(nonce)));
    std::string ciphertext(size + 16, '\0');
    {
      // Encrypt once under a known nonce so the decrypt loop has something valid to open.
      std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
      int len = 0, total = 0;
      auto* dst = reinterpret_cast<unsigned char*>(ciphertext.data());
      if (!ctx || EVP_EncryptInit_ex2(ctx.get(), cipher, raw_key, nonce, nullptr) != 1 ||
          EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                            reinterpret_cast<const unsigned char*>(aad.data()),
                            static_cast<int>(aad.size())) != 1 ||
          EVP_EncryptUpdate(ctx.get(), dst, &len,
                            reinterpret_cast<const unsigned char*>(plaintext.data()),
                            static_cast<int>(size)) != 1) {
        Die("setup encrypt failed");
      }
      total = len;
      if (EVP_EncryptFinal_ex(ctx.get(), dst + total, &len) != 1 ||
          EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, dst + total + len) != 1) {
        Die("setup encrypt final failed");
      }
    }
    std::string raw_plain(size, '\0');
    const auto [open, dec] = MeasurePair(
        2 * seconds,
        [&] {
          auto opened = vault.Open(context, *sealed);
          if (!opened) Die(opened.error().ToString());
          sink += static_cast<unsigned char>((*opened)[0]);
        },
        [&] {
          RawDecrypt(cipher, raw_key, nonce, aad, ciphertext, raw_plain);
          sink += static_cast<unsigned char>(raw_plain[0]);
        });

    char label[16];
    std::snprintf(label, sizeof label, size >= 1024 ? "%zu KiB" : "%zu B",
                  size >= 1024 ? size / 1024 : size);
    std::printf("%8s %12.0f %12.0f %6.2f %12.0f %12.0f %6.2f%s\n", label, seal, enc, seal / enc,
                open, dec, open / dec, sink == 0xffffffffu ? " " : "");
  }
  EVP_CIPHER_free(cipher);
  return 0;
}

}  // namespace
}  // namespace clawvisor

int main(int argc, char** argv) { return clawvisor::Main(argc, argv); }
