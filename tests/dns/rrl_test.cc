#include "dns/rrl.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace bulwark::dns {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kStart = 1000 * kSecond;  // simulated steady clock
constexpr uint64_t kSeed = 0x5eed;

sockaddr_storage address(const std::string& text) {
  sockaddr_storage ss{};
  if (text.find(':') == std::string::npos) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(5353);
    EXPECT_EQ(inet_pton(AF_INET, text.c_str(), &sin->sin_addr), 1) << text;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(5353);
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr), 1) << text;
  }
  return ss;
}

struct Client {
  explicit Client(const std::string& ip) : ss(address(ip)) {}
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
  sockaddr_storage ss;
};

RrlConfig config(uint32_t rate, uint32_t window, uint32_t slip) {
  RrlConfig c;
  c.responsesPerSecond = rate;
  c.windowSeconds = window;
  c.slip = slip;
  return c;
}

struct Counts {
  int send = 0, slip = 0, drop = 0;
  void add(RrlAction a) {
    if (a == RrlAction::Send) ++send;
    if (a == RrlAction::Slip) ++slip;
    if (a == RrlAction::Drop) ++drop;
  }
};

// `perSecond` queries a second, evenly spaced, from `from` for `seconds`; returns the decisions.
Counts flood(Rrl& rrl, const Client& c, ResponseClass cls, uint64_t name, uint64_t from, double seconds,
             uint64_t perSecond) {
  Counts out;
  const uint64_t n = static_cast<uint64_t>(seconds * static_cast<double>(perSecond));
  for (uint64_t i = 0; i < n; ++i) out.add(rrl.decide(c.sa(), cls, name, from + i * kSecond / perSecond));
  return out;
}

TEST(Rrl, BurstIsOneSecondOfCredit) {
  Rrl rrl(config(5, 15, 0), kSeed);
  Client c("192.0.2.1");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(rrl.decide(c.sa(), ResponseClass::Positive, 1, kStart), RrlAction::Send);
  EXPECT_EQ(rrl.decide(c.sa(), ResponseClass::Positive, 1, kStart), RrlAction::Drop);
  EXPECT_EQ(rrl.stats().dropped, 1u);
}

TEST(Rrl, FloodGetsTheRateWhenWindowIsZero) {
  // With no window debt the account is a token bucket: rate * T (+ the one-second burst) answers.
  for (uint32_t rate : {5u, 50u, 1000u}) {
    Rrl rrl(config(rate, 0, 0), kSeed);
    Client c("192.0.2.1");
    const Counts n = flood(rrl, c, ResponseClass::Positive, 7, kStart, 60, 20 * rate);
    const double expected = 60.0 * rate + rate;
    EXPECT_NEAR(n.send, expected, 0.1 * expected) << rate;
    EXPECT_NEAR(n.send, expected, 2) << rate;  // in fact exact up to rounding
    EXPECT_EQ(n.slip, 0);
  }
}

TEST(Rrl, ClientBelowTheRateIsNeverLimited) {
  Rrl rrl(config(10, 15, 2), kSeed);
  Client c("192.0.2.1");
  const Counts below = flood(rrl, c, ResponseClass::Positive, 7, kStart, 100, 9);
  EXPECT_EQ(below.send, 900);
  const Counts at = flood(rrl, c, ResponseClass::NxDomain, 7, kStart, 100, 10);
  EXPECT_EQ(at.send, 1000);
}

TEST(Rrl, SustainedFloodStaysLimitedWithWindow) {
  // BIND's account: limited responses are debited too, so a flood above the rate gets the first second's
  // burst and then nothing (but slips) for as long as it lasts.
  Rrl rrl(config(5, 15, 0), kSeed);
  Client c("192.0.2.1");
  const Counts n = flood(rrl, c, ResponseClass::Positive, 7, kStart, 60, 50);
  EXPECT_EQ(n.send, 5);  // the burst
  EXPECT_EQ(n.drop, 3000 - n.send);
  // Twice the rate is a flood too.
  Rrl rrl2(config(5, 15, 0), kSeed);
  const Counts twice = flood(rrl2, c, ResponseClass::Positive, 7, kStart, 60, 10);
  EXPECT_LE(twice.send, 10);
}

