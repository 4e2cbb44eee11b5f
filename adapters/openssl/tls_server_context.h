#pragma once

// The API's TLS configuration (issue #4, transport), in OpenSSL terms and nowhere else:
//
// - MakeTlsServerContext builds the one SSL_CTX every HTTPS connection shares: TLS 1.2 and 1.3
//   only; for TLS 1.2 only ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), for
//   TLS 1.3 its three AEAD suites; no compression, no renegotiation, no stateless session
//   tickets. ARCHITECTURE.md ("Transport") says why each.
// - The private key file must be its owner's alone (no group or other permission bits): a key
//   another local user can read is a key anyone on the host can impersonate the API with.
// - GenerateSelfSignedCertificate / EnsureSelfSignedCertificate make the development pair
//   `serve` uses when it is given none: ECDSA P-256, SAN for localhost, 127.0.0.1, ::1 and the
//   listen host, the key written 0600.
//
// Thread-safety: free functions, safe to call concurrently; the SSL_CTX returned is immutable
// after construction and OpenSSL lets many connections share it.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "events/result.h"

struct ssl_ctx_st;

namespace clawvisor::openssl {

struct SslCtxFree {
  void operator()(ssl_ctx_st* ctx) const;
};
using SslCtxPtr = std::unique_ptr<ssl_ctx_st, SslCtxFree>;

struct TlsServerFiles {
  std::filesystem::path certificate_chain_file;  // PEM: the leaf first, then intermediates
  std::filesystem::path private_key_file;        // PEM, unencrypted, mode 0600 or 0400
};

// The TLS 1.2 cipher list (OpenSSL names) and the TLS 1.3 suites the server accepts.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr const char* kKeyExchangeGroups = "X25519:P-256:P-384";

// Fails with kInvalidArgument (unreadable or mismatched files, a key others may read) with a
// message naming the file and the problem; never with key material in it.
Result<SslCtxPtr> MakeTlsServerContext(const TlsServerFiles& files);

// kInvalidArgument unless `path` is a regular file (links followed) without group or other
// permission bits.
Status CheckPrivateKeyFileMode(const std::filesystem::path& path);

// "AB:CD:..." (upper-case hex, colon-separated, as `openssl x509 -fingerprint -sha256` prints)
// of the SHA-256 of the first certificate's DER encoding in a PEM file.
Result<std::string> CertificateSha256Fingerprint(const std::filesystem::path& certificate_file);

struct CertificatePem {
  std::string certificate;
  std::string private_key;  // PKCS#8 PEM
};

// A fresh ECDSA P-256 key and a self-signed certificate for it: subject CN=clawvisor, SAN with
// each of `hosts` (IP literals as IP entries, names as DNS entries; others skipped), a random
// 128-bit serial, valid from an hour before `now` for `validity`, serverAuth only, not a CA.
Result<CertificatePem> GenerateSelfSignedCertificate(const std::vector<std::string>& hosts,
                                                     std::chrono::system_clock::time_point now,
                                                     std::chrono::hours validity);

struct EnsuredCertificate {
  TlsServerFiles files;
  bool generated = false;  // false: the pair already there still fits
};

// Keeps a self-signed pair in `dir` (certificate.pem, private-key.pem 0600; `dir` made 0700):
// generates one when absent, or when the one there has expired, expires within 30 days, or does
// not name every host in `hosts`. The key is written before the certificate, each to a temporary
// file renamed into place, so an interrupted run leaves either the old pair or a new one.
Result<EnsuredCertificate> EnsureSelfSignedCertificate(const std::filesystem::path& dir,
                                                       const std::vector<std::string>& hosts,
                                                       std::chrono::system_clock::time_point now);

}  // namespace clawvisor::openssl
