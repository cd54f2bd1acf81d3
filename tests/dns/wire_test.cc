// Names, query parsing and the compressing writer (src/dns/wire.h).
#include "dns/wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace bulwark::dns {
namespace {

Name N(const char* text) {
  Name n;
  EXPECT_TRUE(nameFromText(text, n)) << text;
  return n;
}

std::vector<uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<uint8_t> v;
  for (int b : list) v.push_back(static_cast<uint8_t>(b));
  return v;
}

// A query: header (id 0x1234, given flags, qdcount 1, arcount as given) and the question.
std::vector<uint8_t> query(const char* name, uint16_t type, uint16_t flags = 0, uint16_t qclass = kClassIN) {
  std::vector<uint8_t> p(12, 0);
  p[0] = 0x12;
  p[1] = 0x34;
  p[2] = static_cast<uint8_t>(flags >> 8);
  p[3] = static_cast<uint8_t>(flags);
  p[5] = 1;
  const Name n = N(name);
  p.insert(p.end(), n.data, n.data + n.len);
  p.push_back(static_cast<uint8_t>(type >> 8));
  p.push_back(static_cast<uint8_t>(type));
  p.push_back(static_cast<uint8_t>(qclass >> 8));
  p.push_back(static_cast<uint8_t>(qclass));
  return p;
}

// Appends an OPT record (and counts it) with the given options.
void addOpt(std::vector<uint8_t>& p, uint16_t udp, uint8_t version, bool doBit,
            const std::vector<uint8_t>& opts) {
  p[11] = static_cast<uint8_t>(p[11] + 1);
  const std::vector<uint8_t> rr =
      bytes({0, 0, 41, udp >> 8, udp & 0xff, 0, version, doBit ? 0x80 : 0, 0,
             static_cast<int>(opts.size() >> 8), static_cast<int>(opts.size() & 0xff)});
  p.insert(p.end(), rr.begin(), rr.end());
  p.insert(p.end(), opts.begin(), opts.end());
}

TEST(NameTest, TextToWireAndBack) {
  const Name n = N("www.Example.COM.");
  EXPECT_EQ(n.len, 17);
  EXPECT_EQ(n.labelCount(), 3);
  EXPECT_EQ(nameToText(n), "www.Example.COM.");
  EXPECT_EQ(nameToText(N("www.example.com")), "www.example.com.");  // relative text taken as absolute
  EXPECT_EQ(nameToText(N(".")), ".");
  EXPECT_TRUE(N(".").isRoot());
}

TEST(NameTest, EscapesDecimalAndCharacter) {
  const Name n = N("a\\.b.c\\065\\255.");
  ASSERT_EQ(n.len, 1 + 3 + 1 + 3 + 1);
  EXPECT_EQ(n.data[0], 3);
  EXPECT_EQ(std::memcmp(n.data + 1, "a.b", 3), 0);
  EXPECT_EQ(n.data[5], 'c');
  EXPECT_EQ(n.data[6], 'A');
  EXPECT_EQ(n.data[7], 255);
  EXPECT_EQ(nameToText(n), "a\\.b.cA\\255.");
  EXPECT_EQ(nameToText(N("sp\\032ace.")), "sp\\032ace.");
  EXPECT_EQ(nameToText(N("back\\\\slash.")), "back\\\\slash.");
}

TEST(NameTest, RejectsBadText) {
  Name n;
  EXPECT_FALSE(nameFromText("", n));
  EXPECT_FALSE(nameFromText("a..b", n));
  EXPECT_FALSE(nameFromText(".a", n));
  EXPECT_FALSE(nameFromText("a\\25", n));   // short \DDD
  EXPECT_FALSE(nameFromText("a\\256", n));  // \DDD over 255
  EXPECT_FALSE(nameFromText("a\\", n));
  EXPECT_FALSE(nameFromText(std::string(64, 'a'), n));  // label > 63
  EXPECT_TRUE(nameFromText(std::string(63, 'a'), n));
  std::string longName;
  for (int i = 0; i < 4; ++i) longName += std::string(63, 'a') + ".";  // 4*64 + 1 = 257 bytes
  EXPECT_FALSE(nameFromText(longName, n));
  std::string maxName;
  for (int i = 0; i < 3; ++i) maxName += std::string(63, 'a') + ".";
  maxName += std::string(61, 'b') + ".";  // 3*64 + 62 + 1 = 255
  ASSERT_TRUE(nameFromText(maxName, n));
  EXPECT_EQ(n.len, 255);
}

