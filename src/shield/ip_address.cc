#include "shield/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace bulwark::shield {

namespace {
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

IpAddress IpAddress::v4(uint32_t hostOrder) noexcept {
  IpAddress a;
  std::memcpy(a.bytes_.data(), kMappedPrefix, 12);
  a.bytes_[12] = static_cast<uint8_t>(hostOrder >> 24);
  a.bytes_[13] = static_cast<uint8_t>(hostOrder >> 16);
  a.bytes_[14] = static_cast<uint8_t>(hostOrder >> 8);
  a.bytes_[15] = static_cast<uint8_t>(hostOrder);
  return a;
}

IpAddress IpAddress::v6(const uint8_t bytes[16]) noexcept {
  IpAddress a;
  std::memcpy(a.bytes_.data(), bytes, 16);
  return a;
}

bool IpAddress::isV4() const noexcept { return std::memcmp(bytes_.data(), kMappedPrefix, 12) == 0; }

bool IpAddress::parse(std::string_view text, IpAddress& out) noexcept {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a4;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, &a4) != 1) return false;
    out = v4(ntohl(a4.s_addr));
    return true;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, buf, &a6) != 1) return false;
  out = v6(a6.s6_addr);
  return true;
}

bool IpAddress::fromSockaddr(const sockaddr* sa, socklen_t len, IpAddress& out) noexcept {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    out = v4(ntohl(in->sin_addr.s_addr));
    return true;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    out = v6(in6->sin6_addr.s6_addr);
    return true;
  }
  return false;
}

bool IpAddress::bit(int i) const noexcept {
  const int offset = isV4() ? 96 : 0;
  const int b = offset + i;
  return ((bytes_[static_cast<std::size_t>(b >> 3)] >> (7 - (b & 7))) & 1) != 0;
}

IpAddress IpAddress::masked(int prefixLen) const noexcept {
  IpAddress r = *this;
  int keep = (isV4() ? 96 : 0) + (prefixLen < 0 ? 0 : prefixLen);
  for (int byte = 0; byte < 16; ++byte) {
    int bitsHere = keep - byte * 8;
    if (bitsHere >= 8) continue;
    r.bytes_[static_cast<std::size_t>(byte)] &=
        bitsHere <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bitsHere));
  }
  return r;
}

uint64_t IpAddress::hash() const noexcept {
  uint64_t hi;
  uint64_t lo;
  std::memcpy(&hi, bytes_.data(), 8);
  std::memcpy(&lo, bytes_.data() + 8, 8);
  uint64_t h = hi * 0x9E3779B97F4A7C15ull ^ (lo + 0x632BE59BD9B4E019ull);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN];
  if (isV4()) {
    inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  }
  return buf;
}

bool IpPrefix::parse(std::string_view text, IpPrefix& out) noexcept {
  std::size_t slash = text.find('/');
  IpAddress a;
  if (!IpAddress::parse(text.substr(0, slash), a)) return false;
  int len = a.bits();
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return false;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || p != digits.data() + digits.size() || len < 0 || len > a.bits()) return false;
  }
  out.address = a.masked(len);
  out.length = len;
  return true;
}

bool IpPrefix::contains(const IpAddress& a) const noexcept {
  return a.isV4() == address.isV4() && a.masked(length) == address;
}

std::string IpPrefix::toString() const { return address.toString() + "/" + std::to_string(length); }

}  // namespace bulwark::shield
