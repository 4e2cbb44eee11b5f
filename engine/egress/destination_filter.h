#pragma once

// Which resolved addresses the egress gateway may dial (design D9): only public unicast
// addresses. Refused, with the range's name as the reason: loopback, RFC 1918 private, CGNAT
// (100.64/10), link-local (169.254/16, where cloud metadata lives, and fe80::/10), multicast,
// unspecified, broadcast and reserved space, documentation and benchmarking ranges, IPv6 ULA
// (fc00::/7) and site-local, and the host's own addresses. IPv4 embedded in IPv6 (mapped,
// NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by the IPv4 address it carries.
//
// Tests stand in "the internet" on loopback: `treat_as_public` ranges skip the range check (never
// the host-address check). Production configurations leave it empty.
//
// Thread-safety: immutable after construction.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clawvisor::egress {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4

  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Cidr {
  IpAddress base;
  int prefix = 0;

  // "10.0.0.0/8", "fc00::/7"; a bare address is its /32 or /128.
  static std::optional<Cidr> Parse(std::string_view text);
  bool Contains(const IpAddress& address) const;
};

// The name of the special-purpose range `address` is in, or nullopt for public unicast.
std::optional<std::string_view> SpecialRange(const IpAddress& address);

class DestinationFilter {
 public:
  DestinationFilter() = default;
  DestinationFilter(std::vector<IpAddress> host_addresses, std::vector<Cidr> treat_as_public);

  // Why `address` may not be dialled ("loopback", "host address", ...), or nullopt.
  std::optional<std::string> Refusal(const IpAddress& address) const;

 private:
  std::vector<IpAddress> host_addresses_;
  std::vector<Cidr> treat_as_public_;
};

}  // namespace clawvisor::egress
