// Zone transfers, protocol side: AXFR/IXFR message streams (checked by feeding them back through the
// transfer-in parser), NOTIFY and query messages, serial arithmetic, the allow_transfer matcher.
#include "dns/xfr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dns/journal.h"
#include "dns/wire.h"
#include "dns/zone.h"

namespace bulwark::dns {
namespace {

std::string zoneText(uint32_t serial, const std::string& extra = "", int hosts = 0) {
  std::string t = "$ORIGIN example.com.\n$TTL 3600\n";
  t += "@ IN SOA ns1.example.com. hostmaster.example.com. " + std::to_string(serial) +
       " 7200 900 1209600 300\n";
  t += "@ IN NS ns1.example.com.\n@ IN NS ns2.example.net.\n";
  t += "@ IN MX 10 mail.example.com.\n";
  t += "ns1 IN A 192.0.2.1\nmail IN A 192.0.2.2\nwww IN CNAME mail.example.com.\n";
  t += "txt IN TXT \"hello\" \"world\"\n";
  t += "_sip._tcp IN SRV 10 20 5060 mail.example.com.\n";
  for (int i = 0; i < hosts; ++i) {
    t += "host" + std::to_string(i) + " IN A 10.0." + std::to_string(i / 256) + "." +
         std::to_string(i % 256) + "\n";
    t += "host" + std::to_string(i) + " IN AAAA 2001:db8::" + std::to_string(i + 1) + "\n";
  }
  t += extra;
  return t;
}

std::shared_ptr<const Zone> load(const std::string& text) {
  ZoneLoad l = loadZoneText("example.com", text);
  EXPECT_TRUE(l.zone) << l.error;
  return l.zone;
}

Name name(const char* t) {
  Name n;
  EXPECT_TRUE(nameFromText(t, n));
  return n;
}

// A parsed query for `qtype` (with the SOA of `ixfrFrom` in authority for IXFR), kept with its bytes.
struct Query {
  uint8_t buf[1024];
  size_t len = 0;
  ParsedQuery q;
};
void makeQuery(Query& out, uint16_t qtype, uint16_t id, const OwnedRecord* soa = nullptr) {
  out.len = buildQuery(name("example.com"), qtype, id, soa, out.buf, sizeof out.buf);
  ASSERT_GT(out.len, 0u);
  ASSERT_EQ(parseQuery(out.buf, out.len, out.q), ParseResult::Ok);
}

OwnedRecord soaOf(const Zone& z) {
  OwnedRecord soa;
  bool found = false;
  z.forEachRecord([&](const RecordView& r) {
    if (!found && r.type == kTypeSOA) {
      soa = toOwned(r);
      found = true;
    }
  });
  return soa;
}

struct Collected {
  std::vector<std::vector<uint8_t>> messages;
  MessageSink sink() {
    return [this](const uint8_t* m, size_t n) {
      messages.emplace_back(m, m + n);
      return true;
    };
  }
};

XfrReceiver::State feedAll(XfrReceiver& rx, const Collected& c) {
  XfrReceiver::State st = XfrReceiver::State::More;
  for (const auto& m : c.messages) st = rx.feed(m.data(), m.size());
  return st;
}

bool sameContent(const Zone& a, const Zone& b) {
  JournalDelta d = diffZones(a, b);
  return d.removed.empty() && d.added.empty() && a.serial() == b.serial() &&
         a.recordCount() == b.recordCount();
}

TEST(Serial, Rfc1982) {
  EXPECT_TRUE(serialGreater(2, 1));
  EXPECT_FALSE(serialGreater(1, 2));
  EXPECT_FALSE(serialGreater(5, 5));
  EXPECT_TRUE(serialGreater(0, 0xFFFFFFFFu));  // wraps
  EXPECT_TRUE(serialGreater(10, 0xFFFFFFF0u));
  EXPECT_FALSE(serialGreater(0xFFFFFFF0u, 10));
  EXPECT_TRUE(serialGreater(0x7FFFFFFFu, 0));
  EXPECT_FALSE(serialGreater(0x80000000u, 0));  // exactly 2^31 apart: undefined, never "greater"
  EXPECT_FALSE(serialGreater(0, 0x80000000u));
}

TEST(Cidr, ParseAndMatch) {
  std::vector<Cidr> allow(3);
  ASSERT_TRUE(parseCidr("192.0.2.0/24", allow[0]));
  ASSERT_TRUE(parseCidr("2001:db8::/32", allow[1]));
  ASSERT_TRUE(parseCidr("10.1.2.3", allow[2]));
  Cidr bad;
  EXPECT_FALSE(parseCidr("192.0.2.0/33", bad));
  EXPECT_FALSE(parseCidr("2001:db8::/129", bad));
  EXPECT_FALSE(parseCidr("example.com", bad));
  EXPECT_FALSE(parseCidr("10.0.0.0/", bad));
  EXPECT_FALSE(parseCidr("10.0.0.0/a", bad));

  auto v4 = [](const char* a) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
  };
  auto v6 = [](const char* a) {
    sockaddr_in6 s{};
    s.sin6_family = AF_INET6;
    inet_pton(AF_INET6, a, &s.sin6_addr);
    return s;
  };
  sockaddr_in a = v4("192.0.2.77"), b = v4("192.0.3.1"), c = v4("10.1.2.3"), d = v4("10.1.2.4");
  sockaddr_in6 e = v6("2001:db8:ffff::1"), f = v6("2001:db9::1"), g = v6("::ffff:192.0.2.9");
  EXPECT_TRUE(transferAllowed(reinterpret_cast<sockaddr*>(&a), allow));
  EXPECT_FALSE(transferAllowed(reinterpret_cast<sockaddr*>(&b), allow));
  EXPECT_TRUE(transferAllowed(reinterpret_cast<sockaddr*>(&c), allow));
  EXPECT_FALSE(transferAllowed(reinterpret_cast<sockaddr*>(&d), allow));
  EXPECT_TRUE(transferAllowed(reinterpret_cast<sockaddr*>(&e), allow));
  EXPECT_FALSE(transferAllowed(reinterpret_cast<sockaddr*>(&f), allow));
  EXPECT_TRUE(transferAllowed(reinterpret_cast<sockaddr*>(&g), allow));  // v4-mapped counts as v4
  EXPECT_FALSE(transferAllowed(reinterpret_cast<sockaddr*>(&a), {}));    // empty list: nobody
  Cidr odd;
  ASSERT_TRUE(parseCidr("192.0.2.128/25", odd));
  sockaddr_in h = v4("192.0.2.200"), i = v4("192.0.2.100");
  EXPECT_TRUE(transferAllowed(reinterpret_cast<sockaddr*>(&h), {odd}));
  EXPECT_FALSE(transferAllowed(reinterpret_cast<sockaddr*>(&i), {odd}));
}

TEST(Axfr, SmallZoneOneMessageRoundTrips) {
  auto z = load(zoneText(2024010101));
  Query q;
  makeQuery(q, kTypeAXFR, 0x1234);
  Collected c;
  ASSERT_TRUE(buildAxfr(*z, q.q, c.sink()));
  ASSERT_EQ(c.messages.size(), 1u);
  const auto& m = c.messages[0];
  ReplyHeader h;
  ASSERT_TRUE(parseReplyHeader(m.data(), m.size(), h));
  EXPECT_EQ(h.id, 0x1234);
  EXPECT_TRUE(h.qr());
  EXPECT_TRUE(h.flags & kFlagAA);
  EXPECT_EQ(h.qdcount, 1);
  EXPECT_EQ(h.ancount, z->recordCount() + 1);  // SOA twice
  EXPECT_EQ(h.arcount, 0);                     // no EDNS in the query, no OPT

  std::vector<OwnedRecord> recs;
  ASSERT_TRUE(parseAnswerRecords(m.data(), m.size(), recs));
  ASSERT_GE(recs.size(), 2u);
  EXPECT_EQ(recs.front().type, kTypeSOA);
  EXPECT_EQ(recs.back().type, kTypeSOA);
  EXPECT_TRUE(sameRecord(recs.front(), recs.back()));

  XfrReceiver rx(name("example.com"), kTypeAXFR, 0x1234, false, 0);
  ASSERT_EQ(feedAll(rx, c), XfrReceiver::State::Done) << rx.error();
  EXPECT_EQ(rx.kind(), XfrReceiver::Kind::Full);
  EXPECT_EQ(rx.newSerial(), 2024010101u);
  std::string err;
  auto back = rx.buildZone(nullptr, err);
  ASSERT_TRUE(back) << err;
  EXPECT_TRUE(sameContent(*z, *back));
}

TEST(Axfr, LargeZoneIsChunkedAndCompressed) {
  auto z = load(zoneText(7, "", 3000));
  Query q;
  makeQuery(q, kTypeAXFR, 7);
  Collected c;
  ASSERT_TRUE(buildAxfr(*z, q.q, c.sink()));
  ASSERT_GT(c.messages.size(), 5u);
  size_t total = 0, records = 0;
  for (size_t i = 0; i < c.messages.size(); ++i) {
    const auto& m = c.messages[i];
    EXPECT_LE(m.size(), 65535u);
    EXPECT_LE(m.size(), 16384u + 1024u);  // ~16 KiB chunks
    ReplyHeader h;
    ASSERT_TRUE(parseReplyHeader(m.data(), m.size(), h));
    EXPECT_EQ(h.id, 7);
    EXPECT_EQ(h.qdcount, i == 0 ? 1 : 0);
    total += m.size();
    records += h.ancount;
  }
  EXPECT_EQ(records, z->recordCount() + 1);
  // Compression: a host record (owner host<i>.example.com, A) costs well under its uncompressed size.
  EXPECT_LT(total, records * 40);
  XfrReceiver rx(name("example.com"), kTypeAXFR, 7, false, 0);
  ASSERT_EQ(feedAll(rx, c), XfrReceiver::State::Done) << rx.error();
  std::string err;
  auto back = rx.buildZone(nullptr, err);
  ASSERT_TRUE(back) << err;
  EXPECT_TRUE(sameContent(*z, *back));
}

TEST(Axfr, EdnsQueryGetsOptInEveryMessage) {
  auto z = load(zoneText(1, "", 1500));
  Query q;
  makeQuery(q, kTypeAXFR, 9);
  q.q.hasEdns = true;
  Collected c;
  ASSERT_TRUE(buildAxfr(*z, q.q, c.sink()));
  ASSERT_GT(c.messages.size(), 1u);
  for (const auto& m : c.messages) {
    ReplyHeader h;
    ASSERT_TRUE(parseReplyHeader(m.data(), m.size(), h));
    EXPECT_EQ(h.arcount, 1);
    EXPECT_EQ(readU16(m.data() + m.size() - 10), kTypeOPT);
  }
  XfrReceiver rx(name("example.com"), kTypeAXFR, 9, false, 0);
  EXPECT_EQ(feedAll(rx, c), XfrReceiver::State::Done) << rx.error();
}

TEST(Axfr, SinkAbortStopsTheStream) {
  auto z = load(zoneText(1, "", 3000));
  Query q;
  makeQuery(q, kTypeAXFR, 1);
  int calls = 0;
  EXPECT_FALSE(buildAxfr(*z, q.q, [&](const uint8_t*, size_t) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);
}

// The cursor that the TCP server streams with: one message per call gives the very bytes of buildAxfr, the
// query having gone away in between (the cursor keeps its own copy), and a refused message ends it.
TEST(Axfr, CursorGivesTheSameMessagesOneAtATime) {
  auto z = load(zoneText(3, "", 3000));
  Collected whole;
  {
    Query q;
    makeQuery(q, kTypeAXFR, 77);
    q.q.hasEdns = true;
    ASSERT_TRUE(buildAxfr(*z, q.q, whole.sink()));
  }
  ASSERT_GT(whole.messages.size(), 3u);
  std::unique_ptr<AxfrCursor> cursor;
  {
    Query q;
    makeQuery(q, kTypeAXFR, 77);
    q.q.hasEdns = true;
    cursor = std::make_unique<AxfrCursor>(*z, q.q);
  }
  Collected parts;
  size_t calls = 0;
  while (!cursor->done()) {
    const size_t before = parts.messages.size();
    ASSERT_TRUE(cursor->next(parts.sink(), 1));
    EXPECT_LE(parts.messages.size(), before + 1);
    ASSERT_LT(++calls, 10 * whole.messages.size());
  }
  EXPECT_EQ(parts.messages, whole.messages);
  EXPECT_TRUE(cursor->next(parts.sink(), 1));  // done: nothing more
  EXPECT_EQ(parts.messages.size(), whole.messages.size());

  AxfrCursor refused(*z, [] {
    Query q;
    makeQuery(q, kTypeAXFR, 1);
    return q.q;
  }());
  int sent = 0;
  EXPECT_TRUE(refused.next([&](const uint8_t*, size_t) { return ++sent < 100; }, 1));
  EXPECT_FALSE(refused.next([&](const uint8_t*, size_t) { return false; }, 1));
  EXPECT_FALSE(refused.next([&](const uint8_t*, size_t) { return true; }, 1));  // over for good
  EXPECT_FALSE(refused.done());
}

TEST(Ixfr, ClientSerialFromAuthority) {
  auto z = load(zoneText(42));
  OwnedRecord soa = soaOf(*z);
  Query q;
  makeQuery(q, kTypeIXFR, 5, &soa);
  uint32_t s = 0;
  ASSERT_TRUE(ixfrClientSerial(q.buf, q.len, q.q, s));
  EXPECT_EQ(s, 42u);
  Query noSoa;
  makeQuery(noSoa, kTypeIXFR, 5);
  EXPECT_FALSE(ixfrClientSerial(noSoa.buf, noSoa.len, noSoa.q, s));
}

struct Versions {
  std::shared_ptr<const Zone> v1, v2, v3;
  Journal journal;
  Versions() {
    v1 = load(zoneText(100, "old IN A 192.0.2.50\nttl IN A 192.0.2.60\n", 50));
    v2 = load(zoneText(101, "new IN A 192.0.2.51\nttl 60 IN A 192.0.2.60\n", 50));
    v3 = load(zoneText(102, "new IN A 192.0.2.51\nnew IN TXT \"v3\"\nttl 60 IN A 192.0.2.60\n", 49));
    journal.onNewVersion(*v1, *v2);
    journal.onNewVersion(*v2, *v3);
  }
};

TEST(Ixfr, IncrementalFromJournalAppliesToTheOldVersion) {
  Versions v;
  ASSERT_EQ(v.journal.versions(), 2u);
  OwnedRecord soa = soaOf(*v.v1);
  Query q;
  makeQuery(q, kTypeIXFR, 77, &soa);
  for (bool condense : {false, true}) {
    SCOPED_TRACE(condense ? "condensed" : "version by version");
    XfrLimits limits;
    limits.condenseIxfr = condense;
    Collected c;
    ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 100, true, 0, c.sink(), limits));
    std::vector<OwnedRecord> recs;
    for (const auto& m : c.messages) ASSERT_TRUE(parseAnswerRecords(m.data(), m.size(), recs));
    std::vector<uint32_t> soaSerials;
    for (const auto& r : recs) {
      uint32_t s;
      if (r.type == kTypeSOA && soaSerial(r.rdata.data(), r.rdata.size(), s)) soaSerials.push_back(s);
    }
    XfrReceiver rx(name("example.com"), kTypeIXFR, 77, true, 100);
    ASSERT_EQ(feedAll(rx, c), XfrReceiver::State::Done) << rx.error();
    EXPECT_EQ(rx.kind(), XfrReceiver::Kind::Incremental);
    if (condense) {
      // SOA(102) SOA(100) -old -ttl(3600) -host49 x2 SOA(102) +new +ttl(60) +new TXT SOA(102)
      EXPECT_EQ(soaSerials, (std::vector<uint32_t>{102, 100, 102, 102}));
      ASSERT_EQ(rx.deltas().size(), 1u);
      EXPECT_EQ(rx.deltas()[0].removed.size(), 4u);
      EXPECT_EQ(rx.deltas()[0].added.size(), 3u);
    } else {
      // SOA(102) SOA(100) -old -ttl(3600) SOA(101) +new +ttl(60) SOA(101) -host49 x2 SOA(102) +TXT SOA(102)
      EXPECT_EQ(soaSerials, (std::vector<uint32_t>{102, 100, 101, 101, 102, 102}));
      ASSERT_EQ(rx.deltas().size(), 2u);
      EXPECT_EQ(rx.deltas()[0].removed.size(), 2u);  // old, ttl 3600
      EXPECT_EQ(rx.deltas()[0].added.size(), 2u);    // new, ttl 60
    }
    std::string err;
    auto applied = rx.buildZone(v.v1.get(), err);
    ASSERT_TRUE(applied) << err;
    EXPECT_TRUE(sameContent(*applied, *v.v3));
  }
}

