#include "adapters/openssl/aes_gcm.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <climits>

namespace clawvisor::openssl {
namespace {

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

}  // namespace

Error OpensslError(Errc code, std::string_view what) {
  std::string message(what);
  bool first = true;
  while (const unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    message += first ? " (openssl: " : "; ";
    message += buf;
    first = false;
  }
  if (!first) message += ")";
  return Error{code, std::move(message)};
}

void Cleanse(std::span<unsigned char> bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

void Cleanse(std::string& bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

Result<AesGcm> AesGcm::Create() {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) {
    return std::unexpected(OpensslError(Errc::kUnavailable, "AES-256-GCM is not available"));
  }
  return AesGcm(std::shared_ptr<EVP_CIPHER>(cipher, CipherDeleter{}));
}

Status AesGcm::Encrypt(Key key, Nonce nonce, std::span<const unsigned char> aad,
                       std::span<const unsigned char> plaintext,
                       std::span<unsigned char> out) const {
  if (!FitsInt(plaintext.size() + kGcmTagSize) || !FitsInt(aad.size())) {
    return MakeError(Errc::kInvalidArgument, "value too large to seal (2 GiB at most)");
  }
  if (out.size() != plaintext.size() + kGcmTagSize) {
    return MakeError(Errc::kInternal, "AES-GCM encrypt: output buffer of the wrong size");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::unexpected(OpensslError(Errc::kInternal, "EVP_CIPHER_CTX_new failed"));
  // The default GCM IV length is 96 bits, so key and nonce go in with the cipher.
  if (EVP_EncryptInit_ex2(ctx.get(), cipher_.get(), key.data(), nonce.data(), nullptr) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM encrypt init failed"));
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM: adding associated data failed"));
  }
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(),
                          static_cast<int>(plaintext.size())) != 1) {
      return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM encrypt failed"));
    }
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + written, &len) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM encrypt final failed"));
  }
  written += len;
  if (static_cast<size_t>(written) != plaintext.size()) {
    return MakeError(Errc::kInternal, "AES-GCM encrypt produced an unexpected length");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagSize),
                          out.data() + written) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM: reading the tag failed"));
  }
  return {};
}

Status AesGcm::Decrypt(Key key, Nonce nonce, std::span<const unsigned char> aad,
                       std::span<const unsigned char> ciphertext_and_tag,
                       std::span<unsigned char> out) const {
  if (ciphertext_and_tag.size() < kGcmTagSize) {
    return MakeError(Errc::kCorruption, "sealed value shorter than its authentication tag");
  }
  const size_t ct_size = ciphertext_and_tag.size() - kGcmTagSize;
  if (!FitsInt(ciphertext_and_tag.size()) || !FitsInt(aad.size())) {
    return MakeError(Errc::kInvalidArgument, "sealed value too large (2 GiB at most)");
  }
  if (out.size() != ct_size) {
    return MakeError(Errc::kInternal, "AES-GCM decrypt: output buffer of the wrong size");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::unexpected(OpensslError(Errc::kInternal, "EVP_CIPHER_CTX_new failed"));
  if (EVP_DecryptInit_ex2(ctx.get(), cipher_.get(), key.data(), nonce.data(), nullptr) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM decrypt init failed"));
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM: adding associated data failed"));
  }
  int written = 0;
  if (ct_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, ciphertext_and_tag.data(),
                          static_cast<int>(ct_size)) != 1) {
      Cleanse(out);
      return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM decrypt failed"));
    }
    written = len;
  }
  // SET_TAG takes a non-const pointer; give it a copy rather than casting const away.
  std::array<unsigned char, kGcmTagSize> tag{};
  std::copy(ciphertext_and_tag.begin() + static_cast<ptrdiff_t>(ct_size), ciphertext_and_tag.end(),
            tag.begin());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagSize),
                          tag.data()) != 1) {
    Cleanse(out);
    return std::unexpected(OpensslError(Errc::kInternal, "AES-GCM: setting the tag failed"));
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + written, &len) != 1) {
    Cleanse(out);
    ERR_clear_error();  // an authentication failure is the message, not OpenSSL's queue
    return MakeError(Errc::kCorruption, "authentication failed");
  }
  return {};
}

Result<std::array<unsigned char, 32>> HmacSha256(Key key, std::span<const unsigned char> data) {
  std::array<unsigned char, 32> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           mac.data(), &mac_len) == nullptr ||
      mac_len != mac.size()) {
    return std::unexpected(OpensslError(Errc::kInternal, "HMAC-SHA-256 failed"));
  }
  return mac;
}

Result<std::array<unsigned char, 32>> Sha256(std::span<const unsigned char> data) {
  std::array<unsigned char, 32> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, EVP_sha256(), nullptr) !=
          1 ||
      digest_len != digest.size()) {
    return std::unexpected(OpensslError(Errc::kInternal, "SHA-256 failed"));
  }
  return digest;
}

Result<Sha256Hasher> Sha256Hasher::Create() {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "SHA-256 init failed"));
  }
  return Sha256Hasher(std::move(ctx));
}

Status Sha256Hasher::Update(std::span<const unsigned char> data) {
  if (!ctx_) return MakeError(Errc::kFailedPrecondition, "SHA-256 already finished");
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "SHA-256 update failed"));
  }
  return {};
}

Result<std::array<unsigned char, 32>> Sha256Hasher::Finish() {
  if (!ctx_) return MakeError(Errc::kFailedPrecondition, "SHA-256 already finished");
  std::array<unsigned char, 32> digest{};
  unsigned int digest_len = 0;
  const int ok = EVP_DigestFinal_ex(ctx_.get(), digest.data(), &digest_len);
  ctx_.reset();
  if (ok != 1 || digest_len != digest.size()) {
    return std::unexpected(OpensslError(Errc::kInternal, "SHA-256 final failed"));
  }
  return digest;
}

}  // namespace clawvisor::openssl