TEST(Rrl, WindowIsTheRecoveryTime) {
  for (uint32_t window : {1u, 5u, 15u}) {
    const uint64_t floodEnd = kStart + 30 * kSecond;
    auto afterFlood = [&](uint64_t delay) {
      Rrl rrl(config(4, window, 0), kSeed);
      Client c("192.0.2.1");
      flood(rrl, c, ResponseClass::Positive, 7, kStart, 30, 100);
      return rrl.decide(c.sa(), ResponseClass::Positive, 7, floodEnd + delay);
    };
    // The balance sits at -window * rate when the flood stops; it is back above zero `window` seconds plus
    // one credit's time (1/rate) later.
    EXPECT_EQ(afterFlood(window * kSecond - kSecond / 10), RrlAction::Drop) << window;
    EXPECT_EQ(afterFlood(window * kSecond + kSecond / 4 + kSecond / 100), RrlAction::Send) << window;
  }
}

TEST(Rrl, FullBurstAgainAfterWindowPlusOneSecond) {
  Rrl rrl(config(4, 10, 0), kSeed);
  Client c("192.0.2.1");
  flood(rrl, c, ResponseClass::Positive, 7, kStart, 20, 100);
  const uint64_t later = kStart + 20 * kSecond + 11 * kSecond + kSecond / 100;
  Counts n;
  for (int i = 0; i < 10; ++i) n.add(rrl.decide(c.sa(), ResponseClass::Positive, 7, later));
  EXPECT_EQ(n.send, 4);
}

TEST(Rrl, SlipEveryNthLimitedResponse) {
  for (uint32_t slip : {0u, 1u, 2u, 3u, 10u}) {
    Rrl rrl(config(5, 15, slip), kSeed);
    Client c("198.51.100.7");
    for (int i = 0; i < 5; ++i)
      ASSERT_EQ(rrl.decide(c.sa(), ResponseClass::Positive, 1, kStart), RrlAction::Send);
    Counts n;
    std::vector<RrlAction> first;
    for (int i = 0; i < 3000; ++i) {
      RrlAction a = rrl.decide(c.sa(), ResponseClass::Positive, 1, kStart);
      if (i < 4) first.push_back(a);
      n.add(a);
    }
    EXPECT_EQ(n.send, 0) << slip;
    const int expectedSlips = slip == 0 ? 0 : 3000 / static_cast<int>(slip);
    EXPECT_EQ(n.slip, expectedSlips) << slip;
    EXPECT_EQ(n.drop, 3000 - expectedSlips) << slip;
    EXPECT_EQ(rrl.stats().slipped, static_cast<uint64_t>(expectedSlips));
    EXPECT_EQ(rrl.stats().dropped, static_cast<uint64_t>(3000 - expectedSlips));
    if (slip == 2) {
      EXPECT_EQ(first,
                (std::vector<RrlAction>{RrlAction::Drop, RrlAction::Slip, RrlAction::Drop, RrlAction::Slip}));
    }
  }
}

// Exhausts the account of (client, class, name) at kStart; true when `other` then still gets an answer.
bool independent(const RrlConfig& cfg, const Client& a, ResponseClass clsA, uint64_t nameA, const Client& b,
                 ResponseClass clsB, uint64_t nameB) {
  Rrl rrl(cfg, kSeed);
  for (uint32_t i = 0; i < cfg.responsesPerSecond; ++i) {
    if (rrl.decide(a.sa(), clsA, nameA, kStart) != RrlAction::Send) return false;
  }
  if (rrl.decide(a.sa(), clsA, nameA, kStart) == RrlAction::Send) return false;  // a is limited now
  return rrl.decide(b.sa(), clsB, nameB, kStart) == RrlAction::Send;
}