TEST(Ixfr, MiddleOfTheChain) {
  Versions v;
  OwnedRecord soa = soaOf(*v.v2);
  Query q;
  makeQuery(q, kTypeIXFR, 3, &soa);
  Collected c;
  ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 101, true, 0, c.sink()));
  XfrReceiver rx(name("example.com"), kTypeIXFR, 3, true, 101);
  ASSERT_EQ(feedAll(rx, c), XfrReceiver::State::Done) << rx.error();
  ASSERT_EQ(rx.deltas().size(), 1u);
  std::string err;
  auto applied = rx.buildZone(v.v2.get(), err);
  ASSERT_TRUE(applied) << err;
  EXPECT_TRUE(sameContent(*applied, *v.v3));
}

TEST(Ixfr, CurrentSerialGetsTheSingleSoa) {
  Versions v;
  OwnedRecord soa = soaOf(*v.v3);
  Query q;
  makeQuery(q, kTypeIXFR, 4, &soa);
  for (bool tcp : {true, false}) {
    Collected c;
    ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 102, tcp, 512, c.sink()));
    ASSERT_EQ(c.messages.size(), 1u);
    ReplyHeader h;
    ASSERT_TRUE(parseReplyHeader(c.messages[0].data(), c.messages[0].size(), h));
    EXPECT_EQ(h.ancount, 1);
    XfrReceiver rx(name("example.com"), kTypeIXFR, 4, true, 102);
    EXPECT_EQ(feedAll(rx, c), XfrReceiver::State::Done);
    EXPECT_EQ(rx.kind(), XfrReceiver::Kind::UpToDate);
  }
  // A client ahead of us (serial newer) also gets the single SOA.
  Collected c;
  ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 200, true, 0, c.sink()));
  ReplyHeader h;
  ASSERT_TRUE(parseReplyHeader(c.messages[0].data(), c.messages[0].size(), h));
  EXPECT_EQ(h.ancount, 1);
}

