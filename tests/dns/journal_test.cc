// The journal of zone differences (IXFR out): diffing two loads, chaining versions, the bounds.
#include "dns/journal.h"

#include <gtest/gtest.h>

#include <string>

#include "dns/zone.h"

namespace bulwark::dns {
namespace {

std::shared_ptr<const Zone> zone(uint32_t serial, const std::string& body) {
  std::string t = "$ORIGIN example.com.\n$TTL 300\n";
  t += "@ SOA ns.example.com. h.example.com. " + std::to_string(serial) + " 60 30 600 60\n";
  t += "@ NS ns.example.com.\nns A 192.0.2.1\n" + body;
  ZoneLoad l = loadZoneText("example.com", t);
  EXPECT_TRUE(l.zone) << l.error;
  return l.zone;
}

std::string text(const OwnedRecord& r) {
  return nameToText(r.owner) + "/" + std::to_string(r.type) + "/" + std::to_string(r.ttl);
}

TEST(Journal, DiffRemovedAddedSoaExcluded) {
  auto a = zone(1, "a A 192.0.2.10\nb A 192.0.2.11\nc TXT \"x\"\n");
  auto b = zone(2, "a A 192.0.2.10\nb A 192.0.2.12\nc 600 TXT \"x\"\nd AAAA 2001:db8::1\n");
  JournalDelta d = diffZones(*a, *b);
  EXPECT_EQ(d.fromSerial, 1u);
  EXPECT_EQ(d.toSerial, 2u);
  EXPECT_EQ(d.oldSoa.type, kTypeSOA);
  EXPECT_EQ(d.newSoa.type, kTypeSOA);
  ASSERT_EQ(d.removed.size(), 2u);
  EXPECT_EQ(text(d.removed[0]), "b.example.com./1/300");
  EXPECT_EQ(text(d.removed[1]), "c.example.com./16/300");  // a TTL change is removal + addition
  ASSERT_EQ(d.added.size(), 3u);
  EXPECT_EQ(text(d.added[0]), "b.example.com./1/300");
  EXPECT_EQ(text(d.added[1]), "c.example.com./16/600");
  EXPECT_EQ(text(d.added[2]), "d.example.com./28/300");
  EXPECT_GT(d.bytes, 0u);
}

TEST(Journal, OwnerCaseDoesNotMakeADifference) {
  auto a = zone(1, "Host A 192.0.2.10\n");
  auto b = zone(2, "host A 192.0.2.10\n");
  JournalDelta d = diffZones(*a, *b);
  EXPECT_TRUE(d.removed.empty());
  EXPECT_TRUE(d.added.empty());
}

TEST(Journal, ChainsVersions) {
  auto v1 = zone(10, "x A 192.0.2.1\n");
  auto v2 = zone(11, "x A 192.0.2.2\n");
  auto v3 = zone(12, "x A 192.0.2.3\n");
  Journal j;
  j.onNewVersion(*v1, *v2);
  j.onNewVersion(*v2, *v3);
  EXPECT_EQ(j.versions(), 2u);
  std::vector<const JournalDelta*> chain;
  ASSERT_TRUE(j.chain(10, 12, chain));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0]->fromSerial, 10u);
  EXPECT_EQ(chain[1]->toSerial, 12u);
  ASSERT_TRUE(j.chain(11, 12, chain));
  EXPECT_EQ(chain.size(), 1u);
  EXPECT_FALSE(j.chain(9, 12, chain));
  EXPECT_TRUE(chain.empty());
  EXPECT_FALSE(j.chain(10, 13, chain));
}

TEST(Journal, SameSerialIgnoredLowerSerialClears) {
  auto v1 = zone(10, "x A 192.0.2.1\n");
  auto v2 = zone(11, "x A 192.0.2.2\n");
  auto v2b = zone(11, "x A 192.0.2.9\n");
  auto back = zone(5, "x A 192.0.2.3\n");
  Journal j;
  j.onNewVersion(*v1, *v2);
  j.onNewVersion(*v2, *v2b);  // same serial: nothing recorded
  EXPECT_EQ(j.versions(), 1u);
  j.onNewVersion(*v2, *back);  // serial went backwards
  EXPECT_EQ(j.versions(), 0u);
  EXPECT_EQ(j.bytes(), 0u);
}

TEST(Journal, SerialWrapsAround) {
  auto v1 = zone(0xFFFFFFFFu, "x A 192.0.2.1\n");
  auto v2 = zone(0, "x A 192.0.2.2\n");
  Journal j;
  j.onNewVersion(*v1, *v2);
  EXPECT_EQ(j.versions(), 1u);
  std::vector<const JournalDelta*> chain;
  EXPECT_TRUE(j.chain(0xFFFFFFFFu, 0, chain));
}