TEST(Rrl, Ipv4PrefixAggregation) {
  const auto P = ResponseClass::Positive;
  RrlConfig cfg = config(3, 15, 0);
  EXPECT_FALSE(independent(cfg, Client("10.1.2.3"), P, 9, Client("10.1.2.200"), P, 9));  // same /24
  EXPECT_TRUE(independent(cfg, Client("10.1.2.3"), P, 9, Client("10.1.3.3"), P, 9));
  // An IPv4-mapped IPv6 source is its IPv4 address.
  EXPECT_FALSE(independent(cfg, Client("10.1.2.3"), P, 9, Client("::ffff:10.1.2.77"), P, 9));
  cfg.ipv4Prefix = 32;
  EXPECT_TRUE(independent(cfg, Client("10.1.2.3"), P, 9, Client("10.1.2.4"), P, 9));
  cfg.ipv4Prefix = 16;
  EXPECT_FALSE(independent(cfg, Client("10.1.2.3"), P, 9, Client("10.1.255.1"), P, 9));
  EXPECT_TRUE(independent(cfg, Client("10.1.2.3"), P, 9, Client("10.2.2.3"), P, 9));
  cfg.ipv4Prefix = 0;
  EXPECT_FALSE(independent(cfg, Client("10.1.2.3"), P, 9, Client("203.0.113.9"), P, 9));
}

TEST(Rrl, Ipv6PrefixAggregation) {
  const auto P = ResponseClass::Positive;
  RrlConfig cfg = config(3, 15, 0);
  // /56: 2001:db8:1:100:: .. 2001:db8:1:1ff:ffff:...
  EXPECT_FALSE(independent(cfg, Client("2001:db8:1:100::1"), P, 9, Client("2001:db8:1:1ff:ffff::5"), P, 9));
  EXPECT_TRUE(independent(cfg, Client("2001:db8:1:100::1"), P, 9, Client("2001:db8:1:200::1"), P, 9));
  cfg.ipv6Prefix = 64;
  EXPECT_TRUE(independent(cfg, Client("2001:db8:1:100::1"), P, 9, Client("2001:db8:1:101::1"), P, 9));
  EXPECT_FALSE(independent(cfg, Client("2001:db8:1:100::1"), P, 9, Client("2001:db8:1:100:ffff::1"), P, 9));
  cfg.ipv6Prefix = 120;  // a cut inside the low 64 bits
  EXPECT_FALSE(independent(cfg, Client("2001:db8::1:0"), P, 9, Client("2001:db8::1:ff"), P, 9));
  EXPECT_TRUE(independent(cfg, Client("2001:db8::1:0"), P, 9, Client("2001:db8::1:100"), P, 9));
  cfg.ipv6Prefix = 128;
  EXPECT_TRUE(independent(cfg, Client("2001:db8::1"), P, 9, Client("2001:db8::2"), P, 9));
  // IPv6 and IPv4 never share an account, even with everything masked away.
  cfg.ipv4Prefix = 0;
  cfg.ipv6Prefix = 0;
  EXPECT_TRUE(independent(cfg, Client("10.0.0.1"), P, 9, Client("2001:db8::1"), P, 9));
}

TEST(Rrl, ClassesAndNamesHaveSeparateAccounts) {
  const RrlConfig cfg = config(3, 15, 0);
  const Client c("192.0.2.10");
  const ResponseClass all[] = {ResponseClass::Positive, ResponseClass::NxDomain, ResponseClass::NoData,
                               ResponseClass::Referral, ResponseClass::Error,    ResponseClass::Any};
  for (ResponseClass a : all) {
    for (ResponseClass b : all) {
      EXPECT_EQ(independent(cfg, c, a, 5, c, b, 5), a != b)
          << static_cast<int>(a) << " vs " << static_cast<int>(b);
    }
  }
  // Different names: separate accounts, except for errors (one account per prefix).
  EXPECT_TRUE(independent(cfg, c, ResponseClass::Positive, 5, c, ResponseClass::Positive, 6));
  EXPECT_TRUE(independent(cfg, c, ResponseClass::NxDomain, 5, c, ResponseClass::NxDomain, 6));
  EXPECT_FALSE(independent(cfg, c, ResponseClass::Error, 5, c, ResponseClass::Error, 6));
}

TEST(Rrl, RateZeroTurnsItOff) {
  Rrl rrl(config(0, 15, 2), kSeed);
  Client c("192.0.2.1");
  for (int i = 0; i < 10000; ++i)
    ASSERT_EQ(rrl.decide(c.sa(), ResponseClass::NxDomain, 1, kStart), RrlAction::Send);
  EXPECT_EQ(rrl.stats().keys, 0u);
}

