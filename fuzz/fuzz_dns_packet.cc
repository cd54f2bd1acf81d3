// libFuzzer target: parseQuery + answerQuery (UDP and TCP limits) + errorResponse + the answer cache on
// arbitrary bytes, over a small zone built in-process that has every answer path (CNAME chain and loop,
// wildcards, empty non-terminal, delegation with glue, DNAME in and out of the zone, MX/SRV additional
// data). A response must fit its limit and parse back as a DNS message whose id is the query's.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "dns/answer.h"
#include "dns/answer_cache.h"

using namespace bulwark::dns;

namespace {

const char kZone[] = R"(
$TTL 300
@ SOA ns1 hostmaster 1 7200 3600 1209600 60
@ NS ns1
@ NS ns.other.net.
@ MX 10 mail
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
mail A 192.0.2.2
www A 192.0.2.3
www A 192.0.2.4
alias CNAME www
c1 CNAME c2
c2 CNAME c1
*.wild A 192.0.2.5
*.wc CNAME alias
a.b.ent TXT "x"
sub NS ns.sub
ns.sub A 192.0.2.6
sub DS 1 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE4D42F2D3D1E4A2C4B1F3E4D5
dn DNAME example.net.
dnin DNAME wild.example.com.
srv SRV 0 0 53 mail
big TXT "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big TXT "5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
)";

const ZoneSet& zones() {
  static const ZoneSet set = [] {
    ZoneSet s;
    const ZoneLoad r = loadZoneText("example.com", kZone, "fuzz-zone");
    if (!r.zone) __builtin_trap();
    s.add(r.zone);
    return s;
  }();
  return set;
}

void checkResponse(const uint8_t* q, const uint8_t* out, size_t n, size_t cap) {
  if (n > cap) __builtin_trap();
  if (n == 0) return;
  if (n < kHeaderSize || out[0] != q[0] || out[1] != q[1] || !(out[2] & 0x80)) __builtin_trap();
  size_t pos = kHeaderSize;
  const uint16_t counts = static_cast<uint16_t>(readU16(out + 6) + readU16(out + 8) + readU16(out + 10));
  for (uint16_t i = 0; i < readU16(out + 4); ++i) {
    Name name;
    if (!readName(out, n, pos, name) || pos + 4 > n) __builtin_trap();
    pos += 4;
  }
  for (uint16_t i = 0; i < counts; ++i) {
    Name name;
    if (!readName(out, n, pos, name) || pos + 10 > n) __builtin_trap();
    pos += 10 + readU16(out + pos + 8);
    if (pos > n) __builtin_trap();
  }
  if (pos != n) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static uint8_t out[65535];
  ParsedQuery q;
  const ParseResult pr = parseQuery(data, size, q);
  if (pr == ParseResult::FormErr) {
    checkResponse(data, out, errorResponse(data, size, Rcode::FormErr, out, sizeof out), sizeof out);
    return 0;
  }
  if (pr != ParseResult::Ok) return 0;
  AnswerInfo info;
  AnswerOptions udp;
  const size_t n = answerQuery(zones(), q, data, size, udp, out, 512, info);
  checkResponse(data, out, n, 512);
  // The answer cache (smallest ring: it wraps often): what it returns for these bytes is what was stored.
  static AnswerCache cache(64 * 1024);
  static uint8_t cached[4096];
  cache.store(data, size, out, n, AnswerCache::Meta{q.qtype, 0, 0, 0});
  AnswerCache::Meta meta;
  cache.prefetchSlot(data, size);
  cache.prefetchRecord(data, size);
  const size_t m = cache.lookup(data, size, cached, sizeof cached, meta);
  if (m != 0 && (m != n || std::memcmp(cached, out, n) != 0 || meta.qtype != q.qtype)) __builtin_trap();
  AnswerOptions tcp;
  tcp.tcp = true;
  const uint8_t cookie[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  tcp.serverCookie = cookie;
  tcp.serverCookieLen = 16;
  checkResponse(data, out, answerQuery(zones(), q, data, size, tcp, out, sizeof out, info), sizeof out);
  checkResponse(data, out, errorResponse(data, size, Rcode::Refused, out, sizeof out), sizeof out);
  return 0;
}
