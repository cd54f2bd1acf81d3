// XfrService on a real EventLoop against an in-process primary (blocking sockets on its own thread, answers
// built with the same xfr.h code): initial AXFR, IXFR on refresh, AXFR fallback when IXFR is refused,
// NOTIFY in (primary accepted, others refused), expiry, NOTIFY out with resends.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/event_loop.h"
#include "dns/server_secondary.h"

namespace bulwark::dns {
namespace {

using namespace std::chrono_literals;

Name name(const char* t) {
  Name n;
  EXPECT_TRUE(nameFromText(t, n));
  return n;
}

std::shared_ptr<const Zone> zone(uint32_t serial, const std::string& body, uint32_t refresh = 3600,
                                 uint32_t retry = 600, uint32_t expire = 86400) {
  std::string t = "$ORIGIN example.com.\n$TTL 300\n";
  t += "@ SOA ns.example.com. h.example.com. " + std::to_string(serial) + " " + std::to_string(refresh) +
       " " + std::to_string(retry) + " " + std::to_string(expire) + " 60\n";
  t += "@ NS ns.example.com.\nns A 192.0.2.1\n" + body;
  ZoneLoad l = loadZoneText("example.com", t);
  EXPECT_TRUE(l.zone) << l.error;
  return l.zone;
}

sockaddr_storage loopback(uint16_t port, const char* ip = "127.0.0.1") {
  sockaddr_storage s{};
  auto* a = reinterpret_cast<sockaddr_in*>(&s);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  inet_pton(AF_INET, ip, &a->sin_addr);
  return s;
}

bool readFull(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// A primary on 127.0.0.1 (UDP and TCP on one port), on its own thread.
class FakePrimary {
 public:
  FakePrimary() {
    for (int attempt = 0; attempt < 20 && port_ == 0; ++attempt) {
      udp_ = ::socket(AF_INET, SOCK_DGRAM, 0);
      sockaddr_storage a = loopback(0);
      ::bind(udp_, reinterpret_cast<sockaddr*>(&a), sizeof(sockaddr_in));
      socklen_t l = sizeof a;
      ::getsockname(udp_, reinterpret_cast<sockaddr*>(&a), &l);
      uint16_t p = ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
      tcp_ = ::socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      ::setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(tcp_, reinterpret_cast<sockaddr*>(&a), sizeof(sockaddr_in)) == 0 &&
          ::listen(tcp_, 16) == 0) {
        port_ = p;
      } else {
        ::close(udp_);
        ::close(tcp_);
      }
    }
    thread_ = std::thread([this] { run(); });
  }
  ~FakePrimary() {
    stop_ = true;
    thread_.join();
    ::close(udp_);
    ::close(tcp_);
  }
  sockaddr_storage address() const { return loopback(port_); }
  void setZone(std::shared_ptr<const Zone> z) {
    std::lock_guard<std::mutex> g(m_);
    if (zone_) journal_.onNewVersion(*zone_, *z);
    zone_ = std::move(z);
  }

  std::atomic<bool> refuseIxfr{false}, silent{false};
  std::atomic<int> axfrs{0}, ixfrs{0}, soaQueries{0};

 private:
  void run() {
    while (!stop_) {
      pollfd fds[2] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}};
      if (::poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) onUdp();
      if (fds[1].revents & POLLIN) onTcp();
    }
  }
  void onUdp() {
    uint8_t buf[2048];
    sockaddr_storage from{};
    socklen_t fl = sizeof from;
    ssize_t n = ::recvfrom(udp_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    ParsedQuery q;
    if (n <= 0 || silent || parseQuery(buf, static_cast<size_t>(n), q) != ParseResult::Ok) return;
    if (q.qtype != kTypeSOA) return;
    ++soaQueries;
    std::shared_ptr<const Zone> z;
    {
      std::lock_guard<std::mutex> g(m_);
      z = zone_;
    }
    uint8_t out[1024];
    MessageWriter w(out, sizeof out);
    w.putHeader(q.id, kFlagQR | kFlagAA);
    w.putQuestion(q.qname, q.qtype, q.qclass);
    w.setCount(MessageWriter::kQuestion, 1);
    const Zone::Rdata& rd = z->rdata(z->soa(), 0);
    Name apex = z->origin();
    w.putRecord(apex, kTypeSOA, kClassIN, rd.ttl, z->rdataBytes(rd), rd.len);
    w.setCount(MessageWriter::kAnswer, 1);
    ::sendto(udp_, out, w.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
  }
  void onTcp() {
    int c = ::accept(tcp_, nullptr, nullptr);
    if (c < 0) return;
    timeval tv{2, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t lenb[2];
    std::vector<uint8_t> msg;
    ParsedQuery q;
    if (silent || !readFull(c, lenb, 2)) return (void)::close(c);
    msg.resize(readU16(lenb));
    if (!readFull(c, msg.data(), msg.size()) || parseQuery(msg.data(), msg.size(), q) != ParseResult::Ok)
      return (void)::close(c);
    std::shared_ptr<const Zone> z;
    Journal j;
    {
      std::lock_guard<std::mutex> g(m_);
      z = zone_;
      j = journal_;
    }
    MessageSink sink = [c](const uint8_t* m, size_t n) {
      uint8_t l[2];
      writeU16(l, static_cast<uint16_t>(n));
      return ::send(c, l, 2, MSG_NOSIGNAL) == 2 && ::send(c, m, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
    };
    if (q.qtype == kTypeAXFR) {
      ++axfrs;
      buildAxfr(*z, q, sink);
    } else if (q.qtype == kTypeIXFR) {
      ++ixfrs;
      if (refuseIxfr) {
        uint8_t out[512];
        MessageWriter w(out, sizeof out);
        w.putHeader(q.id, kFlagQR | static_cast<uint16_t>(Rcode::Refused));
        w.putQuestion(q.qname, q.qtype, q.qclass);
        w.setCount(MessageWriter::kQuestion, 1);
        sink(out, w.size());
      } else {
        uint32_t serial = 0;
        if (ixfrClientSerial(msg.data(), msg.size(), q, serial)) buildIxfr(&j, *z, q, serial, true, 0, sink);
      }
    }
    ::close(c);
  }

  int udp_ = -1, tcp_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::shared_ptr<const Zone> zone_;
  Journal journal_;
  std::thread thread_;
};

// An XfrService on its own loop thread, recording every zone it hands over.
class Harness {
 public:
  explicit Harness(XfrServiceOptions opts = fastOptions()) {
    svc_ = std::make_unique<XfrService>(
        loop_,
        [this](const Name&, std::shared_ptr<const Zone> z) {
          std::lock_guard<std::mutex> g(m_);
          zones_.push_back(std::move(z));
          cv_.notify_all();
        },
        opts);
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~Harness() {
    loop_.post([this] { loop_.stop(); });
    thread_.join();
    svc_.reset();
    loop_.runDeferred();
  }
  static XfrServiceOptions fastOptions() {
    XfrServiceOptions o;
    o.notifyInterval = 100ms;
    o.notifyAttempts = 4;
    o.soaTimeout = 200ms;
    o.soaAttempts = 2;
    o.tcpIdleTimeout = 2000ms;
    o.refreshHoldoff = 100ms;
    return o;
  }
  XfrService& svc() { return *svc_; }
  void clear() {
    std::lock_guard<std::mutex> g(m_);
    zones_.clear();
  }
  std::vector<std::shared_ptr<const Zone>> handed() {
    std::lock_guard<std::mutex> g(m_);
    return zones_;
  }
  // Waits for a handed-over zone matching `pred` (null zones included).
  bool waitFor(const std::function<bool(const std::shared_ptr<const Zone>&)>& pred,
               std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> l(m_);
    return cv_.wait_for(l, timeout, [&] {
      for (const auto& z : zones_)
        if (pred(z)) return true;
      return false;
    });
  }
  bool waitSerial(uint32_t s, std::chrono::milliseconds timeout = 5000ms) {
    return waitFor([s](const std::shared_ptr<const Zone>& z) { return z && z->serial() == s; }, timeout);
  }

 private:
  EventLoop loop_;
  std::unique_ptr<XfrService> svc_;
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<const Zone>> zones_;
};

XfrZoneConfig secondaryConfig(const FakePrimary& p) {
  XfrZoneConfig c;
  c.origin = name("example.com");
  c.secondary = true;
  c.primary = p.address();
  return c;
}

TEST(HostPort, Parse) {
  sockaddr_storage s;
  ASSERT_TRUE(parseHostPort("127.0.0.1:5300", s));
  EXPECT_EQ(hostPortToString(s), "127.0.0.1:5300");
  ASSERT_TRUE(parseHostPort("[::1]:53", s));
  EXPECT_EQ(hostPortToString(s), "[::1]:53");
  ASSERT_TRUE(parseHostPort("192.0.2.1", s));
  EXPECT_EQ(hostPortToString(s), "192.0.2.1:53");
  ASSERT_TRUE(parseHostPort("2001:db8::1", s));
  EXPECT_EQ(hostPortToString(s), "[2001:db8::1]:53");
  EXPECT_FALSE(parseHostPort("127.0.0.1:0", s));
  EXPECT_FALSE(parseHostPort("127.0.0.1:70000", s));
  EXPECT_FALSE(parseHostPort("example.com:53", s));
  EXPECT_FALSE(parseHostPort("[::1", s));
}

TEST(Secondary, InitialAxfrThenIxfr) {
  FakePrimary p;
  p.setZone(zone(1, "a A 192.0.2.10\n"));
  Harness h;
  h.svc().configure({secondaryConfig(p)});
  ASSERT_TRUE(h.waitSerial(1));
  EXPECT_EQ(p.axfrs, 1);
  p.setZone(zone(2, "a A 192.0.2.11\nb A 192.0.2.12\n"));
  h.svc().refreshNow(name("example.com"));
  ASSERT_TRUE(h.waitSerial(2));
  EXPECT_EQ(p.ixfrs, 1);
  EXPECT_EQ(p.axfrs, 1);
  XfrService::Stats st = h.svc().stats();
  EXPECT_EQ(st.axfrIn, 1u);
  EXPECT_EQ(st.ixfrIn, 1u);
  // Up to date: the SOA query alone, no transfer.
  int before = p.soaQueries;
  h.svc().refreshNow(name("example.com"));
  for (int i = 0; i < 100 && p.soaQueries == before; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(p.ixfrs, 1);
  EXPECT_EQ(p.axfrs, 1);
}

TEST(Secondary, IxfrRefusedFallsBackToAxfr) {
  FakePrimary p;
  p.refuseIxfr = true;
  p.setZone(zone(10, "a A 192.0.2.10\n"));
  Harness h;
  h.svc().configure({secondaryConfig(p)});
  ASSERT_TRUE(h.waitSerial(10));
  p.setZone(zone(11, "a A 192.0.2.99\n"));
  h.svc().refreshNow(name("example.com"));
  ASSERT_TRUE(h.waitSerial(11));
  EXPECT_EQ(p.ixfrs, 1);
  EXPECT_EQ(p.axfrs, 2);
}

TEST(Secondary, NotifyFromPrimaryOnlyTriggersRefresh) {
  FakePrimary p;
  p.setZone(zone(5, ""));
  Harness h;
  h.svc().configure({secondaryConfig(p)});
  ASSERT_TRUE(h.waitSerial(5));
  p.setZone(zone(6, "n A 192.0.2.6\n"));

  uint8_t msg[512], out[512];
  size_t n = buildNotify(name("example.com"), 77, nullptr, msg, sizeof msg);
  ParsedQuery q;
  ASSERT_EQ(parseQuery(msg, n, q), ParseResult::Ok);
  ReplyHeader rh;
  // From another host: REFUSED, nothing happens.
  sockaddr_storage other = loopback(5353, "127.0.0.2");
  size_t rn = h.svc().handleNotify(q, msg, n, reinterpret_cast<sockaddr*>(&other), out, sizeof out);
  ASSERT_TRUE(parseReplyHeader(out, rn, rh));
  EXPECT_EQ(rh.rcode(), static_cast<int>(Rcode::Refused));
  EXPECT_FALSE(h.waitSerial(6, 300ms));
  // From the primary's address (any port): NOERROR and a refresh.
  sockaddr_storage prim = loopback(40000);
  rn = h.svc().handleNotify(q, msg, n, reinterpret_cast<sockaddr*>(&prim), out, sizeof out);
  ASSERT_TRUE(parseReplyHeader(out, rn, rh));
  EXPECT_EQ(rh.rcode(), 0);
  EXPECT_EQ(rh.id, 77);
  EXPECT_TRUE(rh.qr());
  ASSERT_TRUE(h.waitSerial(6));
  // A zone we do not have: NOTAUTH.
  n = buildNotify(name("example.org"), 78, nullptr, msg, sizeof msg);
  ASSERT_EQ(parseQuery(msg, n, q), ParseResult::Ok);
  rn = h.svc().handleNotify(q, msg, n, reinterpret_cast<sockaddr*>(&prim), out, sizeof out);
  ASSERT_TRUE(parseReplyHeader(out, rn, rh));
  EXPECT_EQ(rh.rcode(), static_cast<int>(Rcode::NotAuth));
  EXPECT_EQ(h.svc().stats().notifiesRefused, 2u);
}

TEST(Secondary, NotifyFloodIsCoalesced) {
  FakePrimary p;
  p.setZone(zone(5, ""));
  Harness h;
  h.svc().configure({secondaryConfig(p)});
  ASSERT_TRUE(h.waitSerial(5));
  uint8_t msg[512], out[512];
  size_t n = buildNotify(name("example.com"), 1, nullptr, msg, sizeof msg);
  ParsedQuery q;
  ASSERT_EQ(parseQuery(msg, n, q), ParseResult::Ok);
  sockaddr_storage prim = loopback(40000);
  int before = p.soaQueries;
  for (int i = 0; i < 20000; ++i) {
    ASSERT_GT(h.svc().handleNotify(q, msg, n, reinterpret_cast<sockaddr*>(&prim), out, sizeof out), 0u);
  }
  std::this_thread::sleep_for(500ms);
  // Each queued refresh covers the NOTIFYs behind it, and refreshes start at most every 100 ms here.
  EXPECT_LE(p.soaQueries - before, 8);
  p.setZone(zone(6, ""));
  h.svc().handleNotify(q, msg, n, reinterpret_cast<sockaddr*>(&prim), out, sizeof out);
  EXPECT_TRUE(h.waitSerial(6));
}

TEST(Secondary, ExpiresWithoutContactAndRecovers) {
  FakePrimary p;
  p.setZone(zone(3, "", /*refresh*/ 1, /*retry*/ 1, /*expire*/ 2));
  Harness h;
  h.svc().configure({secondaryConfig(p)});
  ASSERT_TRUE(h.waitSerial(3));
  EXPECT_FALSE(h.svc().expired(name("example.com")));
  h.clear();
  p.silent = true;
  ASSERT_TRUE(h.waitFor([](const std::shared_ptr<const Zone>& z) { return z == nullptr; }, 6000ms));
  EXPECT_TRUE(h.svc().expired(name("example.com")));
  p.silent = false;
  // Contact again: the zone comes back (same serial, handed over again).
  for (int i = 0; i < 60 && h.svc().expired(name("example.com")); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(h.svc().expired(name("example.com")));
}

TEST(Secondary, UnreachablePrimaryRetries) {
  FakePrimary p;
  p.silent = true;
  p.setZone(zone(1, ""));
  Harness h;
  h.svc().configure({secondaryConfig(p)});
  EXPECT_FALSE(h.waitSerial(1, 500ms));
  // No data yet: announced as such (the server answers SERVFAIL), like NSD and Knot.
  auto first = h.handed();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], nullptr);
  EXPECT_TRUE(h.svc().expired(name("example.com")));
  p.silent = false;
  // The first pull is an AXFR attempt; after its failure the retry (floor 1 s here: no zone yet -> 5 s
  // clamped to [1 s, ...]) gets it.
  EXPECT_TRUE(h.waitSerial(1, 12000ms));
  EXPECT_FALSE(h.svc().expired(name("example.com")));
}

TEST(Secondary, RepointedToAnotherPrimaryKeepsItsData) {
  FakePrimary p1, p2;
  p1.setZone(zone(1, "a A 192.0.2.1\n"));
  p2.setZone(zone(2, "a A 192.0.2.2\n"));
  Harness h;
  h.svc().configure({secondaryConfig(p1)});
  ASSERT_TRUE(h.waitSerial(1));
  h.clear();
  h.svc().configure({secondaryConfig(p2)});
  ASSERT_TRUE(h.waitSerial(2));
  for (const auto& z : h.handed()) EXPECT_NE(z, nullptr);  // never announced as empty in between
  EXPECT_EQ(p2.ixfrs, 1);                                  // from the data it already had
  // Removed from the configuration: no longer a secondary, not "expired".
  h.svc().configure({});
  for (int i = 0; i < 100 && h.svc().isSecondary(name("example.com")); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(h.svc().expired(name("example.com")));
}

TEST(NotifyOut, SentToSecondariesAndResentUntilAnswered) {
  int sock = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_storage a = loopback(0);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof(sockaddr_in)), 0);
  socklen_t al = sizeof a;
  ::getsockname(sock, reinterpret_cast<sockaddr*>(&a), &al);
  timeval tv{3, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  Harness h;
  XfrZoneConfig c;
  c.origin = name("example.com");
  c.notify.push_back(a);
  ASSERT_TRUE(parseCidr("127.0.0.0/8", c.allowTransfer.emplace_back()));
  h.svc().configure({c});
  auto v1 = zone(1, "");
  auto v2 = zone(2, "x A 192.0.2.2\n");
  h.svc().onZoneLoaded(nullptr, v1);  // first load: no NOTIFY
  h.svc().onZoneLoaded(v1, v2);

  uint8_t buf[1024];
  sockaddr_storage from{};
  socklen_t fl = sizeof from;
  ssize_t n = ::recvfrom(sock, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
  ASSERT_GT(n, 0);
  ParsedQuery q;
  ASSERT_EQ(parseQuery(buf, static_cast<size_t>(n), q), ParseResult::Ok);
  EXPECT_EQ(q.opcode, kOpcodeNotify);
  EXPECT_EQ(q.qtype, kTypeSOA);
  EXPECT_TRUE(q.qname.equalsNoCase(name("example.com")));
  // Not answered: sent again.
  fl = sizeof from;
  n = ::recvfrom(sock, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
  ASSERT_GT(n, 0);
  ASSERT_EQ(parseQuery(buf, static_cast<size_t>(n), q), ParseResult::Ok);
  uint8_t out[512];
  size_t rn = buildNotifyResponse(buf, static_cast<size_t>(n), q, Rcode::NoError, out, sizeof out);
  ::sendto(sock, out, rn, 0, reinterpret_cast<sockaddr*>(&from), fl);
  for (int i = 0; i < 100 && h.svc().stats().notifyAcks == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(h.svc().stats().notifyAcks, 1u);
  // Acknowledged: nothing more arrives.
  timeval shortTv{0, 400000};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &shortTv, sizeof shortTv);
  EXPECT_LT(::recvfrom(sock, buf, sizeof buf, 0, nullptr, nullptr), 0);
  EXPECT_EQ(h.svc().journal(name("example.com"))->versions(), 1u);
  ::close(sock);
}

TEST(NotifyOut, GivesUpAfterTheAttempts) {
  int sock = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_storage a = loopback(0);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&a), sizeof(sockaddr_in)), 0);
  socklen_t al = sizeof a;
  ::getsockname(sock, reinterpret_cast<sockaddr*>(&a), &al);
  timeval tv{0, 500000};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Harness h;
  XfrZoneConfig c;
  c.origin = name("example.com");
  c.notify.push_back(a);
  h.svc().configure({c});
  auto v1 = zone(1, ""), v2 = zone(2, "");
  h.svc().onZoneLoaded(v1, v2);
  uint8_t buf[1024];
  int received = 0;
  while (::recvfrom(sock, buf, sizeof buf, 0, nullptr, nullptr) > 0) ++received;
  EXPECT_EQ(received, Harness::fastOptions().notifyAttempts);
  ::close(sock);
}

TEST(TransfersOut, AllowListAndUdpAxfr) {
  Harness h;
  XfrZoneConfig c;
  c.origin = name("example.com");
  ASSERT_TRUE(parseCidr("127.0.0.1/32", c.allowTransfer.emplace_back()));
  h.svc().configure({c});
  auto z = zone(1, "");
  uint8_t msg[512];
  size_t n = buildQuery(name("example.com"), kTypeAXFR, 5, nullptr, msg, sizeof msg);
  ParsedQuery q;
  ASSERT_EQ(parseQuery(msg, n, q), ParseResult::Ok);
  int messages = 0;
  MessageSink sink = [&](const uint8_t*, size_t) { return ++messages > 0; };
  sockaddr_storage ok = loopback(1000), bad = loopback(1000, "127.0.0.2");
  EXPECT_EQ(h.svc().handleTransfer(*z, q, msg, n, reinterpret_cast<sockaddr*>(&ok), true, 0, sink),
            XfrService::Result::Sent);
  EXPECT_EQ(messages, 1);
  EXPECT_EQ(h.svc().handleTransfer(*z, q, msg, n, reinterpret_cast<sockaddr*>(&bad), true, 0, sink),
            XfrService::Result::Refused);
  EXPECT_EQ(h.svc().handleTransfer(*z, q, msg, n, reinterpret_cast<sockaddr*>(&ok), false, 512, sink),
            XfrService::Result::Refused);  // AXFR over UDP
  n = buildQuery(name("example.com"), kTypeIXFR, 6, nullptr, msg, sizeof msg);
  ASSERT_EQ(parseQuery(msg, n, q), ParseResult::Ok);
  EXPECT_EQ(h.svc().handleTransfer(*z, q, msg, n, reinterpret_cast<sockaddr*>(&ok), true, 0, sink),
            XfrService::Result::FormErr);  // IXFR without the client's SOA
}

}  // namespace
}  // namespace bulwark::dns
