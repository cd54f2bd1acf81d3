// Response Rate Limiting (RRL), the scheme of BIND, NSD and Knot: limits how many identical-looking responses
// one client network receives per second, so that the server is useless as a reflector/amplifier for spoofed
// floods, while real resolvers behind a limited prefix still get through (slipped truncated answers send
// them to TCP, which is never rate limited). docs/dns-rrl.md explains the choices.
//
// An account is kept per key (client prefix, response class, name hash):
//   - the client prefix is the source address cut to `ipv4Prefix` / `ipv6Prefix` bits (an IPv4-mapped IPv6
//     address counts as IPv4);
//   - the response class comes from answerQuery (ResponseClass in dns/answer.h);
//   - the name hash is chosen by the caller (rrlNameHash): the qname for Positive, NoData and Any, the zone
//     (closest enclosing zone apex) for NxDomain and the delegation point for Referral, as Knot does, so a
//     random-subdomain flood shares one account; Error ignores the name (one account per prefix).
//
// The account is BIND's: it earns `responsesPerSecond` credits a second, holds at most one second's worth
// (the burst), and every prospective response debits one, sent or not. A response is sent while the balance
// after the debit is >= 0. Limited responses are debited too, but never below -window * rate (a debit that
// would go below is not made): a client that stops after a flood is answered again `window` seconds (plus
// one credit's time) later, and a flood sustained above the rate is limited for as long as it lasts. With
// window 0 limited responses debit nothing and the account is a plain token bucket: a flood gets `rate`
// answers a second. Credit is continuous (nanoseconds), not counted in whole seconds as BIND does.
//
// A limited response is dropped, except every `slip`-th limited response of an account, which is sent as a
// truncated (TC=1) answer instead: slip 0 drops them all, slip 1 slips them all.
//
// Table: fixed number of slots (power of two); a key lives in one of kProbeWindow slots after its home slot.
// When all of those hold other keys, the key takes over the one with the most credit (smallest theoretical
// arrival time) and inherits its balance: an eviction never creates credit, so filling the table with
// spoofed prefixes does not switch RRL off (the evicted key, should it come back, starts a fresh account).
// Two threads racing for the same victim share its account for that response. The home slot comes from a
// keyed hash with a per-instance random seed, so slots are not predictable from outside.
//
// Thread-safety: decide() and stats() may be called from any number of threads at once; the query path is
// lock-free (compare-and-swap on 64-bit words) and allocates nothing. Concurrent decisions on one account
// are exact (each debit is one successful CAS); threads whose clocks lag behind another's see less credit,
// never more (the TAT only moves forward).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dns/answer.h"
#include "dns/wire.h"

namespace bulwark::dns {

enum class RrlAction : uint8_t { Send, Slip, Drop };

struct RrlConfig {
  uint32_t responsesPerSecond = 5;  // 0: RRL off (every response sent)
  uint32_t windowSeconds = 15;      // 0..3600
  uint32_t slip = 2;                // 0..100
  uint8_t ipv4Prefix = 24;          // 0..32
  uint8_t ipv6Prefix = 56;          // 0..128
  uint32_t tableSize = 65536;       // slots: a power of two, kProbeWindow .. 2^26
};

// Empty string when `cfg` is acceptable, else what is wrong ("rrl: table_size must be a power of two").
std::string validateRrlConfig(const RrlConfig& cfg);

struct RrlStats {
  uint64_t slipped = 0;        // limited responses sent truncated
  uint64_t dropped = 0;        // limited responses dropped
  uint64_t keys = 0;           // slots in use
  uint64_t evictions = 0;      // keys that took over another key's slot
  uint64_t evictionsLive = 0;  // ... of which the evicted account was still in use (table under pressure)
};

class Rrl {
 public:
  static constexpr std::size_t kProbeWindow = 8;

  // `cfg` should pass validateRrlConfig; out-of-range values are clamped, the table size rounded up.
  explicit Rrl(const RrlConfig& cfg);
  // The same with a fixed hash seed instead of a random one (tests, reproducible runs).
  Rrl(const RrlConfig& cfg, uint64_t seed);
  ~Rrl();
  Rrl(const Rrl&) = delete;
  Rrl& operator=(const Rrl&) = delete;

  // One response of class `cls` to `client` (sockaddr_in or sockaddr_in6; other families share one
  // account per class and name) at `nowNs` (a monotonic clock, the same for every call).
  RrlAction decide(const sockaddr* client, ResponseClass cls, uint64_t nameHash, uint64_t nowNs) noexcept;

  // The table key decide() uses (exposed for tests and for callers that decide several times per key).
  uint64_t key(const sockaddr* client, ResponseClass cls, uint64_t nameHash) const noexcept;
  RrlAction decideKey(uint64_t key, uint64_t nowNs) noexcept;

  const RrlConfig& config() const noexcept { return cfg_; }
  std::size_t capacity() const noexcept { return mask_ + 1; }
  RrlStats stats() const noexcept;

 private:
  struct alignas(32) Slot {
    std::atomic<uint64_t> key{0};      // 0 = empty (keys are never 0)
    std::atomic<int64_t> tat{0};       // theoretical arrival time of the next response at full rate, ns
    std::atomic<uint32_t> limited{0};  // limited responses since the last slip (mod slip)
  };
  struct alignas(64) Counters {
    std::atomic<uint64_t> slipped{0}, dropped{0}, keys{0}, evictions{0}, evictionsLive{0};
  };
  static constexpr std::size_t kCounterShards = 16;

  Slot* slotFor(uint64_t key, int64_t nowNs, Counters& counters) noexcept;
  Counters& counters() noexcept;

  RrlConfig cfg_;
  uint64_t seed_;
  int64_t intervalNs_;  // ns per credit
  int64_t creditNs_;    // burst: rate * interval (one second's worth)
  int64_t ceilingNs_;   // burst + window debt: how far ahead of now the TAT may go
  uint32_t v4Mask_;
  uint64_t v6MaskHi_, v6MaskLo_;
  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_;
  std::unique_ptr<Counters[]> counters_;
};

// Case-insensitive hash of a wire-form name (length-prefixed labels; ASCII letters folded), for nameHash.
uint64_t rrlNameHash(const uint8_t* wireName, std::size_t len) noexcept;
inline uint64_t rrlNameHash(const Name& name) noexcept { return rrlNameHash(name.data, name.len); }

// The name hash docs/dns-rrl.md prescribes for a response: the qname for Positive, NoData and Any; the zone
// apex for NxDomain and Referral (`zoneApex`: AnswerInfo::zone->origin(); the qname when there is none);
// 0 for Error (one account per prefix).
uint64_t rrlNameHashFor(ResponseClass cls, const Name& qname, const Name* zoneApex) noexcept;

}  // namespace bulwark::dns
