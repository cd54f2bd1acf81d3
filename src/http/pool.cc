// Origin selection: priority groups, three load-balancing policies and passive outlier ejection.
//
// The data-plane entry points (pick, report, started, finished) never allocate and make no syscalls: the
// candidate set of a pick is never materialized, each policy instead walks the chosen group once or a few
// times. That keeps the cost O(origins in the group) per pick with no limit on the pool's size.
#include "http/pool.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <climits>
#include <numeric>
#include <utility>

#include "core/hash.h"

namespace bulwark::http {
namespace {

// Virtual points per unit of weight on the consistent-hash ring; enough for a share within ~10% of the
// weight for a weight-1 origin.
constexpr uint64_t kRingPointsPerWeight = 100;
// Upper bound on the ring (16 bytes a point, one ring per worker): above it every origin's point count is
// scaled down proportionally, keeping at least one point each.
constexpr uint64_t kMaxRingPoints = uint64_t{1} << 16;
// Ejections beyond this count no longer change the (already capped) duration; saturating avoids wrap.
constexpr uint32_t kMaxEjectionCount = 64;
// Guards the nanosecond steady clock against overflow when maxEjection is set absurdly high.
constexpr Millis kLongestEjection = std::chrono::hours(24 * 365);

// MurmurHash3's finaliser spreads FNV's weak low-entropy output over all 64 bits, so ring points are
// uniform. Kept rather than core's mix64: it decides which origin a key maps to, which must not change.
uint64_t ringMix(uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t hashBytes(std::string_view key) noexcept { return ringMix(fnv1a(kFnvOffset, key)); }

// Point `index` of an origin: hash of "ADDRESS#INDEX". Keyed by address, not position in the config, so
// adding or removing an origin on reload leaves the other origins' points, and their keys, where they were.
uint64_t ringPoint(std::string_view address, uint64_t index) noexcept {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, index);
  assert(ec == std::errc());
  uint64_t hash = fnv1a(kFnvOffset, address);
  hash = fnv1a(hash, "#");
  hash = fnv1a(hash, std::string_view(digits, static_cast<size_t>(end - digits)));
  return ringMix(hash);
}

}  // namespace

PoolShared::PoolShared(const Pool& cfg) : config(cfg) {
  health.reserve(config.origins.size());
  for (size_t i = 0; i < config.origins.size(); ++i) health.push_back(std::make_unique<OriginHealth>());
}

PoolBalancer::PoolBalancer(std::shared_ptr<const PoolShared> shared) : shared_(std::move(shared)) {
  const Pool& cfg = shared_->config;
  const size_t count = cfg.origins.size();
  assert(shared_->health.size() == count);
  assert(count <= static_cast<size_t>(INT_MAX));

  state_.resize(count);
  weights_.reserve(count);
  // The config rejects weights outside 1..1000; a zero here (hand-built Pool) counts as 1 rather than
  // silently starving the origin.
  for (const Origin& origin : cfg.origins) weights_.push_back(std::max<uint32_t>(origin.weight, 1));

  order_.resize(count);
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](int a, int b) { return cfg.origins[a].priority < cfg.origins[b].priority; });
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t priority = cfg.origins[order_[i]].priority;
    if (groups_.empty() || groups_.back().priority != priority) groups_.push_back({priority, i, i});
    groups_.back().end = i + 1;
  }

  // Per-instance seed without a syscall: workers built from the same snapshot get distinct sequences.
  static std::atomic<uint64_t> instances{0};
  const uint64_t instance = instances.fetch_add(1, std::memory_order_relaxed);
  rng_ = ringMix(hashBytes(cfg.name) ^ ringMix(instance + 0x9e3779b97f4a7c15ULL));
  if (rng_ == 0) rng_ = 0x9e3779b97f4a7c15ULL;  // xorshift is stuck at zero

  if (cfg.lb == LbPolicy::kConsistentHash && count > 0) {
    const uint64_t totalWeight = std::accumulate(weights_.begin(), weights_.end(), uint64_t{0});
    const bool scaleDown = totalWeight * kRingPointsPerWeight > kMaxRingPoints;
    for (size_t i = 0; i < count; ++i) {
      const uint64_t points = scaleDown ? std::max<uint64_t>(1, weights_[i] * kMaxRingPoints / totalWeight)
                                        : weights_[i] * kRingPointsPerWeight;
      for (uint64_t p = 0; p < points; ++p) {
        ring_.emplace_back(ringPoint(cfg.origins[i].address.text, p), static_cast<int>(i));
      }
    }
    std::sort(ring_.begin(), ring_.end());
  }
}

