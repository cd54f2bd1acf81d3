// PoolBalancer: priority groups, the three policies, exclusion and passive outlier ejection.
#include "http/pool.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bulwark::http {
namespace {

using std::chrono::seconds;

struct OriginSpec {
  std::string address;
  uint32_t weight = 1;
  uint32_t priority = 0;
};

Pool makePool(LbPolicy lb, const std::vector<OriginSpec>& specs) {
  Pool pool;
  pool.name = "test";
  pool.lb = lb;
  for (const OriginSpec& spec : specs) {
    Origin origin;
    origin.address.text = spec.address;
    origin.weight = spec.weight;
    origin.priority = spec.priority;
    pool.origins.push_back(origin);
  }
  return pool;
}

// An arbitrary start well away from the clock's epoch.
const Clock::time_point kStart = Clock::time_point{} + std::chrono::hours(1);

void setHealthy(PoolShared& shared, int origin, bool healthy) { shared.health[origin]->healthy = healthy; }

void failTimes(PoolBalancer& balancer, int origin, int times, Clock::time_point now) {
  for (int i = 0; i < times; ++i) balancer.report(origin, false, now);
}

std::vector<int> countPicks(PoolBalancer& balancer, int picks, Clock::time_point now, int exclude = -1) {
  std::vector<int> counts(balancer.shared().config.origins.size(), 0);
  for (int i = 0; i < picks; ++i) {
    const int origin = balancer.pick("", now, exclude);
    EXPECT_NE(origin, PoolBalancer::kNoOrigin);
    if (origin >= 0) ++counts[origin];
  }
  return counts;
}

TEST(PoolSharedTest, CopiesConfigAndStartsEveryOriginHealthy) {
  const Pool pool = makePool(LbPolicy::kRoundRobin, {{"a:1"}, {"b:1"}, {"c:1"}});
  PoolShared shared(pool);
  EXPECT_EQ(shared.config.name, "test");
  ASSERT_EQ(shared.config.origins.size(), 3u);
  ASSERT_EQ(shared.health.size(), 3u);
  for (const auto& health : shared.health) EXPECT_TRUE(health->healthy.load());
}

// --- round robin ---

TEST(PoolBalancerTest, RoundRobinDistributesExactlyByWeight) {
  PoolBalancer balancer(
      std::make_shared<PoolShared>(makePool(LbPolicy::kRoundRobin, {{"a:1", 1}, {"b:1", 2}, {"c:1", 3}})));
  EXPECT_EQ(countPicks(balancer, 600, kStart), (std::vector<int>{100, 200, 300}));
}

TEST(PoolBalancerTest, RoundRobinInterleavesHeavyOriginInsteadOfBursting) {
  PoolBalancer balancer(
      std::make_shared<PoolShared>(makePool(LbPolicy::kRoundRobin, {{"a:1", 5}, {"b:1", 1}, {"c:1", 1}})));
  std::vector<int> sequence;
  for (int i = 0; i < 7; ++i) sequence.push_back(balancer.pick("", kStart));
  // Smooth WRR over 5:1:1 yields a a b a c a a: the heavy origin never runs more than twice in a row.
  EXPECT_EQ(sequence, (std::vector<int>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(PoolBalancerTest, RoundRobinRotatesEqualWeights) {
  PoolBalancer balancer(
      std::make_shared<PoolShared>(makePool(LbPolicy::kRoundRobin, {{"a:1"}, {"b:1"}, {"c:1"}})));
  std::vector<int> sequence;
  for (int i = 0; i < 6; ++i) sequence.push_back(balancer.pick("", kStart));
  EXPECT_EQ(sequence, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

// --- priority groups ---

TEST(PoolBalancerTest, SendsNothingToBackupWhileOnePrimaryIsUsable) {
  auto shared = std::make_shared<PoolShared>(
      makePool(LbPolicy::kRoundRobin, {{"a:1", 1, 0}, {"b:1", 1, 0}, {"backup:1", 1, 1}}));
  PoolBalancer balancer(shared);
  setHealthy(*shared, 0, false);
  EXPECT_EQ(countPicks(balancer, 50, kStart), (std::vector<int>{0, 50, 0}));
}

TEST(PoolBalancerTest, FailsOverToPriorityOneWhenAllPriorityZeroUnhealthyAndFailsBack) {
  auto shared = std::make_shared<PoolShared>(makePool(
      LbPolicy::kRoundRobin, {{"a:1", 1, 0}, {"b:1", 1, 0}, {"c:1", 1, 1}, {"d:1", 1, 1}, {"e:1", 1, 2}}));
  PoolBalancer balancer(shared);
  EXPECT_EQ(countPicks(balancer, 10, kStart), (std::vector<int>{5, 5, 0, 0, 0}));

  setHealthy(*shared, 0, false);
  setHealthy(*shared, 1, false);
  EXPECT_EQ(countPicks(balancer, 10, kStart), (std::vector<int>{0, 0, 5, 5, 0}));

  setHealthy(*shared, 1, true);
  EXPECT_EQ(countPicks(balancer, 10, kStart), (std::vector<int>{0, 10, 0, 0, 0}));
}

TEST(PoolBalancerTest, FailsOverWhenPrimaryEjectedAndFailsBackWhenEjectionEnds) {
  Pool pool = makePool(LbPolicy::kRoundRobin, {{"primary:1", 1, 0}, {"backup:1", 1, 1}});
  pool.outlier.consecutiveFailures = 2;
  pool.outlier.baseEjection = seconds(10);
  PoolBalancer balancer(std::make_shared<PoolShared>(pool));
  failTimes(balancer, 0, 2, kStart);
  EXPECT_EQ(balancer.pick("", kStart), 1);
  EXPECT_EQ(balancer.pick("", kStart + seconds(10)), 0);
}

TEST(PoolBalancerTest, PicksLowestPriorityNumberWhateverTheListOrder) {
  PoolBalancer balancer(std::make_shared<PoolShared>(
      makePool(LbPolicy::kRoundRobin, {{"p2:1", 1, 2}, {"p0:1", 1, 0}, {"p1:1", 1, 1}})));
  EXPECT_EQ(countPicks(balancer, 10, kStart), (std::vector<int>{0, 10, 0}));
}

// --- unusable origins ---

TEST(PoolBalancerTest, SkipsEjectedOrigin) {
  Pool pool = makePool(LbPolicy::kRoundRobin, {{"a:1"}, {"b:1"}});
  pool.outlier.consecutiveFailures = 1;
  PoolBalancer balancer(std::make_shared<PoolShared>(pool));
  balancer.report(0, false, kStart);
  ASSERT_TRUE(balancer.ejected(0, kStart));
  EXPECT_FALSE(balancer.usable(0, kStart));
  EXPECT_EQ(countPicks(balancer, 20, kStart), (std::vector<int>{0, 20}));
}

TEST(PoolBalancerTest, ReturnsNoOriginWhenEveryOriginIsUnhealthyOrEjected) {
  for (LbPolicy lb : {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest, LbPolicy::kConsistentHash}) {
    Pool pool = makePool(lb, {{"a:1", 1, 0}, {"b:1", 1, 1}});
    pool.outlier.consecutiveFailures = 1;
    auto shared = std::make_shared<PoolShared>(pool);
    PoolBalancer balancer(shared);
    setHealthy(*shared, 0, false);
    balancer.report(1, false, kStart);
    EXPECT_EQ(balancer.pick("key", kStart), PoolBalancer::kNoOrigin);
    EXPECT_EQ(balancer.pick("key", kStart, 0), PoolBalancer::kNoOrigin);
  }
}

TEST(PoolBalancerTest, ReturnsNoOriginForEmptyPool) {
  for (LbPolicy lb : {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest, LbPolicy::kConsistentHash}) {
    PoolBalancer balancer(std::make_shared<PoolShared>(makePool(lb, {})));
    EXPECT_EQ(balancer.pick("key", kStart), PoolBalancer::kNoOrigin);
  }
}

// --- outlier detection ---

Pool outlierPool() {
  Pool pool = makePool(LbPolicy::kRoundRobin, {{"a:1"}, {"b:1"}});
  pool.outlier.consecutiveFailures = 3;
  pool.outlier.baseEjection = seconds(10);
  pool.outlier.maxEjection = seconds(35);
  return pool;
}

TEST(PoolBalancerTest, EjectsAfterConsecutiveFailures) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  failTimes(balancer, 0, 2, kStart);
  EXPECT_FALSE(balancer.ejected(0, kStart));
  balancer.report(0, false, kStart);
  EXPECT_TRUE(balancer.ejected(0, kStart));
  EXPECT_FALSE(balancer.ejected(1, kStart));
}

TEST(PoolBalancerTest, SuccessResetsFailureCount) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  failTimes(balancer, 0, 2, kStart);
  balancer.report(0, true, kStart);
  failTimes(balancer, 0, 2, kStart);
  EXPECT_FALSE(balancer.ejected(0, kStart));
  balancer.report(0, false, kStart);
  EXPECT_TRUE(balancer.ejected(0, kStart));
}

TEST(PoolBalancerTest, EjectionExpiresAfterBaseTime) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  failTimes(balancer, 0, 3, kStart);
  EXPECT_TRUE(balancer.ejected(0, kStart + seconds(10) - std::chrono::milliseconds(1)));
  EXPECT_FALSE(balancer.ejected(0, kStart + seconds(10)));
  EXPECT_TRUE(balancer.usable(0, kStart + seconds(10)));
}

TEST(PoolBalancerTest, EjectionDoublesOnEachRepeatUpToMax) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  Clock::time_point now = kStart;
  for (int expected : {10, 20, 35, 35}) {
    failTimes(balancer, 0, 3, now);
    EXPECT_TRUE(balancer.ejected(0, now + seconds(expected) - std::chrono::milliseconds(1))) << expected;
    EXPECT_FALSE(balancer.ejected(0, now + seconds(expected))) << expected;
    now += seconds(expected);  // fails again as soon as it is back
  }
}

TEST(PoolBalancerTest, QuickSuccessAfterEjectionKeepsBackoff) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  failTimes(balancer, 0, 3, kStart);
  Clock::time_point back = kStart + seconds(10);
  balancer.report(0, true, back + seconds(5));  // in service 5s, less than the 10s it was out
  failTimes(balancer, 0, 3, back + seconds(6));
  EXPECT_TRUE(balancer.ejected(0, back + seconds(6) + seconds(19)));
  EXPECT_FALSE(balancer.ejected(0, back + seconds(6) + seconds(20)));
}

TEST(PoolBalancerTest, EjectionBackoffResetsAfterStayingInServiceAsLongAsLastEjection) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  failTimes(balancer, 0, 3, kStart);
  Clock::time_point back = kStart + seconds(10);
  balancer.report(0, true, back + seconds(10));
  failTimes(balancer, 0, 3, back + seconds(11));
  EXPECT_FALSE(balancer.ejected(0, back + seconds(11) + seconds(10)));  // base again, not 20s
}

