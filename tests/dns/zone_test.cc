// Zone loading (libzscanner), semantic checks with file:line errors, the compiled node table and ZoneSet.
#include "dns/zone.h"

#include <gtest/gtest.h>

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

std::string loadError(const char* file) {
  const ZoneLoad r = loadZoneFile("example.com", kData + file);
  EXPECT_EQ(r.zone, nullptr) << file;
  return r.error;
}

TEST(ZoneLoadTest, LoadsTheAnswerZone) {
  const ZoneLoad r = loadZoneFile("example.com", kData + "answer.example.zone");
  ASSERT_NE(r.zone, nullptr) << r.error;
  const Zone& z = *r.zone;
  EXPECT_EQ(nameToText(z.origin()), "example.com.");
  EXPECT_EQ(z.serial(), 2024010101u);
  EXPECT_EQ(z.negativeTtl(), 300u);  // min(SOA TTL 3600, MINIMUM 300)
  const Zone::Node* www = z.findExact(N("WWW.EXAMPLE.COM"));
  ASSERT_NE(www, nullptr);
  const Zone::RRset* a = z.find(*www, kTypeA);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->count, 2);                                       // "WWW" and "www" are one owner
  EXPECT_EQ(nameToText(z.nodeName(*www)), "www.example.com.");  // served lowercased, as NSD 4.6
  EXPECT_EQ(z.findExact(N("nothere.example.com")), nullptr);
  EXPECT_EQ(z.findExact(N("www.example.org")), nullptr);
}

TEST(ZoneLoadTest, FlagsCutsWildcardsAndEmptyNonTerminals) {
  const ZoneLoad r = loadZoneFile("example.com", kData + "answer.example.zone");
  ASSERT_NE(r.zone, nullptr) << r.error;
  const Zone& z = *r.zone;
  EXPECT_TRUE(z.apex()->flags & Zone::kApex);
  const Zone::Node* sub = z.findExact(N("sub.example.com"));
  ASSERT_NE(sub, nullptr);
  EXPECT_TRUE(sub->flags & Zone::kDelegation);
  const Zone::Node* glue = z.findExact(N("ns.sub.example.com"));
  ASSERT_NE(glue, nullptr);
  EXPECT_TRUE(glue->flags & Zone::kBelowCut);
  const Zone::Node* ent = z.findExact(N("b.ent.example.com"));
  ASSERT_NE(ent, nullptr);
  EXPECT_TRUE(ent->flags & Zone::kEmptyNonTerminal);
  EXPECT_EQ(ent->rrsetCount, 0);
  const Zone::Node* wild = z.findExact(N("wild.example.com"));
  ASSERT_NE(wild, nullptr);
  EXPECT_TRUE(wild->flags & Zone::kWildcardChild);
  EXPECT_TRUE(wild->flags & Zone::kEmptyNonTerminal);
  EXPECT_TRUE(z.findExact(N("alias.example.com"))->flags & Zone::kHasCname);
  EXPECT_TRUE(z.findExact(N("dn.example.com"))->flags & Zone::kHasDname);
  EXPECT_NE(z.findExact(N("esc\\.dot.example.com")), nullptr);
}

TEST(ZoneLoadTest, RrsetTtlIsTheLastOneWrittenAndDuplicatesDrop) {
  const ZoneLoad r = loadZoneText("example.com",
                                  "$TTL 100\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nm A 192.0.2.1\nm A 192.0.2.2\n"
                                  "m 600 A 192.0.2.3\nm A 192.0.2.1\n");
  ASSERT_NE(r.zone, nullptr) << r.error;
  const Zone& z = *r.zone;
  const Zone::RRset* a = z.find(*z.findExact(N("m.example.com")), kTypeA);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->count, 3);
  for (uint16_t i = 0; i < 3; ++i)
    EXPECT_EQ(z.rdata(*a, i).ttl, 100u);  // the last record (a duplicate) says 100
}