TEST(NameTest, CaseInsensitiveCompareAndAncestry) {
  EXPECT_TRUE(N("WWW.example.com").equalsNoCase(N("www.EXAMPLE.com")));
  EXPECT_FALSE(N("www.example.com").equalsNoCase(N("ww.example.com")));
  EXPECT_TRUE(N("a.b.Example.com").isSubdomainOf(N("example.COM")));
  EXPECT_TRUE(N("example.com").isSubdomainOf(N("example.com")));
  EXPECT_FALSE(N("badexample.com").isSubdomainOf(N("example.com")));  // label boundary
  EXPECT_FALSE(N("com").isSubdomainOf(N("example.com")));
  EXPECT_TRUE(N("x.").isSubdomainOf(N(".")));
  EXPECT_EQ(nameToText(N("a.b.c").parent()), "b.c.");
  EXPECT_EQ(nameToText(N("a.b.c").stripLabels(2)), "c.");
  EXPECT_EQ(nameToText(N("A.B").lowered()), "a.b.");
  Name wc;
  ASSERT_TRUE(N("b.c").wildcardChild(wc));
  EXPECT_EQ(nameToText(wc), "*.b.c.");
  EXPECT_TRUE(wc.isWildcard());
}

TEST(NameTest, CanonicalOrderFollowsRfc4034) {
  // RFC 4034 §6.1 example order.
  const char* ordered[] = {"example.",         "a.example.",      "yljkjljk.a.example.",
                           "Z.a.example.",     "zABC.a.EXAMPLE.", "z.example.",
                           "\\001.z.example.", "*.z.example.",    "\\200.z.example."};
  for (size_t i = 0; i + 1 < std::size(ordered); ++i) {
    EXPECT_LT(canonicalCompare(N(ordered[i]), N(ordered[i + 1])), 0) << ordered[i] << " < " << ordered[i + 1];
    EXPECT_GT(canonicalCompare(N(ordered[i + 1]), N(ordered[i])), 0);
  }
  EXPECT_EQ(canonicalCompare(N("A.example."), N("a.EXAMPLE.")), 0);
}

TEST(ReadNameTest, FollowsBackwardPointers) {
  // 12-byte header, "example.com" at 12, "www" + pointer to 12 at 25.
  std::vector<uint8_t> msg(12, 0);
  const Name base = N("example.com");
  msg.insert(msg.end(), base.data, base.data + base.len);
  const size_t at = msg.size();
  const std::vector<uint8_t> rest = bytes({3, 'w', 'w', 'w', 0xc0, 12, 0xaa});
  msg.insert(msg.end(), rest.begin(), rest.end());
  size_t pos = at;
  Name out;
  ASSERT_TRUE(readName(msg.data(), msg.size(), pos, out));
  EXPECT_EQ(nameToText(out), "www.example.com.");
  EXPECT_EQ(pos, at + 6);  // just after the pointer
  pos = at;
  ASSERT_TRUE(skipName(msg.data(), msg.size(), pos));
  EXPECT_EQ(pos, at + 6);
}

TEST(ReadNameTest, RejectsLoopsForwardPointersAndOverlongNames) {
  Name out;
  size_t pos = 12;
  std::vector<uint8_t> self(12, 0);
  self.push_back(0xc0);
  self.push_back(12);  // points at itself
  EXPECT_FALSE(readName(self.data(), self.size(), pos, out));

  std::vector<uint8_t> loop(12, 0);  // 12 -> 14 -> 12
  for (int b : std::initializer_list<int>{1, 'a', 0xc0, 16, 1, 'b', 0xc0, 12})
    loop.push_back(static_cast<uint8_t>(b));
  pos = 12;
  EXPECT_FALSE(readName(loop.data(), loop.size(), pos, out));

  std::vector<uint8_t> forward(12, 0);
  for (int b : {0xc0, 14, 0}) forward.push_back(static_cast<uint8_t>(b));
  pos = 12;
  EXPECT_FALSE(readName(forward.data(), forward.size(), pos, out));

  std::vector<uint8_t> label64(12, 0);
  label64.push_back(64);
  label64.insert(label64.end(), 64, 'a');
  label64.push_back(0);
  pos = 12;
  EXPECT_FALSE(readName(label64.data(), label64.size(), pos, out));  // 0x40: reserved label type

  std::vector<uint8_t> tooLong(12, 0);
  for (int i = 0; i < 5; ++i) {
    tooLong.push_back(60);
    tooLong.insert(tooLong.end(), 60, 'x');
  }
  tooLong.push_back(0);
  pos = 12;
  EXPECT_FALSE(readName(tooLong.data(), tooLong.size(), pos, out));

  std::vector<uint8_t> truncated = bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a', 'b'});
  pos = 12;
  EXPECT_FALSE(readName(truncated.data(), truncated.size(), pos, out));
  pos = 12;
  EXPECT_FALSE(skipName(truncated.data(), truncated.size(), pos));
}