TEST(PoolBalancerTest, IgnoresOutcomesReportedWhileEjected) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  failTimes(balancer, 0, 3, kStart);
  failTimes(balancer, 0, 10, kStart + seconds(1));  // stragglers from requests sent before the ejection
  EXPECT_FALSE(balancer.ejected(0, kStart + seconds(10)));
  failTimes(balancer, 0, 2, kStart + seconds(10));
  EXPECT_FALSE(balancer.ejected(0, kStart + seconds(10)));
}

TEST(PoolBalancerTest, ZeroConsecutiveFailuresDisablesEjection) {
  Pool pool = outlierPool();
  pool.outlier.consecutiveFailures = 0;
  PoolBalancer balancer(std::make_shared<PoolShared>(pool));
  failTimes(balancer, 0, 100, kStart);
  EXPECT_FALSE(balancer.ejected(0, kStart));
}

TEST(PoolBalancerTest, IgnoresOutOfRangeOrigins) {
  PoolBalancer balancer(std::make_shared<PoolShared>(outlierPool()));
  balancer.started(PoolBalancer::kNoOrigin);
  balancer.finished(7);
  balancer.report(-1, false, kStart);
  balancer.report(2, false, kStart);
  EXPECT_FALSE(balancer.ejected(5, kStart));
  EXPECT_FALSE(balancer.usable(-1, kStart));
  EXPECT_EQ(balancer.outstanding(9), 0u);
}