TEST(ZoneLoadTest, ForEachRecordIsCanonicalWithSoaFirst) {
  const ZoneLoad r = loadZoneText("example.com",
                                  "$TTL 100\nb A 192.0.2.2\n@ NS ns\n@ SOA ns h 1 2 3 4 5\na.b A 192.0.2.3\n"
                                  "A A 192.0.2.1\n");
  ASSERT_NE(r.zone, nullptr) << r.error;
  std::vector<std::string> seen;
  r.zone->forEachRecord(
      [&](const RecordView& rv) { seen.push_back(nameToText(*rv.owner) + std::to_string(rv.type)); });
  const std::vector<std::string> expect = {"example.com.6", "example.com.2", "a.example.com.1",
                                           "b.example.com.1", "a.b.example.com.1"};
  EXPECT_EQ(seen, expect);
  EXPECT_EQ(r.zone->recordCount(), 5u);
}

TEST(ZoneLoadTest, AdditionalTargetsPointAtNodesOrWildcards) {
  const ZoneLoad r = loadZoneFile("example.com", kData + "answer.example.zone");
  ASSERT_NE(r.zone, nullptr) << r.error;
  const Zone& z = *r.zone;
  const Zone::RRset* mx = z.find(*z.findExact(N("mxwild.example.com")), kTypeMX);
  ASSERT_NE(mx, nullptr);
  const Zone::Node* target = z.node(z.rdata(*mx, 0).targetNode);
  ASSERT_NE(target, nullptr);
  EXPECT_EQ(nameToText(z.nodeName(*target)), "*.wild.example.com.");
  const Zone::RRset* ns = z.find(*z.apex(), kTypeNS);
  ASSERT_NE(ns, nullptr);
  EXPECT_NE(z.rdata(*ns, 0).targetNode, Zone::kNone);  // ns1.example.com
  EXPECT_EQ(z.rdata(*ns, 1).targetNode, Zone::kNone);  // ns2.other.net: not ours
}

TEST(ZoneLoadTest, IncludeAndOcclusionLoad) {
  const ZoneLoad inc = loadZoneFile("example.com", kData + "include_ok.zone");
  ASSERT_NE(inc.zone, nullptr) << inc.error;
  EXPECT_NE(inc.zone->findExact(N("inc.example.com")), nullptr);
  // Data below a zone cut is kept (occluded, not served) and CNAME beside RRSIG is allowed.
  const ZoneLoad occ = loadZoneFile("example.com", kData + "occluded_ok.zone");
  ASSERT_NE(occ.zone, nullptr) << occ.error;
  const Zone::Node* hidden = occ.zone->findExact(N("hidden.sub.example.com"));
  ASSERT_NE(hidden, nullptr);
  EXPECT_TRUE(hidden->flags & Zone::kOccluded);
}

TEST(ZoneErrorTest, EachSemanticErrorNamesFileAndLine) {
  EXPECT_EQ(loadError("err_no_soa.zone"),
            kData + "err_no_soa.zone:4: zone example.com. has no SOA record at its apex");
  EXPECT_EQ(loadError("err_two_soa.zone"),
            kData + "err_two_soa.zone:5: more than one SOA record at the apex");
  EXPECT_EQ(loadError("err_no_ns.zone"),
            kData + "err_no_ns.zone:3: zone example.com. has no NS records at its apex");
  EXPECT_EQ(loadError("err_cname_other.zone"),
            kData + "err_cname_other.zone:6: CNAME and other data at www.example.com.");
  EXPECT_EQ(loadError("err_two_cname.zone"),
            kData + "err_two_cname.zone:6: more than one CNAME record at www.example.com.");
  EXPECT_EQ(loadError("err_out_of_zone.zone"),
            kData + "err_out_of_zone.zone:5: out-of-zone data: www.example.org. is not in zone example.com.");
  EXPECT_EQ(loadError("err_dname_below.zone"),
            kData + "err_dname_below.zone:6: data below the DNAME at dn.example.com.");
}

TEST(ZoneErrorTest, ScannerErrorsAndIncludesNameTheirFile) {
  EXPECT_EQ(loadError("err_syntax.zone"), kData + "err_syntax.zone:5: invalid IPv4 address");
  EXPECT_EQ(loadError("err_class.zone").rfind(kData + "err_class.zone:5: ", 0), 0u);
  const std::string included = loadError("err_include.zone");  // $INCLUDE resolves relative to the zone file
  const std::string want = "dns/data/err_included.inc:4: CNAME and other data at bad.example.com.";
  ASSERT_GE(included.size(), want.size());
  EXPECT_EQ(included.substr(included.size() - want.size()), want);
  const std::string missing = loadError("does-not-exist.zone");
  EXPECT_EQ(missing.rfind(kData + "does-not-exist.zone:0: ", 0), 0u) << missing;
}