TEST(ParseQueryTest, ReadsHeaderQuestionAndEdns) {
  auto p = query("WwW.Example.com", kTypeAAAA, kFlagRD | kFlagCD);
  addOpt(p, 4096, 0, true, bytes({0xfd, 0xe9, 0, 2, 'h', 'i'}));  // unknown option 65001: ignored
  ParsedQuery q;
  ASSERT_EQ(parseQuery(p.data(), p.size(), q), ParseResult::Ok);
  EXPECT_EQ(q.id, 0x1234);
  EXPECT_EQ(q.opcode, 0);
  EXPECT_TRUE(q.recursionDesired());
  EXPECT_TRUE(q.checkingDisabled());
  EXPECT_EQ(q.qtype, kTypeAAAA);
  EXPECT_EQ(q.qclass, kClassIN);
  EXPECT_EQ(nameToText(q.qname), "WwW.Example.com.");  // case preserved
  EXPECT_EQ(q.questionEnd, 12u + 17 + 4);
  EXPECT_TRUE(q.hasEdns);
  EXPECT_EQ(q.ednsUdpSize, 4096);
  EXPECT_EQ(q.ednsVersion, 0);
  EXPECT_TRUE(q.doBit);
  EXPECT_EQ(q.clientCookie, nullptr);
}

TEST(ParseQueryTest, CookieOption) {
  auto p = query("example.com", kTypeA);
  addOpt(p, 1232, 0, false, bytes({0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}));
  ParsedQuery q;
  ASSERT_EQ(parseQuery(p.data(), p.size(), q), ParseResult::Ok);
  ASSERT_NE(q.clientCookie, nullptr);
  EXPECT_EQ(q.clientCookie[0], 1);
  EXPECT_EQ(q.serverCookie, nullptr);

  std::vector<uint8_t> withServer = bytes({0, 10, 0, 24});
  for (int i = 0; i < 24; ++i) withServer.push_back(static_cast<uint8_t>(i));
  p = query("example.com", kTypeA);
  addOpt(p, 1232, 0, false, withServer);
  ASSERT_EQ(parseQuery(p.data(), p.size(), q), ParseResult::Ok);
  ASSERT_NE(q.serverCookie, nullptr);
  EXPECT_EQ(q.serverCookieLen, 16);
  EXPECT_EQ(q.serverCookie[0], 8);

  for (int badLen : {0, 7, 9, 15, 41}) {
    std::vector<uint8_t> opt = bytes({0, 10, 0, badLen});
    opt.insert(opt.end(), static_cast<size_t>(badLen), 0x55);
    p = query("example.com", kTypeA);
    addOpt(p, 1232, 0, false, opt);
    EXPECT_EQ(parseQuery(p.data(), p.size(), q), ParseResult::FormErr) << badLen;
    EXPECT_TRUE(q.malformedCookie) << badLen;
  }
}

TEST(ParseQueryTest, DropsShortPacketsAndResponses) {
  ParsedQuery q;
  auto p = query("example.com", kTypeA);
  EXPECT_EQ(parseQuery(p.data(), 11, q), ParseResult::Drop);
  EXPECT_EQ(parseQuery(nullptr, 0, q), ParseResult::Drop);
  p[2] |= 0x80;  // QR
  EXPECT_EQ(parseQuery(p.data(), p.size(), q), ParseResult::Drop);
}