// --- least request ---

TEST(PoolBalancerTest, StartedAndFinishedTrackOutstandingWithoutUnderflow) {
  PoolBalancer balancer(std::make_shared<PoolShared>(makePool(LbPolicy::kLeastRequest, {{"a:1"}})));
  balancer.started(0);
  balancer.started(0);
  EXPECT_EQ(balancer.outstanding(0), 2u);
  balancer.finished(0);
  balancer.finished(0);
  balancer.finished(0);
  EXPECT_EQ(balancer.outstanding(0), 0u);
}

TEST(PoolBalancerTest, LeastRequestPrefersOriginWithFewerOutstanding) {
  PoolBalancer balancer(std::make_shared<PoolShared>(makePool(LbPolicy::kLeastRequest, {{"a:1"}, {"b:1"}})));
  for (int i = 0; i < 10; ++i) balancer.started(0);
  EXPECT_EQ(countPicks(balancer, 1000, kStart), (std::vector<int>{0, 1000}));
}

TEST(PoolBalancerTest, LeastRequestNeverPicksTheMostLoadedOfSeveral) {
  PoolBalancer balancer(
      std::make_shared<PoolShared>(makePool(LbPolicy::kLeastRequest, {{"a:1"}, {"b:1"}, {"c:1"}, {"d:1"}})));
  for (int i = 0; i < 10; ++i) balancer.started(2);
  const std::vector<int> counts = countPicks(balancer, 3000, kStart);
  EXPECT_EQ(counts[2], 0);
  for (int origin : {0, 1, 3}) EXPECT_GT(counts[origin], 800) << origin;
}

