#include "shield/conn_limits.h"

namespace bulwark::shield {

namespace {

constexpr uint64_t kCountMask = 0xffff;

uint32_t connectionsOf(uint64_t word) noexcept { return static_cast<uint32_t>((word >> 16) & kCountMask); }
uint32_t requestsOf(uint64_t word) noexcept { return static_cast<uint32_t>(word & kCountMask); }
uint32_t fingerprintOf(uint64_t word) noexcept { return static_cast<uint32_t>(word >> 32); }
bool idle(uint64_t word) noexcept { return (word & 0xffffffffull) == 0; }

}  // namespace

ClientTable::ClientTable(std::size_t capacity) {
  std::size_t n = kProbeWindow;
  while (n < capacity && n < (std::size_t{1} << 32)) n <<= 1;
  slots_ = std::make_unique<Slot[]>(n);
  mask_ = n - 1;
}

uint32_t ClientTable::fingerprint(const IpAddress& a) noexcept {
  // The high half of the hash; the low half picks the home slot. Never 0 (0 marks a never-used slot).
  uint32_t fp = static_cast<uint32_t>(a.hash() >> 32);
  return fp == 0 ? 1 : fp;
}

ClientTable::Result ClientTable::openConnection(const IpAddress& client, uint32_t maxConnections,
                                                uint32_t& slot) noexcept {
  const uint64_t h = client.hash();
  const uint32_t fp = fingerprint(client);
  const std::size_t home = static_cast<std::size_t>(h) & mask_;
  if (maxConnections > kMaxCount) maxConnections = 0;
  // Two passes: first look for the address itself (anywhere in the window), then claim the first idle slot.
  // Two workers adding the same new address both pick that first idle slot; the loser of the CAS sees the
  // winner's fingerprint there on its retry and counts itself in.
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::size_t firstIdle = SIZE_MAX;
    uint64_t idleWord = 0;
    for (std::size_t i = 0; i < kProbeWindow; ++i) {
      const std::size_t index = (home + i) & mask_;
      Slot& s = slots_[index];
      uint64_t w = s.word.load(std::memory_order_acquire);
      if (fingerprintOf(w) == fp && !idle(w)) {
        for (;;) {
          if (maxConnections != 0 && connectionsOf(w) >= maxConnections) return Result::kOverLimit;
          if (connectionsOf(w) >= kMaxCount) break;  // saturated: count no further
          if (s.word.compare_exchange_weak(w, w + (uint64_t{1} << 16), std::memory_order_acq_rel)) {
            slot = static_cast<uint32_t>(index);
            return Result::kOk;
          }
          if (fingerprintOf(w) != fp || idle(w)) break;  // released meanwhile: search again
        }
        if (connectionsOf(w) >= kMaxCount) {
          untracked_.fetch_add(1, std::memory_order_relaxed);
          slot = kUntracked;
          return Result::kOk;
        }
        firstIdle = SIZE_MAX;
        break;
      }
      if (idle(w) && firstIdle == SIZE_MAX) {
        firstIdle = index;
        idleWord = w;
      }
    }
    if (firstIdle == SIZE_MAX) {
      if (attempt == 0) continue;  // the address's slot went idle between the loads: look once more
      untracked_.fetch_add(1, std::memory_order_relaxed);
      slot = kUntracked;
      return Result::kOk;
    }
    const uint64_t claimed = (uint64_t{fp} << 32) | (uint64_t{1} << 16);
    if (slots_[firstIdle].word.compare_exchange_strong(idleWord, claimed, std::memory_order_acq_rel)) {
      slot = static_cast<uint32_t>(firstIdle);
      return Result::kOk;
    }
  }
  untracked_.fetch_add(1, std::memory_order_relaxed);
  slot = kUntracked;
  return Result::kOk;
}

void ClientTable::closeConnection(uint32_t slot) noexcept {
  if (slot == kUntracked || slot > mask_) return;
  // The fingerprint stays: an idle slot keeps it until another address claims the slot.
  slots_[slot].word.fetch_sub(uint64_t{1} << 16, std::memory_order_acq_rel);
}

ClientTable::Result ClientTable::startRequest(uint32_t slot, uint32_t maxRequests) noexcept {
  if (slot == kUntracked || slot > mask_) return Result::kOk;
  Slot& s = slots_[slot];
  uint64_t w = s.word.load(std::memory_order_relaxed);
  for (;;) {
    if (maxRequests != 0 && requestsOf(w) >= maxRequests) return Result::kOverLimit;
    if (requestsOf(w) >= kMaxCount) return Result::kOk;
    if (s.word.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) return Result::kOk;
  }
}

void ClientTable::endRequest(uint32_t slot) noexcept {
  if (slot == kUntracked || slot > mask_) return;
  Slot& s = slots_[slot];
  uint64_t w = s.word.load(std::memory_order_relaxed);
  while (requestsOf(w) != 0 && !s.word.compare_exchange_weak(w, w - 1, std::memory_order_acq_rel)) {
  }
}

uint32_t ClientTable::connections(const IpAddress& client) const noexcept {
  const uint32_t fp = fingerprint(client);
  const std::size_t home = static_cast<std::size_t>(client.hash()) & mask_;
  uint32_t total = 0;
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    uint64_t w = slots_[(home + i) & mask_].word.load(std::memory_order_relaxed);
    if (fingerprintOf(w) == fp) total += connectionsOf(w);
  }
  return total;
}

}  // namespace bulwark::shield