TEST(Ixfr, UnknownSerialFallsBackToAxfrStyle) {
  Versions v;
  OwnedRecord soa = soaOf(*v.v1);
  Query q;
  makeQuery(q, kTypeIXFR, 8, &soa);
  for (const Journal* j : {static_cast<const Journal*>(&v.journal), static_cast<const Journal*>(nullptr)}) {
    Collected c;
    ASSERT_TRUE(buildIxfr(j, *v.v3, q.q, 50, true, 0, c.sink()));
    XfrReceiver rx(name("example.com"), kTypeIXFR, 8, true, 50);
    ASSERT_EQ(feedAll(rx, c), XfrReceiver::State::Done) << rx.error();
    EXPECT_EQ(rx.kind(), XfrReceiver::Kind::Full);
    std::string err;
    auto back = rx.buildZone(nullptr, err);
    ASSERT_TRUE(back) << err;
    EXPECT_TRUE(sameContent(*back, *v.v3));
  }
}

TEST(Ixfr, NeedsTheFullZoneOnlyWhenTheJournalCannotBridge) {
  Versions v;
  EXPECT_FALSE(ixfrNeedsFullZone(&v.journal, *v.v3, v.v1->serial()));   // in the journal
  EXPECT_FALSE(ixfrNeedsFullZone(&v.journal, *v.v3, v.v3->serial()));   // up to date
  EXPECT_FALSE(ixfrNeedsFullZone(nullptr, *v.v3, v.v3->serial() + 5));  // newer than ours: our SOA
  EXPECT_TRUE(ixfrNeedsFullZone(&v.journal, *v.v3, 50));
  EXPECT_TRUE(ixfrNeedsFullZone(nullptr, *v.v3, v.v1->serial()));
}

