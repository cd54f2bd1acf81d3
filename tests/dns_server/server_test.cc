// The DNS server: metric labels, DnsService snapshots (zone loading, reuse, refusal), the per-packet pipeline
// (FORMERR, drop, RRL slip/drop, cookies), and DnsWorker on a real EventLoop over loopback sockets (UDP
// batches, TCP framing and pipelining, the connection cap, timeouts).
#include "dns/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "dns/answer.h"
#include "dns/wire.h"
#include "dns/xfr.h"

namespace bulwark::dns {
namespace {

using namespace std::chrono_literals;

const char* kZoneText =
    "$ORIGIN example.com.\n$TTL 300\n"
    "@ SOA ns1 hostmaster 1 3600 600 86400 300\n"
    "@ NS ns1\n"
    "ns1 A 192.0.2.1\n"
    "www A 192.0.2.10\n";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dns-server-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

DnsConfig config(const std::string& zoneFile, uint16_t port = 5300) {
  DnsConfig c;
  c.enabled = true;
  SocketAddress a;
  EXPECT_TRUE(parseSocketAddress("127.0.0.1:" + std::to_string(port), a));
  c.listen.push_back(a);
  DnsZoneConfig z;
  z.name = "example.com";
  z.file = zoneFile;
  c.zones.push_back(z);
  return c;
}

std::vector<uint8_t> query(const char* name, uint16_t type, uint16_t id = 0x1234,
                           const uint8_t* cookie = nullptr, size_t cookieLen = 0) {
  std::vector<uint8_t> buf(512);
  MessageWriter w(buf.data(), buf.size());
  Name n;
  EXPECT_TRUE(nameFromText(name, n));
  EXPECT_TRUE(w.putHeader(id, 0));
  EXPECT_TRUE(w.putQuestion(n, type, kClassIN));
  w.setCount(MessageWriter::kQuestion, 1);
  if (cookie != nullptr) {
    uint8_t opt[4 + 40];
    writeU16(opt, kEdnsOptionCookie);
    writeU16(opt + 2, static_cast<uint16_t>(cookieLen));
    std::memcpy(opt + 4, cookie, cookieLen);
    EXPECT_TRUE(w.putOpt(1232, 0, 0, false, opt, static_cast<uint16_t>(4 + cookieLen)));
    w.setCount(MessageWriter::kAdditional, 1);
  }
  buf.resize(w.size());
  return buf;
}

uint8_t rcodeOf(const uint8_t* msg) { return msg[3] & 0xF; }
uint16_t ancount(const uint8_t* msg) { return readU16(msg + 6); }

sockaddr_in client(const char* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(40000);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

TEST(DnsMetricsLabels, BoundedTypeAndRcodeLabels) {
  EXPECT_STREQ(DnsMetrics::typeName(DnsMetrics::typeIndex(1)), "A");
  EXPECT_STREQ(DnsMetrics::typeName(DnsMetrics::typeIndex(28)), "AAAA");
  EXPECT_STREQ(DnsMetrics::typeName(DnsMetrics::typeIndex(65)), "HTTPS");
  EXPECT_STREQ(DnsMetrics::typeName(DnsMetrics::typeIndex(252)), "AXFR");
  EXPECT_STREQ(DnsMetrics::typeName(DnsMetrics::typeIndex(999)), "other");
  EXPECT_STREQ(DnsMetrics::rcodeName(DnsMetrics::rcodeIndex(3)), "NXDOMAIN");
  EXPECT_STREQ(DnsMetrics::rcodeName(DnsMetrics::rcodeIndex(16)), "BADVERS");
  EXPECT_STREQ(DnsMetrics::rcodeName(DnsMetrics::rcodeIndex(9)), "other");
}

struct Fixture {
  EventLoop control;
  MetricsRegistry metrics{3};
  DnsService service{control, metrics};
};

TEST(DnsServiceTest, PrepareLoadsZonesAndRefusesABrokenOneWithFileAndLine) {
  TempDir dir;
  Fixture f;
  std::string error;
  std::string good = dir.file("good.zone", kZoneText);
  auto snap = f.service.prepare(config(good), error);
  ASSERT_TRUE(snap) << error;
  Name www;
  ASSERT_TRUE(nameFromText("www.example.com", www));
  ASSERT_NE(snap->zones.find(www), nullptr);

  std::string bad = dir.file("bad.zone", std::string(kZoneText) + "x A 300.1.1.1\n");
  EXPECT_FALSE(f.service.prepare(config(bad), error));
  EXPECT_NE(error.find("zone example.com: " + bad + ":7"), std::string::npos) << error;

  DnsConfig off;
  auto idle = f.service.prepare(off, error);
  ASSERT_TRUE(idle);
  EXPECT_TRUE(idle->listen.empty());
}

TEST(DnsServiceTest, UnchangedZoneFileIsNotParsedAgain) {
  TempDir dir;
  Fixture f;
  std::string error;
  std::string path = dir.file("z.zone", kZoneText);
  auto first = f.service.prepare(config(path), error);
  ASSERT_TRUE(first) << error;
  ASSERT_TRUE(f.service.start(first, {}, error)) << error;
  auto second = f.service.prepare(config(path), error);
  ASSERT_TRUE(second) << error;
  ASSERT_EQ(first->zones.zones().size(), 1u);
  EXPECT_EQ(first->zones.zones()[0].get(), second->zones.zones()[0].get());
  f.service.commit(second);
  // A changed file is loaded again.
  dir.file("z.zone", std::string(kZoneText) + "new A 192.0.2.99\n");
  auto third = f.service.prepare(config(path), error);
  ASSERT_TRUE(third) << error;
  EXPECT_NE(third->zones.zones()[0].get(), second->zones.zones()[0].get());
}

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    DnsConfig c = config(dir.file("z.zone", kZoneText));
    c.rrl.enabled = rrl;
    c.rrl.responsesPerSecond = 2;
    c.rrl.slip = 2;
    c.rrl.tableSize = 4096;
    c.cookies.enabled = true;
    c.cookies.secret = "00112233445566778899aabbccddeeff";
    snap = f.service.prepare(c, error);
    ASSERT_TRUE(snap) << error;
  }
  size_t run(const std::vector<uint8_t>& q, const sockaddr_in& from, uint64_t nowNs = 1'000'000'000) {
    UdpContext ctx{snap.get(), &f.service.metrics(), 0, nowNs, static_cast<uint32_t>(::time(nullptr))};
    return handleUdpQuery(ctx, q.data(), q.size(), reinterpret_cast<const sockaddr*>(&from), sizeof from, out,
                          sizeof out);
  }
  TempDir dir;
  Fixture f;
  bool rrl = true;
  std::shared_ptr<const DnsSnapshot> snap;
  uint8_t out[4096];
};

TEST_F(Pipeline, AnswersRefusesAndCountsMalformed) {
  sockaddr_in c = client("10.0.0.1");  // every client below in a /24 of its own: no RRL interplay
  ASSERT_GT(run(query("www.example.com", kTypeA), c), 12u);
  EXPECT_EQ(rcodeOf(out), 0);
  EXPECT_EQ(ancount(out), 1);
  ASSERT_GT(run(query("www.example.org", kTypeA), client("10.0.1.1")), 12u);
  EXPECT_EQ(rcodeOf(out), static_cast<uint8_t>(Rcode::Refused));

  std::vector<uint8_t> shortPacket = {1, 2, 3};
  EXPECT_EQ(run(shortPacket, client("10.0.2.1")), 0u);  // dropped
  std::vector<uint8_t> response = query("www.example.com", kTypeA);
  response[2] |= 0x80;  // QR=1: never answered
  EXPECT_EQ(run(response, client("10.0.3.1")), 0u);
  std::vector<uint8_t> two = query("www.example.com", kTypeA);
  two[5] = 2;  // qdcount 2 with one question
  ASSERT_GT(run(two, client("10.0.4.1")), 0u);
  EXPECT_EQ(rcodeOf(out), static_cast<uint8_t>(Rcode::FormErr));
  EXPECT_EQ(f.service.metrics().malformed->value(), 3);
  EXPECT_EQ(f.service.metrics().queries[DnsMetrics::typeIndex(kTypeA)][0]->value(), 1);
}

TEST_F(Pipeline, RrlSlipsAndDropsOverTheRateButNotForAValidCookie) {
  sockaddr_in c = client("198.51.100.7");
  int sent = 0, slipped = 0, dropped = 0;
  for (int i = 0; i < 40; ++i) {
    size_t n = run(query("www.example.com", kTypeA, static_cast<uint16_t>(i)), c);
    if (n == 0) {
      ++dropped;
    } else if ((out[2] & 0x02) != 0) {
      ++slipped;
      EXPECT_EQ(ancount(out), 0);
    } else {
      ++sent;
    }
  }
  EXPECT_LE(sent, 3);
  EXPECT_GT(slipped, 10);
  EXPECT_GT(dropped, 10);
  EXPECT_EQ(f.service.metrics().rrlSlips->value(), slipped);
  EXPECT_EQ(f.service.metrics().rrlDrops->value(), dropped);

  // A client cookie alone: answered (while the prefix has credit) with a fresh 16-byte server cookie.
  const uint8_t cc[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  sockaddr_in good = client("203.0.113.9");
  size_t n = run(query("www.example.com", kTypeA, 1, cc, 8), good);
  ASSERT_GT(n, 12u);
  // The OPT record is last: its COOKIE option carries 8 + 16 bytes.
  const uint8_t* end = out + n;
  ASSERT_EQ(readU16(end - 28), kEdnsOptionCookie);
  ASSERT_EQ(readU16(end - 26), 24);
  uint8_t full[24];
  std::memcpy(full, end - 24, 24);
  EXPECT_EQ(std::memcmp(full, cc, 8), 0);
  // With the server cookie, the same prefix is never limited.
  for (int i = 0; i < 40; ++i) {
    ASSERT_GT(run(query("www.example.com", kTypeA, static_cast<uint16_t>(100 + i), full, 24), good), 12u);
    EXPECT_EQ(out[2] & 0x02, 0) << i;
    EXPECT_EQ(ancount(out), 1) << i;
  }
}

class PipelineNoRrl : public Pipeline {
 protected:
  PipelineNoRrl() { rrl = false; }
};

size_t runCached(const DnsSnapshot& snap, Fixture& f, AnswerCache* cache, const std::vector<uint8_t>& q,
                 const sockaddr_in& from, uint8_t* out) {
  UdpContext ctx{&snap, &f.service.metrics(), 0, 1'000'000'000, static_cast<uint32_t>(::time(nullptr)),
                 cache};
  return handleUdpQuery(ctx, q.data(), q.size(), reinterpret_cast<const sockaddr*>(&from), sizeof from, out,
                        4096);
}

// An answer from the cache is byte for byte the answer built afresh, with the asking query's ID; a query
// that differs in any byte (here: the case of the name) is answered afresh, keeping its case.
TEST_F(PipelineNoRrl, CachedAnswersAreTheFreshAnswersWithTheQueryId) {
  AnswerCache cache(1 << 20);
  struct Case {
    const char* name;
    uint16_t type;
  };
  const Case cases[] = {{"www.example.com", kTypeA},    {"WwW.Example.COM", kTypeA},
                        {"www.example.com", kTypeAAAA}, {"nx.example.com", kTypeA},
                        {"example.com", kTypeSOA},      {"example.com", kTypeNS},
                        {"www.example.org", kTypeA},    {"ns1.example.com", kTypeANY}};
  sockaddr_in from = client("10.1.0.1");
  for (const Case& c : cases) {
    uint8_t fresh[4096], first[4096], second[4096];
    const size_t nf = runCached(*snap, f, nullptr, query(c.name, c.type, 0x0101), from, fresh);
    const size_t n1 = runCached(*snap, f, &cache, query(c.name, c.type, 0x0101), from, first);
    const size_t n2 = runCached(*snap, f, &cache, query(c.name, c.type, 0x0202), from, second);
    ASSERT_GT(nf, 12u) << c.name;
    ASSERT_EQ(n1, nf) << c.name;
    ASSERT_EQ(n2, nf) << c.name;
    EXPECT_EQ(std::memcmp(first, fresh, nf), 0) << c.name;
    EXPECT_EQ(readU16(second), 0x0202) << c.name;
    EXPECT_EQ(std::memcmp(second + 2, fresh + 2, nf - 2), 0) << c.name;
  }
  const int64_t n = static_cast<int64_t>(std::size(cases));
  EXPECT_EQ(f.service.metrics().cacheHits->value(), n);
  EXPECT_EQ(f.service.metrics().cacheMisses->value(), n);
  EXPECT_EQ(f.service.metrics().queries[DnsMetrics::typeIndex(kTypeA)][0]->value(),
            2 * 3);                                                                      // www A, two cases
  EXPECT_EQ(f.service.metrics().queries[DnsMetrics::typeIndex(kTypeA)][3]->value(), 3);  // nx A
  EXPECT_EQ(f.service.metrics().queries[DnsMetrics::typeIndex(kTypeA)][5]->value(), 3);  // refused

  // A query with a COOKIE option is never answered from the cache: its server cookie is the client's own.
  const uint8_t cc[8] = {8, 7, 6, 5, 4, 3, 2, 1};
  uint8_t out1[4096], out2[4096];
  ASSERT_GT(runCached(*snap, f, &cache, query("www.example.com", kTypeA, 1, cc, 8), from, out1), 12u);
  ASSERT_GT(runCached(*snap, f, &cache, query("www.example.com", kTypeA, 1, cc, 8), client("10.2.0.1"), out2),
            12u);
  EXPECT_EQ(f.service.metrics().cacheHits->value(), n);
}

// Answers from the cache still go through RRL: over the rate they are slipped (a proper TC=1 question-only
// reply) or dropped, exactly as fresh ones.
TEST_F(Pipeline, RrlLimitsCachedAnswersToo) {
  AnswerCache cache(1 << 20);
  sockaddr_in c = client("198.51.100.77");
  int sent = 0, slipped = 0, dropped = 0;
  uint8_t buf[4096];
  for (int i = 0; i < 40; ++i) {
    const size_t n =
        runCached(*snap, f, &cache, query("www.example.com", kTypeA, static_cast<uint16_t>(i)), c, buf);
    if (n == 0) {
      ++dropped;
    } else if ((buf[2] & 0x02) != 0) {
      ++slipped;
      EXPECT_EQ(ancount(buf), 0);
      EXPECT_EQ(readU16(buf + 4), 1);  // the question is echoed
      EXPECT_EQ(readU16(buf), i);
    } else {
      ++sent;
      EXPECT_EQ(ancount(buf), 1);
    }
  }
  EXPECT_LE(sent, 3);
  EXPECT_GT(slipped, 10);
  EXPECT_GT(dropped, 10);
  EXPECT_EQ(f.service.metrics().cacheHits->value(), 39);
}

TEST(DnsServiceTest, SecondaryWithoutDataIsServfailThenServedAfterATransfer) {
  TempDir dir;
  Fixture f;
  DnsConfig c = config(dir.file("z.zone", kZoneText));
  DnsZoneConfig sec;
  sec.name = "sec.example";
  SocketAddress primary;
  ASSERT_TRUE(parseSocketAddress("192.0.2.1:53", primary));
  sec.primary = primary;
  c.zones.push_back(sec);
  std::string error;
  auto snap = f.service.prepare(c, error);
  ASSERT_TRUE(snap) << error;
  ASSERT_TRUE(f.service.start(snap, {}, error)) << error;
  uint8_t out[4096];
  sockaddr_in from = client("10.9.9.9");
  auto ask = [&](const char* name) {
    auto q = query(name, kTypeA);
    UdpContext ctx{f.service.current().get(), &f.service.metrics(), 0, 1, 1};
    size_t n = handleUdpQuery(ctx, q.data(), q.size(), reinterpret_cast<const sockaddr*>(&from), sizeof from,
                              out, sizeof out);
    return n >= 12 ? rcodeOf(out) : 255;
  };
  EXPECT_EQ(ask("www.sec.example"), static_cast<uint8_t>(Rcode::ServFail));
  EXPECT_EQ(ask("www.other.example"), static_cast<uint8_t>(Rcode::Refused));
  ZoneLoad z = loadZoneText("sec.example.",
                            "$ORIGIN sec.example.\n@ 300 SOA ns h 1 2 3 4 5\n@ 300 NS ns\n"
                            "ns 300 A 192.0.2.1\nwww 300 A 192.0.2.2\n");
  ASSERT_TRUE(z.zone) << z.error;
  Name origin;
  ASSERT_TRUE(nameFromText("sec.example.", origin));
  f.service.secondaryZone(origin, z.zone);
  EXPECT_EQ(ask("www.sec.example"), 0);
  f.service.secondaryZone(origin, nullptr);  // expired
  EXPECT_EQ(ask("www.sec.example"), static_cast<uint8_t>(Rcode::ServFail));
  EXPECT_EQ(ask("www.example.com"), 0);
}

// --- the worker on a real loop ----------------------------------------------------------------------------

uint16_t freePort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = client("127.0.0.1");
    a.sin_port = 0;
    ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    bool ok = ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(t);
    ::close(u);
    if (ok) return ntohs(a.sin_port);
  }
  return 0;
}