TEST(ZoneBuilderTest, RejectsBadRecords) {
  ZoneBuilder b(N("example.com"));
  b.setSource("axfr", 7);
  std::string err;
  const uint8_t a[4] = {192, 0, 2, 1};
  EXPECT_FALSE(b.add(N("www.example.org"), kTypeA, 60, a, 4, err));
  EXPECT_EQ(err, "axfr:7: out-of-zone data: www.example.org. is not in zone example.com.");
  EXPECT_FALSE(b.add(N("www.example.com"), kTypeA, kClassCH, 60, a, 4, err));
  EXPECT_EQ(err, "axfr:7: class 3 is not IN");
  const uint8_t badNs[3] = {5, 'a', 'b'};  // name runs past the rdata
  EXPECT_FALSE(b.add(N("www.example.com"), kTypeNS, 60, badNs, 3, err));
  EXPECT_EQ(err, "axfr:7: malformed rdata for NS record");
  const uint8_t compressedNs[2] = {0xc0, 12};
  EXPECT_FALSE(b.add(N("www.example.com"), kTypeNS, 60, compressedNs, 2, err));
  const uint8_t shortSoa[5] = {0, 0, 1, 2, 3};
  EXPECT_FALSE(b.add(N("example.com"), kTypeSOA, 60, shortSoa, 5, err));
  EXPECT_FALSE(b.add(N("example.com"), kTypeOPT, 60, a, 4, err));
  EXPECT_FALSE(b.add(Name{}, kTypeA, 60, a, 4, err));
}

TEST(ZoneBuilderTest, BuildsWithoutSourceAndReportsWithoutLocation) {
  ZoneBuilder b(N("example.com"));
  std::string err;
  const uint8_t a[4] = {192, 0, 2, 1};
  ASSERT_TRUE(b.add(N("www.example.com"), kTypeA, 60, a, 4, err)) << err;
  EXPECT_EQ(b.build(err), nullptr);
  EXPECT_EQ(err, "zone example.com. has no SOA record at its apex");
}

TEST(ZoneSetTest, FindsClosestEnclosingZone) {
  ZoneSet set;
  const ZoneLoad parent = loadZoneFile("example.com", kData + "answer.example.zone");
  const ZoneLoad child = loadZoneFile("sub.example.com", kData + "child.zone");
  ASSERT_NE(parent.zone, nullptr) << parent.error;
  ASSERT_NE(child.zone, nullptr) << child.error;
  set.add(parent.zone);
  set.add(child.zone);
  EXPECT_EQ(set.find(N("www.example.com")), parent.zone.get());
  EXPECT_EQ(set.find(N("EXAMPLE.com")), parent.zone.get());
  EXPECT_EQ(set.find(N("a.b.SUB.example.com")), child.zone.get());
  EXPECT_EQ(set.find(N("sub.example.com")), child.zone.get());
  EXPECT_EQ(set.find(N("com")), nullptr);
  EXPECT_EQ(set.find(N("example.org")), nullptr);
  EXPECT_EQ(set.findExact(N("sub.example.com")), child.zone.get());
  EXPECT_EQ(set.findExact(N("x.sub.example.com")), nullptr);
  // add() replaces a zone with the same origin.
  const ZoneLoad again = loadZoneFile("sub.example.com", kData + "child.zone");
  set.add(again.zone);
  EXPECT_EQ(set.zones().size(), 2u);
  EXPECT_EQ(set.find(N("x.sub.example.com")), again.zone.get());
}

TEST(ZoneLoadTest, GarbageTextNeverCrashes) {
  const char* inputs[] = {"",
                          "\n\n",
                          "$ORIGIN .\n",
                          "@ SOA",
                          "$INCLUDE /nonexistent\n",
                          "( ( (",
                          "\\# 3 00",
                          "@ 1 IN TYPE65535 \\# 0\n",
                          "$TTL 4294967295\n@ SOA . . 1 1 1 1 1\n@ NS .\n"};
  for (const char* text : inputs) {
    const ZoneLoad r = loadZoneText("example.com", text);
    EXPECT_TRUE(r.zone == nullptr ? !r.error.empty() : r.error.empty()) << text;
  }
}

}  // namespace
}  // namespace bulwark::dns
