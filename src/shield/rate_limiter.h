// Rate limits: one table of GCRA states shared by every worker, updated lock-free.
//
// GCRA (the generic cell rate algorithm) keeps one number per key, the theoretical arrival time (TAT) of the
// next request. A request at `now` is admitted when max(TAT, now) + interval - now <= burst * interval, and
// then TAT becomes max(TAT, now) + interval. That is a token bucket of `burst` tokens refilled at `rate`, in
// one 64-bit word that a compare-and-swap updates: workers on different cores limit one client exactly
// (no per-worker shards to split the rate between) without a lock.
//
// The table has a fixed number of slots (bounded memory whatever the attacker sends). A key lives in one of
// kProbeWindow slots after its home slot. When all of them hold other keys, the slot whose TAT lies furthest
// in the past is taken over if that TAT is <= now (its bucket is full again, so forgetting it loses nothing);
// otherwise the request is decided without a table entry (admitted: fail-open, counted as `overflows`).
//
// Thread-safety: every method may be called from any thread at any time; nothing blocks or allocates after
// construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace bulwark::shield {

// `perSecond` requests per second on average, `burst` at once (>= 1).
struct RateSpec {
  double perSecond = 1.0;
  uint32_t burst = 1;
  // Derived once by prepare() for specs that live as long as a configuration (the request path then does no
  // floating-point division); 0 = not prepared, computed on each use.
  int64_t interval = 0;
  int64_t tolerance = 0;
  // Nanoseconds between requests at the sustained rate (derived: 1e9 / perSecond, at least 1).
  int64_t intervalNs() const noexcept;
  // interval * burst, saturating: how far ahead of now the theoretical arrival time may run.
  int64_t toleranceNs() const noexcept;
  void prepare() noexcept {
    interval = intervalNs();
    tolerance = toleranceNs();
  }
};

// "50/s", "2000/min", "10/h" (also "/m", "/sec", "/second", "/minute", "/hour"); the count is a positive
// integer or decimal ("0.5/s"). False on anything else, including a rate of zero.
bool parseRate(std::string_view text, double& perSecond);

struct RateDecision {
  bool allowed = true;
  uint32_t retryAfterSeconds = 0;  // when refused: seconds until one request would be admitted (>= 1)
};

// Counters of the table's own behaviour (for /metrics); relaxed, approximate under contention.
struct RateLimiterStats {
  uint64_t keys = 0;       // slots in use
  uint64_t evictions = 0;  // stale keys replaced by new ones
  uint64_t overflows = 0;  // decisions taken without an entry (every slot of the window busy and fresh)
};

class RateLimiter {
 public:
  // `capacity` slots (rounded up to a power of two, at least kProbeWindow); 16 bytes each.
  explicit RateLimiter(std::size_t capacity);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // One request of `keyHash` at `nowNs` (any monotonic clock, the same for every call).
  RateDecision admit(uint64_t keyHash, const RateSpec& spec, int64_t nowNs) noexcept;
  // Usage seen on other nodes (Redis sync): as if `count` requests had been admitted at nowNs, without a
  // limit check, so the bucket may go into debt (the combined rate of all nodes is what is limited). The
  // debt is capped at 10 s beyond an empty bucket, so a wild count cannot lock a key out for long.
  void charge(uint64_t keyHash, const RateSpec& spec, int64_t nowNs, uint64_t count) noexcept;

  std::size_t capacity() const noexcept { return mask_ + 1; }
  RateLimiterStats stats() const noexcept;

  static constexpr std::size_t kProbeWindow = 8;

 private:
  struct alignas(16) Slot {
    std::atomic<uint64_t> key{0};  // 0 = empty (key hashes are never 0: see normalise())
    std::atomic<int64_t> tat{0};   // theoretical arrival time, ns
  };
  // The slot holding `key`, claiming one (empty, or stale at nowNs) if needed; nullptr if none can be had.
  Slot* find(uint64_t key, int64_t nowNs) noexcept;

  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> overflows_{0};
};

// The table key of (rule, key bytes). Fixed constants, no seed: every process on every node computes the
// same value, so nodes sharing counters through Redis agree on keys. Never 0. Do not change the algorithm
// (it is a wire format): the rule name and the key bytes are each absorbed 8 bytes at a time (little-endian
// words; xor, multiply by 0x9e3779b97f4a7c15, xor-shift by 29) followed by their length, from two different
// start values; the two results are xor-ed and put through the splitmix64 finaliser.
uint64_t rateKeyHash(std::string_view ruleName, std::string_view keyBytes) noexcept;
// The same in parts, for callers that key several rules by the same bytes:
// rateKeyHash(name, key) == rateKeyCombine(rateKeyPrefix(name), rateKeyDigest(key)).
uint64_t rateKeyPrefix(std::string_view ruleName) noexcept;
uint64_t rateKeyDigest(std::string_view keyBytes) noexcept;
uint64_t rateKeyCombine(uint64_t prefix, uint64_t digest) noexcept;

}  // namespace bulwark::shield