TEST(ParseQueryTest, MalformedQueriesAreFormErr) {
  ParsedQuery q;
  auto p = query("example.com", kTypeA);
  EXPECT_EQ(parseQuery(p.data(), 12, q), ParseResult::FormErr);            // header only
  EXPECT_EQ(parseQuery(p.data(), p.size() - 1, q), ParseResult::FormErr);  // cut question
  auto two = p;
  two[5] = 2;
  EXPECT_EQ(parseQuery(two.data(), two.size(), q), ParseResult::FormErr);
  auto an = p;
  an[7] = 1;
  EXPECT_EQ(parseQuery(an.data(), an.size(), q), ParseResult::FormErr);
  auto ns = p;
  ns[9] = 1;
  EXPECT_EQ(parseQuery(ns.data(), ns.size(), q), ParseResult::FormErr);
  auto rcode = p;
  rcode[3] |= 0x01;
  EXPECT_EQ(parseQuery(rcode.data(), rcode.size(), q), ParseResult::FormErr);
  auto compressed = bytes({0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1});
  EXPECT_EQ(parseQuery(compressed.data(), compressed.size(), q), ParseResult::FormErr);

  auto twoOpt = query("example.com", kTypeA);
  addOpt(twoOpt, 1232, 0, false, {});
  addOpt(twoOpt, 1232, 0, false, {});
  EXPECT_EQ(parseQuery(twoOpt.data(), twoOpt.size(), q), ParseResult::FormErr);

  auto notRoot = query("example.com", kTypeA);
  notRoot[11] = 1;
  for (int b : std::initializer_list<int>{1, 'a', 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0})
    notRoot.push_back(static_cast<uint8_t>(b));
  EXPECT_EQ(parseQuery(notRoot.data(), notRoot.size(), q), ParseResult::FormErr);

  auto overrun = query("example.com", kTypeA);
  addOpt(overrun, 1232, 0, false, bytes({0, 3, 0, 9, 1}));  // option longer than the rdata
  EXPECT_EQ(parseQuery(overrun.data(), overrun.size(), q), ParseResult::FormErr);

  auto notOpt = query("example.com", kTypeA);
  addOpt(notOpt, 1232, 0, false, {});
  notOpt[notOpt.size() - 9] = 1;  // type A in the additional section
  EXPECT_EQ(parseQuery(notOpt.data(), notOpt.size(), q), ParseResult::FormErr);

  auto cut = query("example.com", kTypeA);
  addOpt(cut, 1232, 0, false, {});
  EXPECT_EQ(parseQuery(cut.data(), cut.size() - 3, q), ParseResult::FormErr);
}

