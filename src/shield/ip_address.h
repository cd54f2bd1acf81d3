// A client IP address as the shield sees it: IPv4 or IPv6, stored as 16 bytes (IPv4 as ::ffff:a.b.c.d)
// so that tables, lists and keys handle both families with one code path.
//
// A plain value type: no allocation, trivially copyable, safe to use from any thread.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark::shield {

class IpAddress {
 public:
  IpAddress() = default;

  // "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1". False (and `out` unchanged) on anything else,
  // including surrounding spaces, zone ids ("fe80::1%eth0") and brackets.
  static bool parse(std::string_view text, IpAddress& out) noexcept;
  // From a sockaddr_in / sockaddr_in6; false for other families. An IPv4-mapped IPv6 peer is IPv4.
  static bool fromSockaddr(const sockaddr* sa, socklen_t len, IpAddress& out) noexcept;
  static IpAddress v4(uint32_t hostOrder) noexcept;
  static IpAddress v6(const uint8_t bytes[16]) noexcept;

  bool isV4() const noexcept;
  // Bits of the address in its own family: 32 for IPv4, 128 for IPv6.
  int bits() const noexcept { return isV4() ? 32 : 128; }
  // The 16-byte form (IPv4 mapped into ::ffff:0:0/96).
  const std::array<uint8_t, 16>& bytes() const noexcept { return bytes_; }
  // Bit `i` (0 = most significant) of the address in its own family (for IPv4, bit 0 is the top bit of
  // the first octet).
  bool bit(int i) const noexcept;
  // The address with all bits after the first `prefixLen` (in its own family) cleared.
  IpAddress masked(int prefixLen) const noexcept;
  // 64-bit hash, stable within a process run (for table keys).
  uint64_t hash() const noexcept;

  std::string toString() const;

  bool operator==(const IpAddress&) const = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). The address is masked to the prefix.
// False on a malformed text or a length beyond the family's bits.
struct IpPrefix {
  IpAddress address;
  int length = 0;  // in the address family's bits
  static bool parse(std::string_view text, IpPrefix& out) noexcept;
  bool contains(const IpAddress& a) const noexcept;
  std::string toString() const;
};

}  // namespace bulwark::shield
