#include "engine/domain/totp.h"

#include <algorithm>
#include <cstring>

namespace clawvisor {
namespace {

uint32_t RotateLeft(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

// FIPS 180-4 section 6.1.2 for one 64-byte block.
void Sha1Block(std::array<uint32_t, 5>& h, const uint8_t* block) {
  std::array<uint32_t, 80> w{};
  for (int t = 0; t < 16; ++t) {
    w[t] = (uint32_t{block[4 * t]} << 24) | (uint32_t{block[4 * t + 1]} << 16) |
           (uint32_t{block[4 * t + 2]} << 8) | uint32_t{block[4 * t + 3]};
  }
  for (int t = 16; t < 80; ++t) w[t] = RotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int t = 0; t < 80; ++t) {
    uint32_t f = 0, k = 0;
    if (t < 20) {
      f = (b & c) | (~b & d);
      k = 0x5A827999;
    } else if (t < 40) {
      f = b ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = b ^ c ^ d;
      k = 0xCA62C1D6;
    }
    const uint32_t temp = RotateLeft(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = RotateLeft(b, 30);
    b = a;
    a = temp;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

Sha1Digest Sha1(std::span<const uint8_t> message) {
  std::array<uint32_t, 5> h = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t offset = 0;
  for (; offset + 64 <= message.size(); offset += 64) Sha1Block(h, message.data() + offset);
  // Padding: 0x80, zeros, then the message length in bits (big-endian), to a multiple of 64.
  std::array<uint8_t, 128> tail{};
  const size_t rest = message.size() - offset;
  if (rest > 0) std::memcpy(tail.data(), message.data() + offset, rest);
  tail[rest] = 0x80;
  const size_t tail_size = rest + 1 + 8 <= 64 ? 64 : 128;
  const uint64_t bits = static_cast<uint64_t>(message.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_size - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  for (size_t block = 0; block < tail_size; block += 64) Sha1Block(h, tail.data() + block);
  Sha1Digest out{};
  for (int i = 0; i < 5; ++i) {
    out[4 * i] = static_cast<uint8_t>(h[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(h[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(h[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(h[i]);
  }
  return out;
}

Sha1Digest HmacSha1(std::span<const uint8_t> key, std::span<const uint8_t> message) {
  constexpr size_t kBlock = 64;
  std::array<uint8_t, kBlock> k{};
  if (key.size() > kBlock) {
    const Sha1Digest hashed = Sha1(key);
    std::copy(hashed.begin(), hashed.end(), k.begin());
  } else {
    std::copy(key.begin(), key.end(), k.begin());
  }
  std::string inner(kBlock + message.size(), '\0');
  for (size_t i = 0; i < kBlock; ++i) inner[i] = static_cast<char>(k[i] ^ 0x36);
  if (!message.empty()) std::memcpy(inner.data() + kBlock, message.data(), message.size());
  const Sha1Digest inner_digest =
      Sha1({reinterpret_cast<const uint8_t*>(inner.data()), inner.size()});
  std::array<uint8_t, kBlock + 20> outer{};
  for (size_t i = 0; i < kBlock; ++i) outer[i] = k[i] ^ 0x5c;
  std::copy(inner_digest.begin(), inner_digest.end(), outer.begin() + kBlock);
  // The key's copies are wiped (best effort) before they go out of scope.
  std::fill(inner.begin(), inner.end(), '\0');
  volatile uint8_t* wipe = k.data();
  for (size_t i = 0; i < kBlock; ++i) wipe[i] = 0;
  return Sha1(outer);
}

std::string Base32Encode(std::span<const uint8_t> bytes) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kBase32Alphabet[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += kBase32Alphabet[(acc << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> Base32Decode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == ' ' || c == '=') continue;
    const int v = Base32Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

uint64_t TotpTimeStep(int64_t unix_seconds) {
  return unix_seconds < 0 ? 0 : static_cast<uint64_t>(unix_seconds / kTotpStepSeconds);
}

uint32_t Hotp(std::span<const uint8_t> secret, uint64_t counter, int digits) {
  std::array<uint8_t, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[i] = static_cast<uint8_t>(counter & 0xFF);
    counter >>= 8;
  }
  const Sha1Digest mac = HmacSha1(secret, message);
  // Dynamic truncation (RFC 4226 section 5.3).
  const int offset = mac[19] & 0x0F;
  const uint32_t binary = (uint32_t{mac[offset]} & 0x7F) << 24 | uint32_t{mac[offset + 1]} << 16 |
                          uint32_t{mac[offset + 2]} << 8 | uint32_t{mac[offset + 3]};
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  return binary % modulus;
}

std::string TotpCode(std::span<const uint8_t> secret, uint64_t time_step, int digits) {
  std::string code = std::to_string(Hotp(secret, time_step, digits));
  if (code.size() < static_cast<size_t>(digits)) code.insert(0, digits - code.size(), '0');
  return code;
}

bool IsTotpCodeShape(std::string_view code) {
  return code.size() == kTotpDigits &&
         std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<uint64_t> MatchTotp(std::span<const uint8_t> secret, std::string_view code,
                                  TimestampUs now_us) {
  if (!IsTotpCodeShape(code)) return std::nullopt;
  const uint64_t now_step = TotpTimeStep(now_us / 1'000'000);
  std::optional<uint64_t> matched;
  for (uint64_t step = now_step == 0 ? 0 : now_step - 1; step <= now_step + 1; ++step) {
    const std::string candidate = TotpCode(secret, step);
    uint8_t diff = 0;
    for (size_t i = 0; i < candidate.size(); ++i) {
      diff |= static_cast<uint8_t>(candidate[i] ^ code[i]);
    }
    // No early exit: the latest matching step wins, all three are always computed.
    if (diff == 0) matched = step;
  }
  return matched;
}

std::string OtpauthUri(std::string_view issuer, std::string_view label,
                       std::string_view base32_secret) {
  const std::string enc_issuer = PercentEncode(issuer);
  return "otpauth://totp/" + enc_issuer + ":" + PercentEncode(label) +
         "?secret=" + std::string(base32_secret) + "&issuer=" + enc_issuer +
         "&algorithm=SHA1&digits=" + std::to_string(kTotpDigits) +
         "&period=" + std::to_string(kTotpStepSeconds);
}

std::string FormatRecoveryCode(std::span<const uint8_t, kRecoveryCodeBytes> bytes) {
  std::string plain = Base32Encode(bytes);  // 16 characters
  std::transform(plain.begin(), plain.end(), plain.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  return plain.substr(0, 4) + "-" + plain.substr(4, 4) + "-" + plain.substr(8, 4) + "-" +
         plain.substr(12, 4);
}

std::optional<std::string> NormalizeRecoveryCode(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    if (Base32Value(c) < 0) return std::nullopt;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    if (out.size() > 16) return std::nullopt;
  }
  if (out.size() != 16) return std::nullopt;
  return out;
}

}  // namespace clawvisor
