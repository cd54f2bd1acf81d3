#include "shield/usage_sync.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_server.h"

namespace bulwark::shield {
namespace {

using namespace std::chrono_literals;
using redistest::RedisTestServer;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// GCRA whose charge() adds the whole count (no cap): the semantics UsageSync needs from a limiter.
class ExactLimiter {
 public:
  bool admit(uint64_t key, const RateSpec& spec, int64_t now) {
    std::lock_guard<std::mutex> lock(mutex_);
    int64_t& tat = tats_[key];
    const int64_t next = std::max(tat, now) + spec.intervalNs();
    if (next - now > spec.intervalNs() * spec.burst) return false;
    tat = next;
    return true;
  }
  void charge(uint64_t key, const RateSpec& spec, int64_t now, uint64_t count) {
    std::lock_guard<std::mutex> lock(mutex_);
    int64_t& tat = tats_[key];
    tat = std::max(tat, now) + spec.intervalNs() * static_cast<int64_t>(count);
  }

 private:
  std::mutex mutex_;
  std::map<uint64_t, int64_t> tats_;
};

// The real limiter, with admit() returning bool like the double.
class RealLimiter {
 public:
  bool admit(uint64_t key, const RateSpec& spec, int64_t now) {
    return limiter_.admit(key, spec, now).allowed;
  }
  void charge(uint64_t key, const RateSpec& spec, int64_t now, uint64_t count) {
    limiter_.charge(key, spec, now, count);
  }

 private:
  RateLimiter limiter_{1024};
};

// True when charge() makes the limiter refuse for as long as the charged requests take at the rate, also
// beyond one full bucket (what sharing between saturated nodes needs).
template <class Limiter>
bool chargeAccumulates() {
  Limiter l;
  const RateSpec spec{100, 10};  // 10 ms per request, a 100 ms bucket
  l.charge(7, spec, 0, 100);     // one second's worth
  return !l.admit(7, spec, 500'000'000);
}

constexpr uint64_t kKey = 0x5eed5eed5eed5eedull;
const RateSpec kSpec{200, 10};

// One node: offers `perSecond` requests of kKey at a steady pace for `duration`, recording the admitted
// ones; returns how many were admitted.
template <class Limiter>
uint64_t offerLoad(Limiter& limiter, UsageSync& sync, double perSecond, std::chrono::milliseconds duration) {
  const auto start = SteadyClock::now();
  const auto step = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / perSecond));
  uint64_t admitted = 0;
  for (auto t = start; t < start + duration; t += step) {
    std::this_thread::sleep_until(t);
    if (limiter.admit(kKey, kSpec, nowNs())) {
      ++admitted;
      sync.record(0, kKey, kSpec);
    }
  }
  return admitted;
}

template <class Limiter>
std::pair<uint64_t, uint64_t> offerOnBothNodes(Limiter& a, UsageSync& syncA, Limiter& b, UsageSync& syncB,
                                               double perSecond, std::chrono::milliseconds duration) {
  uint64_t admittedA = 0;
  std::thread other([&] { admittedA = offerLoad(a, syncA, perSecond, duration); });
  const uint64_t admittedB = offerLoad(b, syncB, perSecond, duration);
  other.join();
  return {admittedA, admittedB};
}

bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = SteadyClock::now() + timeout;
  while (!done()) {
    if (SteadyClock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class UsageSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redistest::redisServerAvailable())
      GTEST_SKIP() << "no /usr/bin/redis-server (apt-get install redis-server)";
    ASSERT_TRUE(server_.start()) << "redis-server did not start on port " << server_.port();
  }

  UsageSyncOptions options(std::vector<std::string>* log = nullptr) {
    UsageSyncOptions o;
    o.redis.port = server_.port();
    o.redis.commandTimeout = 500ms;
    o.redis.reconnectMin = 20ms;
    o.redis.reconnectMax = 200ms;
    o.clock = nowNs;
    std::mutex* m = &logMutex_;
    if (log != nullptr) {
      o.log = [log, m](std::string_view line) {
        std::lock_guard<std::mutex> lock(*m);
        log->emplace_back(line);
      };
    }
    return o;
  }

  // The two-node figure: both nodes offered 1.5x the limit each for `duration`; the combined admitted
  // count must be within 15% of what one node alone would admit (rate x duration + one burst).
  template <class Limiter>
  void expectOneLimitOnTwoNodes() {
    Limiter limiterA;
    Limiter limiterB;
    UsageSync a(options(), limiterA);
    UsageSync b(options(), limiterB);
    a.start();
    b.start();
    ASSERT_TRUE(waitFor([&] { return a.healthy() && b.healthy(); }, 3000ms));
    const auto duration = 2000ms;
    const auto [admittedA, admittedB] =
        offerOnBothNodes(limiterA, a, limiterB, b, kSpec.perSecond * 1.5, duration);
    const double expected = kSpec.perSecond * 2.0 + kSpec.burst;
    const double combined = static_cast<double>(admittedA + admittedB);
    std::printf("two nodes: admitted %llu + %llu = %.0f, one limit = %.0f (%+.1f%%)\n",
                static_cast<unsigned long long>(admittedA), static_cast<unsigned long long>(admittedB),
                combined, expected, (combined / expected - 1) * 100);
    EXPECT_GT(combined, expected * 0.85);
    EXPECT_LT(combined, expected * 1.15);
    // Both nodes served the client (neither starved the other).
    EXPECT_GT(admittedA, expected * 0.15);
    EXPECT_GT(admittedB, expected * 0.15);
    EXPECT_GT(a.stats().chargedRequests, 0u);
    EXPECT_GT(b.stats().chargedRequests, 0u);
    EXPECT_EQ(a.stats().errors + b.stats().errors, 0u);
  }

  RedisTestServer server_;
  std::mutex logMutex_;
};

