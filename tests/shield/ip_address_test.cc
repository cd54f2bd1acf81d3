#include "shield/ip_address.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

namespace bulwark::shield {
namespace {

TEST(IpAddress, ParsesBothFamiliesAndRoundTrips) {
  IpAddress a;
  ASSERT_TRUE(IpAddress::parse("192.0.2.1", a));
  EXPECT_TRUE(a.isV4());
  EXPECT_EQ(a.bits(), 32);
  EXPECT_EQ(a.toString(), "192.0.2.1");
  ASSERT_TRUE(IpAddress::parse("2001:db8::1", a));
  EXPECT_FALSE(a.isV4());
  EXPECT_EQ(a.toString(), "2001:db8::1");
}

TEST(IpAddress, MappedV6IsTheSameAsV4) {
  IpAddress a;
  IpAddress b;
  ASSERT_TRUE(IpAddress::parse("::ffff:10.1.2.3", a));
  ASSERT_TRUE(IpAddress::parse("10.1.2.3", b));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hash(), b.hash());
}

TEST(IpAddress, RejectsMalformedText) {
  IpAddress a;
  for (const char* bad :
       {"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "256.1.1.1", "[::1]", "fe80::1%eth0", "1.2.3.4/8", "::g"}) {
    EXPECT_FALSE(IpAddress::parse(bad, a)) << bad;
  }
}

TEST(IpAddress, BitsAndMaskingFollowTheFamily) {
  IpAddress a;
  ASSERT_TRUE(IpAddress::parse("192.168.255.7", a));
  EXPECT_TRUE(a.bit(0));  // 192 = 1100 0000
  EXPECT_TRUE(a.bit(1));
  EXPECT_FALSE(a.bit(2));
  EXPECT_EQ(a.masked(24).toString(), "192.168.255.0");
  EXPECT_EQ(a.masked(0).toString(), "0.0.0.0");
  EXPECT_TRUE(a.masked(0).isV4());
  ASSERT_TRUE(IpAddress::parse("2001:db8:aaaa:bbbb:cccc::1", a));
  EXPECT_EQ(a.masked(64).toString(), "2001:db8:aaaa:bbbb::");
  EXPECT_EQ(a.masked(60).toString(), "2001:db8:aaaa:bbb0::");
}

TEST(IpAddress, FromSockaddr) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(0x7f000002);
  IpAddress a;
  ASSERT_TRUE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&in), sizeof in, a));
  EXPECT_EQ(a.toString(), "127.0.0.2");
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr.s6_addr[15] = 1;
  ASSERT_TRUE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&in6), sizeof in6, a));
  EXPECT_EQ(a.toString(), "::1");
  sockaddr bogus{};
  bogus.sa_family = AF_UNIX;
  EXPECT_FALSE(IpAddress::fromSockaddr(&bogus, sizeof bogus, a));
  EXPECT_FALSE(IpAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&in6), sizeof(sockaddr_in), a));
}

TEST(IpPrefix, ParsesMasksAndContains) {
  IpPrefix p;
  ASSERT_TRUE(IpPrefix::parse("10.1.2.3/8", p));
  EXPECT_EQ(p.toString(), "10.0.0.0/8");
  IpAddress a;
  ASSERT_TRUE(IpAddress::parse("10.200.0.1", a));
  EXPECT_TRUE(p.contains(a));
  ASSERT_TRUE(IpAddress::parse("11.0.0.1", a));
  EXPECT_FALSE(p.contains(a));
  ASSERT_TRUE(IpAddress::parse("::a00:1", a));  // an IPv6 address is never inside an IPv4 prefix
  EXPECT_FALSE(p.contains(a));
  ASSERT_TRUE(IpPrefix::parse("2001:db8::/32", p));
  ASSERT_TRUE(IpAddress::parse("2001:db8:ffff::1", a));
  EXPECT_TRUE(p.contains(a));
  ASSERT_TRUE(IpPrefix::parse("192.0.2.9", p));
  EXPECT_EQ(p.length, 32);
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "/8", "x/8"}) {
    EXPECT_FALSE(IpPrefix::parse(bad, p)) << bad;
  }
}

}  // namespace
}  // namespace bulwark::shield
