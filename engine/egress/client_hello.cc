#include "engine/egress/client_hello.h"

#include <optional>
#include <string_view>
#include <vector>

#include "engine/egress/host_name.h"

namespace clawvisor::egress {
namespace {

constexpr uint8_t kHandshakeRecord = 0x16;
constexpr uint8_t kClientHello = 0x01;
constexpr uint16_t kServerNameExtension = 0x0000;
constexpr uint8_t kHostNameType = 0x00;
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecordPayload = 16384 + 2048;  // TLSCiphertext's limit (RFC 8446 5.2)

HelloScan Malformed(std::string problem) {
  return {HelloScanState::kMalformed, "", std::move(problem)};
}

// A bounds-checked reader over the reassembled handshake message.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool Skip(size_t n) {
    if (bytes_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  std::optional<uint32_t> Uint(size_t width) {
    if (bytes_.size() - pos_ < width) return std::nullopt;
    uint32_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | bytes_[pos_ + i];
    pos_ += width;
    return v;
  }
  // The next `length` bytes as a reader of their own.
  std::optional<Reader> Sub(size_t length) {
    if (bytes_.size() - pos_ < length) return std::nullopt;
    Reader sub(bytes_.subspan(pos_, length));
    pos_ += length;
    return sub;
  }
  // A vector with a `width`-byte length prefix.
  std::optional<Reader> Vector(size_t width) {
    auto length = Uint(width);
    if (!length) return std::nullopt;
    return Sub(*length);
  }
  bool empty() const { return pos_ == bytes_.size(); }
  std::string_view Text() const {
    return {reinterpret_cast<const char*>(bytes_.data() + pos_), bytes_.size() - pos_};
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

HelloScan ParseHandshake(std::span<const uint8_t> message) {
  Reader r(message);
  r.Skip(4);  // type and length, checked by the caller
  if (!r.Skip(2 + 32)) return Malformed("ClientHello too short");  // legacy_version, random
  auto session_id = r.Vector(1);
  auto cipher_suites = session_id ? r.Vector(2) : std::nullopt;
  auto compression = cipher_suites ? r.Vector(1) : std::nullopt;
  if (!compression) return Malformed("ClientHello truncated before its extensions");
  if (r.empty()) return {HelloScanState::kComplete, "", ""};  // no extensions: no SNI
  auto extensions = r.Vector(2);
  if (!extensions || !r.empty()) return Malformed("ClientHello extensions do not add up");
  std::optional<std::string> server_name;
  while (!extensions->empty()) {
    auto type = extensions->Uint(2);
    auto body = type ? extensions->Vector(2) : std::nullopt;
    if (!body) return Malformed("ClientHello extension truncated");
    if (*type != kServerNameExtension) continue;
    if (server_name) return Malformed("ClientHello sends server_name twice");
    auto list = body->Vector(2);
    if (!list || !body->empty() || list->empty()) return Malformed("server_name list malformed");
    while (!list->empty()) {
      auto name_type = list->Uint(1);
      auto name = name_type ? list->Vector(2) : std::nullopt;
      if (!name) return Malformed("server_name entry truncated");
      if (*name_type != kHostNameType) continue;
      if (server_name) return Malformed("server_name holds two host names");
      auto normalized = NormalizeHostName(name->Text());
      if (!normalized) return Malformed("server_name is not a host name");
      server_name = std::move(*normalized);
    }
  }
  return {HelloScanState::kComplete, server_name.value_or(""), ""};
}

}  // namespace

HelloScan ScanClientHello(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return {};
  if (bytes[0] != kHandshakeRecord) return {HelloScanState::kNotTls, "", "not a TLS handshake"};
  // Reassemble the handshake message from as many records as it spans.
  std::vector<uint8_t> handshake;
  size_t pos = 0;
  while (true) {
    if (bytes.size() - pos < kRecordHeader) return {};
    const uint8_t* header = bytes.data() + pos;
    if (header[0] != kHandshakeRecord)
      return Malformed("ClientHello interrupted by another record");
    if (header[1] != 0x03 || header[2] > 0x04) {
      return {HelloScanState::kNotTls, "", "not a TLS record version"};
    }
    const size_t length = (size_t{header[3]} << 8) | header[4];
    if (length == 0 || length > kMaxRecordPayload) return Malformed("TLS record length invalid");
    if (bytes.size() - pos - kRecordHeader < length) return {};
    handshake.insert(handshake.end(), header + kRecordHeader, header + kRecordHeader + length);
    pos += kRecordHeader + length;
    if (handshake.size() >= 4) {
      if (handshake[0] != kClientHello)
        return Malformed("first handshake message is not a ClientHello");
      const size_t message =
          (size_t{handshake[1]} << 16) | (size_t{handshake[2]} << 8) | handshake[3];
      if (message + 4 > kMaxClientHelloBytes) return Malformed("ClientHello too large");
      if (handshake.size() >= message + 4) {
        return ParseHandshake(std::span<const uint8_t>(handshake).first(message + 4));
      }
    }
    if (pos > kMaxClientHelloBytes) return Malformed("ClientHello too large");
  }
}

}  // namespace clawvisor::egress
