// Origin pools: which origin serves the next request.
//
// Two layers, following the share-nothing rule:
//   - PoolShared: built once per config snapshot, immutable but for the per-origin health flags that the
//     health checker (control thread) writes and workers read with relaxed atomics. No lock anywhere.
//   - PoolBalancer: one per worker per snapshot, owned and used by that worker's thread only. It holds the
//     load-balancing state (smooth weighted round robin counters, outstanding request counts, the
//     consistent-hash ring) and the passive outlier-ejection state.
// pick() chooses among the origins of the highest-priority group (lowest `priority` number) that has at
// least one usable origin (healthy per the checker and not ejected); if none is usable anywhere it returns
// kNoOrigin (the proxy answers 503).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"

namespace bulwark::http {

using Clock = std::chrono::steady_clock;

// Health of one origin as seen by the active health checker. Written only by the checker thread.
struct OriginHealth {
  std::atomic<bool> healthy{true};        // starts healthy so traffic flows before the first check
  std::atomic<uint32_t> consecutiveOk{0};
  std::atomic<uint32_t> consecutiveFail{0};
};

struct PoolShared {
  explicit PoolShared(const Pool& cfg);
  Pool config;                                         // copy of the pool's config
  std::vector<std::unique_ptr<OriginHealth>> health;   // index = origin index in config.origins
};

class PoolBalancer {
 public:
  static constexpr int kNoOrigin = -1;

  explicit PoolBalancer(std::shared_ptr<const PoolShared> shared);

  // Chooses an origin for a request. `hashKey` is the client IP or header value (consistent_hash only).
  // `exclude` is an origin to avoid if any other is usable (retry on another origin); -1 for none.
  int pick(std::string_view hashKey, Clock::time_point now, int exclude = -1);

  // Request accounting for least_request: call started() when a request is sent to `origin`, finished()
  // when it completes (whatever the outcome).
  void started(int origin) noexcept;
  void finished(int origin) noexcept;

  // Passive outlier detection: report each outcome. `ok` = a response with status < 500;
  // failure = 5xx response, connect failure or reset. After `consecutiveFailures` failures in a row the
  // origin is ejected for baseEjection * 2^(ejections-1) (capped at maxEjection). Outcomes reported while the
  // origin is ejected are ignored (they belong to requests sent before the ejection). `ejections` resets to
  // 0 on the first success reported at least one ejection-length (the last one's) after that ejection ended,
  // so an origin that has stayed in service that long starts again from baseEjection.
  void report(int origin, bool ok, Clock::time_point now) noexcept;

  bool ejected(int origin, Clock::time_point now) const noexcept;
  bool usable(int origin, Clock::time_point now) const noexcept;  // healthy and not ejected
  const PoolShared& shared() const noexcept { return *shared_; }
  uint32_t outstanding(int origin) const noexcept;

 private:
  struct OriginState {
    int64_t currentWeight = 0;  // smooth weighted round robin
    uint32_t outstanding = 0;
    uint32_t consecutiveFailures = 0;
    uint32_t ejections = 0;            // ejections so far (drives the backoff); see report() for decay
    Clock::time_point ejectedUntil{};  // ejected while now < ejectedUntil
  };
  // A priority group: origins order_[begin, end), all with the same `priority`.
  struct Group {
    uint32_t priority = 0;
    uint32_t begin = 0;
    uint32_t end = 0;
  };

  bool eligible(int origin, Clock::time_point now, int exclude) const noexcept;
  const Group* chooseGroup(Clock::time_point now, int exclude) const noexcept;
  int pickRoundRobin(const Group& group, Clock::time_point now, int exclude) noexcept;
  int pickLeastRequest(const Group& group, Clock::time_point now, int exclude) noexcept;
  int pickConsistentHash(const Group& group, std::string_view hashKey, Clock::time_point now,
                         int exclude) const noexcept;
  Millis ejectionDuration(uint32_t ejections) const noexcept;
  uint64_t nextRandom() noexcept;

  std::shared_ptr<const PoolShared> shared_;
  std::vector<OriginState> state_;
  std::vector<uint32_t> weights_;               // per origin, at least 1
  std::vector<int> order_;                      // origin indices sorted by (priority, index)
  std::vector<Group> groups_;                   // by ascending priority number
  std::vector<std::pair<uint64_t, int>> ring_;  // consistent hash ring: (point, origin), sorted
  uint64_t rng_;                                // xorshift state for power-of-two choices
};

}  // namespace bulwark::http