TEST(UsageSyncKeys, RedisKeyIsPrefixAndSixteenHexDigits) {
  EXPECT_EQ(UsageSync::redisKey("bulwark:rl:", 0x1234), "bulwark:rl:0000000000001234");
  EXPECT_EQ(UsageSync::redisKey("p:", 0xfedcba9876543210ull), "p:fedcba9876543210");
}

TEST(UsageSyncRings, FullRingDropsAndCounts) {
  UsageSyncOptions o;
  o.workers = 2;
  o.ringCapacity = 3;  // rounded up to 4
  ExactLimiter limiter;
  UsageSync sync(o, limiter);  // not started: nothing drains the rings
  for (int i = 0; i < 10; ++i) sync.record(0, kKey, kSpec);
  sync.record(1, kKey, kSpec);
  sync.record(2, kKey, kSpec);  // no such worker
  EXPECT_EQ(sync.stats().ringDrops, 7u);
  EXPECT_FALSE(sync.healthy());
}

TEST_F(UsageSyncTest, EveryRecordFromEveryWorkerReachesRedisOnce) {
  UsageSyncOptions o = options();
  o.workers = 3;
  o.ringCapacity = 1 << 16;
  ExactLimiter limiter;
  UsageSync sync(o, limiter);
  sync.start();
  ASSERT_TRUE(waitFor([&] { return sync.healthy(); }, 3000ms));
  constexpr uint32_t kPerWorker = 30000;
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < o.workers; ++w) {
    workers.emplace_back([&, w] {
      for (uint32_t i = 0; i < kPerWorker; ++i) {
        sync.record(w, kKey, kSpec, 1);
        sync.record(w, kKey + 1 + w, kSpec, 2);  // a key of this worker only
      }
    });
  }
  for (auto& t : workers) t.join();
  ASSERT_EQ(sync.stats().ringDrops, 0u);
  redisContext* c = redisConnect("127.0.0.1", server_.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  auto total = [&](uint64_t key) {
    auto* r =
        static_cast<redisReply*>(redisCommand(c, "GET %s", UsageSync::redisKey("bulwark:rl:", key).c_str()));
    long long v = r != nullptr && r->type == REDIS_REPLY_STRING ? std::stoll(r->str) : -1;
    freeReplyObject(r);
    return v;
  };
  EXPECT_TRUE(waitFor([&] { return total(kKey) == 3 * kPerWorker; }, 3000ms)) << total(kKey);
  for (unsigned w = 0; w < o.workers; ++w) EXPECT_EQ(total(kKey + 1 + w), 2 * kPerWorker);
  redisFree(c);
  EXPECT_EQ(sync.stats().chargedRequests, 0u);  // one node: nobody else to charge
}

TEST_F(UsageSyncTest, UsageOfUnknownAgeIsChargedAsOneBucketAtMost) {
  // Another node served this client 1000 requests at some time within the key's TTL.
  redisContext* c = redisConnect("127.0.0.1", server_.port());
  ASSERT_TRUE(c != nullptr && c->err == 0);
  freeReplyObject(redisCommand(c, "SET %s 1000", UsageSync::redisKey("bulwark:rl:", kKey).c_str()));
  std::vector<std::pair<uint64_t, uint64_t>> charges;
  std::mutex m;
  UsageSync sync(options(), [&](uint64_t key, const RateSpec&, int64_t, uint64_t n) {
    std::lock_guard<std::mutex> lock(m);
    charges.emplace_back(key, n);
  });
  sync.start();
  ASSERT_TRUE(waitFor([&] { return sync.healthy(); }, 3000ms));
  sync.record(0, kKey, kSpec);
  ASSERT_TRUE(waitFor([&] { return sync.stats().keysSynced >= 1; }, 3000ms));
  // Then the other node serves 7 more while this node keeps looking: charged exactly.
  freeReplyObject(redisCommand(c, "INCRBY %s 7", UsageSync::redisKey("bulwark:rl:", kKey).c_str()));
  ASSERT_TRUE(waitFor([&] { return sync.stats().chargedRequests >= kSpec.burst + 7; }, 3000ms));
  redisFree(c);
  sync.stop();
  std::lock_guard<std::mutex> lock(m);
  ASSERT_EQ(charges.size(), 2u);
  EXPECT_EQ(charges[0], std::make_pair(kKey, uint64_t{kSpec.burst}));  // not 1000
  EXPECT_EQ(charges[1], std::make_pair(kKey, uint64_t{7}));
}

