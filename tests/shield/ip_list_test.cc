#include "shield/ip_list.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace bulwark::shield {
namespace {

IpAddress addr(const char* text) {
  IpAddress a;
  EXPECT_TRUE(IpAddress::parse(text, a)) << text;
  return a;
}

IpPrefix prefix(const char* text) {
  IpPrefix p;
  EXPECT_TRUE(IpPrefix::parse(text, p)) << text;
  return p;
}

IpList listOf(std::initializer_list<const char*> prefixes) {
  IpList list;
  for (const char* p : prefixes) EXPECT_TRUE(list.add(prefix(p))) << p;
  return list;
}

std::string longest(const IpList& list, const char* address) {
  IpPrefix p;
  return list.longestMatch(addr(address), p) ? p.toString() : "none";
}

TEST(IpList, EmptyListContainsNothing) {
  IpList list;
  EXPECT_EQ(list.size(), 0u);
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(list.contains(addr("0.0.0.0")));
  EXPECT_FALSE(list.contains(addr("::")));
  EXPECT_EQ(longest(list, "10.0.0.1"), "none");
}

TEST(IpList, MatchesPrefixesOfBothFamilies) {
  const IpList list = listOf({"10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "fe80::/10"});
  EXPECT_EQ(list.size(), 4u);
  EXPECT_TRUE(list.contains(addr("10.255.1.2")));
  EXPECT_TRUE(list.contains(addr("192.0.2.255")));
  EXPECT_FALSE(list.contains(addr("192.0.3.0")));
  EXPECT_FALSE(list.contains(addr("11.0.0.0")));
  EXPECT_FALSE(list.contains(addr("9.255.255.255")));
  EXPECT_TRUE(list.contains(addr("2001:db8:ffff::1")));
  EXPECT_TRUE(list.contains(addr("febf::1")));
  EXPECT_FALSE(list.contains(addr("fec0::1")));
  EXPECT_FALSE(list.contains(addr("2001:db9::")));
}

TEST(IpList, V4PrefixMatchesOnlyV4AndMappedAddresses) {
  const IpList list = listOf({"10.0.0.0/8"});
  EXPECT_TRUE(list.contains(addr("::ffff:10.1.2.3")));
  // The same 32 bits elsewhere in the IPv6 space are not IPv4.
  EXPECT_FALSE(list.contains(addr("::10.1.2.3")));
  EXPECT_FALSE(list.contains(addr("a00::")));
  EXPECT_FALSE(list.contains(addr("64:ff9b::10.1.2.3")));
}

TEST(IpList, ZeroLengthPrefixCoversOnlyItsFamily) {
  const IpList v4all = listOf({"0.0.0.0/0"});
  EXPECT_TRUE(v4all.contains(addr("0.0.0.0")));
  EXPECT_TRUE(v4all.contains(addr("255.255.255.255")));
  EXPECT_TRUE(v4all.contains(addr("::ffff:1.2.3.4")));
  EXPECT_FALSE(v4all.contains(addr("::")));
  EXPECT_FALSE(v4all.contains(addr("2001:db8::1")));
  EXPECT_EQ(longest(v4all, "8.8.8.8"), "0.0.0.0/0");

  const IpList v6all = listOf({"::/0"});
  EXPECT_TRUE(v6all.contains(addr("::")));
  EXPECT_TRUE(v6all.contains(addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(v6all.contains(addr("::1.2.3.4")));
  EXPECT_FALSE(v6all.contains(addr("1.2.3.4")));
  EXPECT_FALSE(v6all.contains(addr("::ffff:1.2.3.4")));
  EXPECT_EQ(longest(v6all, "2001:db8::1"), "::/0");
}

TEST(IpList, HostPrefixesMatchExactlyOneAddress) {
  const IpList list = listOf({"192.0.2.7", "198.51.100.1/32", "2001:db8::7", "2001:db8::8/128"});
  EXPECT_EQ(list.size(), 4u);
  EXPECT_TRUE(list.contains(addr("192.0.2.7")));
  EXPECT_FALSE(list.contains(addr("192.0.2.6")));
  EXPECT_FALSE(list.contains(addr("192.0.2.8")));
  EXPECT_TRUE(list.contains(addr("198.51.100.1")));
  EXPECT_FALSE(list.contains(addr("198.51.100.0")));
  EXPECT_TRUE(list.contains(addr("2001:db8::7")));
  EXPECT_TRUE(list.contains(addr("2001:db8::8")));
  EXPECT_FALSE(list.contains(addr("2001:db8::9")));
  EXPECT_FALSE(list.contains(addr("2001:db8::6")));
  EXPECT_EQ(longest(list, "2001:db8::8"), "2001:db8::8/128");
  EXPECT_EQ(longest(list, "192.0.2.7"), "192.0.2.7/32");
}

TEST(IpList, LongestMatchAmongNestedPrefixes) {
  const IpList list = listOf({"10.1.2.0/24", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "2001:db8::/32",
                              "2001:db8:1::/48", "2001:db8:1:2::/64"});
  EXPECT_EQ(longest(list, "10.9.9.9"), "10.0.0.0/8");
  EXPECT_EQ(longest(list, "10.1.9.9"), "10.1.0.0/16");
  EXPECT_EQ(longest(list, "10.1.2.9"), "10.1.2.0/24");
  EXPECT_EQ(longest(list, "10.1.2.3"), "10.1.2.3/32");
  EXPECT_EQ(longest(list, "2001:db8:1:2::5"), "2001:db8:1:2::/64");
  EXPECT_EQ(longest(list, "2001:db8:1:3::5"), "2001:db8:1::/48");
  EXPECT_EQ(longest(list, "2001:db8:2::"), "2001:db8::/32");
  EXPECT_EQ(longest(list, "11.1.2.3"), "none");
}

TEST(IpList, OverlappingSiblingsAndBranchesKeepEachOther) {
  // Inserted so that the trie must split existing edges (shorter after longer, siblings after both).
  const IpList list = listOf({"10.1.2.128/25", "10.1.2.0/25", "10.1.0.0/23", "10.1.2.0/23", "10.1.3.0/24"});
  EXPECT_EQ(longest(list, "10.1.2.200"), "10.1.2.128/25");
  EXPECT_EQ(longest(list, "10.1.2.1"), "10.1.2.0/25");
  EXPECT_EQ(longest(list, "10.1.3.1"), "10.1.3.0/24");
  EXPECT_EQ(longest(list, "10.1.1.1"), "10.1.0.0/23");
  EXPECT_EQ(longest(list, "10.1.4.1"), "none");
  EXPECT_EQ(list.size(), 5u);
}

TEST(IpList, DuplicatesCountOnce) {
  IpList list;
  EXPECT_TRUE(list.add(prefix("10.0.0.0/8")));
  EXPECT_FALSE(list.add(prefix("10.0.0.0/8")));
  EXPECT_FALSE(list.add(prefix("10.1.2.3/8")));  // masks to the same prefix
  EXPECT_TRUE(list.add(prefix("10.0.0.0/9")));
  EXPECT_TRUE(list.add(prefix("::a00:0/104")));  // same bits, other family: a different prefix
  EXPECT_FALSE(list.add(prefix("::ffff:10.0.0.0/8")));
  EXPECT_EQ(list.size(), 3u);
}

TEST(IpList, RejectsLengthOutsideTheFamily) {
  IpList list;
  IpPrefix p;
  p.address = addr("10.0.0.0");
  p.length = 33;
  EXPECT_FALSE(list.add(p));
  p.length = -1;
  EXPECT_FALSE(list.add(p));
  p.address = addr("2001:db8::");
  p.length = 129;
  EXPECT_FALSE(list.add(p));
  EXPECT_EQ(list.size(), 0u);
}

TEST(IpList, UnmaskedAddressIsMaskedOnAdd) {
  IpList list;
  IpPrefix p;
  p.address = addr("10.1.2.3");
  p.length = 16;
  EXPECT_TRUE(list.add(p));
  EXPECT_TRUE(list.contains(addr("10.1.200.1")));
  EXPECT_TRUE(list.has(prefix("10.1.0.0/16")));
  EXPECT_EQ(list.entries().at(0).toString(), "10.1.0.0/16");
}

TEST(IpList, RemoveKeepsNestedPrefixes) {
  IpList list = listOf({"10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32"});
  EXPECT_TRUE(list.remove(prefix("10.0.0.0/8")));
  EXPECT_FALSE(list.remove(prefix("10.0.0.0/8")));
  EXPECT_FALSE(list.remove(prefix("10.2.0.0/16")));
  EXPECT_FALSE(list.remove(prefix("10.0.0.0/12")));  // a branch point, never listed
  EXPECT_EQ(list.size(), 2u);
  EXPECT_FALSE(list.contains(addr("10.2.0.1")));
  EXPECT_TRUE(list.contains(addr("10.1.0.1")));
  EXPECT_FALSE(list.has(prefix("10.0.0.0/8")));
  EXPECT_TRUE(list.add(prefix("10.0.0.0/8")));
  EXPECT_TRUE(list.contains(addr("10.2.0.1")));
  EXPECT_EQ(list.size(), 3u);
}

TEST(IpList, EntriesListV4ThenV6InAddressOrder) {
  const IpList list = listOf({"2001:db8::/32", "10.1.0.0/16", "::/0", "10.0.0.0/8", "9.0.0.0/8", "::1"});
  std::vector<std::string> got;
  for (const IpPrefix& p : list.entries()) got.push_back(p.toString());
  EXPECT_EQ(got, (std::vector<std::string>{"9.0.0.0/8", "10.0.0.0/8", "10.1.0.0/16", "::/0", "::1/128",
                                           "2001:db8::/32"}));
}

TEST(IpList, CopyIsIndependent) {
  IpList a = listOf({"10.0.0.0/8"});
  IpList b = a;
  EXPECT_TRUE(b.add(prefix("11.0.0.0/8")));
  EXPECT_FALSE(a.contains(addr("11.0.0.1")));
  EXPECT_TRUE(b.contains(addr("11.0.0.1")));
  EXPECT_TRUE(b.contains(addr("10.0.0.1")));
}

// --- text format -----------------------------------------------------------------------------------------

TEST(IpListLoad, IgnoresCommentsBlanksAndSurroundingSpace) {
  IpList list;
  std::vector<std::string> errors;
  const std::string text =
      "# deny list\n"
      "\n"
      "10.0.0.0/8\n"
      "   192.0.2.1   # a single host\n"
      "\t2001:db8::/32\t\r\n"
      "   \t  \n"
      "#10.9.9.9\n"
      "198.51.100.0/24#no space before the comment\r\n"
      "::1";  // no final newline
  EXPECT_TRUE(IpList::loadText(text, "deny.txt", list, errors));
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(list.size(), 5u);
  EXPECT_TRUE(list.contains(addr("10.3.3.3")));
  EXPECT_TRUE(list.contains(addr("192.0.2.1")));
  EXPECT_FALSE(list.contains(addr("192.0.2.2")));
  EXPECT_TRUE(list.contains(addr("2001:db8::5")));
  EXPECT_FALSE(list.has(prefix("10.9.9.9/32")));
  EXPECT_TRUE(list.contains(addr("198.51.100.9")));
  EXPECT_TRUE(list.contains(addr("::1")));
}

TEST(IpListLoad, ReportsEachBadLineWithFileAndLine) {
  IpList list;
  std::vector<std::string> errors;
  const std::string text =
      "10.0.0.0/8\n"
      "10.0.0.0/33\n"
      "not-an-ip\n"
      "2001:db8::/129\n"
      "10.0.0.0 /8\n"
      "1.2.3.4/\n"
      "192.0.2.0/24\n"
      "bad\x01\xff\n";
  EXPECT_FALSE(IpList::loadText(text, "lists/deny.txt", list, errors));
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_EQ(errors[0], "lists/deny.txt:2: not an IP address or CIDR prefix: '10.0.0.0/33'");
  EXPECT_EQ(errors[1], "lists/deny.txt:3: not an IP address or CIDR prefix: 'not-an-ip'");
  EXPECT_EQ(errors[2].rfind("lists/deny.txt:4: ", 0), 0u);
  EXPECT_EQ(errors[3].rfind("lists/deny.txt:5: ", 0), 0u);
  EXPECT_EQ(errors[4].rfind("lists/deny.txt:6: ", 0), 0u);
  // Control and non-ASCII bytes are escaped, never copied into the message.
  EXPECT_EQ(errors[5], "lists/deny.txt:8: not an IP address or CIDR prefix: 'bad\\x01\\xff'");
  // The good lines are still there; the caller decides to drop the list on a false result.
  EXPECT_EQ(list.size(), 2u);
}

TEST(IpListLoad, RejectsOverlongLines) {
  IpList list;
  std::vector<std::string> errors;
  const std::string text = "10.0.0.0/8\n# " + std::string(IpList::kMaxLineBytes, 'x') + "\n11.0.0.0/8\n" +
                           std::string(IpList::kMaxLineBytes, ' ') + "\n";
  EXPECT_FALSE(IpList::loadText(text, "big.txt", list, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "big.txt:2: line longer than 512 bytes");
  EXPECT_EQ(list.size(), 2u);
}

TEST(IpListLoad, CapsTheNumberOfMessages) {
  IpList list;
  std::vector<std::string> errors;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "garbage\n";
  EXPECT_FALSE(IpList::loadText(text, "g.txt", list, errors));
  ASSERT_EQ(errors.size(), IpList::kMaxErrors + 1);
  EXPECT_EQ(errors.front(), "g.txt:1: not an IP address or CIDR prefix: 'garbage'");
  EXPECT_EQ(errors.back(), "g.txt: 900 more errors not shown");
}

TEST(IpListLoad, StopsAtThePrefixLimit) {
  // Every line counts towards the limit, duplicates included (they are folded after parsing).
  IpList list;
  std::vector<std::string> errors;
  EXPECT_FALSE(IpList::loadText("1.2.3.4\n1.2.3.4\n\n# c\n5.6.7.8\n9.9.9.9\n", "huge.txt", list, errors, 3));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "huge.txt:6: more than 3 prefixes; the rest is ignored");
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(IpList::kMaxPrefixes, 10'000'000u);
}

TEST(IpListLoad, EmptyTextIsAnEmptyList) {
  IpList list;
  std::vector<std::string> errors;
  EXPECT_TRUE(IpList::loadText("", "e.txt", list, errors));
  EXPECT_TRUE(IpList::loadText("\n\n# nothing\n", "e.txt", list, errors));
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(list.size(), 0u);
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/bulwark-ip-list-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(IpListLoad, LoadsAFileAndNamesItInErrors) {
  TempFile file("10.0.0.0/8\n2001:db8::/32\nnope\n");
  IpList list;
  std::vector<std::string> errors;
  EXPECT_FALSE(IpList::loadFile(file.path(), list, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], file.path() + ":3: not an IP address or CIDR prefix: 'nope'");
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.contains(addr("2001:db8::1")));
}

TEST(IpListLoad, UnreadableFileIsAnError) {
  IpList list;
  std::vector<std::string> errors;
  EXPECT_FALSE(IpList::loadFile("/nonexistent/deny.txt", list, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "/nonexistent/deny.txt:0: cannot open: No such file or directory");
  errors.clear();
  EXPECT_FALSE(IpList::loadFile("/tmp", list, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("/tmp:0: ", 0), 0u) << errors[0];
}

// --- randomized --------------------------------------------------------------------------------------------

// Random prefixes drawn from a few narrow regions so that nesting, siblings and near misses are common.
class PrefixSource {
 public:
  explicit PrefixSource(uint64_t seed) : rng_(seed) {}

  IpAddress address() {
    uint8_t bytes[16];
    const bool v4 = rng_() % 2 == 0;
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng_());
    if (rng_() % 4 == 0) {  // anywhere in the family
      return v4 ? IpAddress::v4(static_cast<uint32_t>(rng_())) : IpAddress::v6(bytes);
    }
    if (v4) {
      static constexpr uint8_t kFirst[] = {10, 192, 0, 255};
      bytes[12] = kFirst[rng_() % 4];
      if (rng_() % 2) bytes[13] = static_cast<uint8_t>(rng_() % 4);
      return IpAddress::v4(static_cast<uint32_t>(bytes[12]) << 24 | static_cast<uint32_t>(bytes[13]) << 16 |
                           static_cast<uint32_t>(bytes[14]) << 8 | bytes[15]);
    }
    static constexpr uint8_t kFirst[] = {0x20, 0xfe, 0x00, 0xff};
    bytes[0] = kFirst[rng_() % 4];
    if (rng_() % 2) bytes[1] = static_cast<uint8_t>(rng_() % 4);
    if (bytes[0] == 0) std::memset(bytes, 0, 10);  // near ::/96 and the mapped range
    return IpAddress::v6(bytes);
  }

  IpPrefix prefix() {
    IpPrefix p;
    const IpAddress a = address();
    const int bits = a.bits();
    // Mostly short-to-middle lengths (so they cover lookups), some host routes.
    const uint64_t pick = rng_() % 10;
    p.length = pick == 0 ? bits : 4 + static_cast<int>(rng_() % static_cast<uint64_t>(bits / 2));
    p.address = a.masked(p.length);
    return p;
  }

  // An address inside `p` (random low bits) half of the time, a random one otherwise.
  IpAddress near(const IpPrefix& p) {
    if (rng_() % 2) return address();
    const IpAddress r = address();
    if (r.isV4() != p.address.isV4()) return r;
    std::array<uint8_t, 16> bytes = r.bytes();
    const IpAddress kept = p.address;
    const int offset = p.address.isV4() ? 96 : 0;
    for (int i = 0; i < offset + p.length; ++i) {
      const auto byte = static_cast<std::size_t>(i / 8);
      const uint8_t bit = static_cast<uint8_t>(0x80 >> (i % 8));
      bytes[byte] = static_cast<uint8_t>((bytes[byte] & ~bit) | (kept.bytes()[byte] & bit));
    }
    return IpAddress::v6(bytes.data());
  }

  uint64_t next() { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

uint64_t half(const IpAddress& a, int which) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | a.bytes()[static_cast<std::size_t>(which * 8 + i)];
  return v;
}

// Adds `prefixCount` random prefixes, removes a tenth, and compares `lookups` answers with a linear scan.
void expectSameAsLinearScan(uint64_t seed, int prefixCount, int lookups) {
  PrefixSource source(seed);
  IpList list;
  std::vector<IpPrefix> prefixes;
  std::set<std::pair<std::array<uint8_t, 16>, int>> seen;
  for (int i = 0; i < prefixCount; ++i) {
    const IpPrefix p = source.prefix();
    const bool isNew = seen.emplace(p.address.bytes(), p.length).second;
    EXPECT_EQ(list.add(p), isNew) << p.toString();
    if (isNew) prefixes.push_back(p);
  }
  // Remove a tenth, to cover unlisted inner nodes too.
  for (std::size_t i = 0; i < prefixes.size(); i += 10) EXPECT_TRUE(list.remove(prefixes[i]));
  std::vector<IpPrefix> live;
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    if (i % 10 != 0) live.push_back(prefixes[i]);
  }
  ASSERT_EQ(list.size(), live.size());

  // The oracle: IpPrefix::contains's rule (same family, equal first `length` bits of the 16-byte form
  // after the IPv4 mapping) on every live prefix, masks computed once to stay quick under the sanitizers.
  struct Masked {
    bool v4;
    uint64_t hi, lo, maskHi, maskLo;
    int length;
  };
  std::vector<Masked> oracle;
  for (const IpPrefix& p : live) {
    const int bits = (p.address.isV4() ? 96 : 0) + p.length;
    const uint64_t ones = ~uint64_t{0};
    const uint64_t maskHi = bits >= 64 ? ones : bits == 0 ? 0 : ones << (64 - bits);
    const uint64_t maskLo = bits >= 128 ? ones : bits <= 64 ? 0 : ones << (128 - bits);
    oracle.push_back({p.address.isV4(), half(p.address, 0), half(p.address, 1), maskHi, maskLo, p.length});
  }
  int hits = 0;
  for (int i = 0; i < lookups; ++i) {
    const IpAddress a = source.near(live[source.next() % live.size()]);
    const uint64_t hi = half(a, 0);
    const uint64_t lo = half(a, 1);
    int best = -1;
    for (const Masked& m : oracle) {
      if (m.v4 == a.isV4() && m.length > best && ((hi ^ m.hi) & m.maskHi) == 0 &&
          ((lo ^ m.lo) & m.maskLo) == 0)
        best = m.length;
    }
    ASSERT_EQ(list.contains(a), best >= 0) << a.toString();
    IpPrefix got;
    ASSERT_EQ(list.longestMatch(a, got), best >= 0) << a.toString();
    if (best >= 0) {
      ++hits;
      EXPECT_EQ(got.length, best) << a.toString();
      EXPECT_TRUE(got.contains(a)) << a.toString() << " in " << got.toString();
    }
  }
  // The generator must exercise both answers.
  EXPECT_GT(hits, lookups / 10);
  EXPECT_LT(hits, lookups);

  std::vector<IpPrefix> listed = list.entries();
  EXPECT_EQ(listed.size(), live.size());
  for (const IpPrefix& p : listed) EXPECT_TRUE(list.has(p)) << p.toString();
}

TEST(IpListRandom, AgreesWithLinearScan) { expectSameAsLinearScan(0x5eed1, 2000, 20000); }

// Past IpList::kJumpThreshold prefixes lookups start from the jump table, which every add and remove
// keeps up to date; the same comparison covers it.
TEST(IpListRandom, AgreesWithLinearScanPastTheJumpTableThreshold) {
  expectSameAsLinearScan(0x5eed2, 9000, 4000);
}

// Loads N random prefixes (1,000,000 in an optimised build, 200,000 under the sanitizers' Debug build;
// BULWARK_LIST_PREFIXES overrides) from text and prints load time, memory and lookup cost. The bound is
// generous (the requirement is 2 s for 1M in Release); docs/shield-lists.md has the measured figures.
TEST(IpListRandom, LoadsManyPrefixesQuickly) {
#ifdef NDEBUG
  std::size_t count = 1000000;
#else
  std::size_t count = 200000;
#endif
  if (const char* env = std::getenv("BULWARK_LIST_PREFIXES")) count = std::strtoul(env, nullptr, 10);

  std::mt19937_64 rng(42);
  std::string text;
  text.reserve(count * 32);
  std::vector<IpAddress> inside;
  for (std::size_t i = 0; i < count; ++i) {
    IpPrefix p;
    if (i % 2 == 0) {
      p.address = IpAddress::v4(static_cast<uint32_t>(rng()));
      p.length = 12 + static_cast<int>(rng() % 21);
    } else {
      uint8_t bytes[16];
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
      bytes[0] = static_cast<uint8_t>(0x20 | (bytes[0] & 0x0f));
      p.address = IpAddress::v6(bytes);
      p.length = 32 + static_cast<int>(rng() % 97);
    }
    if (i % 1000 == 0) inside.push_back(p.address);
    text += p.toString();
    text += '\n';
  }

  IpList list;
  std::vector<std::string> errors;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(IpList::loadText(text, "generated", list, errors));
  const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(list.size(), count * 9 / 10);
  for (const IpAddress& a : inside) ASSERT_TRUE(list.contains(a)) << a.toString();

  // Lookup cost over a mix: addresses that are listed and random ones of both families.
  std::vector<IpAddress> probes;
  for (int i = 0; i < 100000; ++i) {
    if (i % 4 == 0) {
      probes.push_back(inside[static_cast<std::size_t>(i / 4) % inside.size()]);
    } else if (i % 2 == 0) {
      probes.push_back(IpAddress::v4(static_cast<uint32_t>(rng())));
    } else {
      uint8_t bytes[16];
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
      bytes[0] = static_cast<uint8_t>(0x20 | (bytes[0] & 0x0f));
      probes.push_back(IpAddress::v6(bytes));
    }
  }
  const auto lookupStart = std::chrono::steady_clock::now();
  std::size_t found = 0;
  for (int round = 0; round < 10; ++round) {
    for (const IpAddress& a : probes) found += list.contains(a) ? 1 : 0;
  }
  const double lookupNs =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - lookupStart).count() /
      (10.0 * static_cast<double>(probes.size()));
  EXPECT_GT(found, probes.size() * 10 / 4 - 1);

  std::printf(
      "ip list: %zu prefixes (%zu distinct) loaded in %.3f s; %.1f ns per lookup; %.1f MB, %.1f B per "
      "prefix\n",
      count, list.size(), loadSeconds, lookupNs, static_cast<double>(list.memoryBytes()) / 1e6,
      static_cast<double>(list.memoryBytes()) / static_cast<double>(list.size()));
  // Generous: a loaded 2-core machine under ASan must still pass; the Release figure is far lower.
  EXPECT_LT(loadSeconds, 2.0 * static_cast<double>(count) / 1e6 * 10.0);
}

}  // namespace
}  // namespace bulwark::shield
