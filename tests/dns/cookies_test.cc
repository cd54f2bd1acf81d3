#include "dns/cookies.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

namespace bulwark::dns {
namespace {

std::vector<uint8_t> fromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string toHex(const uint8_t* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

CookieSecret secret(const std::string& hex) {
  CookieSecret s{};
  EXPECT_TRUE(parseCookieSecret(hex, s)) << hex;
  return s;
}

// A sockaddr_storage holding a v4 or v6 address.
sockaddr_storage address(const std::string& text) {
  sockaddr_storage ss{};
  if (text.find(':') == std::string::npos) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, text.c_str(), &sin->sin_addr), 1) << text;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr), 1) << text;
  }
  return ss;
}

const sockaddr* sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

std::string generateHex(const ServerCookies& cookies, const std::string& clientCookie, const std::string& ip,
                        uint32_t now) {
  const std::vector<uint8_t> cc = fromHex(clientCookie);
  const sockaddr_storage addr = address(ip);
  uint8_t out[kServerCookieLen];
  cookies.generate(cc.data(), sa(addr), now, out);
  return toHex(out, sizeof out);
}

CookieCheck check(const ServerCookies& cookies, const std::string& clientCookie,
                  const std::string& serverCookie, const std::string& ip, uint32_t now) {
  const std::vector<uint8_t> cc = fromHex(clientCookie);
  const std::vector<uint8_t> sc = fromHex(serverCookie);
  const sockaddr_storage addr = address(ip);
  return cookies.validate(cc.data(), sc.data(), sc.size(), sa(addr), now);
}