TEST(ParseQueryTest, UnknownOpcodeAndCookieOnlyQueriesParse) {
  ParsedQuery q;
  auto p = query("example.com", kTypeA);
  p[2] = 6 << 3;                                            // opcode 6
  EXPECT_EQ(parseQuery(p.data(), 12, q), ParseResult::Ok);  // NOTIMP even without a question
  EXPECT_EQ(q.opcode, 6);
  auto cookieOnly = bytes({0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  addOpt(cookieOnly, 1232, 0, false, bytes({0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}));
  ASSERT_EQ(parseQuery(cookieOnly.data(), cookieOnly.size(), q), ParseResult::Ok);
  EXPECT_EQ(q.qdcount, 0);
  EXPECT_TRUE(q.qname.empty());
  EXPECT_NE(q.clientCookie, nullptr);
  auto trailing = query("example.com", kTypeA);
  trailing.push_back(0xee);  // trailing garbage is ignored, as NSD does
  EXPECT_EQ(parseQuery(trailing.data(), trailing.size(), q), ParseResult::Ok);
}

TEST(MessageWriterTest, CompressesOwnersCaseInsensitivelyToTheQuestion) {
  uint8_t buf[512];
  MessageWriter w(buf, sizeof buf);
  ASSERT_TRUE(w.putHeader(7, kFlagQR));
  const Name q = N("WWW.Example.com");
  ASSERT_TRUE(w.putQuestion(q, kTypeA, kClassIN));
  const size_t afterQuestion = w.size();
  const uint8_t a[4] = {192, 0, 2, 1};
  ASSERT_TRUE(w.putRecord(N("www.example.com"), kTypeA, kClassIN, 60, a, 4));
  EXPECT_EQ(buf[afterQuestion], 0xc0);  // whole owner is a pointer to the question name
  EXPECT_EQ(buf[afterQuestion + 1], 12);
  const size_t afterA = w.size();
  ASSERT_TRUE(w.putRecord(N("mail.EXAMPLE.com"), kTypeA, kClassIN, 60, a, 4));
  // "mail" then a pointer to "Example.com" inside the question (offset 12 + 4).
  EXPECT_EQ(buf[afterA], 4);
  EXPECT_EQ(buf[afterA + 5], 0xc0);
  EXPECT_EQ(buf[afterA + 6], 16);
}

TEST(MessageWriterTest, CompressesOnlyRfc1035RdataNames) {
  uint8_t buf[512];
  MessageWriter w(buf, sizeof buf);
  ASSERT_TRUE(w.putHeader(7, kFlagQR));
  ASSERT_TRUE(w.putQuestion(N("example.com"), kTypeA, kClassIN));
  const Name target = N("mail.example.com");
  std::vector<uint8_t> mx = {0, 10};
  mx.insert(mx.end(), target.data, target.data + target.len);
  size_t before = w.size();
  ASSERT_TRUE(
      w.putRecord(N("example.com"), kTypeMX, kClassIN, 60, mx.data(), static_cast<uint16_t>(mx.size())));
  // owner pointer (2) + type/class/ttl/rdlen (10) + pref (2) + "mail" (5) + pointer (2)
  EXPECT_EQ(w.size() - before, 21u);
  std::vector<uint8_t> srv = {0, 1, 0, 2, 0, 3};
  srv.insert(srv.end(), target.data, target.data + target.len);
  before = w.size();
  ASSERT_TRUE(
      w.putRecord(N("example.com"), kTypeSRV, kClassIN, 60, srv.data(), static_cast<uint16_t>(srv.size())));
  EXPECT_EQ(w.size() - before, 2u + 10 + srv.size());  // SRV target written out in full
  before = w.size();
  ASSERT_TRUE(w.putRecord(N("example.com"), kTypeDNAME, kClassIN, 60, target.data, target.len));
  EXPECT_EQ(w.size() - before, 2u + 10 + target.len);  // DNAME target not compressed
}

TEST(MessageWriterTest, RecordThatDoesNotFitLeavesNothingBehind) {
  uint8_t buf[64];
  MessageWriter w(buf, sizeof buf);
  ASSERT_TRUE(w.putHeader(7, kFlagQR));
  ASSERT_TRUE(w.putQuestion(N("example.com"), kTypeTXT, kClassIN));
  const size_t before = w.size();
  std::vector<uint8_t> txt(40, 'x');
  EXPECT_FALSE(w.putRecord(N("other.example.net"), kTypeTXT, kClassIN, 60, txt.data(), 40));
  EXPECT_EQ(w.size(), before);
  // The failed owner left no compression entry: the next name is written in full.
  w.limit(200);
  EXPECT_FALSE(w.putRecord(N("zzz.example.net"), kTypeTXT, kClassIN, 60, txt.data(), 40));  // buffer is 64
  const uint8_t a[4] = {1, 2, 3, 4};
  ASSERT_TRUE(w.putRecord(N("example.net"), kTypeA, kClassIN, 60, a, 4));
  EXPECT_EQ(buf[before], 7);  // "example" label, not a pointer
}

TEST(MessageWriterTest, ReusedCallerBufferIsNotMistakenForTheLastName) {
  uint8_t buf[512];
  MessageWriter w(buf, sizeof buf);
  ASSERT_TRUE(w.putHeader(7, kFlagQR));
  const uint8_t a[4] = {192, 0, 2, 1};
  Name owner = N("a.example.com");
  ASSERT_TRUE(w.putRecord(owner, kTypeA, kClassIN, 60, a, 4));
  ASSERT_TRUE(w.putRecord(owner, kTypeA, kClassIN, 60, a, 4));  // same owner: a pointer to the first
  EXPECT_EQ(w.size(), 12u + (15 + 14) + (2 + 14));
  owner = N("b.example.com");  // same buffer, another name
  const size_t before = w.size();
  ASSERT_TRUE(w.putRecord(owner, kTypeA, kClassIN, 60, a, 4));
  EXPECT_EQ(buf[before], 1);  // label "b", then a pointer to "example.com"
  EXPECT_EQ(buf[before + 1], 'b');
  size_t pos = before;
  Name back;
  ASSERT_TRUE(readName(buf, w.size(), pos, back));
  EXPECT_EQ(nameToText(back), "b.example.com.");
}

TEST(MessageWriterTest, OptRecordLayout) {
  uint8_t buf[64];
  MessageWriter w(buf, sizeof buf);
  ASSERT_TRUE(w.putHeader(1, kFlagQR));
  const uint8_t opt[4] = {0, 15, 0, 0};
  ASSERT_TRUE(w.putOpt(1232, 1, 0, true, opt, 4));
  const std::vector<uint8_t> expect = bytes({0, 0, 41, 0x04, 0xd0, 1, 0, 0x80, 0, 0, 4, 0, 15, 0, 0});
  ASSERT_EQ(w.size(), 12 + expect.size());
  EXPECT_EQ(std::memcmp(buf + 12, expect.data(), expect.size()), 0);
}

}  // namespace
}  // namespace bulwark::dns
