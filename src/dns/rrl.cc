#include "dns/rrl.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "core/hash.h"

namespace bulwark::dns {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr uint32_t kMaxWindowSeconds = 3600;
constexpr uint32_t kMaxSlip = 100;
constexpr uint32_t kMaxTableSize = uint32_t{1} << 26;

uint64_t loadBigEndian64(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

uint64_t highMask(unsigned bits) noexcept { return bits == 0 ? 0 : ~uint64_t{0} << (64 - bits); }

uint64_t randomSeed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

std::string validateRrlConfig(const RrlConfig& cfg) {
  if (cfg.responsesPerSecond > kNanosPerSecond) return "rrl: responses_per_second must be at most 1000000000";
  if (cfg.windowSeconds > kMaxWindowSeconds) return "rrl: window must be at most 3600 seconds";
  if (cfg.slip > kMaxSlip) return "rrl: slip must be between 0 and 100";
  if (cfg.ipv4Prefix > 32) return "rrl: ipv4_prefix must be between 0 and 32";
  if (cfg.ipv6Prefix > 128) return "rrl: ipv6_prefix must be between 0 and 128";
  if (cfg.tableSize < Rrl::kProbeWindow || cfg.tableSize > kMaxTableSize ||
      (cfg.tableSize & (cfg.tableSize - 1)) != 0) {
    return "rrl: table_size must be a power of two between 8 and 67108864";
  }
  return {};
}

Rrl::Rrl(const RrlConfig& cfg) : Rrl(cfg, randomSeed()) {}

Rrl::Rrl(const RrlConfig& cfg, uint64_t seed) : cfg_(cfg), seed_(seed) {
  cfg_.responsesPerSecond = std::min<uint32_t>(cfg_.responsesPerSecond, kNanosPerSecond);
  cfg_.windowSeconds = std::min(cfg_.windowSeconds, kMaxWindowSeconds);
  cfg_.slip = std::min(cfg_.slip, kMaxSlip);
  cfg_.ipv4Prefix = std::min<uint8_t>(cfg_.ipv4Prefix, 32);
  cfg_.ipv6Prefix = std::min<uint8_t>(cfg_.ipv6Prefix, 128);
  uint32_t n = kProbeWindow;
  while (n < cfg_.tableSize && n < kMaxTableSize) n <<= 1;
  cfg_.tableSize = n;

  const int64_t rate = cfg_.responsesPerSecond == 0 ? 1 : cfg_.responsesPerSecond;
  intervalNs_ = kNanosPerSecond / rate;
  creditNs_ = intervalNs_ * rate;
  ceilingNs_ = creditNs_ + int64_t{cfg_.windowSeconds} * creditNs_;

  v4Mask_ = static_cast<uint32_t>(highMask(cfg_.ipv4Prefix) >> 32);
  v6MaskHi_ = highMask(std::min<unsigned>(cfg_.ipv6Prefix, 64));
  v6MaskLo_ = highMask(cfg_.ipv6Prefix > 64 ? cfg_.ipv6Prefix - 64u : 0u);

  slots_ = std::make_unique<Slot[]>(n);
  mask_ = n - 1;
  counters_ = std::make_unique<Counters[]>(kCounterShards);
}

Rrl::~Rrl() = default;

uint64_t Rrl::key(const sockaddr* client, ResponseClass cls, uint64_t nameHash) const noexcept {
  uint64_t family = 0, hi = 0, lo = 0;
  if (client != nullptr && client->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(client);
    family = 4;
    lo = ntohl(sin->sin_addr.s_addr) & v4Mask_;
  } else if (client != nullptr && client->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(client);
    const uint8_t* a = sin6->sin6_addr.s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      family = 4;
      lo = ((uint32_t{a[12]} << 24) | (uint32_t{a[13]} << 16) | (uint32_t{a[14]} << 8) | a[15]) & v4Mask_;
    } else {
      family = 6;
      hi = loadBigEndian64(a) & v6MaskHi_;
      lo = loadBigEndian64(a + 8) & v6MaskLo_;
    }
  }
  if (cls == ResponseClass::Error) nameHash = 0;
  uint64_t h = mix64(seed_ ^ hi);
  h = mix64(h + lo);
  h = mix64(h ^ ((family << 8) | static_cast<uint64_t>(cls)));
  h = mix64(h ^ nameHash);
  return h == 0 ? 1 : h;
}

Rrl::Counters& Rrl::counters() noexcept {
  static std::atomic<unsigned> nextShard{0};
  thread_local const unsigned shard = nextShard.fetch_add(1, std::memory_order_relaxed) % kCounterShards;
  return counters_[shard];
}

Rrl::Slot* Rrl::slotFor(uint64_t key, int64_t nowNs, Counters& counters) noexcept {
  const std::size_t home = static_cast<std::size_t>(key) & mask_;
  // Slots are never emptied, so a key is always found before the first empty slot of its window.
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    Slot& s = slots_[(home + i) & mask_];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) return &s;
    if (k != 0) continue;
    if (s.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) {
      counters.keys.fetch_add(1, std::memory_order_relaxed);
      return &s;  // TAT 0: a full account
    }
    if (k == key) return &s;  // another thread claimed it for the same key
  }
  // Every slot of the window holds another key: take over the account with the most credit (the smallest
  // TAT; the first of equals), keeping its balance.
  Slot* victim = &slots_[home];
  int64_t smallest = victim->tat.load(std::memory_order_relaxed);
  for (std::size_t i = 1; i < kProbeWindow; ++i) {
    Slot& s = slots_[(home + i) & mask_];
    const int64_t tat = s.tat.load(std::memory_order_relaxed);
    if (tat < smallest) {
      smallest = tat;
      victim = &s;
    }
  }
  uint64_t old = victim->key.load(std::memory_order_acquire);
  if (old != key && victim->key.compare_exchange_strong(old, key, std::memory_order_acq_rel)) {
    counters.evictions.fetch_add(1, std::memory_order_relaxed);
    if (smallest > nowNs) counters.evictionsLive.fetch_add(1, std::memory_order_relaxed);
  }
  // Lost a race for the victim: this response is charged to whichever key holds it now.
  return victim;
}

