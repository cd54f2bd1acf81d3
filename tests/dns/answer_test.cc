// Answers (src/dns/answer.h). Every expectation here was observed on NSD 4.6.1 serving the same zone files
// (tests/dns/data/answer.*.zone); docs/dns-zones.md lists the behaviours.
#include "dns/answer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace bulwark::dns {
namespace {

const std::string kData = std::string(BULWARK_TEST_DATA) + "/../dns/data/";

Name N(const char* text) {
  Name n;
  EXPECT_TRUE(nameFromText(text, n)) << text;
  return n;
}

struct RR {
  std::string owner;
  uint16_t type = 0;
  uint32_t ttl = 0;
  size_t rdataAt = 0;  // offset of the rdata in the message
  uint16_t rdlen = 0;
};

struct Reply {
  std::vector<uint8_t> raw;
  uint16_t id = 0, flags = 0, qdcount = 0;
  int rcode = 0;  // including the extended bits from the OPT
  std::vector<RR> sec[4];
  bool hasOpt = false;
  uint16_t optUdp = 0;
  uint8_t optVersion = 0;
  bool optDo = false;
  std::vector<uint8_t> optData;
  std::string qname;
  AnswerInfo info;

  bool aa() const { return flags & kFlagAA; }
  bool tc() const { return flags & kFlagTC; }
  // The name at `offset` inside record `rr`'s rdata, decompressed.
  std::string rdataName(const RR& rr, size_t offset = 0) const {
    size_t pos = rr.rdataAt + offset;
    Name n;
    if (!readName(raw.data(), raw.size(), pos, n)) return "<bad>";
    return nameToText(n);
  }
  std::vector<std::string> owners(int s) const {
    std::vector<std::string> v;
    for (const RR& rr : sec[s]) v.push_back(rr.owner + "/" + std::to_string(rr.type));
    return v;
  }
};

Reply decode(const uint8_t* p, size_t len) {
  Reply r;
  r.raw.assign(p, p + len);
  EXPECT_GE(len, 12u);
  if (len < 12) return r;
  r.id = readU16(p);
  r.flags = readU16(p + 2);
  r.rcode = r.flags & 0x0f;
  r.qdcount = readU16(p + 4);
  uint16_t counts[3] = {readU16(p + 6), readU16(p + 8), readU16(p + 10)};
  size_t pos = 12;
  for (int i = 0; i < r.qdcount; ++i) {
    Name q;
    EXPECT_TRUE(readName(p, len, pos, q));
    r.qname = nameToText(q);
    pos += 4;
  }
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < counts[s]; ++i) {
      Name owner;
      EXPECT_TRUE(readName(p, len, pos, owner));
      EXPECT_LE(pos + 10, len);
      if (pos + 10 > len) return r;
      RR rr;
      rr.owner = nameToText(owner);
      rr.type = readU16(p + pos);
      rr.ttl = readU32(p + pos + 4);
      rr.rdlen = readU16(p + pos + 8);
      rr.rdataAt = pos + 10;
      pos += 10 + rr.rdlen;
      EXPECT_LE(pos, len);
      if (rr.type == kTypeOPT) {
        EXPECT_EQ(s, 2);
        r.hasOpt = true;
        r.optUdp = readU16(p + rr.rdataAt - 8);
        r.rcode |= p[rr.rdataAt - 6] << 4;
        r.optVersion = p[rr.rdataAt - 5];
        r.optDo = (p[rr.rdataAt - 4] & 0x80) != 0;
        r.optData.assign(p + rr.rdataAt, p + rr.rdataAt + rr.rdlen);
      } else {
        r.sec[s + 1].push_back(rr);
      }
    }
  }
  EXPECT_EQ(pos, len) << "trailing bytes";
  return r;
}

struct Ask {
  uint16_t type = kTypeA;
  uint16_t qclass = kClassIN;
  uint16_t flags = 0;
  bool edns = false;
  uint16_t udp = 1232;
  uint8_t version = 0;
  bool doBit = false;
  bool tcp = false;
  std::vector<uint8_t> options;
  const uint8_t* serverCookie = nullptr;
  uint8_t serverCookieLen = 0;
};