// SipHash-2-4 paper / reference implementation vectors: key 00 01 .. 0f, message 00 01 .. (n-1), output
// bytes as the reference code writes them (little-endian).
TEST(SipHash, ReferenceVectors) {
  struct Vector {
    std::size_t len;
    const char* out;
  };
  const Vector vectors[] = {{0, "310e0edd47db6f72"},  {1, "fd67dc93c539f874"},  {7, "37d1018bf50002ab"},
                            {8, "6224939a79f5f593"},  {9, "b0e4a90bdf82009e"},  {15, "e545be4961ca29a1"},
                            {16, "db9bc2577fcc2a3f"}, {31, "42c341d8fa92d832"}, {63, "724506eb4c328a95"}};
  uint8_t key[16], msg[64];
  for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<uint8_t>(i);
  for (const Vector& v : vectors) {
    const uint64_t h = siphash24(key, msg, v.len);
    uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(h >> (8 * i));
    EXPECT_EQ(toHex(bytes, 8), v.out) << "length " << v.len;
  }
  // The paper's worked example (15-byte message) as a 64-bit value.
  EXPECT_EQ(siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
  // Unaligned input gives the same result.
  uint8_t shifted[64];
  for (int i = 0; i < 63; ++i) shifted[i + 1] = msg[i];
  EXPECT_EQ(siphash24(key, shifted + 1, 63), siphash24(key, msg, 63));
}

// RFC 9018 Appendix A.1: learning a new server cookie.
TEST(ServerCookies, Rfc9018A1NewCookie) {
  ServerCookies cookies(secret("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  EXPECT_EQ(generateHex(cookies, "2464c4abcf10c957", "198.51.100.100", 1559731985),
            "010000005cf79f111f8130c3eee29480");
  // The fresh cookie validates at once, without asking for a refresh.
  CookieCheck c =
      check(cookies, "2464c4abcf10c957", "010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559731985);
  EXPECT_EQ(c.status, CookieStatus::Valid);
  EXPECT_FALSE(c.refresh);
}

// A.2: the same client 40 minutes later: valid, older than half an hour, so a renewed cookie is sent.
TEST(ServerCookies, Rfc9018A2RenewedCookie) {
  ServerCookies cookies(secret("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  CookieCheck c =
      check(cookies, "2464c4abcf10c957", "010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559734385);
  EXPECT_EQ(c.status, CookieStatus::Valid);
  EXPECT_TRUE(c.refresh);
  EXPECT_EQ(generateHex(cookies, "2464c4abcf10c957", "198.51.100.100", 1559734385),
            "010000005cf7a871d4a564a1442aca77");
}

// A.3: another client's cookie with non-zero Reserved bytes. The hash covers them as received, so it checks
// out while in range; at the RFC's reply time (1 h 52 min after the stamp) it is past the hour, so Expired.
TEST(ServerCookies, Rfc9018A3ReservedBytesAndRenewal) {
  ServerCookies cookies(secret("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  const std::string received = "01abcdef5cf78f71a314227b6679ebf5";
  EXPECT_EQ(check(cookies, "fc93fc62807ddb86", received, "203.0.113.203", 1559727985 + 60).status,
            CookieStatus::Valid);
  EXPECT_EQ(check(cookies, "fc93fc62807ddb86", received, "203.0.113.203", 1559734700).status,
            CookieStatus::Expired);
  EXPECT_EQ(generateHex(cookies, "fc93fc62807ddb86", "203.0.113.203", 1559734700),
            "010000005cf7a9acf73a7810aca2381e");
}

// A.4: IPv6 client, cookie made with the previous secret, accepted during rollover and renewed with the new.
TEST(ServerCookies, Rfc9018A4Ipv6Rollover) {
  const std::string ip = "2001:db8:220:1:59de:d0f4:8769:82b8";
  const std::string received = "010000005cf7c57926556bd0934c72f8";
  const CookieSecret oldSecret = secret("dd3bdf9344b678b185a6f5cb60fca715");
  const CookieSecret newSecret = secret("445536bcd2513298075a5d379663c962");

  ServerCookies before(oldSecret);
  EXPECT_EQ(generateHex(before, "22681ab97d52c298", ip, 1559741817), received);

  ServerCookies rolled(newSecret, oldSecret);
  EXPECT_TRUE(rolled.hasPrevious());
  CookieCheck c = check(rolled, "22681ab97d52c298", received, ip, 1559741961);
  EXPECT_EQ(c.status, CookieStatus::Valid);
  EXPECT_TRUE(c.refresh) << "a cookie made with the previous secret is renewed";
  EXPECT_EQ(generateHex(rolled, "22681ab97d52c298", ip, 1559741961), "010000005cf7c609a6bb79d16625507a");

  // Once the old secret is dropped, the old cookie no longer validates; the renewed one does.
  ServerCookies after(newSecret);
  EXPECT_EQ(check(after, "22681ab97d52c298", received, ip, 1559741961).status, CookieStatus::Invalid);
  EXPECT_EQ(check(after, "22681ab97d52c298", "010000005cf7c609a6bb79d16625507a", ip, 1559741961).status,
            CookieStatus::Valid);
}

TEST(ServerCookies, ExpiryBoundaries) {
  ServerCookies cookies(secret("000102030405060708090a0b0c0d0e0f"));
  const std::string cc = "0102030405060708";
  const uint32_t t0 = 1'700'000'000;
  const std::string made = generateHex(cookies, cc, "192.0.2.1", t0);

  auto at = [&](int64_t delta) {
    return check(cookies, cc, made, "192.0.2.1", static_cast<uint32_t>(t0 + delta));
  };
  EXPECT_EQ(at(0).status, CookieStatus::Valid);
  EXPECT_EQ(at(1800).status, CookieStatus::Valid);
  EXPECT_FALSE(at(1800).refresh);
  EXPECT_TRUE(at(1801).refresh);
  EXPECT_EQ(at(3600).status, CookieStatus::Valid);
  EXPECT_EQ(at(3601).status, CookieStatus::Expired);
  EXPECT_EQ(at(86400).status, CookieStatus::Expired);
  // Made in the future (clock skew between servers of a fleet): 5 minutes tolerated.
  EXPECT_EQ(at(-300).status, CookieStatus::Valid);
  EXPECT_FALSE(at(-300).refresh);
  EXPECT_EQ(at(-301).status, CookieStatus::Expired);
}

TEST(ServerCookies, TimestampUsesSerialArithmetic) {
  ServerCookies cookies(secret("000102030405060708090a0b0c0d0e0f"));
  const std::string cc = "a1a2a3a4a5a6a7a8";
  const uint32_t stamp = 0xfffffff0u;  // 16 s before the 32-bit wrap
  const std::string made = generateHex(cookies, cc, "192.0.2.1", stamp);
  EXPECT_EQ(made.substr(0, 16), "01000000fffffff0");
  EXPECT_EQ(check(cookies, cc, made, "192.0.2.1", 100).status, CookieStatus::Valid);  // 116 s later, wrapped
  EXPECT_EQ(check(cookies, cc, made, "192.0.2.1", 3600).status, CookieStatus::Expired);
}

TEST(ServerCookies, TamperingIsDetected) {
  ServerCookies cookies(secret("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  const std::vector<uint8_t> cc = fromHex("2464c4abcf10c957");
  const sockaddr_storage addr = address("198.51.100.100");
  const uint32_t now = 1559731985;
  uint8_t good[kServerCookieLen];
  cookies.generate(cc.data(), sa(addr), now, good);
  ASSERT_EQ(cookies.validate(cc.data(), good, sizeof good, sa(addr), now).status, CookieStatus::Valid);

  // Every single-bit change of the server cookie is refused (Invalid, or Expired when the flip moved the
  // timestamp out of range).
  for (std::size_t bit = 0; bit < 8 * kServerCookieLen; ++bit) {
    uint8_t bad[kServerCookieLen];
    std::memcpy(bad, good, sizeof bad);
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(cookies.validate(cc.data(), bad, sizeof bad, sa(addr), now).status, CookieStatus::Valid) << bit;
  }
  // ... and of the client cookie it came with.
  for (std::size_t bit = 0; bit < 8 * kClientCookieLen; ++bit) {
    std::vector<uint8_t> other = cc;
    other[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_EQ(cookies.validate(other.data(), good, sizeof good, sa(addr), now).status, CookieStatus::Invalid)
        << bit;
  }
  // Another address, even in the same /24, or another secret.
  const sockaddr_storage neighbour = address("198.51.100.101");
  EXPECT_EQ(cookies.validate(cc.data(), good, sizeof good, sa(neighbour), now).status, CookieStatus::Invalid);
  ServerCookies otherSecret(secret("e5e973e5a6b2a43f48e7dc849e37bfce"));
  EXPECT_EQ(otherSecret.validate(cc.data(), good, sizeof good, sa(addr), now).status, CookieStatus::Invalid);
  // Lengths other than 16, a version other than 1, missing pointers.
  EXPECT_EQ(cookies.validate(cc.data(), good, 8, sa(addr), now).status, CookieStatus::Invalid);
  uint8_t longer[24] = {};
  std::memcpy(longer, good, sizeof good);
  EXPECT_EQ(cookies.validate(cc.data(), longer, sizeof longer, sa(addr), now).status, CookieStatus::Invalid);
  uint8_t v2[kServerCookieLen];
  std::memcpy(v2, good, sizeof v2);
  v2[0] = 2;
  EXPECT_EQ(cookies.validate(cc.data(), v2, sizeof v2, sa(addr), now).status, CookieStatus::Invalid);
  EXPECT_EQ(cookies.validate(nullptr, good, sizeof good, sa(addr), now).status, CookieStatus::Invalid);
  EXPECT_EQ(cookies.validate(cc.data(), nullptr, 0, sa(addr), now).status, CookieStatus::Invalid);
}

TEST(ServerCookies, Ipv4MappedAddressHashesAsIpv4) {
  ServerCookies cookies(secret("e5e973e5a6b2a43f48e7dc849e37bfcf"));
  EXPECT_EQ(generateHex(cookies, "2464c4abcf10c957", "::ffff:198.51.100.100", 1559731985),
            "010000005cf79f111f8130c3eee29480");
  EXPECT_EQ(check(cookies, "2464c4abcf10c957", "010000005cf79f111f8130c3eee29480", "::ffff:198.51.100.100",
                  1559731985)
                .status,
            CookieStatus::Valid);
}

TEST(ServerCookies, RolloverAcceptsBothSecretsAndRenewsOld) {
  const CookieSecret a = secret("00112233445566778899aabbccddeeff");
  const CookieSecret b = secret("ffeeddccbbaa99887766554433221100");
  const std::string cc = "0011223344556677";
  const uint32_t now = 1'700'000'000;
  const std::string fromA = generateHex(ServerCookies(a), cc, "2001:db8::1", now);
  const std::string fromB = generateHex(ServerCookies(b), cc, "2001:db8::1", now);
  EXPECT_NE(fromA, fromB);
  ServerCookies rolled(b, a);
  CookieCheck ca = check(rolled, cc, fromA, "2001:db8::1", now + 10);
  CookieCheck cb = check(rolled, cc, fromB, "2001:db8::1", now + 10);
  EXPECT_EQ(ca.status, CookieStatus::Valid);
  EXPECT_TRUE(ca.refresh);
  EXPECT_EQ(cb.status, CookieStatus::Valid);
  EXPECT_FALSE(cb.refresh);
  // The previous secret is not used to make cookies.
  EXPECT_EQ(generateHex(rolled, cc, "2001:db8::1", now), fromB);
}

TEST(CookieSecret, ParsesAndPrintsHex) {
  CookieSecret s{};
  ASSERT_TRUE(parseCookieSecret("E5E973E5A6B2A43F48E7DC849E37BFCF", s));
  EXPECT_EQ(cookieSecretToHex(s), "e5e973e5a6b2a43f48e7dc849e37bfcf");
  const CookieSecret before = s;
  for (const char* bad : {"", "e5e973e5a6b2a43f48e7dc849e37bfc", "e5e973e5a6b2a43f48e7dc849e37bfcf00",
                          "g5e973e5a6b2a43f48e7dc849e37bfcf", "e5e973e5a6b2a43f48e7dc849e37bfc "}) {
    EXPECT_FALSE(parseCookieSecret(bad, s)) << bad;
    EXPECT_EQ(s, before);
  }
  EXPECT_NE(randomCookieSecret(), randomCookieSecret());
}

}  // namespace
}  // namespace bulwark::dns