int PoolBalancer::pick(std::string_view hashKey, Clock::time_point now, int exclude) {
  const Group* group = chooseGroup(now, exclude);
  // No origin but `exclude` is usable: a retry on the same origin beats no retry.
  if (group == nullptr) return usable(exclude, now) ? exclude : kNoOrigin;
  switch (shared_->config.lb) {
    case LbPolicy::kRoundRobin:
      return pickRoundRobin(*group, now, exclude);
    case LbPolicy::kLeastRequest:
      return pickLeastRequest(*group, now, exclude);
    case LbPolicy::kConsistentHash:
      return pickConsistentHash(*group, hashKey, now, exclude);
  }
  return kNoOrigin;
}

bool PoolBalancer::eligible(int origin, Clock::time_point now, int exclude) const noexcept {
  return origin != exclude && usable(origin, now);
}

const PoolBalancer::Group* PoolBalancer::chooseGroup(Clock::time_point now, int exclude) const noexcept {
  for (const Group& group : groups_) {
    for (uint32_t i = group.begin; i < group.end; ++i) {
      if (eligible(order_[i], now, exclude)) return &group;
    }
  }
  return nullptr;
}

// Smooth weighted round robin: every candidate gains its weight, the richest is picked and pays the total.
// Over any sum-of-weights consecutive picks of a stable set each origin is chosen exactly `weight` times,
// interleaved rather than in bursts.
int PoolBalancer::pickRoundRobin(const Group& group, Clock::time_point now, int exclude) noexcept {
  int best = kNoOrigin;
  int64_t total = 0;
  for (uint32_t i = group.begin; i < group.end; ++i) {
    const int origin = order_[i];
    if (!eligible(origin, now, exclude)) continue;
    state_[origin].currentWeight += weights_[origin];
    total += weights_[origin];
    if (best == kNoOrigin || state_[origin].currentWeight > state_[best].currentWeight) best = origin;
  }
  assert(best != kNoOrigin);  // chooseGroup() returned a group with an eligible origin
  state_[best].currentWeight -= total;
  return best;
}

// Power of two choices: two distinct candidates drawn with probability proportional to weight, the one
// with fewer outstanding requests per unit of weight wins (ties go to the first draw). With no load this
// spreads traffic by weight; under load it keeps outstanding/weight level across origins.
int PoolBalancer::pickLeastRequest(const Group& group, Clock::time_point now, int exclude) noexcept {
  uint64_t totalWeight = 0;
  int candidates = 0;
  int only = kNoOrigin;
  for (uint32_t i = group.begin; i < group.end; ++i) {
    const int origin = order_[i];
    if (!eligible(origin, now, exclude)) continue;
    totalWeight += weights_[origin];
    ++candidates;
    only = origin;
  }
  assert(candidates > 0);
  if (candidates == 1) return only;

  // Draws the candidate at weighted position `target`, skipping `skip`.
  auto draw = [&](uint64_t target, int skip) {
    for (uint32_t i = group.begin; i < group.end; ++i) {
      const int origin = order_[i];
      if (origin == skip || !eligible(origin, now, exclude)) continue;
      if (target < weights_[origin]) return origin;
      target -= weights_[origin];
    }
    return kNoOrigin;
  };
  const int first = draw(nextRandom() % totalWeight, kNoOrigin);
  const int second = draw(nextRandom() % (totalWeight - weights_[first]), first);
  assert(first != kNoOrigin && second != kNoOrigin);

  // a/wa < b/wb without division; both factors are below 2^32, so the products fit.
  const uint64_t firstLoad = uint64_t{state_[first].outstanding} * weights_[second];
  const uint64_t secondLoad = uint64_t{state_[second].outstanding} * weights_[first];
  return secondLoad < firstLoad ? second : first;
}

