#include "engine/egress/destination_filter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <span>

namespace clawvisor::egress {
namespace {

struct Range {
  std::string_view cidr;
  std::string_view name;
};

// IANA's special-purpose registries (RFC 6890 and successors), the parts that matter here.
constexpr Range kV4Ranges[] = {
    {"0.0.0.0/8", "unspecified"},        {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "cgnat"},          {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},    {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},        {"192.0.2.0/24", "documentation"},
    {"192.88.99.0/24", "reserved"},      {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "benchmarking"},   {"198.51.100.0/24", "documentation"},
    {"203.0.113.0/24", "documentation"}, {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},  // includes 255.255.255.255, broadcast
};
constexpr Range kV6Ranges[] = {
    {"::/128", "unspecified"},          {"::1/128", "loopback"},      {"::/96", "reserved"},
    {"64:ff9b:1::/48", "reserved"},     {"100::/64", "reserved"},     {"2001::/23", "reserved"},
    {"2001:db8::/32", "documentation"}, {"fc00::/7", "unique-local"}, {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local"},        {"ff00::/8", "multicast"},
};

// The IPv4 address an IPv6 address carries by a standard mapping, if any.
std::optional<IpAddress> EmbeddedV4(const IpAddress& a) {
  const auto& b = a.bytes;
  auto from = [&](size_t at) { return IpAddress::V4(b[at], b[at + 1], b[at + 2], b[at + 3]); };
  const bool mapped = std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; }) &&
                      b[10] == 0xff && b[11] == 0xff;
  if (mapped) return from(12);
  const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::equal(nat64, nat64 + 12, b.begin())) return from(12);
  if (b[0] == 0x20 && b[1] == 0x02) return from(2);  // 6to4
  return std::nullopt;
}

}  // namespace

IpAddress IpAddress::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress address;
  address.bytes[0] = a;
  address.bytes[1] = b;
  address.bytes[2] = c;
  address.bytes[3] = d;
  return address;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string z(text);
  IpAddress address;
  if (inet_pton(AF_INET, z.c_str(), address.bytes.data()) == 1) return address;
  address.v6 = true;
  if (inet_pton(AF_INET6, z.c_str(), address.bytes.data()) == 1) return address;
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
  return text;
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  auto base = IpAddress::Parse(text.substr(0, slash));
  if (!base) return std::nullopt;
  const int max = base->v6 ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 || prefix > max) {
      return std::nullopt;
    }
  }
  return Cidr{*base, prefix};
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.v6 != base.v6) return false;
  int bits = prefix;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((address.bytes[i] & mask) != (base.bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<std::string_view> SpecialRange(const IpAddress& address) {
  if (address.v6) {
    if (auto v4 = EmbeddedV4(address)) return SpecialRange(*v4);
  }
  for (const Range& range :
       address.v6 ? std::span<const Range>(kV6Ranges) : std::span<const Range>(kV4Ranges)) {
    if (Cidr::Parse(range.cidr)->Contains(address)) return range.name;
  }
  return std::nullopt;
}

DestinationFilter::DestinationFilter(std::vector<IpAddress> host_addresses,
                                     std::vector<Cidr> treat_as_public)
    : host_addresses_(std::move(host_addresses)), treat_as_public_(std::move(treat_as_public)) {}

std::optional<std::string> DestinationFilter::Refusal(const IpAddress& address) const {
  const IpAddress plain = address.v6 ? EmbeddedV4(address).value_or(address) : address;
  for (const auto& own : host_addresses_) {
    if (own == address || own == plain) return "host address";
  }
  for (const auto& cidr : treat_as_public_) {
    if (cidr.Contains(plain)) return std::nullopt;
  }
  if (auto range = SpecialRange(address)) return std::string(*range);
  return std::nullopt;
}

}  // namespace clawvisor::egress