TEST(Ixfr, UdpFitsOrSingleSoa) {
  Versions v;
  OwnedRecord soa = soaOf(*v.v2);
  Query q;
  makeQuery(q, kTypeIXFR, 6, &soa);
  Collected big;
  ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 101, false, 4096, big.sink()));
  ASSERT_EQ(big.messages.size(), 1u);
  ReplyHeader h;
  ASSERT_TRUE(parseReplyHeader(big.messages[0].data(), big.messages[0].size(), h));
  EXPECT_GT(h.ancount, 1);  // the incremental reply fits in 4096 bytes

  Query q1;
  OwnedRecord soa1 = soaOf(*v.v1);
  makeQuery(q1, kTypeIXFR, 6, &soa1);
  // From v1 the diff includes the removed host49 records; make it not fit in 512 bytes? It may fit: force
  // with a larger zone change.
  auto w1 = load(zoneText(1, "", 200));
  auto w2 = load(zoneText(2, "", 0));
  Journal j;
  j.onNewVersion(*w1, *w2);
  Collected small;
  ASSERT_TRUE(buildIxfr(&j, *w2, q1.q, 1, false, 512, small.sink()));
  ASSERT_EQ(small.messages.size(), 1u);
  ASSERT_TRUE(parseReplyHeader(small.messages[0].data(), small.messages[0].size(), h));
  EXPECT_EQ(h.ancount, 1);  // did not fit: the single current SOA, the client retries over TCP
  EXPECT_LE(small.messages[0].size(), 512u);
}