std::vector<uint8_t> buildQuery(const char* name, const Ask& a) {
  std::vector<uint8_t> p(12, 0);
  p[0] = 0xab;
  p[1] = 0xcd;
  p[2] = static_cast<uint8_t>(a.flags >> 8);
  p[3] = static_cast<uint8_t>(a.flags);
  p[5] = 1;
  const Name n = N(name);
  p.insert(p.end(), n.data, n.data + n.len);
  for (int b : {a.type >> 8, a.type & 0xff, a.qclass >> 8, a.qclass & 0xff})
    p.push_back(static_cast<uint8_t>(b));
  if (a.edns) {
    p[11] = 1;
    for (int b : {0, 0, 41, a.udp >> 8, a.udp & 0xff, 0, static_cast<int>(a.version), a.doBit ? 0x80 : 0, 0,
                  static_cast<int>(a.options.size() >> 8), static_cast<int>(a.options.size() & 0xff)}) {
      p.push_back(static_cast<uint8_t>(b));
    }
    p.insert(p.end(), a.options.begin(), a.options.end());
  }
  return p;
}

class AnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [origin, file] :
         {std::pair{"example.com", "answer.example.zone"}, std::pair{"other.com", "answer.other.zone"}}) {
      const ZoneLoad r = loadZoneFile(origin, kData + file);
      ASSERT_NE(r.zone, nullptr) << r.error;
      zones_.add(r.zone);
    }
  }

  Reply ask(const char* name, const Ask& a = Ask{}) { return askWire(buildQuery(name, a), a); }

  Reply askWire(const std::vector<uint8_t>& pkt, const Ask& a = Ask{}) {
    ParsedQuery q;
    const ParseResult pr = parseQuery(pkt.data(), pkt.size(), q);
    std::vector<uint8_t> out(65535);
    size_t n = 0;
    AnswerInfo info;
    if (pr == ParseResult::FormErr) {
      n = errorResponse(pkt.data(), pkt.size(), Rcode::FormErr, out.data(), out.size());
    } else if (pr == ParseResult::Ok) {
      AnswerOptions opts;
      opts.tcp = a.tcp;
      opts.serverCookie = a.serverCookie;
      opts.serverCookieLen = a.serverCookieLen;
      n = answerQuery(zones_, q, pkt.data(), pkt.size(), opts, out.data(), a.tcp ? out.size() : 65535, info);
    }
    EXPECT_GT(n, 0u);
    Reply r = decode(out.data(), n);
    r.info = info;
    EXPECT_EQ(r.id, 0xabcd);
    return r;
  }

  ZoneSet zones_;
};

Ask type(uint16_t t) {
  Ask a;
  a.type = t;
  return a;
}

TEST_F(AnswerTest, PositiveAnswerCarriesZoneNsAndTheirAddresses) {
  const Reply r = ask("www.example.com");
  EXPECT_EQ(r.flags, kFlagQR | kFlagAA);
  EXPECT_EQ(r.rcode, 0);
  ASSERT_EQ(r.sec[1].size(), 2u);
  EXPECT_EQ(r.sec[1][0].ttl, 3600u);
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"example.com./2", "example.com./2"}));
  EXPECT_EQ(r.owners(3), (std::vector<std::string>{"ns1.example.com./1", "ns1.example.com./28"}));
  EXPECT_FALSE(r.hasOpt);
  EXPECT_EQ(r.info.cls, ResponseClass::Positive);
  EXPECT_EQ(r.info.rcode, Rcode::NoError);
}

TEST_F(AnswerTest, QuestionCaseIsKeptAndOwnersPointAtIt) {
  const Reply r = ask("WwW.ExAmple.CoM");
  EXPECT_EQ(r.qname, "WwW.ExAmple.CoM.");
  ASSERT_EQ(r.sec[1].size(), 2u);
  EXPECT_EQ(r.sec[1][0].owner, "WwW.ExAmple.CoM.");
  const size_t ownerAt = r.sec[1][0].rdataAt - 10 - 2;
  EXPECT_EQ(r.raw[ownerAt], 0xc0);  // a compression pointer to the question
  EXPECT_EQ(r.raw[ownerAt + 1], 12);
  EXPECT_EQ(r.sec[2][0].owner, "ExAmple.CoM.");  // NSD compresses the zone's names into the question too
}

