#include "shield/rate_limiter.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/config.h"
#include "core/hash.h"

namespace bulwark::shield {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kMaxChargeAheadNs = 10 * kNanosPerSecond;

// Key hashes are never 0, which marks an empty slot.
uint64_t normalise(uint64_t key) noexcept { return key == 0 ? 1 : key; }

int64_t saturatingAdd(int64_t a, int64_t b) noexcept {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return std::numeric_limits<int64_t>::max();
  return out;
}

int64_t saturatingMul(int64_t a, int64_t b) noexcept {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::numeric_limits<int64_t>::max();
  return out;
}

}  // namespace

int64_t RateSpec::intervalNs() const noexcept {
  if (!(perSecond > 0)) return std::numeric_limits<int64_t>::max() / 4;
  double ns = static_cast<double>(kNanosPerSecond) / perSecond;
  if (ns < 1) return 1;
  if (ns > static_cast<double>(std::numeric_limits<int64_t>::max() / 4)) {
    return std::numeric_limits<int64_t>::max() / 4;
  }
  return static_cast<int64_t>(ns);
}

int64_t RateSpec::toleranceNs() const noexcept {
  return saturatingMul(intervalNs(), std::max<int64_t>(burst, 1));
}

bool parseRate(std::string_view text, double& perSecond) { return bulwark::parseRate(text, perSecond); }

RateLimiter::RateLimiter(std::size_t capacity) {
  std::size_t n = kProbeWindow;
  while (n < capacity && n < (std::size_t{1} << 40)) n <<= 1;
  slots_ = std::make_unique<Slot[]>(n);
  mask_ = n - 1;
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Slot* RateLimiter::find(uint64_t key, int64_t nowNs) noexcept {
  const std::size_t home = static_cast<std::size_t>(key) & mask_;
  // A key is always found before the first empty slot of its window: slots are never emptied, and a key is
  // only put in a non-empty (stale) slot when the whole window is full.
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    Slot& s = slots_[(home + i) & mask_];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) return &s;
    if (k == 0) {
      uint64_t expected = 0;
      if (s.key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
        used_.fetch_add(1, std::memory_order_relaxed);
        return &s;  // its TAT is 0: a full bucket
      }
      if (expected == key) return &s;  // another worker claimed it for the same key
    }
  }
  // Window full: take over the slot whose bucket has been full the longest, if any is full at all. Two
  // workers racing for the same new key pick the same victim (same scan, same minimum).
  Slot* victim = nullptr;
  int64_t oldest = nowNs;
  uint64_t victimKey = 0;
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    Slot& s = slots_[(home + i) & mask_];
    int64_t tat = s.tat.load(std::memory_order_relaxed);
    if (tat <= oldest) {
      oldest = tat;
      victim = &s;
      victimKey = s.key.load(std::memory_order_acquire);
    }
  }
  if (victim == nullptr) return nullptr;
  uint64_t expected = victimKey;
  if (victim->key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
    evictions_.fetch_add(1, std::memory_order_relaxed);
    // The old key's TAT is <= now, which reads as a full bucket for the new key too. A request of the old
    // key that raced with the takeover may still move it forward once: at most one request is charged to
    // the wrong key, and only when the table is full.
    return victim;
  }
  return expected == key ? victim : nullptr;
}

RateDecision RateLimiter::admit(uint64_t keyHash, const RateSpec& spec, int64_t nowNs) noexcept {
  const uint64_t key = normalise(keyHash);
  Slot* s = find(key, nowNs);
  if (s == nullptr) {
    overflows_.fetch_add(1, std::memory_order_relaxed);
    return {true, 0};
  }
  const int64_t interval = spec.interval != 0 ? spec.interval : spec.intervalNs();
  const int64_t tolerance = spec.interval != 0 ? spec.tolerance : spec.toleranceNs();
  int64_t tat = s->tat.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t next = saturatingAdd(std::max(tat, nowNs), interval);
    if (next - nowNs > tolerance) {
      // Refused: one request fits again once the TAT is within the tolerance of the clock.
      const int64_t waitNs = next - nowNs - tolerance;
      int64_t seconds = (waitNs + kNanosPerSecond - 1) / kNanosPerSecond;
      seconds = std::clamp<int64_t>(seconds, 1, std::numeric_limits<uint32_t>::max());
      return {false, static_cast<uint32_t>(seconds)};
    }
    if (s->tat.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return {true, 0};
    // `tat` now holds the value another worker wrote; decide again against it.
  }
}

void RateLimiter::charge(uint64_t keyHash, const RateSpec& spec, int64_t nowNs, uint64_t count) noexcept {
  if (count == 0) return;
  const uint64_t key = normalise(keyHash);
  Slot* s = find(key, nowNs);
  if (s == nullptr) {
    overflows_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int64_t interval = spec.intervalNs();
  const int64_t tolerance = spec.toleranceNs();
  const int64_t cost = saturatingMul(
      interval, static_cast<int64_t>(std::min<uint64_t>(count, std::numeric_limits<int32_t>::max())));
  // Other nodes' usage is a debt beyond an empty bucket (that is how the combined rate is enforced); the
  // cap only keeps a wild count from locking a key out for longer than kMaxChargeAheadNs.
  const int64_t cap = saturatingAdd(saturatingAdd(nowNs, tolerance), kMaxChargeAheadNs);
  int64_t tat = s->tat.load(std::memory_order_relaxed);
  for (;;) {
    int64_t next = std::min(saturatingAdd(std::max(tat, nowNs), cost), cap);
    if (next <= tat) return;  // already at the cap
    if (s->tat.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return;
  }
}

RateLimiterStats RateLimiter::stats() const noexcept {
  return {used_.load(std::memory_order_relaxed), evictions_.load(std::memory_order_relaxed),
          overflows_.load(std::memory_order_relaxed)};
}

namespace {

// One 8-byte little-endian word of `p` (whatever the host's byte order: the hash is a wire format).
uint64_t loadWord(const char* p, std::size_t n) noexcept {
  uint64_t w = 0;
  for (std::size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return w;
}

// Absorbs `bytes` a word at a time (multiply, xor-shift), then their length, so that ("ab","c") and
// ("a","bc") differ.
uint64_t absorb(uint64_t h, std::string_view bytes) noexcept {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&w, p, 8);
    } else {
      w = loadWord(p, 8);
    }
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h = (h ^ loadWord(p, n)) * kMul;
  h ^= h >> 29;
  h = (h ^ bytes.size()) * kMul;
  return h ^ (h >> 32);
}

}  // namespace

uint64_t rateKeyPrefix(std::string_view ruleName) noexcept { return absorb(0x243f6a8885a308d3ull, ruleName); }

uint64_t rateKeyDigest(std::string_view keyBytes) noexcept { return absorb(0x13198a2e03707344ull, keyBytes); }

uint64_t rateKeyCombine(uint64_t prefix, uint64_t digest) noexcept {
  // The low bits pick the home slot, so every input bit must reach them.
  return normalise(mix64(prefix ^ digest));
}

uint64_t rateKeyHash(std::string_view ruleName, std::string_view keyBytes) noexcept {
  return rateKeyCombine(rateKeyPrefix(ruleName), rateKeyDigest(keyBytes));
}

}  // namespace bulwark::shield