class Live : public ::testing::Test {
 protected:
  void start(DnsConfig c) {
    std::string error;
    auto snap = f.service.prepare(c, error);
    ASSERT_TRUE(snap) << error;
    ASSERT_TRUE(f.service.start(snap, {&loop}, error)) << error;
    thread = std::thread([this] { loop.run(); });
  }
  void TearDown() override {
    if (thread.joinable()) {
      loop.post([this] { loop.stop(); });
      thread.join();
    }
    loop.runDeferred();
    f.service.stop();
  }
  int tcp() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = client("127.0.0.1");
    a.sin_port = htons(port);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  // Reads one framed answer; empty on EOF or timeout.
  static std::vector<uint8_t> readFramed(int fd) {
    uint8_t head[2];
    size_t got = 0;
    while (got < 2) {
      ssize_t r = ::recv(fd, head + got, 2 - got, 0);
      if (r <= 0) return {};
      got += static_cast<size_t>(r);
    }
    std::vector<uint8_t> msg(readU16(head));
    got = 0;
    while (got < msg.size()) {
      ssize_t r = ::recv(fd, msg.data() + got, msg.size() - got, 0);
      if (r <= 0) return {};
      got += static_cast<size_t>(r);
    }
    return msg;
  }
  static std::vector<uint8_t> framed(const std::vector<uint8_t>& q) {
    std::vector<uint8_t> f(2 + q.size());
    writeU16(f.data(), static_cast<uint16_t>(q.size()));
    if (!q.empty()) std::memcpy(f.data() + 2, q.data(), q.size());
    return f;
  }

