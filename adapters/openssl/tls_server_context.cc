#include "adapters/openssl/tls_server_context.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "adapters/openssl/aes_gcm.h"
#include "adapters/posix/atomic_file.h"

namespace clawvisor::openssl {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free_all(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

constexpr std::chrono::hours kSelfSignedValidity{24 * 397};
constexpr std::chrono::hours kRenewBefore{24 * 30};

// An encrypted key would make OpenSSL prompt on the terminal; refuse instead.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

// Reads a whole file through an already opened descriptor (the one whose mode was checked).
Result<std::string> ReadAll(int fd, const std::filesystem::path& path) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) return MakeError(Errc::kInvalidArgument, "cannot read " + path.string());
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) {
      return MakeError(Errc::kInvalidArgument, path.string() + " is larger than 1 MiB");
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return out;
}

Status CheckMode(int fd, const std::filesystem::path& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    return MakeError(Errc::kInvalidArgument,
                     "TLS private key " + path.string() + " is not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return MakeError(Errc::kInvalidArgument,
                     "TLS private key " + path.string() + " has mode " + mode +
                         ": other users may read it; make it private (chmod 600) or hand it over "
                         "as a systemd credential (LoadCredential=)");
  }
  return {};
}

Result<PkeyPtr> LoadPrivateKey(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return MakeError(Errc::kInvalidArgument, "cannot open TLS private key " + path.string());
  auto mode = CheckMode(fd, path);
  if (!mode) {
    ::close(fd);
    return std::unexpected(mode.error());
  }
  auto pem = ReadAll(fd, path);
  ::close(fd);
  if (!pem) return std::unexpected(pem.error());
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr) : nullptr);
  OPENSSL_cleanse(pem->data(), pem->size());
  if (!key) {
    return std::unexpected(OpensslError(
        Errc::kInvalidArgument,
        "TLS private key " + path.string() + " is not an unencrypted PEM private key"));
  }
  return key;
}

Result<X509Ptr> LoadFirstCertificate(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return MakeError(Errc::kInvalidArgument, "cannot open TLS certificate " + path.string());
  }
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return std::unexpected(OpensslError(
        Errc::kInvalidArgument, "TLS certificate " + path.string() + " holds no PEM certificate"));
  }
  return cert;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool IsDnsName(const std::string& host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string SubjectAltNames(const std::vector<std::string>& hosts) {
  std::string san;
  for (const auto& host : hosts) {
    std::string entry;
    if (IsIpLiteral(host)) {
      entry = "IP:" + host;
    } else if (IsDnsName(host)) {
      entry = "DNS:" + host;
    } else {
      continue;
    }
    if (!san.empty()) san += ",";
    san += entry;
  }
  return san;
}

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return std::unexpected(OpensslError(Errc::kInternal, "X509V3_EXT_conf_nid"));
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return std::unexpected(OpensslError(Errc::kInternal, "X509_add_ext"));
  return {};
}

Result<std::string> ToPem(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  if (n <= 0 || data == nullptr) return MakeError(Errc::kInternal, "empty PEM output");
  return std::string(data, static_cast<size_t>(n));
}

// Whether the self-signed pair in place can be kept: it parses, matches its key, names every
// host and is valid for at least kRenewBefore more.
bool StillFits(const TlsServerFiles& files, const std::vector<std::string>& hosts,
               std::chrono::system_clock::time_point now) {
  std::error_code ec;
  if (!std::filesystem::exists(files.certificate_chain_file, ec) ||
      !std::filesystem::exists(files.private_key_file, ec)) {
    return false;
  }
  auto cert = LoadFirstCertificate(files.certificate_chain_file);
  auto key = LoadPrivateKey(files.private_key_file);
  ERR_clear_error();
  if (!cert || !key || X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return false;
  }
  time_t horizon = std::chrono::system_clock::to_time_t(now + kRenewBefore);
  if (X509_cmp_time(X509_get0_notAfter(cert->get()), &horizon) <= 0) return false;
  for (const auto& host : hosts) {
    if (IsIpLiteral(host)) {
      if (X509_check_ip_asc(cert->get(), host.c_str(), 0) != 1) return false;
    } else if (IsDnsName(host)) {
      if (X509_check_host(cert->get(), host.data(), host.size(), 0, nullptr) != 1) return false;
    }
  }
  return true;
}

}  // namespace

void SslCtxFree::operator()(ssl_ctx_st* ctx) const { SSL_CTX_free(ctx); }

Status CheckPrivateKeyFileMode(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return MakeError(Errc::kInvalidArgument, "cannot open TLS private key " + path.string());
  auto ok = CheckMode(fd, path);
  ::close(fd);
  return ok;
}

