#include "dns/cookies.h"

#include <netinet/in.h>
#include <openssl/rand.h>

#include <bit>
#include <cstring>
#include <stdexcept>

namespace bulwark::dns {

namespace {

// The first n (< 8) bytes at p as a little-endian number.
uint64_t loadLittleEndianTail(const uint8_t* p, std::size_t n) noexcept {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

uint64_t loadLittleEndian64(const uint8_t* p) noexcept {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  void absorb(uint64_t m) noexcept {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

// The client address as RFC 9018 hashes it: 4 bytes for IPv4 (also when it arrives IPv4-mapped), 16 for
// IPv6, none for anything else. Returns the length written to `out` (16 bytes of room).
std::size_t clientAddressBytes(const sockaddr* client, uint8_t* out) noexcept {
  if (client == nullptr) return 0;
  if (client->sa_family == AF_INET) {
    std::memcpy(out, &reinterpret_cast<const sockaddr_in*>(client)->sin_addr, 4);
    return 4;
  }
  if (client->sa_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      std::memcpy(out, a.s6_addr + 12, 4);
      return 4;
    }
    std::memcpy(out, a.s6_addr, 16);
    return 16;
  }
  return 0;
}

// SipHash of client cookie | version | reserved | timestamp (the first 8 bytes of a server cookie) | address.
uint64_t cookieHash(const CookieSecret& secret, const uint8_t* clientCookie, const uint8_t* header,
                    const sockaddr* client) noexcept {
  uint8_t msg[kClientCookieLen + 8 + 16];
  std::memcpy(msg, clientCookie, kClientCookieLen);
  std::memcpy(msg + kClientCookieLen, header, 8);
  const std::size_t addrLen = clientAddressBytes(client, msg + kClientCookieLen + 8);
  return siphash24(secret.data(), msg, kClientCookieLen + 8 + addrLen);
}

// Equality of the 8 hash bytes without an early exit.
bool hashEquals(uint64_t expected, const uint8_t* bytes) noexcept {
  uint64_t diff = 0;
  for (int i = 0; i < 8; ++i) diff |= (uint64_t{bytes[i]} ^ ((expected >> (8 * i)) & 0xff));
  return diff == 0;
}

int hexDigit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

uint64_t siphash24(const uint8_t key[16], const uint8_t* data, std::size_t len) noexcept {
  const uint64_t k0 = loadLittleEndian64(key);
  const uint64_t k1 = loadLittleEndian64(key + 8);
  SipState s{k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull, k0 ^ 0x6c7967656e657261ull,
             k1 ^ 0x7465646279746573ull};
  const std::size_t whole = len & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) s.absorb(loadLittleEndian64(data + i));
  s.absorb(loadLittleEndianTail(data + whole, len - whole) | (uint64_t{len & 0xff} << 56));
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

ServerCookies::ServerCookies(const CookieSecret& secret, std::optional<CookieSecret> previous)
    : secret_(secret) {
  if (previous) {
    previous_ = *previous;
    hasPrevious_ = true;
  }
}

void ServerCookies::generate(const uint8_t* clientCookie, const sockaddr* client, uint32_t nowSeconds,
                             uint8_t out[kServerCookieLen]) const noexcept {
  out[0] = 1;  // version
  out[1] = out[2] = out[3] = 0;
  out[4] = static_cast<uint8_t>(nowSeconds >> 24);
  out[5] = static_cast<uint8_t>(nowSeconds >> 16);
  out[6] = static_cast<uint8_t>(nowSeconds >> 8);
  out[7] = static_cast<uint8_t>(nowSeconds);
  const uint64_t h = cookieHash(secret_, clientCookie, out, client);
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(h >> (8 * i));
}

CookieCheck ServerCookies::validate(const uint8_t* clientCookie, const uint8_t* serverCookie, std::size_t len,
                                    const sockaddr* client, uint32_t nowSeconds) const noexcept {
  if (clientCookie == nullptr || serverCookie == nullptr || len != kServerCookieLen || serverCookie[0] != 1) {
    return {CookieStatus::Invalid, false};
  }
  const uint32_t stamp = (uint32_t{serverCookie[4]} << 24) | (uint32_t{serverCookie[5]} << 16) |
                         (uint32_t{serverCookie[6]} << 8) | serverCookie[7];
  // Serial number arithmetic (RFC 1982): the signed distance from the stamp to now.
  const int64_t age = static_cast<int32_t>(nowSeconds - stamp);
  if (age > int64_t{kMaxAgeSeconds} || age < -int64_t{kMaxFutureSeconds})
    return {CookieStatus::Expired, false};
  if (hashEquals(cookieHash(secret_, clientCookie, serverCookie, client), serverCookie + 8)) {
    return {CookieStatus::Valid, age > int64_t{kRefreshAgeSeconds}};
  }
  if (hasPrevious_ &&
      hashEquals(cookieHash(previous_, clientCookie, serverCookie, client), serverCookie + 8)) {
    return {CookieStatus::Valid, true};
  }
  return {CookieStatus::Invalid, false};
}

bool parseCookieSecret(std::string_view hex, CookieSecret& out) {
  if (hex.size() != 2 * out.size()) return false;
  CookieSecret tmp{};
  for (std::size_t i = 0; i < tmp.size(); ++i) {
    const int hi = hexDigit(hex[2 * i]), lo = hexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    tmp[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  out = tmp;
  return true;
}

std::string cookieSecretToHex(const CookieSecret& secret) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * secret.size());
  for (uint8_t b : secret) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

CookieSecret randomCookieSecret() {
  CookieSecret s{};
  if (RAND_bytes(s.data(), static_cast<int>(s.size())) != 1) {
    throw std::runtime_error("dns cookies: RAND_bytes failed");
  }
  return s;
}

}  // namespace bulwark::dns
