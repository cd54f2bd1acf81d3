// DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018, so that servers of different
// vendors behind one anycast address accept each other's cookies when they share the secret:
//
//   server cookie (16 bytes) = Version (1, = 1) | Reserved (3, zero when we make it) | Timestamp (4, seconds
//                              since the Unix epoch, big-endian, serial arithmetic) | Hash (8)
//   Hash = SipHash-2-4(key = 16-byte secret,
//                      Client Cookie (8) | Version | Reserved | Timestamp | Client IP (4 or 16 bytes))
//
// The hash covers the Version/Reserved/Timestamp bytes as received, so a cookie made by another server with
// non-zero Reserved bytes still validates (RFC 9018 A.3). An IPv4-mapped IPv6 client address is hashed as
// its 4-byte IPv4 form (what a server on an IPv4 socket sees). A previous secret is accepted as well, for
// rollover across a fleet (RFC 9018 §5).
//
// `ServerCookies` is immutable after construction: to roll the secret over, build a new one with
// (newSecret, oldSecret) and publish it the way other snapshots are published. Every method is safe from
// any number of threads and allocates nothing.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bulwark::dns {

inline constexpr std::size_t kClientCookieLen = 8;
inline constexpr std::size_t kServerCookieLen = 16;  // what we make and the only length we accept
using CookieSecret = std::array<uint8_t, 16>;

// SipHash-2-4 (Aumasson & Bernstein) with a 16-byte key and 64-bit output: the value whose little-endian
// bytes are the reference implementation's output bytes.
uint64_t siphash24(const uint8_t key[16], const uint8_t* data, std::size_t len) noexcept;

enum class CookieStatus : uint8_t {
  Valid,    // made by us (current or previous secret) for this client cookie and address, timestamp in range
  Expired,  // well-formed, but the timestamp is more than 1 hour old or more than 5 minutes in the future
            // (the hash is not checked then: an out-of-range cookie is rejected either way)
  Invalid,  // wrong length or version, or the hash does not match
};

struct CookieCheck {
  CookieStatus status = CookieStatus::Invalid;
  // Valid, but the answer should carry a new server cookie: older than 30 minutes (RFC 9018 §4.3), or made
  // with the previous secret. When false the received server cookie may be echoed as it is.
  bool refresh = false;
};

class ServerCookies {
 public:
  static constexpr uint32_t kMaxAgeSeconds = 3600;
  static constexpr uint32_t kMaxFutureSeconds = 300;
  static constexpr uint32_t kRefreshAgeSeconds = 1800;

  explicit ServerCookies(const CookieSecret& secret, std::optional<CookieSecret> previous = std::nullopt);

  // The 16-byte server cookie for `clientCookie` (8 bytes) from `client` (sockaddr_in / sockaddr_in6; other
  // families hash no address) at `nowSeconds` (Unix time).
  void generate(const uint8_t* clientCookie, const sockaddr* client, uint32_t nowSeconds,
                uint8_t out[kServerCookieLen]) const noexcept;

  // Checks a received server cookie of `len` bytes against the client cookie it came with. The hash
  // comparison takes the same time whatever bytes differ.
  CookieCheck validate(const uint8_t* clientCookie, const uint8_t* serverCookie, std::size_t len,
                       const sockaddr* client, uint32_t nowSeconds) const noexcept;

  bool hasPrevious() const noexcept { return hasPrevious_; }

 private:
  CookieSecret secret_;
  CookieSecret previous_{};
  bool hasPrevious_ = false;
};

// 32 hex digits -> secret. False (out untouched) on anything else.
bool parseCookieSecret(std::string_view hex, CookieSecret& out);
std::string cookieSecretToHex(const CookieSecret& secret);
// A secret from the system's CSPRNG (OpenSSL RAND_bytes).
CookieSecret randomCookieSecret();

}  // namespace bulwark::dns