// Walks clockwise from the key's point to the first point of an eligible origin of the chosen group. An
// origin becoming unusable therefore moves only the keys that landed on it; the others stay put.
int PoolBalancer::pickConsistentHash(const Group& group, std::string_view hashKey, Clock::time_point now,
                                     int exclude) const noexcept {
  const size_t size = ring_.size();
  if (size == 0) return kNoOrigin;
  const uint64_t point = hashBytes(hashKey);
  auto before = [](const std::pair<uint64_t, int>& entry, uint64_t value) { return entry.first < value; };
  size_t index =
      static_cast<size_t>(std::lower_bound(ring_.begin(), ring_.end(), point, before) - ring_.begin());
  const auto& origins = shared_->config.origins;
  for (size_t step = 0; step < size; ++step, ++index) {
    if (index == size) index = 0;
    const int origin = ring_[index].second;
    if (origins[origin].priority == group.priority && eligible(origin, now, exclude)) return origin;
  }
  return kNoOrigin;  // unreachable: every origin has at least one point
}

void PoolBalancer::started(int origin) noexcept {
  if (origin < 0 || static_cast<size_t>(origin) >= state_.size()) return;
  ++state_[origin].outstanding;
}

void PoolBalancer::finished(int origin) noexcept {
  if (origin < 0 || static_cast<size_t>(origin) >= state_.size()) return;
  if (state_[origin].outstanding > 0) --state_[origin].outstanding;
}

Millis PoolBalancer::ejectionDuration(uint32_t ejections) const noexcept {
  const OutlierDetection& outlier = shared_->config.outlier;
  const Millis cap = std::clamp(outlier.maxEjection, Millis{0}, kLongestEjection);
  Millis duration = std::clamp(outlier.baseEjection, Millis{0}, cap);
  for (uint32_t i = 1; i < ejections && duration < cap; ++i) duration = std::min(duration * 2, cap);
  return duration;
}

void PoolBalancer::report(int origin, bool ok, Clock::time_point now) noexcept {
  if (origin < 0 || static_cast<size_t>(origin) >= state_.size()) return;
  OriginState& state = state_[origin];
  if (now < state.ejectedUntil) return;  // see the header: outcomes during an ejection are ignored
  if (ok) {
    state.consecutiveFailures = 0;
    if (state.ejections > 0 && now - state.ejectedUntil >= ejectionDuration(state.ejections)) {
      state.ejections = 0;
    }
    return;
  }
  const uint32_t threshold = shared_->config.outlier.consecutiveFailures;
  if (threshold == 0) return;  // outlier detection disabled
  if (++state.consecutiveFailures < threshold) return;
  state.consecutiveFailures = 0;
  if (state.ejections < kMaxEjectionCount) ++state.ejections;
  state.ejectedUntil = now + ejectionDuration(state.ejections);
}

bool PoolBalancer::ejected(int origin, Clock::time_point now) const noexcept {
  if (origin < 0 || static_cast<size_t>(origin) >= state_.size()) return false;
  return now < state_[origin].ejectedUntil;
}

bool PoolBalancer::usable(int origin, Clock::time_point now) const noexcept {
  if (origin < 0 || static_cast<size_t>(origin) >= state_.size()) return false;
  return shared_->health[origin]->healthy.load(std::memory_order_relaxed) && !ejected(origin, now);
}

uint32_t PoolBalancer::outstanding(int origin) const noexcept {
  if (origin < 0 || static_cast<size_t>(origin) >= state_.size()) return 0;
  return state_[origin].outstanding;
}

// xorshift64* (Vigna): tiny state, no syscalls, plenty for choosing between two origins.
uint64_t PoolBalancer::nextRandom() noexcept {
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545f4914f6cdd1dULL;
}

}  // namespace bulwark::http
