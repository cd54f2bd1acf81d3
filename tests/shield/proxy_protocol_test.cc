#include "shield/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bulwark::shield {
namespace {

const std::string kSig("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

std::string v2(uint8_t verCmd, uint8_t family, const std::string& body) {
  std::string h = kSig;
  h += static_cast<char>(verCmd);
  h += static_cast<char>(family);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s += static_cast<char>(b);
  return s;
}

// 192.0.2.1:56324 -> 198.51.100.7:443
const std::string kTcp4Block = bytes({192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB});
// 2001:db8::1:1234 -> 2001:db8::2:443
const std::string kTcp6Block =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    1,    0x20, 0x01,
           0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x04, 0xD2, 0x01, 0xBB});

struct Parsed {
  ProxyParseStatus status;
  ProxyHeader header;
  std::size_t consumed = 0;
  std::string error;
};

Parsed parse(std::string_view data, std::size_t maxBytes = kProxyDefaultMaxBytes) {
  Parsed p;
  p.status = parseProxyHeader(data, p.header, p.consumed, p.error, maxBytes);
  return p;
}

// Every strict prefix needs more; the whole header is kDone with exactly its length consumed, also when
// the proxied stream follows in the same read.
void expectCompleteOnlyAtEnd(const std::string& header) {
  for (std::size_t k = 0; k < header.size(); ++k) {
    Parsed p = parse(std::string_view(header).substr(0, k));
    ASSERT_EQ(p.status, ProxyParseStatus::kNeedMore) << "prefix of " << k << " bytes: " << p.error;
  }
  Parsed whole = parse(header + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(whole.status, ProxyParseStatus::kDone) << whole.error;
  EXPECT_EQ(whole.consumed, header.size());
}

// The header parses completely (see above) to these addresses.
void expectAddresses(const std::string& header, int version, const char* src, const char* dst,
                     uint16_t srcPort, uint16_t dstPort) {
  expectCompleteOnlyAtEnd(header);
  Parsed p = parse(header);
  ASSERT_EQ(p.status, ProxyParseStatus::kDone) << p.error;
  EXPECT_EQ(p.consumed, header.size());
  EXPECT_EQ(p.header.version, version);
  EXPECT_TRUE(p.header.hasAddresses);
  EXPECT_FALSE(p.header.local);
  EXPECT_EQ(p.header.src.toString(), src);
  EXPECT_EQ(p.header.dst.toString(), dst);
  EXPECT_EQ(p.header.srcPort, srcPort);
  EXPECT_EQ(p.header.dstPort, dstPort);
}

// The header parses completely (see above) and says "use the TCP peer address".
void expectLocal(const std::string& header) {
  expectCompleteOnlyAtEnd(header);
  Parsed p = parse(header);
  ASSERT_EQ(p.status, ProxyParseStatus::kDone) << p.error;
  EXPECT_EQ(p.consumed, header.size());
  EXPECT_TRUE(p.header.local);
  EXPECT_FALSE(p.header.hasAddresses);
}

TEST(ProxyProtocolV1, Tcp4) {
  expectAddresses("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n", 1, "192.0.2.1", "198.51.100.7", 56324,
                  443);
}

TEST(ProxyProtocolV1, Tcp6) {
  expectAddresses("PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n", 1, "2001:db8::1", "2001:db8::2", 0,
                  65535);
}

TEST(ProxyProtocolV1, MappedTcp6IsTheIpv4Client) {
  Parsed p = parse("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n");
  ASSERT_EQ(p.status, ProxyParseStatus::kDone) << p.error;
  EXPECT_TRUE(p.header.src.isV4());
  EXPECT_EQ(p.header.src.toString(), "192.0.2.1");
}

TEST(ProxyProtocolV1, UnknownIsLocalWhateverFollows) {
  for (const std::string h :
       {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"}) {
    expectLocal(h);
  }
}

TEST(ProxyProtocolV1, LongestLineIsAccepted) {
  // The spec's worst case: 107 bytes.
  const std::string h =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
      "65535\r\n";
  ASSERT_EQ(h.size(), kProxyV1MaxBytes);
  expectCompleteOnlyAtEnd(h);
}

TEST(ProxyProtocolV1, RejectsEveryMalformedLine) {
  const std::vector<std::string> bad = {
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\n",                                // LF without CR
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\rX",                               // CR without LF
      "PROXY TCP4  192.0.2.1 198.51.100.7 56324 443\r\n",                             // double space
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 \r\n",                             // trailing space
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",                                  // missing field
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 1\r\n",                            // extra field
      "PROXY TCP4 2001:db8::1 198.51.100.7 56324 443\r\n",                            // v6 address in TCP4
      "PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n",                               // v4 address in TCP6
      "PROXY TCP4 192.0.2.256 198.51.100.7 56324 443\r\n",                            // bad octet
      "PROXY TCP4 192.0.2.01 198.51.100.7 56324 443\r\n",                             // leading zero in octet
      "PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",                              // port out of range
      "PROXY TCP4 192.0.2.1 198.51.100.7 +1 443\r\n",                                 // sign
      "PROXY TCP4 192.0.2.1 198.51.100.7 0443 443\r\n",                               // leading zero
      "PROXY TCP4 192.0.2.1 198.51.100.7 1a 443\r\n",                                 // not decimal
      "PROXY TCP4 192.0.2.1 198.51.100.7 123456 443\r\n",                             // too many digits
      "PROXY UDP4 192.0.2.1 198.51.100.7 56324 443\r\n",                              // unknown protocol
      "PROXY tcp4 192.0.2.1 198.51.100.7 56324 443\r\n",                              // case matters
      "PROXY UNKNOWNX\r\n",                                                           // not UNKNOWN
      "PROXY \r\n",                                                                   // empty
      "PROXY  TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",                             // space before protocol
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443" + std::string(70, ' ') + "\r\n",  // over 107
      "PROXYTCP4 192.0.2.1 198.51.100.7 56324 443\r\n",                               // no space after PROXY
      "GET / HTTP/1.1\r\n",                                                           // not a header at all
  };
  for (const std::string& h : bad) {
    Parsed p = parse(h);
    EXPECT_EQ(p.status, ProxyParseStatus::kError) << h;
    EXPECT_FALSE(p.error.empty()) << h;
  }
}

TEST(ProxyProtocolV1, OverlongLineFailsWithoutWaitingForCrlf) {
  Parsed p = parse("PROXY UNKNOWN " + std::string(200, 'x'));
  EXPECT_EQ(p.status, ProxyParseStatus::kError);
  // Garbage is refused from its first byte, not after 107 bytes.
  EXPECT_EQ(parse("X").status, ProxyParseStatus::kError);
  EXPECT_EQ(parse("PROXZ").status, ProxyParseStatus::kError);
  EXPECT_EQ(parse(std::string("\r\n\r\n\x01", 5)).status, ProxyParseStatus::kError);
}

TEST(ProxyProtocolV2, Tcp4) {
  expectAddresses(v2(0x21, 0x11, kTcp4Block), 2, "192.0.2.1", "198.51.100.7", 56324, 443);
}

TEST(ProxyProtocolV2, Tcp6) {
  expectAddresses(v2(0x21, 0x21, kTcp6Block), 2, "2001:db8::1", "2001:db8::2", 1234, 443);
}

TEST(ProxyProtocolV2, TlvsAreSkipped) {
  // PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com", an empty PP2_TYPE_NOOP, PP2_TYPE_CRC32C.
  const std::string tlvs = bytes({0x01, 0x00, 0x02}) + "h2" + bytes({0x02, 0x00, 0x0B}) + "example.com" +
                           bytes({0x04, 0x00, 0x00}) + bytes({0x03, 0x00, 0x04, 1, 2, 3, 4});
  const std::string h = v2(0x21, 0x11, kTcp4Block + tlvs);
  expectCompleteOnlyAtEnd(h);
  Parsed p = parse(h);
  ASSERT_EQ(p.status, ProxyParseStatus::kDone);
  EXPECT_EQ(p.consumed, h.size());
  EXPECT_EQ(p.header.src.toString(), "192.0.2.1");
}

TEST(ProxyProtocolV2, LocalIgnoresFamilyAndBlock) {
  for (uint8_t family : {0x00, 0x11, 0x31, 0xFF}) {
    const std::string h = v2(0x20, family, std::string(5, 'z'));
    expectLocal(h);
  }
  expectLocal(v2(0x20, 0x00, ""));
}

TEST(ProxyProtocolV2, ProxyUnspecIsLocal) {
  expectLocal(v2(0x21, 0x00, ""));
  expectLocal(v2(0x21, 0x00, bytes({0x04, 0x00, 0x00})));  // its block is discarded unread
}

TEST(ProxyProtocolV2, RejectsEveryErrorClass) {
  struct Case {
    std::string header;
    const char* what;
  };
  std::string badSig = v2(0x21, 0x11, kTcp4Block);
  badSig[11] = 0x0B;
  const std::vector<Case> cases = {
      {badSig, "bad signature"},
      {v2(0x11, 0x11, kTcp4Block), "version 1 in the binary form"},
      {v2(0x31, 0x11, kTcp4Block), "version 3"},
      {v2(0x22, 0x11, kTcp4Block), "command 2"},
      {v2(0x2F, 0x11, kTcp4Block), "command 15"},
      {v2(0x21, 0x12, kTcp4Block), "UDP over IPv4"},
      {v2(0x21, 0x22, kTcp6Block), "UDP over IPv6"},
      {v2(0x21, 0x31, std::string(216, '\0')), "UNIX stream"},
      {v2(0x21, 0x32, std::string(216, '\0')), "UNIX datagram"},
      {v2(0x21, 0x10, kTcp4Block), "INET with UNSPEC transport"},
      {v2(0x21, 0x13, kTcp4Block), "transport 3"},
      {v2(0x21, 0x41, kTcp4Block), "family 4"},
      {v2(0x21, 0x11, kTcp4Block.substr(0, 11)), "length below the IPv4 block"},
      {v2(0x21, 0x21, kTcp4Block), "length below the IPv6 block"},
      {v2(0x21, 0x11, kTcp4Block + bytes({0x01, 0x00})), "truncated TLV header"},
      {v2(0x21, 0x11, kTcp4Block + bytes({0x01, 0x00, 0x05, 'a'})), "TLV longer than the header"},
  };
  for (const Case& c : cases) {
    Parsed p = parse(c.header);
    EXPECT_EQ(p.status, ProxyParseStatus::kError) << c.what;
    EXPECT_FALSE(p.error.empty()) << c.what;
  }
}

TEST(ProxyProtocolV2, ErrorsAreFoundAsSoonAsTheBytesShowThem) {
  // The length field announces more than the limit: refused after 16 bytes, not after 64 KiB.
  std::string big = kSig + bytes({0x21, 0x11, 0xFF, 0xFF});
  EXPECT_EQ(parse(big).status, ProxyParseStatus::kError);
  // A bad command is refused at byte 13, an unsupported family at byte 14.
  EXPECT_EQ(parse(kSig + bytes({0x23})).status, ProxyParseStatus::kError);
  EXPECT_EQ(parse(kSig + bytes({0x21, 0x12})).status, ProxyParseStatus::kError);
}

TEST(ProxyProtocolV2, LimitIsConfigurableWithASaneFloor) {
  const std::string h = v2(0x21, 0x11, kTcp4Block + bytes({0x04, 0x01, 0x00}) + std::string(256, 'p'));
  EXPECT_EQ(parse(h).status, ProxyParseStatus::kDone);
  EXPECT_EQ(parse(h, 256).status, ProxyParseStatus::kError);
  EXPECT_EQ(parse(h, h.size()).status, ProxyParseStatus::kDone);
  // A limit below the largest address block is raised to it.
  const std::string unixLocal = v2(0x20, 0x31, std::string(216, '\0'));
  EXPECT_EQ(parse(unixLocal, 16).status, ProxyParseStatus::kDone);
  // 16 + 65535: the longest header the wire can express, accepted when the limit allows it.
  const std::string longest =
      v2(0x21, 0x11, kTcp4Block + bytes({0x04, 0xFF, 0xF0}) + std::string(0xFFF0, 'p'));
  ASSERT_EQ(longest.size(), 16u + 65535u);
  EXPECT_EQ(parse(longest, 16 + 65535).status, ProxyParseStatus::kDone);
  EXPECT_EQ(parse(longest).status, ProxyParseStatus::kError);
}

TEST(ProxyProtocol, EveryPrefixOfAnInvalidHeaderIsNeedMoreOrError) {
  for (const std::string& h : {std::string("PROXY TCP4 192.0.2.1 198.51.100.7 99999 443\r\n"),
                               v2(0x21, 0x11, kTcp4Block + bytes({0x01, 0x00, 0x05, 'a'}))}) {
    for (std::size_t k = 0; k <= h.size(); ++k) {
      Parsed p = parse(std::string_view(h).substr(0, k));
      EXPECT_NE(p.status, ProxyParseStatus::kDone) << k;
    }
  }
}

TEST(ProxyProtocol, EmptyInputNeedsMore) { EXPECT_EQ(parse("").status, ProxyParseStatus::kNeedMore); }

}  // namespace
}  // namespace bulwark::shield
