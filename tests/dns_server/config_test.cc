// The `dns:` section of the configuration (src/core/config.cc): the contract, defaults, every key, and the
// errors with FILE:LINE:COL.
#include "core/config.h"

#include <gtest/gtest.h>

#include <string>

namespace bulwark {
namespace {

ConfigResult parse(const std::string& text) { return parseConfig(text, "t.yaml"); }

std::string errors(const ConfigResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.message + "\n";
  return out;
}

// readFile() checks zone files exist: use one that does.
const std::string kZone = std::string(BULWARK_TEST_DATA) + "/config/../../../CMakeLists.txt";

TEST(DnsConfig, ContractAsWrittenNeedsNothingElse) {
  ConfigResult r = parse(
      "dns:\n  listen: [127.0.0.1:5300]\n  zones:\n    - name: example.com\n      file: " + kZone + "\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  const DnsConfig& d = r.config->dns;
  EXPECT_TRUE(d.enabled);
  ASSERT_EQ(d.listen.size(), 1u);
  EXPECT_EQ(d.listen[0].host, "127.0.0.1");
  EXPECT_EQ(d.listen[0].port, 5300);
  ASSERT_EQ(d.zones.size(), 1u);
  EXPECT_EQ(d.zones[0].name, "example.com");
  EXPECT_EQ(d.zones[0].file, kZone);
  EXPECT_FALSE(d.zones[0].primary.has_value());
  EXPECT_EQ(d.ednsUdpSize, 1232u);
  EXPECT_EQ(d.answerCacheMb, 8u);
  EXPECT_EQ(d.udpCoalesceUs, 100u);
  EXPECT_EQ(d.tcp.maxConnections, 512u);
  EXPECT_FALSE(d.rrl.enabled);
  EXPECT_EQ(d.rrl.ipv4Prefix, 24u);
  EXPECT_EQ(d.rrl.ipv6Prefix, 56u);
  EXPECT_FALSE(d.cookies.enabled);
  EXPECT_TRUE(r.config->listeners.empty());
}

TEST(DnsConfig, WithoutDnsAListenerIsStillRequired) {
  ConfigResult r = parse("workers: 1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(errors(r).find("at least one listener is required"), std::string::npos);
}

TEST(DnsConfig, EveryKey) {
  ConfigResult r = parse(
      "dns:\n"
      "  listen: [127.0.0.1:5300, \"[::1]:5300\"]\n"
      "  edns_udp_size: 1400\n"
      "  answer_cache_mb: 16\n"
      "  udp_coalesce_us: 250\n"
      "  zones:\n"
      "    - name: Example.COM.\n"
      "      file: " +
      kZone +
      "\n"
      "      allow_transfer: [192.0.2.0/24, \"2001:db8::1\"]\n"
      "      notify: [192.0.2.53:53, \"[2001:db8::53]:5353\"]\n"
      "    - name: sub.example.net\n"
      "      primary: 192.0.2.1:53\n"
      "  tcp: {max_connections: 10, idle_timeout: 3s, io_timeout: 500ms}\n"
      "  rrl: {enabled: true, responses_per_second: 20, window: 5s, slip: 3, ipv4_prefix: 28, ipv6_prefix: "
      "64,"
      " table_size: 4096}\n"
      "  cookies: {enabled: true, secret: 00112233445566778899AABBCCDDEEFF}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  const DnsConfig& d = r.config->dns;
  EXPECT_EQ(d.listen.size(), 2u);
  EXPECT_EQ(d.ednsUdpSize, 1400u);
  EXPECT_EQ(d.answerCacheMb, 16u);
  EXPECT_EQ(d.udpCoalesceUs, 250u);
  ASSERT_EQ(d.zones.size(), 2u);
  EXPECT_EQ(d.zones[0].name, "example.com");
  EXPECT_EQ(d.zones[0].allowTransfer.size(), 2u);
  ASSERT_EQ(d.zones[0].notify.size(), 2u);
  EXPECT_EQ(d.zones[0].notify[1].port, 5353);
  EXPECT_TRUE(d.zones[1].file.empty());
  ASSERT_TRUE(d.zones[1].primary.has_value());
  EXPECT_EQ(d.zones[1].primary->port, 53);
  EXPECT_EQ(d.tcp.maxConnections, 10u);
  EXPECT_EQ(d.tcp.idleTimeout, Millis(3000));
  EXPECT_EQ(d.tcp.ioTimeout, Millis(500));
  EXPECT_TRUE(d.rrl.enabled);
  EXPECT_EQ(d.rrl.responsesPerSecond, 20u);
  EXPECT_EQ(d.rrl.window, Millis(5000));
  EXPECT_EQ(d.rrl.slip, 3u);
  EXPECT_EQ(d.rrl.ipv4Prefix, 28u);
  EXPECT_EQ(d.rrl.ipv6Prefix, 64u);
  EXPECT_EQ(d.rrl.tableSize, 4096u);
  EXPECT_TRUE(d.cookies.enabled);
  EXPECT_EQ(d.cookies.secret, "00112233445566778899aabbccddeeff");
}

TEST(DnsConfig, UnknownKeysAndBadValuesHavePositions) {
  ConfigResult r = parse(
      "dns:\n"
      "  listen: [127.0.0.1:5300]\n"
      "  zones:\n"
      "    - name: example.com\n"
      "      file: " +
      kZone +
      "\n"
      "      colour: blue\n"
      "  rrl: {slip: 11, table_size: 5000}\n"
      "  cookies: {secret: abc}\n"
      "  edns_udp_size: 100\n"
      "  tcp: {idle: 1s}\n"
      "  answer_cache_mb: 2048\n"
      "  udp_coalesce_us: 5000\n");
  ASSERT_FALSE(r.ok());
  const std::string e = errors(r);
  EXPECT_NE(e.find("t.yaml:6:7: unknown key 'colour' in dns.zones[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:7:15: dns.rrl.slip must be an integer from 0 to 10"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:7:31: dns.rrl.table_size must be a power of two, got 5000"), std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:8:21: dns.cookies.secret must be 32 hex digits"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:9:18: dns.edns_udp_size must be an integer from 512 to 4096"), std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:10:9: unknown key 'idle' in dns.tcp"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:11:20: dns.answer_cache_mb must be an integer from 0 to 1024"), std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:12:20: dns.udp_coalesce_us must be an integer from 0 to 1000"), std::string::npos)
      << e;
}

TEST(DnsConfig, ZoneNeedsExactlyOneSource) {
  ConfigResult r = parse(
      "dns:\n"
      "  listen: [127.0.0.1:5300]\n"
      "  zones:\n"
      "    - name: a.example\n"
      "    - name: b.example\n"
      "      file: " +
      kZone +
      "\n"
      "      primary: 192.0.2.1:53\n"
      "    - name: c.example\n"
      "      primary: 192.0.2.1:53\n"
      "    - name: c.example\n"
      "      primary: 192.0.2.1:53\n"
      "    - name: bad..name\n"
      "      primary: 192.0.2.1:53\n");
  ASSERT_FALSE(r.ok());
  const std::string e = errors(r);
  EXPECT_NE(e.find("t.yaml:4:7: dns.zones[0]: zone 'a.example' needs exactly one of 'file'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("t.yaml:5:7: dns.zones[1]: zone 'b.example' needs exactly one"), std::string::npos) << e;
  EXPECT_NE(e.find("t.yaml:10:13: dns.zones[3]: duplicate zone 'c.example' (first declared on line 8)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("invalid zone name 'bad..name'"), std::string::npos) << e;
}

TEST(DnsConfig, RequiredKeysAndListShapes) {
  ConfigResult r = parse("dns:\n  zones: []\n");
  ASSERT_FALSE(r.ok());
  std::string e = errors(r);
  EXPECT_NE(e.find("missing required key 'listen' in dns"), std::string::npos) << e;
  EXPECT_NE(e.find("dns.zones: at least one zone is required"), std::string::npos) << e;
  r = parse("dns:\n  listen: [localhost:53]\n  zones: [{name: x, primary: 192.0.2.1:53}]\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(errors(r).find("must be an IP address, not a host name"), std::string::npos) << errors(r);
}

TEST(DnsConfig, AddressSharedWithAnHttpListenerIsRefused) {
  ConfigResult r = parse(
      "listeners:\n  - address: 127.0.0.1:8080\n"
      "routes:\n  - match: {prefix: /}\n    respond: {status: 200}\n"
      "dns:\n  listen: [127.0.0.1:8080]\n  zones: [{name: x, primary: 192.0.2.1:53}]\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(errors(r).find("dns listen address '127.0.0.1:8080' is already used by the listener on line 2"),
            std::string::npos)
      << errors(r);
}

}  // namespace
}  // namespace bulwark