TEST_F(AnswerTest, NxDomainAndNoDataCarryTheSoaWithTheNegativeTtl) {
  Reply r = ask("nx.example.com");
  EXPECT_EQ(r.rcode, 3);
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.sec[1].empty());
  ASSERT_EQ(r.sec[2].size(), 1u);
  EXPECT_EQ(r.sec[2][0].type, kTypeSOA);
  EXPECT_EQ(r.sec[2][0].ttl, 300u);
  EXPECT_EQ(r.rdataName(r.sec[2][0]), "ns1.example.com.");
  EXPECT_EQ(r.info.cls, ResponseClass::NxDomain);
  r = ask("www.example.com", type(kTypeMX));
  EXPECT_EQ(r.rcode, 0);
  EXPECT_TRUE(r.sec[1].empty());
  ASSERT_EQ(r.sec[2].size(), 1u);
  EXPECT_EQ(r.sec[2][0].ttl, 300u);
  EXPECT_EQ(r.info.cls, ResponseClass::NoData);
  r = ask("b.ent.example.com");  // empty non-terminal
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"example.com./6"}));
}

TEST_F(AnswerTest, SoaRnameIsServedLowercased) {
  const Reply r = ask("example.com", type(kTypeSOA));
  ASSERT_EQ(r.sec[1].size(), 1u);
  size_t pos = r.sec[1][0].rdataAt;
  Name mname, rname;
  ASSERT_TRUE(readName(r.raw.data(), r.raw.size(), pos, mname));
  ASSERT_TRUE(readName(r.raw.data(), r.raw.size(), pos, rname));
  EXPECT_EQ(nameToText(rname), "hostmaster.example.com.");
}

TEST_F(AnswerTest, CnameChainsAreFollowedInsideOurZones) {
  Reply r = ask("chain1.example.com");
  EXPECT_EQ(r.owners(1),
            (std::vector<std::string>{"chain1.example.com./5", "chain2.example.com./5",
                                      "chain3.example.com./5", "www.example.com./1", "www.example.com./1"}));
  EXPECT_EQ(r.owners(2).size(), 2u);  // the NS of the zone that answered
  r = ask("toother.example.com");     // into another zone we serve
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"toother.example.com./5", "www.other.com./1"}));
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"other.com./2"}));
  EXPECT_EQ(r.sec[1][1].ttl, 60u);
  r = ask("ext.example.com");  // out of our zones: the CNAME alone
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"ext.example.com./5"}));
  EXPECT_TRUE(r.sec[2].empty());
  EXPECT_TRUE(r.aa());
  r = ask("alias.example.com", type(kTypeCNAME));  // the CNAME itself is the answer
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"alias.example.com./5"}));
}

TEST_F(AnswerTest, CnameToMissingNameIsNxDomainAndToMissingTypeIsNoData) {
  Reply r = ask("tonx.example.com");
  EXPECT_EQ(r.rcode, 3);
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"tonx.example.com./5"}));
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"example.com./6"}));
  r = ask("alias.example.com", type(kTypeMX));
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"alias.example.com./5"}));
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"example.com./6"}));
}

TEST_F(AnswerTest, CnameLoopsStop) {
  Reply r = ask("loop1.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"loop1.example.com./5", "loop2.example.com./5"}));
  EXPECT_TRUE(r.sec[2].empty());
  r = ask("self.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"self.example.com./5"}));
  // A wildcard CNAME to a name it covers shows twice (once for the query name, once for the target), as NSD.
  r = ask("loop.cwl.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"loop.cwl.example.com./5", "loop.cwl.example.com./5"}));
  r = ask("x.cwl.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"x.cwl.example.com./5", "loop.cwl.example.com./5"}));
}

TEST_F(AnswerTest, WildcardsFollowRfc4592) {
  Reply r = ask("a.wild.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"a.wild.example.com./1"}));
  EXPECT_TRUE(r.aa());
  r = ask("a.b.wild.example.com", type(kTypeTXT));
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"a.b.wild.example.com./16"}));
  r = ask("a.wild.example.com", type(kTypeMX));  // wildcard NODATA
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"example.com./6"}));
  r = ask("x.wc.example.com");  // wildcard CNAME, followed
  EXPECT_EQ(r.owners(1),
            (std::vector<std::string>{"x.wc.example.com./5", "www.example.com./1", "www.example.com./1"}));
  r = ask("zz.ent.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"zz.ent.example.com./1"}));
  r = ask("x.b.ent.example.com");  // the empty non-terminal b.ent is the closest encloser: no wildcard there
  EXPECT_EQ(r.rcode, 3);
  r = ask("*.wild.example.com");  // the wildcard itself, exactly
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"*.wild.example.com./1"}));
}