Result<SslCtxPtr> MakeTlsServerContext(const TlsServerFiles& files) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return std::unexpected(OpensslError(Errc::kInternal, "SSL_CTX_new"));
  SSL_CTX* c = ctx.get();
  const bool configured = SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) == 1 &&
                          SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) == 1 &&
                          SSL_CTX_set_cipher_list(c, kTls12Ciphers) == 1 &&
                          SSL_CTX_set_ciphersuites(c, kTls13Ciphersuites) == 1 &&
                          SSL_CTX_set1_groups_list(c, kKeyExchangeGroups) == 1;
  if (!configured) return std::unexpected(OpensslError(Errc::kInternal, "TLS parameters"));
  // Security level 2: no RSA or DH keys under 2048 bits, no SHA-1 signatures, whatever the
  // system's openssl.cnf says.
  SSL_CTX_set_security_level(c, 2);
  // No compression (CRIME), no renegotiation (a client-driven CPU drain and a history of bugs),
  // no stateless tickets (their key would outlive every session and undo forward secrecy; TLS 1.3
  // resumption then uses the server's own cache).
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);

  if (SSL_CTX_use_certificate_chain_file(c, files.certificate_chain_file.c_str()) != 1) {
    return std::unexpected(
        OpensslError(Errc::kInvalidArgument,
                     "cannot load TLS certificate chain " + files.certificate_chain_file.string()));
  }
  auto key = LoadPrivateKey(files.private_key_file);
  if (!key) return std::unexpected(key.error());
  if (SSL_CTX_use_PrivateKey(c, key->get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    return std::unexpected(
        OpensslError(Errc::kInvalidArgument, "TLS private key " + files.private_key_file.string() +
                                                 " does not belong to certificate " +
                                                 files.certificate_chain_file.string()));
  }
  return ctx;
}

Result<std::string> CertificateSha256Fingerprint(const std::filesystem::path& certificate_file) {
  auto cert = LoadFirstCertificate(certificate_file);
  if (!cert) return std::unexpected(cert.error());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert->get(), EVP_sha256(), md, &len) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "X509_digest"));
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  return out;
}

Result<CertificatePem> GenerateSelfSignedCertificate(const std::vector<std::string>& hosts,
                                                     std::chrono::system_clock::time_point now,
                                                     std::chrono::hours validity) {
  ERR_clear_error();
  const std::string san = SubjectAltNames(hosts);
  if (san.empty()) return MakeError(Errc::kInvalidArgument, "no host name or address for the SAN");
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return std::unexpected(OpensslError(Errc::kInternal, "EC key generation"));
  X509* x = cert.get();

  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) {
    return std::unexpected(OpensslError(Errc::kInternal, "RAND_bytes"));
  }
  serial[0] &= 0x7F;  // positive, as RFC 5280 requires
  serial[0] |= 0x40;  // and of full length
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  time_t t = std::chrono::system_clock::to_time_t(now);
  const long days = static_cast<long>(validity.count() / 24);
  const bool fields =
      bn && X509_set_version(x, X509_VERSION_3) == 1 &&
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) != nullptr &&
      X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &t) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(x), static_cast<int>(days), 0, &t) != nullptr &&
      X509_set_pubkey(x, key.get()) == 1 &&
      X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("clawvisor"), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(x, X509_get_subject_name(x)) == 1;
  if (!fields) return std::unexpected(OpensslError(Errc::kInternal, "certificate fields"));
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_subject_alt_name, san}}) {
    if (auto ok = AddExtension(x, nid, value); !ok) return std::unexpected(ok.error());
  }
  if (X509_sign(x, key.get(), EVP_sha256()) <= 0) {
    return std::unexpected(OpensslError(Errc::kInternal, "X509_sign"));
  }
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), x) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return std::unexpected(OpensslError(Errc::kInternal, "PEM encoding"));
  }
  CertificatePem out;
  auto cert_pem = ToPem(cert_bio.get());
  auto key_pem = ToPem(key_bio.get());
  if (!cert_pem || !key_pem) return MakeError(Errc::kInternal, "PEM encoding");
  out.certificate = std::move(*cert_pem);
  out.private_key = std::move(*key_pem);
  return out;
}

Result<EnsuredCertificate> EnsureSelfSignedCertificate(const std::filesystem::path& dir,
                                                       const std::vector<std::string>& hosts,
                                                       std::chrono::system_clock::time_point now) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || ::chmod(dir.c_str(), 0700) != 0) {
    return MakeError(Errc::kUnavailable, "cannot create TLS directory " + dir.string());
  }
  EnsuredCertificate out;
  out.files.certificate_chain_file = dir / "certificate.pem";
  out.files.private_key_file = dir / "private-key.pem";
  if (StillFits(out.files, hosts, now)) return out;
  auto pem = GenerateSelfSignedCertificate(hosts, now, kSelfSignedValidity);
  if (!pem) return std::unexpected(pem.error());
  auto key_written =
      WriteFileAtomically(out.files.private_key_file, pem->private_key, {.mode = 0600});
  OPENSSL_cleanse(pem->private_key.data(), pem->private_key.size());
  if (!key_written) return std::unexpected(key_written.error());
  if (auto ok =
          WriteFileAtomically(out.files.certificate_chain_file, pem->certificate, {.mode = 0644});
      !ok) {
    return std::unexpected(ok.error());
  }
  out.generated = true;
  return out;
}

}  // namespace clawvisor::openssl
