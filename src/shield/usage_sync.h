// UsageSync: several Bulwark nodes enforce one rate limit together by sharing, through Redis, how many
// requests each node admitted per key (docs/shield-redis.md has the design and its limits).
//
// Each node keeps deciding locally (RateLimiter::admit(), no I/O on the request path). A worker that
// admits a request calls record(), which only pushes 24 bytes into that worker's own bounded lock-free
// ring. The sync thread (one per UsageSync, with its own EventLoop and RedisClient) drains the rings,
// sums per key, and every `syncInterval` sends one pipelined batch: `INCRBY <prefix><hex key> <n>` and
// `PEXPIRE ... <keyTtl>` per key. From each returned total it knows how many requests the OTHER nodes
// admitted since its previous look (total - previous total - own n) and charges them to the local limiter,
// so the local bucket drains at the combined rate.
//
// Redis down (refused, killed, stopped answering): healthy() turns false, one line is logged and the
// transition counted; records keep being accepted and dropped at the sync thread, and the limiter keeps
// enforcing the local limit alone (fail-open: each node admits up to the full limit). The client
// reconnects by itself, and healthy() is true again as soon as it is connected (logged once).
//
// Thread-safety: record() from worker threads, each with its own `worker` index (one producer per ring);
// healthy() and stats() from any thread; start()/stop() from the owning (control) thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "shield/rate_limiter.h"
#include "shield/redis_client.h"

namespace bulwark::shield {

struct UsageSyncOptions {
  RedisClientOptions redis;
  unsigned workers = 1;                        // rings, one per worker thread calling record()
  std::size_t ringCapacity = 16384;            // records per worker ring (rounded up to a power of two)
  std::chrono::milliseconds syncInterval{50};  // one batch to Redis per interval
  std::chrono::milliseconds keyTtl{10000};     // PEXPIRE of a key's counter after its last increment
  // A key this node admitted within this window is read back (GET) in every batch even when it had no
  // request here meanwhile, so that usage elsewhere keeps being charged while the client is still around.
  std::chrono::milliseconds followFor{2000};
  std::size_t maxKeysPerBatch = 65536;  // distinct keys aggregated per batch; more are dropped
  std::size_t maxKnownKeys = 262144;    // per-key totals remembered between batches
  std::string keyPrefix = "bulwark:rl:";
  // The clock admit() is called with (ns); charges are made at clock(). Default: steady_clock.
  std::function<int64_t()> clock;
  // Where the once-per-transition messages go (sync thread). Default: logWarn/logInfo.
  std::function<void(std::string_view)> log;
};

// Counters for /metrics (a snapshot of relaxed atomics).
struct UsageSyncStats {
  uint64_t batches = 0;          // batches sent to Redis
  uint64_t keysSynced = 0;       // per-key totals read back from Redis (INCRBY or GET)
  uint64_t errors = 0;           // commands that failed: timeout, connection lost, error reply
  uint64_t ringDrops = 0;        // records dropped because a worker's ring was full (or a bad worker index)
  uint64_t keyDrops = 0;         // records dropped because a batch already held maxKeysPerBatch keys
  uint64_t localOnly = 0;        // requests recorded while Redis was unusable (not shared)
  uint64_t chargedRequests = 0;  // requests admitted by other nodes, charged to the local limiter
  uint64_t redisUp = 0;          // transitions to healthy
  uint64_t redisDown = 0;        // transitions to unhealthy (the first failure to connect counts)
};

class UsageSync {
 public:
  // What is done with other nodes' usage: `count` requests of `keyHash` as if admitted at nowNs.
  using ChargeFn = std::function<void(uint64_t keyHash, const RateSpec& spec, int64_t nowNs, uint64_t count)>;

  UsageSync(UsageSyncOptions options, ChargeFn charge);
  // Any limiter with RateLimiter's charge() (kept by reference: it must outlive this object).
  template <class Limiter>
  UsageSync(UsageSyncOptions options, Limiter& limiter)
      : UsageSync(std::move(options), [&limiter](uint64_t key, const RateSpec& spec, int64_t now,
                                                 uint64_t n) { limiter.charge(key, spec, now, n); }) {}
  ~UsageSync();  // stop()
  UsageSync(const UsageSync&) = delete;
  UsageSync& operator=(const UsageSync&) = delete;

  // Starts the sync thread (connects in the background; returns at once).
  void start();
  // Stops and joins the sync thread. Records after stop() are not sent (they fill the ring, then count as
  // ringDrops).
  void stop();

  // Hot path, worker `worker` only: `count` requests of `keyHash` were admitted under `spec` (call it for
  // admitted requests only: refused ones consumed nothing). Never blocks, never allocates; a full ring drops
  // the record and counts it.
  void record(unsigned worker, uint64_t keyHash, const RateSpec& spec, uint32_t count = 1) noexcept;

  // True while connected to Redis (usage is shared); false before the first connect and while it is down.
  bool healthy() const noexcept { return healthy_.load(std::memory_order_relaxed); }
  UsageSyncStats stats() const noexcept;

  // The Redis key of a rate key hash: prefix + 16 lower-case hex digits.
  static std::string redisKey(std::string_view prefix, uint64_t keyHash);

 private:
  struct Record {
    uint64_t keyHash;
    double perSecond;
    uint32_t burst;
    uint32_t count;
  };
  // Single-producer (one worker), single-consumer (the sync thread) ring.
  struct alignas(64) Ring {
    explicit Ring(std::size_t capacity);
    std::unique_ptr<Record[]> slots;
    std::size_t mask;
    alignas(64) std::atomic<uint64_t> head{0};  // next to read; written by the sync thread
    alignas(64) std::atomic<uint64_t> tail{0};  // next to write; written by the worker
    uint64_t headSeen = 0;                      // the worker's last look at head (its own cache line)
    std::atomic<uint64_t> drops{0};
  };
  struct Pending {
    RateSpec spec;
    uint64_t count = 0;
  };
  struct Known {
    int64_t total = 0;      // the key's total in Redis at our last look
    int64_t seenNs = 0;     // when
    int64_t lastOwnNs = 0;  // when this node last admitted a request of it
    RateSpec spec;
  };

  void tick();
  void drainRings();
  void sendBatch();
  void onTotal(uint64_t keyHash, const RateSpec& spec, uint64_t own, const RedisResult& result);
  void updateHealth();
  void say(bool problem, std::string_view message);
  void pruneKnown(int64_t nowNs);
  int64_t now() const;

  const UsageSyncOptions options_;
  const ChargeFn charge_;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::atomic<bool> healthy_{false};

  // Sync thread only.
  EventLoop loop_;
  RedisClient client_;
  Timer tickTimer_;
  std::thread thread_;
  std::unordered_map<uint64_t, Pending> pending_;  // aggregated since the last batch
  std::unordered_map<uint64_t, Known> known_;
  std::size_t outstanding_ = 0;  // INCRBY/GET replies of the current batch not yet seen
  enum class Reported { kNothing, kUp, kDown } reported_ = Reported::kNothing;
  SteadyClock::time_point nextSend_{};
  int64_t nextPruneNs_ = 0;
  int64_t lastCommandNs_ = 0;  // when the last batch or heartbeat went out

  struct Counters {
    std::atomic<uint64_t> batches{0}, keysSynced{0}, errors{0}, keyDrops{0}, localOnly{0}, chargedRequests{0},
        redisUp{0}, redisDown{0};
  } counters_;
};

}  // namespace bulwark::shield