TEST_F(AnswerTest, DelegationsAreReferralsWithGlueAndNoAa) {
  for (const char* name : {"sub.example.com", "deep.sub.example.com", "ns.sub.example.com"}) {
    const Reply r = ask(name);
    EXPECT_EQ(r.flags, kFlagQR) << name;
    EXPECT_TRUE(r.sec[1].empty()) << name;
    EXPECT_EQ(r.owners(2), (std::vector<std::string>{"sub.example.com./2", "sub.example.com./2"})) << name;
    EXPECT_EQ(r.owners(3), (std::vector<std::string>{"ns.sub.example.com./1"})) << name;
    EXPECT_EQ(r.info.cls, ResponseClass::Referral) << name;
  }
  Reply r = ask("sub.example.com", type(kTypeNS));
  EXPECT_FALSE(r.aa());
  EXPECT_TRUE(r.sec[1].empty());
  r = ask("tosub.example.com");  // a referral reached through a CNAME keeps AA
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"tosub.example.com./5"}));
  EXPECT_EQ(r.owners(2).size(), 2u);
}

TEST_F(AnswerTest, DsIsAnsweredByTheParent) {
  Reply r = ask("sub.example.com", type(kTypeDS));
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"sub.example.com./43"}));
  EXPECT_TRUE(r.sec[2].empty());  // no NS with DS answers (NSD)
  r = ask("deep.sub.example.com", type(kTypeDS));
  EXPECT_FALSE(r.aa());
  EXPECT_EQ(r.owners(2).size(), 2u);
  // With the child zone loaded too, DS at its apex still comes from the parent.
  const ZoneLoad child = loadZoneFile("sub.example.com", kData + "child.zone");
  ASSERT_NE(child.zone, nullptr) << child.error;
  zones_.add(child.zone);
  r = ask("sub.example.com", type(kTypeDS));
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"sub.example.com./43"}));
  r = ask("sub.example.com", type(kTypeSOA));
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"sub.example.com./6"}));
  // A child without its parent: DS at the apex is NODATA from the child.
  ZoneSet alone;
  alone.add(child.zone);
  zones_ = alone;
  r = ask("sub.example.com", type(kTypeDS));
  EXPECT_TRUE(r.aa());
  EXPECT_TRUE(r.sec[1].empty());
  ASSERT_EQ(r.sec[2].size(), 1u);
  EXPECT_EQ(r.sec[2][0].ttl, 100u);
}

TEST_F(AnswerTest, DnameSynthesizesACnameWithTheDnameTtl) {
  Reply r = ask("X.Dn.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"Dn.example.com./39", "X.Dn.example.com./5"}));
  EXPECT_EQ(r.rdataName(r.sec[1][0]), "target.example.net.");
  EXPECT_EQ(r.rdataName(r.sec[1][1]), "x.target.example.net.");  // lowercased, as NSD
  EXPECT_TRUE(r.sec[2].empty());
  r = ask("x.dn2.example.com");
  ASSERT_EQ(r.sec[1].size(), 2u);
  EXPECT_EQ(r.sec[1][0].ttl, 120u);
  EXPECT_EQ(r.sec[1][1].ttl, 120u);
  r = ask("a.b.dnin.example.com");  // into our own zone: followed
  EXPECT_EQ(r.rcode, 3);
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"dnin.example.com./39", "a.b.dnin.example.com./5"}));
  EXPECT_EQ(r.rdataName(r.sec[1][1]), "a.b.www.example.com.");
  r = ask("x.dnin.example.com", type(kTypeCNAME));  // a CNAME question stops at the synthesized CNAME
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.sec[1].size(), 2u);
  EXPECT_TRUE(r.sec[2].empty());
  r = ask("dn.example.com");  // the DNAME owner itself: NODATA
  EXPECT_TRUE(r.sec[1].empty());
}