TEST(Rrl, TableFullEvictionKeepsTheBalance) {
  // 8 slots = one probe window: every key competes for the same slots whatever its hash.
  RrlConfig cfg = config(5, 15, 0);
  cfg.tableSize = 8;
  Rrl rrl(cfg, kSeed);
  ASSERT_EQ(rrl.capacity(), 8u);
  std::vector<Client> clients;
  for (int i = 0; i < 12; ++i) clients.emplace_back("10.0." + std::to_string(i) + ".1");
  const auto P = ResponseClass::Positive;
  // Client 0 answers once (4 credits left); clients 1..7 flood into the debt floor.
  EXPECT_EQ(rrl.decide(clients[0].sa(), P, 1, kStart), RrlAction::Send);
  for (int i = 1; i < 8; ++i) flood(rrl, clients[i], P, 1, kStart - kSecond, 1, 1000);
  EXPECT_EQ(rrl.stats().keys, 8u);
  EXPECT_EQ(rrl.stats().evictions, 0u);

  // A ninth key takes over the account with the most credit (client 0's) and inherits its 4 credits.
  Counts n;
  for (int i = 0; i < 10; ++i) n.add(rrl.decide(clients[8].sa(), P, 1, kStart));
  EXPECT_EQ(n.send, 4);
  EXPECT_EQ(rrl.stats().evictions, 1u);
  EXPECT_EQ(rrl.stats().evictionsLive, 1u);
  // Client 0 comes back: no free slot, every account is in debt, so it inherits a debt: no fresh burst.
  EXPECT_EQ(rrl.decide(clients[0].sa(), P, 1, kStart), RrlAction::Drop);
  // Flooding with ever new spoofed prefixes gets nothing once the table is full of debt.
  Counts spoofed;
  for (int i = 0; i < 2000; ++i) {
    Client t("172." + std::to_string(16 + i / 250) + "." + std::to_string(i % 250) + ".1");
    spoofed.add(rrl.decide(t.sa(), P, 1, kStart));
  }
  EXPECT_EQ(spoofed.send, 0);
  EXPECT_EQ(rrl.stats().keys, 8u);

  // Once the table's accounts have recovered (window + burst), a new key takes over a stale one and gets
  // a full burst.
  const uint64_t later = kStart + 20 * kSecond;
  Counts fresh;
  for (int i = 0; i < 10; ++i) fresh.add(rrl.decide(clients[11].sa(), P, 1, later));
  EXPECT_EQ(fresh.send, 5);
}

TEST(Rrl, ConcurrentDecisionsOnOneAccountAreExact) {
  // 4 threads, one account, a frozen clock: exactly `rate` responses pass, whatever the interleaving.
  Rrl rrl(config(1000, 0, 2), kSeed);
  Client c("192.0.2.1");
  std::atomic<int> sent{0}, slipped{0}, dropped{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Counts n;
      for (int i = 0; i < 20000; ++i) n.add(rrl.decide(c.sa(), ResponseClass::Positive, 3, kStart));
      sent += n.send;
      slipped += n.slip;
      dropped += n.drop;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sent.load(), 1000);
  EXPECT_EQ(slipped.load(), (80000 - 1000) / 2);  // the slip counter is exact too
  EXPECT_EQ(slipped.load() + dropped.load(), 79000);
  EXPECT_EQ(rrl.stats().slipped + rrl.stats().dropped, 79000u);
}

TEST(Rrl, ConcurrentInsertsOfManyKeysAreExact) {
  // 4 threads race to create the same 2000 accounts: each ends in one slot with exactly `rate` answers.
  Rrl rrl(config(3, 15, 0), kSeed);
  std::vector<Client> clients;
  for (int i = 0; i < 2000; ++i)
    clients.emplace_back("10." + std::to_string(i / 200) + "." + std::to_string(i % 200) + ".9");
  std::atomic<int> sent{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int n = 0;
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 2000; ++i) {
          const Client& c = clients[(i + t * 500) % 2000];
          n += rrl.decide(c.sa(), ResponseClass::NoData, 11, kStart) == RrlAction::Send ? 1 : 0;
        }
      }
      sent += n;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sent.load(), 2000 * 3);
  EXPECT_EQ(rrl.stats().keys, 2000u);
  EXPECT_EQ(rrl.stats().evictions, 0u);
}