  TempDir dir;
  Fixture f;
  EventLoop loop;
  std::thread thread;
  uint16_t port = freePort();
};

TEST_F(Live, UdpBurstIsAnsweredInBatches) {
  start(config(dir.file("z.zone", kZoneText), port));
  int u = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = client("127.0.0.1");
  to.sin_port = htons(port);
  timeval tv{3, 0};
  ::setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr int kCount = 100;  // more than one recvmmsg batch
  for (int i = 0; i < kCount; ++i) {
    auto q = query("www.example.com", kTypeA, static_cast<uint16_t>(i));
    ASSERT_EQ(::sendto(u, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(q.size()));
  }
  std::vector<bool> seen(kCount);
  int answers = 0;
  uint8_t buf[4096];
  for (int i = 0; i < kCount; ++i) {
    ssize_t n = ::recv(u, buf, sizeof buf, 0);
    if (n <= 0) break;
    ASSERT_GE(n, 12);
    uint16_t id = readU16(buf);
    ASSERT_LT(id, kCount);
    EXPECT_FALSE(seen[id]);
    seen[id] = true;
    EXPECT_EQ(ancount(buf), 1);
    ++answers;
  }
  EXPECT_EQ(answers, kCount);
  ::close(u);
}

// UDP coalescing (docs/dns-server.md): bursts switch the socket to one read per window, and it goes back to
// answering each packet at once when the load stops. A 20 ms window makes the two modes tell apart.
TEST_F(Live, UdpCoalescingBatchesBurstsAndAnswersSinglesAtOnce) {
  DnsConfig c = config(dir.file("z.zone", kZoneText), port);
  c.udpCoalesceUs = 20000;
  start(c);
  int u = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = client("127.0.0.1");
  to.sin_port = htons(port);
  timeval tv{3, 0};
  ::setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto ask = [&](uint16_t id) {
    auto q = query("www.example.com", kTypeA, id);
    return ::sendto(u, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
           static_cast<ssize_t>(q.size());
  };
  auto answer = [&]() -> int {
    uint8_t buf[512];
    ssize_t n = ::recv(u, buf, sizeof buf, 0);
    return n >= 12 ? readU16(buf) : -1;
  };
  uint16_t id = 0;
  for (int round = 0; round < 5; ++round) {
    constexpr int kBurst = 40;
    std::vector<bool> seen(65536);
    for (int i = 0; i < kBurst; ++i) ASSERT_TRUE(ask(static_cast<uint16_t>(id + i)));
    for (int i = 0; i < kBurst; ++i) {
      const int got = answer();
      ASSERT_GE(got, id) << "round " << round << ", answer " << i;
      seen[static_cast<size_t>(got)] = true;
    }
    for (int i = 0; i < kBurst; ++i) EXPECT_TRUE(seen[static_cast<size_t>(id + i)]);
    id = static_cast<uint16_t>(id + kBurst);
  }
  // Idle for more than a window: the socket is back in epoll, so a lone query is not held for 20 ms.
  std::this_thread::sleep_for(60ms);
  std::vector<double> ms;
  for (int i = 0; i < 9; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(ask(id));
    ASSERT_EQ(answer(), id);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    ++id;
    std::this_thread::sleep_for(45ms);
  }
  std::sort(ms.begin(), ms.end());
  EXPECT_LT(ms[ms.size() / 2], 10.0) << "a lone query waited for the coalescing window";
  ::close(u);
}

TEST_F(Live, TcpPipelinedQueriesSplitAcrossWrites) {
  start(config(dir.file("z.zone", kZoneText), port));
  int fd = tcp();
  std::vector<uint8_t> all;
  for (int i = 0; i < 10; ++i) {
    auto q =
        framed(query(i % 2 == 0 ? "www.example.com" : "nope.example.com", kTypeA, static_cast<uint16_t>(i)));
    all.insert(all.end(), q.begin(), q.end());
  }
  // Sent in awkward pieces: a length prefix split from its message, messages split in the middle.
  size_t pos = 0;
  for (size_t step : {1u, 2u, 7u, 30u, 3u}) {
    ASSERT_EQ(::send(fd, all.data() + pos, step, 0), static_cast<ssize_t>(step));
    pos += step;
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(::send(fd, all.data() + pos, all.size() - pos, 0), static_cast<ssize_t>(all.size() - pos));
  for (int i = 0; i < 10; ++i) {
    auto a = readFramed(fd);
    ASSERT_GE(a.size(), 12u) << i;
    EXPECT_EQ(readU16(a.data()), i);
    EXPECT_EQ(rcodeOf(a.data()), i % 2 == 0 ? 0 : static_cast<uint8_t>(Rcode::NxDomain));
  }
  ::close(fd);
}

TEST_F(Live, LongTcpPipelineIsAnsweredAcrossLoopIterations) {
  start(config(dir.file("z.zone", kZoneText), port));
  int fd = tcp();
  constexpr int kCount = 1000;  // several times the per-event budget
  std::vector<uint8_t> all;
  for (int i = 0; i < kCount; ++i) {
    auto q = framed(query("www.example.com", kTypeA, static_cast<uint16_t>(i)));
    all.insert(all.end(), q.begin(), q.end());
  }
  std::thread writer([&] { ::send(fd, all.data(), all.size(), 0); });
  int answered = 0;
  for (int i = 0; i < kCount; ++i) {
    auto a = readFramed(fd);
    if (a.size() < 12) break;
    EXPECT_EQ(readU16(a.data()), i);
    ++answered;
  }
  writer.join();
  EXPECT_EQ(answered, kCount);
  ::close(fd);
}

// A large AXFR is streamed as the client reads (docs/dns-transfers.md): a client that stops reading holds
// neither the worker (UDP is answered meanwhile) nor a copy of the zone; once it reads, it gets the whole
// zone, SOA first and last, and a query pipelined behind the AXFR is answered after it.
TEST_F(Live, LargeAxfrIsStreamedAsTheClientReads) {
  constexpr int kHosts = 40000;
  std::string text = kZoneText;
  for (int i = 0; i < kHosts; ++i) {
    text += "h" + std::to_string(i) + " A 192.0.2." + std::to_string(i % 250 + 1) + "\n";
  }
  DnsConfig c = config(dir.file("z.zone", text), port);
  c.zones[0].allowTransfer = {"127.0.0.1"};
  start(c);

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a = client("127.0.0.1");
  a.sin_port = htons(port);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::vector<uint8_t> q = framed(query("example.com", kTypeAXFR, 0x4242));
  std::vector<uint8_t> after = framed(query("www.example.com", kTypeA, 0x4343));
  const size_t axfrLen = q.size();
  q.resize(axfrLen + after.size());
  std::memcpy(q.data() + axfrLen, after.data(), after.size());
  ASSERT_EQ(::send(fd, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));

  // Not reading: the transfer waits for us, UDP does not.
  int u = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval utv{1, 0};
  ::setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &utv, sizeof utv);
  for (int i = 0; i < 20; ++i) {
    auto uq = query("www.example.com", kTypeA, static_cast<uint16_t>(i));
    ASSERT_EQ(::sendto(u, uq.data(), uq.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a),
              static_cast<ssize_t>(uq.size()));
    uint8_t buf[512];
    ASSERT_GE(::recv(u, buf, sizeof buf, 0), 12) << i;
    EXPECT_EQ(readU16(buf), i);
    std::this_thread::sleep_for(10ms);
  }
  ::close(u);

  size_t records = 0, messages = 0, soas = 0;
  for (;;) {
    auto m = readFramed(fd);
    ASSERT_GE(m.size(), 12u) << "after " << messages << " messages";
    ++messages;
    if (readU16(m.data()) == 0x4343) {  // the pipelined query, answered after the transfer
      EXPECT_EQ(ancount(m.data()), 1);
      break;
    }
    ASSERT_EQ(readU16(m.data()), 0x4242);
    std::vector<OwnedRecord> recs;
    ASSERT_TRUE(parseAnswerRecords(m.data(), m.size(), recs));
    for (const OwnedRecord& r : recs) soas += r.type == kTypeSOA ? 1 : 0;
    if (records == 0) {
      ASSERT_FALSE(recs.empty());
      EXPECT_EQ(recs.front().type, kTypeSOA);
    }
    records += recs.size();
  }
  EXPECT_EQ(soas, 2u);
  EXPECT_EQ(records, 4u + kHosts + 1);  // the zone's records and the closing SOA
  EXPECT_GT(messages, 10u);
  ::close(fd);
}

TEST_F(Live, TcpCapIdleAndIoTimeouts) {
  DnsConfig c = config(dir.file("z.zone", kZoneText), port);
  c.tcp.maxConnections = 2;
  c.tcp.idleTimeout = 300ms;
  c.tcp.ioTimeout = 300ms;
  start(c);
  int a = tcp();
  int b = tcp();
  auto q = framed(query("www.example.com", kTypeA));
  ASSERT_EQ(::send(a, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
  ASSERT_FALSE(readFramed(a).empty());
  ASSERT_EQ(::send(b, q.data(), 1, 0), 1);  // half a length prefix: the I/O timeout applies
  int over = tcp();
  char byte;
  EXPECT_EQ(::recv(over, &byte, 1, 0), 0);  // accepted and closed at once
  ::close(over);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(::recv(a, &byte, 1, 0), 0);  // idle
  EXPECT_EQ(::recv(b, &byte, 1, 0), 0);  // stalled mid-message
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  ::close(a);
  ::close(b);
  for (int i = 0; i < 100 && f.service.metrics().tcpOpen->value() != 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(f.service.metrics().tcpOpen->value(), 0);
  EXPECT_EQ(f.service.metrics().tcpRefused->value(), 1);
  EXPECT_EQ(f.service.metrics().tcpTimeouts->value(), 2);
  EXPECT_EQ(f.service.metrics().tcpAccepted->value(), 2);
}

TEST_F(Live, ReloadSwapsZonesWithoutDroppingSockets) {
  std::string path = dir.file("z.zone", kZoneText);
  start(config(path, port));
  int fd = tcp();
  auto ask = [&](const char* name) {
    auto q = framed(query(name, kTypeA));
    EXPECT_EQ(::send(fd, q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
    auto a = readFramed(fd);
    return a.size() >= 12 ? rcodeOf(a.data()) : 255;
  };
  EXPECT_EQ(ask("new.example.com"), static_cast<uint8_t>(Rcode::NxDomain));
  dir.file("z.zone", std::string(kZoneText) + "new A 192.0.2.99\n");
  std::string error;
  auto next = f.service.prepare(config(path, port), error);
  ASSERT_TRUE(next) << error;
  f.service.commit(next);
  uint8_t rc = 255;
  for (int i = 0; i < 100 && rc != 0; ++i) {
    rc = ask("new.example.com");
    if (rc != 0) std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(rc, 0);  // the same connection, the new zone
  ::close(fd);
}

}  // namespace
}  // namespace bulwark::dns