TEST(PoolBalancerTest, LeastRequestSpreadsByWeightWhenIdle) {
  PoolBalancer balancer(
      std::make_shared<PoolShared>(makePool(LbPolicy::kLeastRequest, {{"a:1", 1}, {"b:1", 3}})));
  const std::vector<int> counts = countPicks(balancer, 4000, kStart);
  EXPECT_NEAR(counts[0], 1000, 150);
  EXPECT_NEAR(counts[1], 3000, 150);
}

TEST(PoolBalancerTest, LeastRequestKeepsOutstandingProportionalToWeight) {
  PoolBalancer balancer(
      std::make_shared<PoolShared>(makePool(LbPolicy::kLeastRequest, {{"a:1", 1}, {"b:1", 2}})));
  for (int i = 0; i < 300; ++i) balancer.started(balancer.pick("", kStart));
  EXPECT_NEAR(balancer.outstanding(0), 100, 2);
  EXPECT_NEAR(balancer.outstanding(1), 200, 2);
}

// --- consistent hash ---

std::vector<int> mapKeys(PoolBalancer& balancer, int keys, Clock::time_point now) {
  std::vector<int> owners;
  for (int i = 0; i < keys; ++i) owners.push_back(balancer.pick("client-" + std::to_string(i), now));
  return owners;
}

Pool hashPool() {
  Pool pool = makePool(LbPolicy::kConsistentHash,
                       {{"10.0.0.1:80"}, {"10.0.0.2:80"}, {"10.0.0.3:80"}, {"10.0.0.4:80"}, {"10.0.0.5:80"}});
  pool.outlier.consecutiveFailures = 1;
  return pool;
}

TEST(PoolBalancerTest, ConsistentHashMapsSameKeyToSameOriginOnEveryWorker) {
  auto shared = std::make_shared<PoolShared>(hashPool());
  PoolBalancer worker1(shared);
  PoolBalancer worker2(shared);
  const std::vector<int> first = mapKeys(worker1, 500, kStart);
  EXPECT_EQ(mapKeys(worker1, 500, kStart), first);
  EXPECT_EQ(mapKeys(worker2, 500, kStart), first);
}

TEST(PoolBalancerTest, ConsistentHashEjectionMovesOnlyTheEjectedOriginsKeys) {
  PoolBalancer balancer(std::make_shared<PoolShared>(hashPool()));
  const std::vector<int> before = mapKeys(balancer, 2000, kStart);
  balancer.report(2, false, kStart);
  ASSERT_TRUE(balancer.ejected(2, kStart));
  const std::vector<int> during = mapKeys(balancer, 2000, kStart);
  int moved = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_NE(during[i], 2);
    if (before[i] != 2) {
      EXPECT_EQ(during[i], before[i]) << i;
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 200);  // origin 2 did own about a fifth of the keys
  EXPECT_EQ(mapKeys(balancer, 2000, kStart + seconds(10)), before);  // back once the ejection ends
}

TEST(PoolBalancerTest, ConsistentHashKeepsKeysWhenAnOriginIsAdded) {
  PoolBalancer four(std::make_shared<PoolShared>(
      makePool(LbPolicy::kConsistentHash, {{"a:80"}, {"b:80"}, {"c:80"}, {"d:80"}})));
  PoolBalancer five(std::make_shared<PoolShared>(
      makePool(LbPolicy::kConsistentHash, {{"a:80"}, {"b:80"}, {"new:80"}, {"c:80"}, {"d:80"}})));
  const std::vector<int> before = mapKeys(four, 2000, kStart);
  const std::vector<int> after = mapKeys(five, 2000, kStart);
  int kept = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    const std::string& was = four.shared().config.origins[before[i]].address.text;
    const std::string& now = five.shared().config.origins[after[i]].address.text;
    if (now != "new:80") {
      EXPECT_EQ(now, was) << i;
      ++kept;
    }
  }
  EXPECT_GT(kept, 2000 * 7 / 10);
}

