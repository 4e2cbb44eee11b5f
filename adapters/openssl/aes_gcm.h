#pragma once

// AES-256-GCM, HMAC-SHA-256 and SHA-256 over OpenSSL's EVP API: the primitives the key vault is
// built from, kept in one place so every OpenSSL call is checked, every context freed, and every
// failure turned into an Error (OpenSSL's error queue is drained into the message, which never
// carries key material).
//
// Thread-safety: an AesGcm is immutable after Create() and may be used from many threads; each
// call allocates its own EVP_CIPHER_CTX.

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "events/result.h"

namespace clawvisor::openssl {

inline constexpr size_t kAes256KeySize = 32;
inline constexpr size_t kGcmNonceSize = 12;  // 96 bits: GCM's native IV length
inline constexpr size_t kGcmTagSize = 16;    // 128 bits: the full tag, never truncated

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

struct CipherDeleter {
  void operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
};
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;

// An Error whose message is `what` plus the reasons OpenSSL queued (the queue is cleared, so a
// stale entry never shows up in a later, unrelated failure).
Error OpensslError(Errc code, std::string_view what);

// Wipes memory the compiler may not optimize away (OPENSSL_cleanse).
void Cleanse(std::span<unsigned char> bytes);
void Cleanse(std::string& bytes);

// A 256-bit secret that wipes itself when it dies. Not copyable, so a key has one owner.
struct SecretKey {
  SecretKey() = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey() { Cleanse(bytes); }
  std::array<unsigned char, kAes256KeySize> bytes{};
};

using Key = std::span<const unsigned char, kAes256KeySize>;
using Nonce = std::span<const unsigned char, kGcmNonceSize>;

class AesGcm {
 public:
  // Fetches the AES-256-GCM implementation once: an explicit fetch spares every call OpenSSL
  // 3's implicit provider lookup.
  static Result<AesGcm> Create();

  // Writes ciphertext || tag to `out`, which must hold plaintext.size() + kGcmTagSize bytes.
  Status Encrypt(Key key, Nonce nonce, std::span<const unsigned char> aad,
                 std::span<const unsigned char> plaintext, std::span<unsigned char> out) const;

  // Verifies and decrypts ciphertext || tag into `out` (ciphertext.size() - kGcmTagSize bytes).
  // kCorruption if authentication fails, and then `out` is wiped: unverified plaintext never
  // reaches the caller.
  Status Decrypt(Key key, Nonce nonce, std::span<const unsigned char> aad,
                 std::span<const unsigned char> ciphertext_and_tag,
                 std::span<unsigned char> out) const;

 private:
  explicit AesGcm(std::shared_ptr<EVP_CIPHER> cipher) : cipher_(std::move(cipher)) {}
  std::shared_ptr<EVP_CIPHER> cipher_;
};

// HMAC-SHA-256 of `data` under `key`.
Result<std::array<unsigned char, 32>> HmacSha256(Key key, std::span<const unsigned char> data);

// SHA-256 of `data`.
Result<std::array<unsigned char, 32>> Sha256(std::span<const unsigned char> data);

// SHA-256 of bytes given in pieces (a file hashed as it is written), the same digest Sha256
// gives for their concatenation.
//
// Thread-safety: one Sha256Hasher is one thread's.
class Sha256Hasher {
 public:
  static Result<Sha256Hasher> Create();

  Status Update(std::span<const unsigned char> data);
  // The digest of everything given to Update. Once: Update and Finish fail afterwards.
  Result<std::array<unsigned char, 32>> Finish();

 private:
  struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  explicit Sha256Hasher(std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx) : ctx_(std::move(ctx)) {}
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx_;
};

// Views of text as the unsigned bytes OpenSSL takes.
inline std::span<const unsigned char> AsBytes(std::string_view s) {
  return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}
inline std::span<unsigned char> AsWritableBytes(std::string& s) {
  return {reinterpret_cast<unsigned char*>(s.data()), s.size()};
}

}  // namespace clawvisor::openssl