TEST(Notify, MessagesParseAsExpected) {
  auto z = load(zoneText(9));
  OwnedRecord soa = soaOf(*z);
  uint8_t buf[512];
  size_t n = buildNotify(name("example.com"), 0xBEEF, &soa, buf, sizeof buf);
  ASSERT_GT(n, 0u);
  ParsedQuery q;
  ASSERT_EQ(parseQuery(buf, n, q), ParseResult::Ok);
  EXPECT_EQ(q.opcode, kOpcodeNotify);
  EXPECT_EQ(q.qtype, kTypeSOA);
  EXPECT_EQ(q.id, 0xBEEF);
  EXPECT_TRUE(q.flags & kFlagAA);
  EXPECT_EQ(q.ancount, 1);

  uint8_t resp[512];
  size_t rn = buildNotifyResponse(buf, n, q, Rcode::NoError, resp, sizeof resp);
  ReplyHeader h;
  ASSERT_TRUE(parseReplyHeader(resp, rn, h));
  EXPECT_TRUE(h.qr());
  EXPECT_EQ(h.opcode(), kOpcodeNotify);
  EXPECT_EQ(h.rcode(), 0);
  EXPECT_EQ(h.id, 0xBEEF);
  EXPECT_EQ(h.qdcount, 1);
  rn = buildNotifyResponse(buf, n, q, Rcode::Refused, resp, sizeof resp);
  ASSERT_TRUE(parseReplyHeader(resp, rn, h));
  EXPECT_EQ(h.rcode(), 5);
  EXPECT_EQ(buildNotify(name("example.com"), 1, &soa, buf, 20), 0u);  // too small
}