TEST_F(AnswerTest, DnameExpansionTooLongIsYxDomainWithEde) {
  std::string name = std::string(60, 'a') + "." + std::string(60, 'b') + ".longdn.example.com";
  Ask a;
  a.edns = true;
  const Reply r = ask(name.c_str(), a);
  EXPECT_EQ(r.rcode, 6);
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"longdn.example.com./39"}));
  const std::string text = "DNAME expansion became too large";
  std::string ede = std::string("\x00\x0f\x00", 3) + static_cast<char>(2 + text.size()) + std::string(2, '\0') + text;
  EXPECT_EQ(r.optData, std::vector<uint8_t>(ede.begin(), ede.end()));
}

TEST_F(AnswerTest, AnyIsAnsweredWithOneRrsetAsNsd) {
  Ask any = type(kTypeANY);
  Reply r = ask("example.com", any);
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"example.com./6"}));
  EXPECT_TRUE(r.sec[2].empty());
  EXPECT_EQ(r.info.cls, ResponseClass::Any);
  r = ask("anyorder.example.com", any);  // first of A/AAAA/SOA/MX/PTR
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"anyorder.example.com./1"}));
  r = ask("p4.example.com", any);  // otherwise the last other type
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"p4.example.com./33"}));
  r = ask("p12.example.com", any);  // DNSSEC types last
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"p12.example.com./16"}));
  r = ask("alias.example.com", any);  // a CNAME is not followed
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"alias.example.com./5"}));
  r = ask("b.ent.example.com", any);
  EXPECT_EQ(r.owners(2), (std::vector<std::string>{"example.com./6"}));
  r = ask("sub.example.com", any);
  EXPECT_FALSE(r.aa());
  r = ask("x.wild.example.com", any);
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"x.wild.example.com./1"}));
}

TEST_F(AnswerTest, AdditionalSectionHoldsAddressesOfTargetsAThenAaaa) {
  Reply r = ask("mx2.example.com", type(kTypeMX));
  EXPECT_EQ(r.owners(3),
            (std::vector<std::string>{"mail6.example.com./1", "mail.example.com./1", "ns1.example.com./1",
                                      "mail6.example.com./28", "ns1.example.com./28"}));
  r = ask("mxglue.example.com", type(kTypeMX));  // no glue for MX targets
  EXPECT_EQ(r.owners(3), (std::vector<std::string>{"ns1.example.com./1", "ns1.example.com./28"}));
  r = ask("mxwild.example.com", type(kTypeMX));  // a wildcard answers for the target
  EXPECT_EQ(r.owners(3), (std::vector<std::string>{"host.wild.example.com./1", "ns1.example.com./1",
                                                   "ns1.example.com./28"}));
  r = ask("srv.example.com", type(kTypeSRV));
  EXPECT_EQ(r.owners(3),
            (std::vector<std::string>{"mail.example.com./1", "ns1.example.com./1", "ns1.example.com./28"}));
  r = ask("example.com", type(kTypeNS));  // NS in the answer is not repeated in the authority
  EXPECT_EQ(r.sec[1].size(), 2u);
  EXPECT_TRUE(r.sec[2].empty());
  EXPECT_EQ(r.sec[3].size(), 2u);
  r = ask("ns1.example.com");  // an address already in the answer is not repeated
  EXPECT_EQ(r.owners(3), (std::vector<std::string>{"ns1.example.com./28"}));
}

TEST_F(AnswerTest, RrsetTtlFollowsNsd) {
  const Reply r = ask("multi.example.com");
  ASSERT_EQ(r.sec[1].size(), 3u);
  for (const RR& rr : r.sec[1]) EXPECT_EQ(rr.ttl, 600u);
}

TEST_F(AnswerTest, UnknownTypesAndEscapedNames) {
  Reply r = ask("unk.example.com", type(65000));
  ASSERT_EQ(r.sec[1].size(), 1u);
  EXPECT_EQ(r.sec[1][0].rdlen, 2);
  r = ask("esc\\.dot.example.com");
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"esc\\.dot.example.com./1"}));
}