TEST(Journal, GapStartsANewChain) {
  auto v1 = zone(1, "x A 192.0.2.1\n");
  auto v2 = zone(2, "x A 192.0.2.2\n");
  auto v5 = zone(5, "x A 192.0.2.5\n");
  auto v6 = zone(6, "x A 192.0.2.6\n");
  Journal j;
  j.onNewVersion(*v1, *v2);
  j.onNewVersion(*v5, *v6);  // 2 -> 5 never seen
  EXPECT_EQ(j.versions(), 1u);
  std::vector<const JournalDelta*> chain;
  EXPECT_FALSE(j.chain(1, 6, chain));
  EXPECT_TRUE(j.chain(5, 6, chain));
}

TEST(Journal, BoundedByVersionsOldestDropped) {
  Journal j(3);
  std::shared_ptr<const Zone> prev = zone(1, "x A 192.0.2.1\n");
  for (uint32_t s = 2; s <= 10; ++s) {
    auto next = zone(s, "x A 192.0.2." + std::to_string(s) + "\n");
    j.onNewVersion(*prev, *next);
    prev = next;
  }
  EXPECT_EQ(j.versions(), 3u);
  EXPECT_EQ(j.deltas().front()->fromSerial, 7u);
  std::vector<const JournalDelta*> chain;
  EXPECT_FALSE(j.chain(6, 10, chain));
  EXPECT_TRUE(j.chain(7, 10, chain));
}

TEST(Journal, BoundedByBytes) {
  std::string big1, big2;
  for (int i = 0; i < 200; ++i) {
    big1 += "h" + std::to_string(i) + " A 10.0.0." + std::to_string(i) + "\n";
    big2 += "h" + std::to_string(i) + " A 10.0.1." + std::to_string(i) + "\n";
  }
  auto v1 = zone(1, big1);
  auto v2 = zone(2, big2);
  auto v3 = zone(3, big1);
  JournalDelta d = diffZones(*v1, *v2);
  // Room for one delta of this size, not two: the oldest goes.
  Journal j(32, d.bytes + d.bytes / 2);
  j.onNewVersion(*v1, *v2);
  j.onNewVersion(*v2, *v3);
  EXPECT_EQ(j.versions(), 1u);
  EXPECT_EQ(j.deltas().front()->fromSerial, 2u);
  EXPECT_LE(j.bytes(), d.bytes + d.bytes / 2);
  // A delta larger than the whole bound is not kept at all.
  Journal tiny(32, 100);
  tiny.onNewVersion(*v1, *v2);
  EXPECT_EQ(tiny.versions(), 0u);
}

TEST(Journal, CondensedChainIsTheNetDifference) {
  auto v1 = zone(1, "a A 192.0.2.1\nb A 192.0.2.2\n");
  auto v2 = zone(2, "a A 192.0.2.1\nc A 192.0.2.3\n");                 // -b +c
  auto v3 = zone(3, "a A 192.0.2.9\nb A 192.0.2.2\n");                 // -a -c +a' +b
  auto v4 = zone(4, "a A 192.0.2.9\nb A 192.0.2.2\nd A 192.0.2.4\n");  // +d
  Journal j;
  j.onNewVersion(*v1, *v2);
  j.onNewVersion(*v2, *v3);
  j.onNewVersion(*v3, *v4);
  std::vector<const JournalDelta*> chain;
  ASSERT_TRUE(j.chain(1, 4, chain));
  JournalDelta d = condenseDeltas(chain);
  EXPECT_EQ(d.fromSerial, 1u);
  EXPECT_EQ(d.toSerial, 4u);
  // b removed then added back and c added then removed cancel out.
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(nameToText(d.removed[0].owner), "a.example.com.");
  EXPECT_EQ(d.removed[0].rdata, (std::vector<uint8_t>{192, 0, 2, 1}));
  ASSERT_EQ(d.added.size(), 2u);  // canonical order: a, d
  EXPECT_EQ(nameToText(d.added[0].owner), "a.example.com.");
  EXPECT_EQ(nameToText(d.added[1].owner), "d.example.com.");
  JournalDelta direct = diffZones(*v1, *v4);
  EXPECT_EQ(direct.removed.size(), d.removed.size());
  EXPECT_EQ(direct.added.size(), d.added.size());
}

}  // namespace
}  // namespace bulwark::dns