RrlAction Rrl::decide(const sockaddr* client, ResponseClass cls, uint64_t nameHash, uint64_t nowNs) noexcept {
  if (cfg_.responsesPerSecond == 0) return RrlAction::Send;
  return decideKey(key(client, cls, nameHash), nowNs);
}

RrlAction Rrl::decideKey(uint64_t key, uint64_t nowNsUnsigned) noexcept {
  if (cfg_.responsesPerSecond == 0) return RrlAction::Send;
  const int64_t nowNs = static_cast<int64_t>(std::min<uint64_t>(nowNsUnsigned, INT64_MAX / 2));
  if (key == 0) key = 1;
  Counters& c = counters();
  Slot* s = slotFor(key, nowNs, c);

  // Balance (in credits) = (now + credit - TAT) / interval. A response debits one credit (TAT += interval);
  // it is sent when the balance after the debit is >= 0, i.e. TAT' <= now + credit. A limited response is
  // debited too, unless that would take the balance below the floor (TAT' > now + ceiling): then nothing
  // changes, so credit keeps accruing at the rate. With window 0 the floor is 0 and limited responses never
  // debit: a token bucket.
  bool send = false;
  int64_t tat = s->tat.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t next = std::max(tat, nowNs) + intervalNs_;
    send = next - nowNs <= creditNs_;
    if (!send && next - nowNs > ceilingNs_) break;  // at the floor
    if (s->tat.compare_exchange_weak(tat, next, std::memory_order_relaxed)) break;
  }
  if (send) return RrlAction::Send;

  const uint32_t slip = cfg_.slip;
  bool slipped = slip == 1;
  if (slip > 1) {
    uint32_t n = s->limited.load(std::memory_order_relaxed);
    uint32_t next = 0;
    do {
      next = n + 1 >= slip ? 0 : n + 1;
    } while (!s->limited.compare_exchange_weak(n, next, std::memory_order_relaxed));
    slipped = next == 0;
  }
  if (slipped) {
    c.slipped.fetch_add(1, std::memory_order_relaxed);
    return RrlAction::Slip;
  }
  c.dropped.fetch_add(1, std::memory_order_relaxed);
  return RrlAction::Drop;
}

RrlStats Rrl::stats() const noexcept {
  RrlStats out;
  for (std::size_t i = 0; i < kCounterShards; ++i) {
    const Counters& c = counters_[i];
    out.slipped += c.slipped.load(std::memory_order_relaxed);
    out.dropped += c.dropped.load(std::memory_order_relaxed);
    out.keys += c.keys.load(std::memory_order_relaxed);
    out.evictions += c.evictions.load(std::memory_order_relaxed);
    out.evictionsLive += c.evictionsLive.load(std::memory_order_relaxed);
  }
  return out;
}

uint64_t rrlNameHash(const uint8_t* wireName, std::size_t len) noexcept {
  // FNV-1a over the ASCII-lowercased bytes (label lengths are <= 63, below 'A', so they are never folded),
  // then the splitmix64 finaliser so every byte reaches the low bits.
  uint64_t h = kFnvOffset;
  for (std::size_t i = 0; i < len; ++i) {
    uint8_t c = wireName[i];
    if (static_cast<uint8_t>(c - 'A') < 26) c = static_cast<uint8_t>(c + 32);
    h = (h ^ c) * 0x100000001b3ull;
  }
  return mix64(h);
}

uint64_t rrlNameHashFor(ResponseClass cls, const Name& qname, const Name* zoneApex) noexcept {
  switch (cls) {
    case ResponseClass::Error:
      return 0;
    case ResponseClass::NxDomain:
    case ResponseClass::Referral:
      return rrlNameHash(zoneApex != nullptr && !zoneApex->empty() ? *zoneApex : qname);
    case ResponseClass::Positive:
    case ResponseClass::NoData:
    case ResponseClass::Any:
      break;
  }
  return rrlNameHash(qname);
}

}  // namespace bulwark::dns