TEST(Receiver, RejectsBadReplies) {
  auto z = load(zoneText(3));
  Query q;
  makeQuery(q, kTypeAXFR, 11);
  Collected c;
  ASSERT_TRUE(buildAxfr(*z, q.q, c.sink()));
  {
    XfrReceiver rx(name("example.com"), kTypeAXFR, 12, false, 0);  // another id
    EXPECT_EQ(feedAll(rx, c), XfrReceiver::State::Error);
  }
  {
    XfrReceiver rx(name("example.org"), kTypeAXFR, 11, false, 0);  // another zone: records outside it
    EXPECT_EQ(feedAll(rx, c), XfrReceiver::State::Error);
  }
  {
    // REFUSED from the primary.
    std::vector<uint8_t> m = c.messages[0];
    writeU16(m.data() + 2, static_cast<uint16_t>(readU16(m.data() + 2) | 5));
    XfrReceiver rx(name("example.com"), kTypeIXFR, 11, true, 1);
    EXPECT_EQ(rx.feed(m.data(), m.size()), XfrReceiver::State::Error);
    EXPECT_EQ(rx.rcode(), 5);
  }
  {
    // Truncated message (cut in the middle of a record).
    std::vector<uint8_t> m = c.messages[0];
    m.resize(m.size() - 3);
    XfrReceiver rx(name("example.com"), kTypeAXFR, 11, false, 0);
    EXPECT_EQ(rx.feed(m.data(), m.size()), XfrReceiver::State::Error);
  }
  {
    // Data after the closing SOA is an error.
    XfrReceiver rx(name("example.com"), kTypeAXFR, 11, false, 0);
    EXPECT_EQ(rx.feed(c.messages[0].data(), c.messages[0].size()), XfrReceiver::State::Done);
    EXPECT_EQ(rx.feed(c.messages[0].data(), c.messages[0].size()), XfrReceiver::State::Error);
  }
  {
    // Size limits.
    XfrInLimits lim;
    lim.maxRecords = 3;
    XfrReceiver rx(name("example.com"), kTypeAXFR, 11, false, 0, lim);
    EXPECT_EQ(feedAll(rx, c), XfrReceiver::State::Error);
  }
}

