#include "shield/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace bulwark::shield {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(ParseRate, AcceptsUnits) {
  double r = 0;
  ASSERT_TRUE(parseRate("50/s", r));
  EXPECT_DOUBLE_EQ(r, 50);
  ASSERT_TRUE(parseRate("2000/min", r));
  EXPECT_DOUBLE_EQ(r, 2000.0 / 60);
  ASSERT_TRUE(parseRate("10/h", r));
  EXPECT_DOUBLE_EQ(r, 10.0 / 3600);
  ASSERT_TRUE(parseRate("0.5/s", r));
  EXPECT_DOUBLE_EQ(r, 0.5);
  ASSERT_TRUE(parseRate("3/m", r));
  EXPECT_DOUBLE_EQ(r, 0.05);
}

TEST(ParseRate, RejectsMalformedRates) {
  double r = 7;
  for (const char* bad : {"", "50", "/s", "50/", "50/d", "0/s", "-1/s", "1e3/s", "50 /s", "50/ s", ".5/s",
                          "5./s", "1.2.3/s", "abc/s", "50/S"}) {
    EXPECT_FALSE(parseRate(bad, r)) << bad;
  }
  EXPECT_EQ(r, 7);
}

TEST(RateLimiter, AdmitsBurstThenTheSustainedRate) {
  RateLimiter limiter(1024);
  RateSpec spec{10, 5};
  const uint64_t key = rateKeyHash("r", "client");
  int64_t now = 100 * kSecond;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.admit(key, spec, now).allowed) << i;
  RateDecision refused = limiter.admit(key, spec, now);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retryAfterSeconds, 1u);
  // One interval later exactly one more request fits.
  now += kSecond / 10;
  EXPECT_TRUE(limiter.admit(key, spec, now).allowed);
  EXPECT_FALSE(limiter.admit(key, spec, now).allowed);
  // Over 10 simulated seconds at 1000 attempts/s, admitted = rate * T (+ what is left of the burst: 0).
  int admitted = 0;
  for (int i = 0; i < 10'000; ++i) {
    now += kSecond / 1000;
    admitted += limiter.admit(key, spec, now).allowed ? 1 : 0;
  }
  EXPECT_EQ(admitted, 100);
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter limiter(1024);
  RateSpec spec{1, 1};
  EXPECT_TRUE(limiter.admit(rateKeyHash("r", "a"), spec, kSecond).allowed);
  EXPECT_FALSE(limiter.admit(rateKeyHash("r", "a"), spec, kSecond).allowed);
  EXPECT_TRUE(limiter.admit(rateKeyHash("r", "b"), spec, kSecond).allowed);
  EXPECT_TRUE(limiter.admit(rateKeyHash("other", "a"), spec, kSecond).allowed);
}

TEST(RateLimiter, RetryAfterCoversTheWait) {
  RateLimiter limiter(64);
  RateSpec spec{1.0 / 60, 1};  // one a minute
  const uint64_t key = rateKeyHash("slow", "k");
  EXPECT_TRUE(limiter.admit(key, spec, kSecond).allowed);
  RateDecision d = limiter.admit(key, spec, kSecond);
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.retryAfterSeconds, 60u);
  d = limiter.admit(key, spec, 31 * kSecond);
  ASSERT_FALSE(d.allowed);
  EXPECT_EQ(d.retryAfterSeconds, 30u);
  EXPECT_TRUE(limiter.admit(key, spec, 61 * kSecond).allowed);
}

TEST(RateLimiter, ChargeConsumesTheBucketIntoBoundedDebt) {
  RateLimiter limiter(64);
  RateSpec spec{10, 10};
  const uint64_t key = rateKeyHash("shared", "k");
  limiter.charge(key, spec, kSecond, 7);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.admit(key, spec, kSecond).allowed) << i;
  EXPECT_FALSE(limiter.admit(key, spec, kSecond).allowed);
  // Other nodes' usage goes into debt beyond an empty bucket (5 more requests: refused for half a second)...
  limiter.charge(key, spec, kSecond, 5);
  EXPECT_FALSE(limiter.admit(key, spec, kSecond + kSecond / 2 - 1).allowed);
  EXPECT_TRUE(limiter.admit(key, spec, kSecond + kSecond / 2 + kSecond / 10).allowed);
  // ... but a huge count is capped at 10 s of debt.
  limiter.charge(key, spec, 2 * kSecond, 1'000'000);
  EXPECT_FALSE(limiter.admit(key, spec, 11 * kSecond).allowed);
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += limiter.admit(key, spec, 14 * kSecond).allowed ? 1 : 0;
  EXPECT_EQ(admitted, 10);
}

