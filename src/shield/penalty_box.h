// The penalty box: clients that were blocked (by the WAF or a rate limit) `threshold` times within `window`
// are denied for `duration`. Entries can also be added and removed by hand (admin API).
//
// One fixed-size table shared by every worker and the control thread, owned by the server so that entries
// outlive configuration reloads. Each slot holds the address, a strike counter and the end of the ban.
// Strikes are counted in one word (start of the counting window, count): the window opens with a strike and
// lasts `window`; the strike that brings the count to `threshold` inside it boxes the client, and a strike
// after the window has passed opens a new one. Every update is a compare-and-swap; nothing blocks.
//
// Bounded: a slot whose ban and strikes have both expired can be taken by another address. When every slot
// of an address's probe window is live, a strike against it is dropped (counted) and a manual add fails.
//
// Times are milliseconds of any monotonic clock (the caller's; tests inject their own).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "shield/ip_address.h"

namespace bulwark::shield {

struct PenaltySettings {
  uint32_t threshold = 5;        // blocks ...
  int64_t windowMs = 60'000;     // ... within this time (at most kMaxWindowMs) ...
  int64_t durationMs = 600'000;  // ... deny the client for this long
};

class PenaltyBox {
 public:
  explicit PenaltyBox(std::size_t capacity);
  PenaltyBox(const PenaltyBox&) = delete;
  PenaltyBox& operator=(const PenaltyBox&) = delete;

  // True while `client` is boxed. Lock-free and allocation-free: called on every accepted connection.
  bool boxed(const IpAddress& client, int64_t nowMs) const noexcept;
  // Records one block of `client`; true if this strike put it into the box (false if it already was).
  bool strike(const IpAddress& client, const PenaltySettings& settings, int64_t nowMs) noexcept;
  // Boxes `client` until `untilMs` (replacing any earlier end). False if the table has no room for it.
  bool add(const IpAddress& client, int64_t untilMs, int64_t nowMs) noexcept;
  // Lets `client` out and forgets its strikes. False if it was not boxed.
  bool remove(const IpAddress& client, int64_t nowMs) noexcept;

  struct Entry {
    IpAddress address;
    int64_t untilMs = 0;
  };
  // Boxed clients at `nowMs` (control thread: walks the whole table).
  std::vector<Entry> list(int64_t nowMs) const;
  std::size_t capacity() const noexcept { return mask_ + 1; }
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  static constexpr std::size_t kProbeWindow = 8;
  static constexpr int64_t kMaxWindowMs = 24 * 3600 * 1000;

 private:
  struct Slot {
    std::atomic<uint64_t> key{0};  // address hash, 0 = never used
    std::atomic<uint64_t> addressHigh{0};
    std::atomic<uint64_t> addressLow{0};
    std::atomic<uint64_t> strikes{0};  // window start (ms) << 16 | strikes in it; 0 = none
    std::atomic<int64_t> boxedUntil{0};
  };
  static bool windowOver(uint64_t strikes, int64_t nowMs) noexcept;
  const Slot* lookup(uint64_t key) const noexcept;
  Slot* lookupOrClaim(const IpAddress& client, uint64_t key, int64_t nowMs) noexcept;

  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace bulwark::shield
