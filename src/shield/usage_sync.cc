#include "shield/usage_sync.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "core/log.h"

namespace bulwark::shield {

namespace {

std::size_t roundUpPow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

std::string decimal(uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

constexpr int64_t kHeartbeatNs = 1'000'000'000;

int64_t steadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch()).count();
}

// The key's total from an INCRBY (integer) or a GET (decimal string, or nil once it expired); -1 if the
// reply is neither.
int64_t totalOf(const RedisResult& r) {
  if (r.isInteger()) return r.integer();
  if (!r.ok()) return -1;
  if (r.reply->type == REDIS_REPLY_NIL) return 0;
  const std::string_view text = r.text();
  int64_t v = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() ? v : -1;
}

}  // namespace

UsageSync::Ring::Ring(std::size_t capacity)
    : slots(new Record[roundUpPow2(std::max<std::size_t>(capacity, 2))]),
      mask(roundUpPow2(std::max<std::size_t>(capacity, 2)) - 1) {}

UsageSync::UsageSync(UsageSyncOptions options, ChargeFn charge)
    : options_(std::move(options)),
      charge_(std::move(charge)),
      client_(loop_, options_.redis),
      tickTimer_([this] { tick(); }) {
  rings_.reserve(options_.workers);
  for (unsigned i = 0; i < options_.workers; ++i)
    rings_.push_back(std::make_unique<Ring>(options_.ringCapacity));
  client_.setConnectionCallback([this](bool) { updateHealth(); });
}

UsageSync::~UsageSync() { stop(); }

void UsageSync::start() {
  if (thread_.joinable()) return;
  // Connecting (and a host name lookup) happens on the sync thread, never on the caller's.
  loop_.post([this] {
    client_.start();
    nextSend_ = loop_.now() + options_.syncInterval;
    loop_.arm(tickTimer_, std::chrono::milliseconds(0));
  });
  thread_ = std::thread([this] {
    loop_.run();
    loop_.runDeferred();
  });
}

void UsageSync::stop() {
  if (!thread_.joinable()) return;
  loop_.post([this] {
    tickTimer_.cancel();
    client_.stop();
    loop_.stop();
  });
  thread_.join();
  healthy_.store(false, std::memory_order_relaxed);
}

