// A per-worker cache of UDP answers keyed by the query's bytes (docs/dns-server.md, "Answer cache").
//
// An authoritative answer is a pure function of the query message and the zone snapshot, except for the
// message ID and for DNS Cookies (whose server cookie depends on the client address and the time). So a
// query whose bytes after the ID equal an earlier one's, under the same snapshot and without a COOKIE
// option, gets the earlier answer with its own ID: the zone lookup, the name compression and the record
// encoding are skipped. The worker clears the cache whenever it adopts another snapshot. (PowerDNS's
// authoritative packet cache works on the same principle.)
//
// Storage is log-structured and fixed at construction: records (query bytes, answer bytes, what the
// metrics and RRL need) are appended to a ring of `bytes` bytes; an index of slots (one per 64 bytes of
// ring) maps a seeded hash of the query to the newest record's position. A record is valid while the ring
// has not wrapped over it, and a hit compares the whole query, so a hash collision costs a miss, never a
// wrong answer. Nothing is allocated after construction; one worker uses it, so there are no locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace bulwark::dns {

class AnswerCache {
 public:
  // What a hit needs besides the answer bytes: the metric labels and the RRL decision's inputs.
  struct Meta {
    uint16_t qtype = 0;
    uint8_t rcode = 0;
    uint8_t cls = 0;       // ResponseClass
    uint64_t rrlName = 0;  // rrlNameHashFor(cls, qname, zone apex)
  };
  static constexpr size_t kMaxQuery = 512;    // longer queries are not cached
  static constexpr size_t kMaxAnswer = 4096;  // dns.edns_udp_size is at most 4096

  // `bytes` of ring (rounded down to a multiple of 64; below 64 KiB the cache is off).
  explicit AnswerCache(size_t bytes);
  ~AnswerCache();
  AnswerCache(const AnswerCache&) = delete;
  AnswerCache& operator=(const AnswerCache&) = delete;

  bool enabled() const noexcept { return ringSize_ != 0; }
  size_t bytes() const noexcept { return ringSize_; }

  // A hit copies the cached answer into `out` with the query's ID and returns its length; 0 on a miss
  // (also when `cap` is too small or `len` is outside 12..kMaxQuery).
  size_t lookup(const uint8_t* query, size_t len, uint8_t* out, size_t cap, Meta& meta) noexcept;
  // Start loading what lookup() will read for `query` into the CPU cache, so that a batch of lookups waits
  // for memory about once instead of twice per packet: prefetchSlot() for every packet of a batch, then
  // prefetchRecord() for every packet, then the lookups. No effect on results.
  void prefetchSlot(const uint8_t* query, size_t len) const noexcept;
  void prefetchRecord(const uint8_t* query, size_t len) const noexcept;
  // Remembers `answer` for `query` (whose ID is ignored). Silently skipped when either is too long.
  void store(const uint8_t* query, size_t len, const uint8_t* answer, size_t answerLen,
             const Meta& meta) noexcept;
  // Forgets everything (a new snapshot).
  void clear() noexcept;

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t pos = 0;  // absolute ring position of the record + 1; 0 = empty
  };
  uint64_t hashOf(const uint8_t* query, size_t len) const noexcept;
  // A record that starts at absolute position `start` is intact until the ring wraps over it.
  bool live(uint64_t start) const noexcept { return writePos_ - start <= ringSize_; }

  size_t ringSize_ = 0;
  uint64_t slotMask_ = 0;
  uint64_t seed_ = 0;
  uint64_t writePos_ = 0;  // absolute: ring offset = writePos_ % ringSize_
  // One anonymous mapping (zero-filled, pages allocated on first touch, transparent huge pages asked for:
  // the lookups are random accesses): the slots, then the ring.
  void* map_ = nullptr;
  size_t mapSize_ = 0;
  Slot* slots_ = nullptr;
  uint8_t* ring_ = nullptr;
};

}  // namespace bulwark::dns