TEST_F(AnswerTest, NamesOutsideOurZonesAreRefused) {
  Reply r = ask("www.example.org");
  EXPECT_EQ(r.rcode, 5);
  EXPECT_EQ(r.flags & kFlagAA, 0);
  EXPECT_EQ(r.qname, "www.example.org.");
  EXPECT_FALSE(r.hasOpt);
  Ask a;
  a.edns = true;
  r = ask("com", a);
  EXPECT_EQ(r.rcode, 5);
  EXPECT_EQ(r.optData, (std::vector<uint8_t>{0, 15, 0, 2, 0, 20}));  // EDE 20: not authoritative
}

TEST_F(AnswerTest, ClassesOtherThanInAreRefused) {
  Ask a;
  a.qclass = kClassCH;
  a.flags = kFlagRD;
  Reply r = ask("www.example.com", a);
  EXPECT_EQ(r.rcode, 5);
  EXPECT_EQ(r.flags, kFlagQR | kFlagRD | 5);
  EXPECT_EQ(r.qdcount, 1);
  a.qclass = 254;  // NONE: no question in the reply
  a.edns = true;
  r = ask("www.example.com", a);
  EXPECT_EQ(r.rcode, 5);
  EXPECT_EQ(r.qdcount, 0);
  EXPECT_EQ(r.optData, (std::vector<uint8_t>{0, 15, 0, 2, 0, 21}));  // EDE 21: not supported
  a = Ask{};
  a.qclass = kClassANY;  // answered, but not authoritatively and without NS or SOA
  r = ask("www.example.com", a);
  EXPECT_FALSE(r.aa());
  EXPECT_EQ(r.sec[1].size(), 2u);
  EXPECT_TRUE(r.sec[2].empty());
  r = ask("nx.example.com", a);
  EXPECT_EQ(r.rcode, 3);
  EXPECT_TRUE(r.sec[2].empty());
}

TEST_F(AnswerTest, OpcodesOtherThanQueryAreNotImplemented) {
  Ask a;
  a.flags = static_cast<uint16_t>((6 << 11) | kFlagRD | kFlagAD | kFlagCD);
  Reply r = ask("www.example.com", a);
  EXPECT_EQ(r.rcode, 4);
  EXPECT_EQ(r.qdcount, 0);
  EXPECT_EQ(r.flags, kFlagQR | (6 << 11) | kFlagRD | kFlagCD | 4);  // echoed, less AD
  a.flags = static_cast<uint16_t>(kOpcodeNotify << 11);
  r = ask("www.example.com", a);
  EXPECT_EQ(r.rcode, 3);  // NOTIFY for a name that is not a zone
  r = ask("example.com", a);
  EXPECT_EQ(r.rcode, 5);  // NOTIFY that the server layer did not accept
}

TEST_F(AnswerTest, EdnsIsEchoedWithOurSize) {
  Ask a;
  a.edns = true;
  a.udp = 4096;
  a.doBit = true;
  a.options = {0xfd, 0xe9, 0, 1, 0x42};  // unknown option: ignored
  Reply r = ask("www.example.com", a);
  ASSERT_TRUE(r.hasOpt);
  EXPECT_EQ(r.optUdp, 1232);
  EXPECT_EQ(r.optVersion, 0);
  EXPECT_TRUE(r.optDo);
  EXPECT_TRUE(r.optData.empty());
  EXPECT_EQ(r.sec[1].size(), 2u);
  a.doBit = false;
  r = ask("www.example.com", a);
  EXPECT_FALSE(r.optDo);
}

TEST_F(AnswerTest, EdnsVersionAboveZeroIsBadVers) {
  Ask a;
  a.edns = true;
  a.version = 1;
  a.doBit = true;
  a.flags = kFlagRD | kFlagCD | kFlagAD;
  const Reply r = ask("www.example.com", a);
  EXPECT_EQ(r.rcode, 16);
  EXPECT_EQ(r.flags, kFlagQR | kFlagRD | kFlagCD);  // echoed, less AD; rcode bits 0
  EXPECT_EQ(r.qdcount, 1);
  EXPECT_TRUE(r.sec[1].empty());
  ASSERT_TRUE(r.hasOpt);
  EXPECT_EQ(r.optVersion, 0);
  EXPECT_FALSE(r.optDo);
  EXPECT_EQ(r.info.rcode, Rcode::BadVers);
}