TEST(RateLimiter, FullTableEvictsStaleKeysAndFailsOpenOtherwise) {
  RateLimiter limiter(8);  // one probe window: every key competes for the same 8 slots
  ASSERT_EQ(limiter.capacity(), 8u);
  RateSpec spec{1, 1};
  int64_t now = 10 * kSecond;
  for (int i = 0; i < 8; ++i)
    EXPECT_TRUE(limiter.admit(rateKeyHash("r", std::to_string(i)), spec, now).allowed);
  EXPECT_EQ(limiter.stats().keys, 8u);
  // All 8 buckets are fresh (empty until now + 1 s): a ninth key gets no entry and is admitted.
  EXPECT_TRUE(limiter.admit(rateKeyHash("r", "new"), spec, now).allowed);
  EXPECT_TRUE(limiter.admit(rateKeyHash("r", "new"), spec, now).allowed);
  EXPECT_EQ(limiter.stats().overflows, 2u);
  EXPECT_EQ(limiter.stats().evictions, 0u);
  // The existing keys are still limited.
  EXPECT_FALSE(limiter.admit(rateKeyHash("r", "0"), spec, now).allowed);
  // Once the buckets refilled, a new key takes over a stale slot and is limited like any other.
  now += 2 * kSecond;
  EXPECT_TRUE(limiter.admit(rateKeyHash("r", "new"), spec, now).allowed);
  EXPECT_FALSE(limiter.admit(rateKeyHash("r", "new"), spec, now).allowed);
  EXPECT_EQ(limiter.stats().evictions, 1u);
}

TEST(RateLimiter, KeyHashIsStableAcrossProcesses) {
  // Fixed values: nodes sharing counters must compute the same keys (a change here breaks mixed clusters).
  // The expected value was computed independently (a Python transcription of the documented algorithm).
  EXPECT_EQ(rateKeyHash("per-ip", "192.0.2.1"), rateKeyHash("per-ip", "192.0.2.1"));
  EXPECT_NE(rateKeyHash("ab", "c"), rateKeyHash("a", "bc"));
  EXPECT_NE(rateKeyHash("", ""), 0u);
  EXPECT_EQ(rateKeyCombine(rateKeyPrefix("per-ip"), rateKeyDigest("192.0.2.1")),
            rateKeyHash("per-ip", "192.0.2.1"));
  EXPECT_NE(rateKeyHash("r", std::string(16, 'a')), rateKeyHash("r", std::string(17, 'a')));
  static const uint64_t kKnown = rateKeyHash("per-ip", "192.0.2.1");
  EXPECT_EQ(kKnown, 0x4e4dc752a6606970ull) << std::hex << kKnown;
}

// N threads hammer one key for a wall-clock period: the admitted total must be rate * T + burst (±10%),
// as one global bucket, not N per-thread ones.
TEST(RateLimiter, ExactAcrossThreads) {
  RateLimiter limiter(1 << 16);
  RateSpec spec{2000, 200};
  const uint64_t key = rateKeyHash("mt", "one-client");
  constexpr int kThreads = 4;
  std::atomic<int64_t> admitted{0};
  std::atomic<bool> go{false};
  std::chrono::steady_clock::time_point start;  // set just before `go`, which publishes it
  const auto duration = std::chrono::milliseconds(500);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) {
      }
      int64_t mine = 0;
      for (;;) {
        auto now = std::chrono::steady_clock::now();
        if (now - start >= duration) break;
        int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
        mine += limiter.admit(key, spec, ns).allowed ? 1 : 0;
      }
      admitted += mine;
    });
  }
  start = std::chrono::steady_clock::now();
  go = true;
  for (auto& th : threads) th.join();
  const double expected = spec.perSecond * 0.5 + spec.burst;  // 1200
  EXPECT_GT(admitted.load(), expected * 0.9);
  EXPECT_LT(admitted.load(), expected * 1.1);
}

}  // namespace
}  // namespace bulwark::shield