TEST(PoolBalancerTest, ConsistentHashSpreadsKeysRoughlyByWeight) {
  PoolBalancer balancer(std::make_shared<PoolShared>(
      makePool(LbPolicy::kConsistentHash, {{"10.0.0.1:80", 1}, {"10.0.0.2:80", 2}, {"10.0.0.3:80", 3}})));
  constexpr int kKeys = 60000;
  std::vector<int> counts(3, 0);
  for (int owner : mapKeys(balancer, kKeys, kStart)) ++counts[owner];
  EXPECT_NEAR(counts[0] / double{kKeys}, 1.0 / 6, 0.04);
  EXPECT_NEAR(counts[1] / double{kKeys}, 2.0 / 6, 0.05);
  EXPECT_NEAR(counts[2] / double{kKeys}, 3.0 / 6, 0.05);
}

TEST(PoolBalancerTest, ConsistentHashScalesRingForHeavyWeightsAndKeepsLightOriginsReachable) {
  Pool pool = makePool(LbPolicy::kConsistentHash, {{"heavy:80", 1000}, {"light:80", 1}});
  pool.outlier.consecutiveFailures = 1;
  PoolBalancer balancer(std::make_shared<PoolShared>(pool));
  std::vector<int> counts(2, 0);
  for (int owner : mapKeys(balancer, 5000, kStart)) ++counts[owner];
  EXPECT_GT(counts[0], 4900);
  balancer.report(0, false, kStart);
  EXPECT_EQ(balancer.pick("any", kStart), 1);
}

TEST(PoolBalancerTest, ConsistentHashFailsOverToNextPriorityGroup) {
  auto shared = std::make_shared<PoolShared>(
      makePool(LbPolicy::kConsistentHash, {{"a:80", 1, 0}, {"b:80", 1, 0}, {"c:80", 1, 1}, {"d:80", 1, 1}}));
  PoolBalancer balancer(shared);
  for (int owner : mapKeys(balancer, 200, kStart)) EXPECT_LT(owner, 2);
  setHealthy(*shared, 0, false);
  setHealthy(*shared, 1, false);
  std::vector<int> counts(4, 0);
  for (int owner : mapKeys(balancer, 200, kStart)) ++counts[owner];
  EXPECT_EQ(counts[0] + counts[1], 0);
  EXPECT_GT(counts[2], 0);
  EXPECT_GT(counts[3], 0);
}

// --- exclude (retries) ---

TEST(PoolBalancerTest, ExcludeAvoidsOriginWhenAnotherIsUsable) {
  for (LbPolicy lb : {LbPolicy::kRoundRobin, LbPolicy::kLeastRequest, LbPolicy::kConsistentHash}) {
    PoolBalancer balancer(std::make_shared<PoolShared>(makePool(lb, {{"a:1"}, {"b:1"}, {"c:1"}})));
    for (int i = 0; i < 100; ++i) {
      const std::string key = "k" + std::to_string(i);
      const int first = balancer.pick(key, kStart);
      const int retry = balancer.pick(key, kStart, first);
      EXPECT_NE(retry, first);
      EXPECT_NE(retry, PoolBalancer::kNoOrigin);
    }
  }
}

TEST(PoolBalancerTest, ExcludeMovesToNextGroupWhenItIsThePreferredGroupsOnlyUsableOrigin) {
  auto shared = std::make_shared<PoolShared>(
      makePool(LbPolicy::kRoundRobin, {{"a:1", 1, 0}, {"b:1", 1, 0}, {"backup:1", 1, 1}}));
  PoolBalancer balancer(shared);
  setHealthy(*shared, 1, false);
  EXPECT_EQ(balancer.pick("", kStart, 0), 2);
}

TEST(PoolBalancerTest, ExcludeIsReturnedWhenItIsTheOnlyUsableOrigin) {
  auto shared = std::make_shared<PoolShared>(makePool(LbPolicy::kRoundRobin, {{"a:1"}, {"b:1", 1, 1}}));
  PoolBalancer balancer(shared);
  setHealthy(*shared, 1, false);
  EXPECT_EQ(balancer.pick("", kStart, 0), 0);
}

}  // namespace
}  // namespace bulwark::http