TEST_F(AnswerTest, FlagsKeepRdOnly) {
  Ask a;
  a.flags = kFlagRD | kFlagCD | kFlagAD | kFlagTC | 0x0040;
  const Reply r = ask("www.example.com", a);
  EXPECT_EQ(r.flags, kFlagQR | kFlagAA | kFlagRD);
}

TEST_F(AnswerTest, TooLargeAnswerIsTruncatedToTheQuestion) {
  Reply r = ask("huge.example.com");
  EXPECT_TRUE(r.tc());
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.qdcount, 1);
  EXPECT_TRUE(r.sec[1].empty());
  EXPECT_TRUE(r.sec[2].empty());
  EXPECT_TRUE(r.info.truncated);
  EXPECT_LE(r.raw.size(), 512u);
  Ask a;
  a.edns = true;
  a.udp = 4096;
  r = ask("huge.example.com", a);  // fits in 1232
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.sec[1].size(), 40u);
  Ask tcp;
  tcp.tcp = true;
  r = ask("huge.example.com", tcp);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.sec[1].size(), 40u);
  a.udp = 100;  // below 512 counts as 512
  r = ask("huge.example.com", a);
  EXPECT_TRUE(r.tc());
  EXPECT_TRUE(r.hasOpt);
}

TEST_F(AnswerTest, TruncationKeepsEarlierRrsetsAndDropsAdditionalQuietly) {
  Reply r = ask("cnbig.example.com");
  EXPECT_TRUE(r.tc());
  EXPECT_EQ(r.owners(1), (std::vector<std::string>{"cnbig.example.com./5"}));
  r = ask("mxmix.example.com", type(kTypeMX));
  EXPECT_FALSE(r.tc());
  // big1's 60 addresses do not fit and are left out; the AAAA records after them are not tried.
  EXPECT_EQ(r.owners(3), (std::vector<std::string>{"small1.example.com./1", "ns1.example.com./1"}));
}

TEST_F(AnswerTest, ZoneNsThatDoesNotFitIsDroppedWithoutTc) {
  Ask a;
  a.edns = true;
  a.udp = 700;  // the 40 addresses fit (685 bytes with the OPT), the zone's NS (45 more) do not
  Reply r = ask("huge.example.com", a);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.sec[1].size(), 40u);
  EXPECT_TRUE(r.sec[2].empty());
  EXPECT_TRUE(r.sec[3].empty());  // nor is anything tried after them
  a.udp = 800;
  r = ask("huge.example.com", a);
  EXPECT_EQ(r.sec[2].size(), 2u);
  EXPECT_EQ(r.owners(3), (std::vector<std::string>{"ns1.example.com./1", "ns1.example.com./28"}));
}