TEST(Rrl, ConcurrentFloodOverTimeKeepsTheRate) {
  // 4 threads flood one account over 20 simulated seconds, each with its own view of the clock inside a
  // second (threads meet at a barrier every simulated second). Documented tolerance: +-10 % of rate * T.
  const uint32_t rate = 200;
  Rrl rrl(config(rate, 0, 0), kSeed);
  Client c("192.0.2.1");
  std::atomic<int> sent{0};
  std::barrier sync(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      int n = 0;
      for (int s = 0; s < 20; ++s) {
        for (int i = 0; i < 1000; ++i) {
          const uint64_t now = kStart + s * kSecond + static_cast<uint64_t>(i) * kSecond / 1000;
          n += rrl.decide(c.sa(), ResponseClass::Positive, 1, now) == RrlAction::Send ? 1 : 0;
        }
        sync.arrive_and_wait();
      }
      sent += n;
    });
  }
  for (auto& t : threads) t.join();
  const double expected = 20.0 * rate + rate;  // the rate over 20 s plus the first second's burst
  EXPECT_NEAR(sent.load(), expected, 0.1 * expected);
}

TEST(Rrl, NameHashFoldsCase) {
  const uint8_t lower[] = "\3www\7example\3com";  // sizeof includes the terminating zero
  const uint8_t upper[] = "\3WwW\7ExAMPLE\3COM";
  const uint8_t other[] = "\3www\7example\3org";
  EXPECT_EQ(rrlNameHash(lower, sizeof lower), rrlNameHash(upper, sizeof upper));
  EXPECT_NE(rrlNameHash(lower, sizeof lower), rrlNameHash(other, sizeof other));
  Name n;
  n.len = sizeof upper;
  std::memcpy(n.data, upper, sizeof upper);
  EXPECT_EQ(rrlNameHash(n), rrlNameHash(lower, sizeof lower));
}

TEST(Rrl, NameHashPerClass) {
  auto name = [](const char* wire, std::size_t len) {
    Name n;
    n.len = static_cast<uint8_t>(len);
    std::memcpy(n.data, wire, len);
    return n;
  };
  const Name qname = name("\6random\7example\3com", 20);
  const Name apex = name("\7example\3com", 13);
  EXPECT_EQ(rrlNameHashFor(ResponseClass::Positive, qname, &apex), rrlNameHash(qname));
  EXPECT_EQ(rrlNameHashFor(ResponseClass::NoData, qname, &apex), rrlNameHash(qname));
  EXPECT_EQ(rrlNameHashFor(ResponseClass::Any, qname, &apex), rrlNameHash(qname));
  EXPECT_EQ(rrlNameHashFor(ResponseClass::NxDomain, qname, &apex), rrlNameHash(apex));
  EXPECT_EQ(rrlNameHashFor(ResponseClass::Referral, qname, &apex), rrlNameHash(apex));
  EXPECT_EQ(rrlNameHashFor(ResponseClass::NxDomain, qname, nullptr), rrlNameHash(qname));
  EXPECT_EQ(rrlNameHashFor(ResponseClass::Error, qname, &apex), 0u);
  EXPECT_NE(rrlNameHash(qname), rrlNameHash(apex));
}

TEST(Rrl, ConfigValidation) {
  EXPECT_EQ(validateRrlConfig(RrlConfig{}), "");
  auto with = [](auto change) {
    RrlConfig c;
    change(c);
    return validateRrlConfig(c);
  };
  EXPECT_NE(with([](RrlConfig& c) { c.tableSize = 1000; }), "");
  EXPECT_NE(with([](RrlConfig& c) { c.tableSize = 4; }), "");
  EXPECT_NE(with([](RrlConfig& c) { c.ipv4Prefix = 33; }), "");
  EXPECT_NE(with([](RrlConfig& c) { c.ipv6Prefix = 129; }), "");
  EXPECT_NE(with([](RrlConfig& c) { c.windowSeconds = 3601; }), "");
  EXPECT_NE(with([](RrlConfig& c) { c.slip = 101; }), "");
  EXPECT_EQ(with([](RrlConfig& c) { c.tableSize = 8; }), "");
  // The constructor rounds a size up instead.
  RrlConfig c;
  c.tableSize = 1000;
  Rrl rrl(c, kSeed);
  EXPECT_EQ(rrl.capacity(), 1024u);
}

}  // namespace
}  // namespace bulwark::dns
