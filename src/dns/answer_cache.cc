#include "dns/answer_cache.h"

#include <sys/mman.h>

#include <cstring>
#include <random>

#include "core/hash.h"

namespace bulwark::dns {

namespace {
constexpr size_t kMinRing = 64 * 1024;
constexpr size_t kBytesPerSlot = 64;
constexpr size_t kHugePage = 2u << 20;

// A record in the ring: this header, the query after its ID, the answer; padded to 8 bytes.
struct Header {
  uint64_t hash;
  uint64_t rrlName;
  uint16_t keyLen;  // query length - 2
  uint16_t answerLen;
  uint16_t qtype;
  uint8_t rcode;
  uint8_t cls;
};
static_assert(sizeof(Header) == 24);

size_t recordSize(size_t keyLen, size_t answerLen) {
  return (sizeof(Header) + keyLen + answerLen + 7) & ~size_t{7};
}

uint64_t load64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
}  // namespace

AnswerCache::AnswerCache(size_t bytes) {
  bytes &= ~(kBytesPerSlot - 1);
  if (bytes < kMinRing) return;
  size_t slots = 1;
  while (slots * 2 <= bytes / kBytesPerSlot) slots *= 2;
  ringSize_ = bytes;
  slotMask_ = slots - 1;
  const size_t slotBytes = (slots * sizeof(Slot) + kHugePage - 1) & ~(kHugePage - 1);
  mapSize_ = slotBytes + bytes + kHugePage;  // room to align the start to a huge page
  map_ = ::mmap(nullptr, mapSize_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {  // out of address space: no cache, answers built every time
    map_ = nullptr;
    ringSize_ = 0;
    return;
  }
  const auto base = (reinterpret_cast<uintptr_t>(map_) + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  ::madvise(reinterpret_cast<void*>(base), slotBytes + bytes, MADV_HUGEPAGE);  // best effort
  slots_ = reinterpret_cast<Slot*>(base);
  ring_ = reinterpret_cast<uint8_t*>(base + slotBytes);
  std::random_device rd;
  seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

AnswerCache::~AnswerCache() {
  if (map_ != nullptr) ::munmap(map_, mapSize_);
}

uint64_t AnswerCache::hashOf(const uint8_t* query, size_t len) const noexcept {
  // The query after its 2-byte ID, 8 bytes at a time; seeded so that nobody can aim collisions at a slot.
  uint64_t h = seed_ ^ (len * 0x9e3779b97f4a7c15ull);
  size_t i = 2;
  for (; i + 8 <= len; i += 8) h = (h ^ load64(query + i)) * 0xff51afd7ed558ccdull, h ^= h >> 29;
  uint64_t tail = 0;
  std::memcpy(&tail, query + i, len - i);
  return mix64(h ^ tail);
}

size_t AnswerCache::lookup(const uint8_t* query, size_t len, uint8_t* out, size_t cap, Meta& meta) noexcept {
  if (ringSize_ == 0 || len < 12 || len > kMaxQuery) return 0;
  const uint64_t h = hashOf(query, len);
  const Slot& s = slots_[h & slotMask_];
  if (s.pos == 0 || s.hash != h || !live(s.pos - 1)) return 0;
  const uint8_t* rec = ring_ + (s.pos - 1) % ringSize_;
  Header hd;
  std::memcpy(&hd, rec, sizeof hd);
  if (hd.hash != h || hd.keyLen != len - 2 || hd.answerLen > cap) return 0;
  if (std::memcmp(rec + sizeof hd, query + 2, hd.keyLen) != 0) return 0;
  std::memcpy(out, rec + sizeof hd + hd.keyLen, hd.answerLen);
  out[0] = query[0];
  out[1] = query[1];
  meta.qtype = hd.qtype;
  meta.rcode = hd.rcode;
  meta.cls = hd.cls;
  meta.rrlName = hd.rrlName;
  return hd.answerLen;
}

void AnswerCache::prefetchSlot(const uint8_t* query, size_t len) const noexcept {
  if (ringSize_ == 0 || len < 12 || len > kMaxQuery) return;
  __builtin_prefetch(&slots_[hashOf(query, len) & slotMask_]);
}

void AnswerCache::prefetchRecord(const uint8_t* query, size_t len) const noexcept {
  if (ringSize_ == 0 || len < 12 || len > kMaxQuery) return;
  const Slot& s = slots_[hashOf(query, len) & slotMask_];
  if (s.pos != 0) __builtin_prefetch(ring_ + (s.pos - 1) % ringSize_);
}

void AnswerCache::store(const uint8_t* query, size_t len, const uint8_t* answer, size_t answerLen,
                        const Meta& meta) noexcept {
  if (ringSize_ == 0 || len < 12 || len > kMaxQuery || answerLen < 12 || answerLen > kMaxAnswer) return;
  const size_t keyLen = len - 2;
  const size_t size = recordSize(keyLen, answerLen);
  if (writePos_ % ringSize_ + size > ringSize_) writePos_ += ringSize_ - writePos_ % ringSize_;  // wrap
  const uint64_t start = writePos_;
  writePos_ += size;
  uint8_t* rec = ring_ + start % ringSize_;
  const uint64_t h = hashOf(query, len);
  const Header hd{
      h,          meta.rrlName, static_cast<uint16_t>(keyLen), static_cast<uint16_t>(answerLen), meta.qtype,
      meta.rcode, meta.cls};
  std::memcpy(rec, &hd, sizeof hd);
  std::memcpy(rec + sizeof hd, query + 2, keyLen);
  std::memcpy(rec + sizeof hd + keyLen, answer, answerLen);
  slots_[h & slotMask_] = Slot{h, start + 1};
}

void AnswerCache::clear() noexcept {
  if (ringSize_ == 0) return;
  for (uint64_t i = 0; i <= slotMask_; ++i) slots_[i] = Slot{};
  // Positions only grow, so records written before the clear can never look live through a new slot.
  writePos_ += ringSize_;
}

}  // namespace bulwark::dns