TEST_F(AnswerTest, ServerCookieGoesIntoTheOpt) {
  Ask a;
  a.edns = true;
  a.options = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  const uint8_t server[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  a.serverCookie = server;
  a.serverCookieLen = 8;
  const Reply r = ask("www.example.com", a);
  const std::vector<uint8_t> expect = {0, 10, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9};
  EXPECT_EQ(r.optData, expect);
}

TEST_F(AnswerTest, TransfersOutsideTheServerLayerAreRefused) {
  Reply r = ask("example.com", type(kTypeAXFR));
  EXPECT_EQ(r.rcode, 4);  // AXFR over UDP
  EXPECT_EQ(r.qdcount, 1);
  Ask a = type(kTypeAXFR);
  a.tcp = true;
  a.edns = true;
  r = ask("example.com", a);
  EXPECT_EQ(r.rcode, 5);
  EXPECT_EQ(r.optData, (std::vector<uint8_t>{0, 15, 0, 2, 0, 18}));  // EDE 18: prohibited
  r = ask("www.example.com", a);
  EXPECT_EQ(r.rcode, 9);  // NOTAUTH: not a zone
  r = ask("www.example.com", type(kTypeIXFR));
  EXPECT_EQ(r.rcode, 9);
  r = ask("example.com", type(kTypeIXFR));
  EXPECT_EQ(r.rcode, 5);
}

TEST_F(AnswerTest, CookieOnlyQueryGetsTheOpt) {
  std::vector<uint8_t> p = {0xab, 0xcd, 0x01, 0, 0,  0, 0,  0, 0, 0, 0, 1, 0, 0, 41, 4, 0xd0, 0,
                            0,    0,    0,    0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6,  7, 8};
  const Reply r = askWire(p);
  EXPECT_EQ(r.rcode, 0);
  EXPECT_EQ(r.qdcount, 0);
  EXPECT_EQ(r.flags, kFlagQR | kFlagRD);
  EXPECT_TRUE(r.hasOpt);
}

TEST_F(AnswerTest, ErrorResponsesFollowNsd) {
  std::vector<uint8_t> p = buildQuery("www.example.com", Ask{});
  p[2] = kFlagRD >> 8;
  p.resize(p.size() - 1);  // cut question
  Reply r = askWire(p);
  EXPECT_EQ(r.flags, kFlagQR | kFlagRD | 1);
  EXPECT_EQ(r.qdcount, 0);
  p = buildQuery("www.example.com", Ask{});
  p[2] = kFlagRD >> 8;
  p[5] = 2;  // two questions: NSD clears every flag
  r = askWire(p);
  EXPECT_EQ(r.flags, kFlagQR | 1);
  uint8_t out[512];
  p = buildQuery("www.example.com", Ask{});
  const size_t n = errorResponse(p.data(), p.size(), Rcode::Refused, out, sizeof out);
  r = decode(out, n);
  EXPECT_EQ(r.rcode, 5);
  EXPECT_EQ(r.qname, "www.example.com.");
  EXPECT_EQ(errorResponse(p.data(), 11, Rcode::FormErr, out, sizeof out), 0u);
  EXPECT_EQ(errorResponse(p.data(), p.size(), Rcode::FormErr, out, 11), 0u);
}

TEST_F(AnswerTest, TinyOutputBufferNeverOverflows) {
  const std::vector<uint8_t> p = buildQuery("www.example.com", Ask{});
  ParsedQuery q;
  ASSERT_EQ(parseQuery(p.data(), p.size(), q), ParseResult::Ok);
  AnswerInfo info;
  for (size_t cap : {0, 5, 12, 20, 33, 40, 60}) {
    std::vector<uint8_t> out(cap + 16, 0xee);
    const size_t n = answerQuery(zones_, q, p.data(), p.size(), AnswerOptions{}, out.data(), cap, info);
    EXPECT_LE(n, cap);
    for (size_t i = cap; i < out.size(); ++i) ASSERT_EQ(out[i], 0xee) << cap;
  }
}

TEST_F(AnswerTest, MutatedPacketsNeverCrash) {
  std::mt19937 rng(1234);
  const std::vector<uint8_t> seeds[] = {buildQuery("www.example.com", Ask{}),
                                        buildQuery("x.dn.example.com", Ask{}),
                                        buildQuery("mx2.example.com", type(kTypeMX))};
  uint8_t out[65535];
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> p = seeds[i % 3];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0:
          p[rng() % p.size()] = static_cast<uint8_t>(rng());
          break;
        case 1:
          p.resize(rng() % (p.size() + 1));
          break;
        default:
          p.push_back(static_cast<uint8_t>(rng()));
          break;
      }
      if (p.empty()) p.push_back(0);
    }
    ParsedQuery q;
    AnswerInfo info;
    const ParseResult pr = parseQuery(p.data(), p.size(), q);
    size_t n = 0;
    if (pr == ParseResult::Ok) {
      n = answerQuery(zones_, q, p.data(), p.size(), AnswerOptions{}, out, 512, info);
      ASSERT_LE(n, 512u);
    } else if (pr == ParseResult::FormErr) {
      n = errorResponse(p.data(), p.size(), Rcode::FormErr, out, sizeof out);
    }
    if (n > 0) decode(out, n);
  }
}

}  // namespace
}  // namespace bulwark::dns