TEST(Receiver, IxfrThatDoesNotApplyIsAnError) {
  Versions v;
  OwnedRecord soa = soaOf(*v.v1);
  Query q;
  makeQuery(q, kTypeIXFR, 21, &soa);
  Collected c;
  ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 100, true, 0, c.sink()));
  XfrReceiver rx(name("example.com"), kTypeIXFR, 21, true, 100);
  ASSERT_EQ(feedAll(rx, c), XfrReceiver::State::Done);
  std::string err;
  // Applied to a version that lacks the removed records: refused (the secondary then does AXFR).
  auto other = load(zoneText(100));
  EXPECT_FALSE(rx.buildZone(other.get(), err));
  EXPECT_NE(err.find("IXFR removes"), std::string::npos) << err;
}

TEST(Receiver, DecompressesNamesInsideRdata) {
  // Header, question example.com/AXFR, then one SRV whose owner and target are compression pointers.
  std::vector<uint8_t> m = {0x00, 0x01, 0x84, 0x00, 0, 1, 0, 2, 0, 0, 0, 0};
  const uint8_t qname[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
  m.insert(m.end(), qname, qname + sizeof qname);
  m.insert(m.end(), {0, 252, 0, 1});
  // _sip.example.com SRV 10 20 5060 mail.example.com (target: "mail" + pointer to the question name)
  m.insert(m.end(), {4, '_', 's', 'i', 'p', 0xC0, 0x0C, 0, 33, 0, 1, 0, 0, 0x0e, 0x10, 0, 13});
  m.insert(m.end(), {0, 10, 0, 20, 0x13, 0xC4, 4, 'm', 'a', 'i', 'l', 0xC0, 0x0C});
  // A pointer loop inside rdata (points at itself): rejected.
  m.insert(m.end(), {0xC0, 0x0C, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2});
  size_t loopAt = m.size();
  m.insert(m.end(), {0xC0, static_cast<uint8_t>(loopAt)});
  std::vector<OwnedRecord> recs;
  EXPECT_FALSE(parseAnswerRecords(m.data(), m.size(), recs));
  ASSERT_EQ(recs.size(), 1u);
  const OwnedRecord& srv = recs[0];
  EXPECT_EQ(nameToText(srv.owner), "_sip.example.com.");
  EXPECT_EQ(srv.type, kTypeSRV);
  const uint8_t want[] = {0,   10,  0,   20,  0x13, 0xC4, 4,   'm', 'a', 'i', 'l', 7,
                          'e', 'x', 'a', 'm', 'p',  'l',  'e', 3,   'c', 'o', 'm', 0};
  EXPECT_EQ(srv.rdata, std::vector<uint8_t>(want, want + sizeof want));
}

TEST(Receiver, MutatedRepliesNeverCrash) {
  // Every message of an AXFR and an IXFR reply, with random bytes changed, truncated or extended: the
  // receiver either errors out or produces a zone that passes ZoneBuilder (run under ASan/UBSan).
  Versions v;
  OwnedRecord soa = soaOf(*v.v1);
  Query q;
  makeQuery(q, kTypeIXFR, 99, &soa);
  Collected ixfr, axfr;
  ASSERT_TRUE(buildIxfr(&v.journal, *v.v3, q.q, 100, true, 0, ixfr.sink()));
  Query qa;
  makeQuery(qa, kTypeAXFR, 99);
  ASSERT_TRUE(buildAxfr(*v.v3, qa.q, axfr.sink()));
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  auto rnd = [&seed] {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    return seed;
  };
  for (int round = 0; round < 3000; ++round) {
    const Collected& base = round % 2 ? ixfr : axfr;
    XfrReceiver rx(name("example.com"), round % 2 ? kTypeIXFR : kTypeAXFR, 99, true, 100);
    for (const auto& orig : base.messages) {
      std::vector<uint8_t> m = orig;
      int edits = 1 + static_cast<int>(rnd() % 4);
      for (int e = 0; e < edits; ++e) {
        switch (rnd() % 4) {
          case 0:
          case 1:
            m[rnd() % m.size()] = static_cast<uint8_t>(rnd());
            break;
          case 2:
            m.resize(std::max<size_t>(1, rnd() % m.size()));
            break;
          default:
            m.push_back(static_cast<uint8_t>(rnd()));
        }
      }
      if (rx.feed(m.data(), m.size()) != XfrReceiver::State::More) break;
    }
    if (rx.state() == XfrReceiver::State::Done) {
      std::string err;
      auto z = rx.buildZone(v.v1.get(), err);
      if (z) {
        EXPECT_GT(z->recordCount(), 0u);
      }
    }
  }
}

}  // namespace
}  // namespace bulwark::dns