void UsageSync::record(unsigned worker, uint64_t keyHash, const RateSpec& spec, uint32_t count) noexcept {
  if (worker >= rings_.size()) {
    if (!rings_.empty()) rings_[0]->drops.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Ring& r = *rings_[worker];
  const uint64_t tail = r.tail.load(std::memory_order_relaxed);
  if (tail - r.headSeen > r.mask) {
    r.headSeen = r.head.load(std::memory_order_acquire);
    if (tail - r.headSeen > r.mask) {
      r.drops.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  r.slots[tail & r.mask] = Record{keyHash, spec.perSecond, spec.burst, count};
  r.tail.store(tail + 1, std::memory_order_release);
}

UsageSyncStats UsageSync::stats() const noexcept {
  UsageSyncStats s;
  s.batches = counters_.batches.load(std::memory_order_relaxed);
  s.keysSynced = counters_.keysSynced.load(std::memory_order_relaxed);
  s.errors = counters_.errors.load(std::memory_order_relaxed);
  for (const auto& r : rings_) s.ringDrops += r->drops.load(std::memory_order_relaxed);
  s.keyDrops = counters_.keyDrops.load(std::memory_order_relaxed);
  s.localOnly = counters_.localOnly.load(std::memory_order_relaxed);
  s.chargedRequests = counters_.chargedRequests.load(std::memory_order_relaxed);
  s.redisUp = counters_.redisUp.load(std::memory_order_relaxed);
  s.redisDown = counters_.redisDown.load(std::memory_order_relaxed);
  return s;
}

std::string UsageSync::redisKey(std::string_view prefix, uint64_t keyHash) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key(prefix);
  for (int shift = 60; shift >= 0; shift -= 4) key += kHex[(keyHash >> shift) & 0xF];
  return key;
}

int64_t UsageSync::now() const { return options_.clock ? options_.clock() : steadyNowNs(); }

void UsageSync::say(bool problem, std::string_view message) {
  if (options_.log) {
    options_.log(message);
  } else if (problem) {
    logWarn(message);
  } else {
    logInfo(message);
  }
}

void UsageSync::tick() {
  drainRings();
  updateHealth();
  if (loop_.now() >= nextSend_) {
    nextSend_ = loop_.now() + options_.syncInterval;
    sendBatch();
  }
  // Rings are drained four times per batch so that a burst fills them less.
  loop_.arm(tickTimer_, std::max(std::chrono::milliseconds(1), options_.syncInterval / 4));
}

void UsageSync::drainRings() {
  for (auto& ring : rings_) {
    Ring& r = *ring;
    const uint64_t head = r.head.load(std::memory_order_relaxed);
    const uint64_t tail = r.tail.load(std::memory_order_acquire);
    for (uint64_t i = head; i != tail; ++i) {
      const Record& rec = r.slots[i & r.mask];
      auto it = pending_.find(rec.keyHash);
      if (it == pending_.end()) {
        if (pending_.size() >= options_.maxKeysPerBatch) {
          counters_.keyDrops.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        it = pending_.emplace(rec.keyHash, Pending{RateSpec{rec.perSecond, rec.burst}, 0}).first;
      }
      it->second.count += rec.count;
    }
    r.head.store(tail, std::memory_order_release);
  }
}

void UsageSync::sendBatch() {
  if (outstanding_ > 0) return;  // the last batch is still out: keep aggregating
  if (!client_.connected()) {
    // Local limits only: what this node admitted meanwhile is not shared (it would be stale later).
    uint64_t n = 0;
    for (const auto& [key, p] : pending_) n += p.count;
    counters_.localOnly.fetch_add(n, std::memory_order_relaxed);
    pending_.clear();
    return;
  }
  const int64_t nowNs = now();
  const int64_t followNs = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.followFor).count();
  const std::string ttl = decimal(static_cast<uint64_t>(options_.keyTtl.count()));
  for (const auto& [keyHash, p] : pending_) {
    const std::string key = redisKey(options_.keyPrefix, keyHash);
    ++outstanding_;
    client_.command({"INCRBY", key, decimal(p.count)},
                    [this, keyHash = keyHash, spec = p.spec, own = p.count](const RedisResult& r) {
                      --outstanding_;
                      onTotal(keyHash, spec, own, r);
                    });
    client_.command({"PEXPIRE", key, ttl}, [this](const RedisResult& r) {
      if (!r.ok()) counters_.errors.fetch_add(1, std::memory_order_relaxed);
    });
    auto it = known_.find(keyHash);
    if (it != known_.end()) it->second.lastOwnNs = nowNs;
  }
  // Keys this node served recently but not in this interval: read their totals.
  std::size_t commands = pending_.size();
  for (const auto& [keyHash, k] : known_) {
    if (commands >= options_.maxKeysPerBatch) break;
    if (nowNs - k.lastOwnNs > followNs || pending_.count(keyHash) != 0) continue;
    ++commands;
    ++outstanding_;
    client_.command({"GET", redisKey(options_.keyPrefix, keyHash)},
                    [this, keyHash = keyHash, spec = k.spec](const RedisResult& r) {
                      --outstanding_;
                      onTotal(keyHash, spec, 0, r);
                    });
  }
  if (commands > 0) {
    counters_.batches.fetch_add(1, std::memory_order_relaxed);
    lastCommandNs_ = nowNs;
  } else if (nowNs - lastCommandNs_ >= kHeartbeatNs) {
    // Idle: a PING now and then, so that a Redis that stopped answering is noticed (command timeout)
    // before traffic needs it.
    lastCommandNs_ = nowNs;
    ++outstanding_;
    client_.command({"PING"}, [this](const RedisResult& r) {
      --outstanding_;
      if (!r.ok()) counters_.errors.fetch_add(1, std::memory_order_relaxed);
    });
  }
  pending_.clear();
}

void UsageSync::onTotal(uint64_t keyHash, const RateSpec& spec, uint64_t own, const RedisResult& result) {
  const int64_t value = totalOf(result);
  if (value < 0) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    if (result.status != RedisStatus::kOk && result.status != RedisStatus::kReplyError) {
      counters_.localOnly.fetch_add(own, std::memory_order_relaxed);
    }
    return;
  }
  counters_.keysSynced.fetch_add(1, std::memory_order_relaxed);
  const uint64_t total = static_cast<uint64_t>(value);
  const int64_t nowNs = now();
  // Others' usage of unknown age (a key new to this node, or not looked at for over two intervals) is
  // charged as at most one full bucket: it may be long drained, and charging all of it now would block a
  // client for the whole time it was served elsewhere.
  const int64_t staleNs =
      2 * std::chrono::duration_cast<std::chrono::nanoseconds>(options_.syncInterval).count() + 50'000'000;
  uint64_t others = 0;
  bool fresh = false;
  auto it = known_.find(keyHash);
  if (it != known_.end()) {
    const uint64_t expected = static_cast<uint64_t>(it->second.total) + own;
    // A total below what we expect means the key expired (or was deleted) and restarted.
    others = total >= expected ? total - expected : (total > own ? total - own : 0);
    fresh = nowNs - it->second.seenNs <= staleNs;
    it->second.total = static_cast<int64_t>(total);
    it->second.seenNs = nowNs;
  } else {
    others = total > own ? total - own : 0;
    if (own > 0 && known_.size() < options_.maxKnownKeys) {
      known_.emplace(keyHash, Known{static_cast<int64_t>(total), nowNs, nowNs, spec});
    }
  }
  if (!fresh) others = std::min<uint64_t>(others, std::max<uint32_t>(spec.burst, 1));
  if (others > 0) {
    counters_.chargedRequests.fetch_add(others, std::memory_order_relaxed);
    charge_(keyHash, spec, nowNs, others);
  }
  if (nowNs >= nextPruneNs_) pruneKnown(nowNs);
}

void UsageSync::pruneKnown(int64_t nowNs) {
  const int64_t ttlNs = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.keyTtl).count();
  std::erase_if(known_, [&](const auto& entry) { return nowNs - entry.second.seenNs > ttlNs; });
  nextPruneNs_ = nowNs + 1'000'000'000;
}

void UsageSync::updateHealth() {
  const bool up = client_.connected();
  healthy_.store(up, std::memory_order_relaxed);
  auto where = [this] { return options_.redis.host + ":" + std::to_string(options_.redis.port); };
  if (up && reported_ != Reported::kUp) {
    reported_ = Reported::kUp;
    counters_.redisUp.fetch_add(1, std::memory_order_relaxed);
    say(false, "shield: redis " + where() + " connected: rate-limit usage is shared between nodes");
  } else if (!up && reported_ != Reported::kDown &&
             (reported_ == Reported::kUp ||
              client_.stats().connectFailures.load(std::memory_order_relaxed) > 0)) {
    reported_ = Reported::kDown;
    counters_.redisDown.fetch_add(1, std::memory_order_relaxed);
    say(true,
        "shield: redis " + where() + " unreachable: rate limits are enforced per node until it returns");
  }
}

}  // namespace bulwark::shield