TEST_F(UsageSyncTest, TwoNodesEnforceOneLimit) { expectOneLimitOnTwoNodes<ExactLimiter>(); }

TEST_F(UsageSyncTest, TwoNodesEnforceOneLimitWithTheGatewayLimiter) {
  if (!chargeAccumulates<RealLimiter>()) {
    GTEST_SKIP()
        << "RateLimiter::charge() caps the TAT at one full bucket ahead, so usage from other nodes is "
           "lost while this node is saturated; sharing needs charge() to add the whole count";
  }
  expectOneLimitOnTwoNodes<RealLimiter>();
}

TEST_F(UsageSyncTest, RedisDownFallsBackToLocalLimitsAndRecovers) {
  std::vector<std::string> logA;
  ExactLimiter limiterA;
  ExactLimiter limiterB;
  UsageSync a(options(&logA), limiterA);
  UsageSync b(options(), limiterB);
  a.start();
  b.start();
  ASSERT_TRUE(waitFor([&] { return a.healthy() && b.healthy(); }, 3000ms));

  server_.kill();
  ASSERT_TRUE(waitFor([&] { return !a.healthy() && !b.healthy(); }, 2000ms));
  // Fail-open: each node enforces the whole limit on its own (no sharing, but still a limit).
  const auto outage = 1000ms;
  const auto [localA, localB] = offerOnBothNodes(limiterA, a, limiterB, b, kSpec.perSecond * 1.5, outage);
  const double oneNode = kSpec.perSecond * 1.0 + kSpec.burst;
  for (uint64_t admitted : {localA, localB}) {
    EXPECT_GT(static_cast<double>(admitted), oneNode * 0.6);  // the bucket was not full at the start
    EXPECT_LT(static_cast<double>(admitted), oneNode * 1.15);
  }
  EXPECT_GT(a.stats().localOnly, 0u);
  EXPECT_EQ(a.stats().redisDown, 1u);

  ASSERT_TRUE(server_.start());
  ASSERT_TRUE(waitFor([&] { return a.healthy() && b.healthy(); }, 3000ms));
  EXPECT_EQ(a.stats().redisUp, 2u);
  // Sharing again: the two nodes together stay within one limit.
  const auto [sharedA, sharedB] = offerOnBothNodes(limiterA, a, limiterB, b, kSpec.perSecond * 1.5, 1500ms);
  const double combined = static_cast<double>(sharedA + sharedB);
  const double expected = kSpec.perSecond * 1.5 + kSpec.burst;
  std::printf("after recovery: admitted %.0f, one limit = %.0f\n", combined, expected);
  EXPECT_GT(combined, expected * 0.85);
  EXPECT_LT(combined, expected * 1.15);

  a.stop();
  std::lock_guard<std::mutex> lock(logMutex_);
  // Logged once per transition, never per request or per reconnect attempt.
  ASSERT_EQ(logA.size(), 3u);
  EXPECT_NE(logA[0].find("connected"), std::string::npos);
  EXPECT_NE(logA[1].find("unreachable"), std::string::npos);
  EXPECT_NE(logA[2].find("connected"), std::string::npos);
}

TEST_F(UsageSyncTest, StoppedRedisIsNoticedWithoutTraffic) {
  ExactLimiter limiter;
  UsageSync sync(options(), limiter);
  sync.start();
  ASSERT_TRUE(waitFor([&] { return sync.healthy(); }, 3000ms));
  server_.pause();  // the connection stays open, nothing answers
  ASSERT_TRUE(waitFor([&] { return !sync.healthy(); }, 3000ms));  // heartbeat (1 s) + command timeout
  EXPECT_EQ(sync.stats().redisDown, 1u);
  server_.resume();
  ASSERT_TRUE(waitFor([&] { return sync.healthy(); }, 3000ms));
  EXPECT_EQ(sync.stats().redisUp, 2u);
}

TEST_F(UsageSyncTest, StartsUnhealthyAndConnectsWhenRedisAppears) {
  server_.kill();
  std::vector<std::string> log;
  ExactLimiter limiter;
  UsageSync sync(options(&log), limiter);
  sync.start();
  ASSERT_TRUE(waitFor([&] { return sync.stats().redisDown == 1; }, 2000ms));
  EXPECT_FALSE(sync.healthy());
  std::this_thread::sleep_for(300ms);  // several reconnect attempts
  ASSERT_TRUE(server_.start());
  ASSERT_TRUE(waitFor([&] { return sync.healthy(); }, 3000ms));
  sync.stop();
  EXPECT_FALSE(sync.healthy());
  std::lock_guard<std::mutex> lock(logMutex_);
  EXPECT_EQ(log.size(), 2u);  // unreachable once, then connected
}

}  // namespace
}  // namespace bulwark::shield
