#include "shield/penalty_box.h"

#include <algorithm>
#include <cstring>

namespace bulwark::shield {

namespace {

uint64_t keyOf(const IpAddress& a) noexcept {
  uint64_t h = a.hash();
  return h == 0 ? 1 : h;
}

}  // namespace

// True when a strike record no longer counts (never struck, or its window opened too long ago). Windows are
// at most kMaxWindowMs long, so an old record can be recognised without knowing the settings.
bool PenaltyBox::windowOver(uint64_t strikes, int64_t nowMs) noexcept {
  return strikes == 0 || nowMs - static_cast<int64_t>(strikes >> 16) >= kMaxWindowMs;
}

PenaltyBox::PenaltyBox(std::size_t capacity) {
  std::size_t n = kProbeWindow;
  while (n < capacity && n < (std::size_t{1} << 32)) n <<= 1;
  slots_ = std::make_unique<Slot[]>(n);
  mask_ = n - 1;
}

const PenaltyBox::Slot* PenaltyBox::lookup(uint64_t key) const noexcept {
  const std::size_t home = static_cast<std::size_t>(key) & mask_;
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    const Slot& s = slots_[(home + i) & mask_];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) return &s;
    if (k == 0) return nullptr;  // keys are placed before the first never-used slot of their window
  }
  return nullptr;
}

PenaltyBox::Slot* PenaltyBox::lookupOrClaim(const IpAddress& client, uint64_t key, int64_t nowMs) noexcept {
  const std::size_t home = static_cast<std::size_t>(key) & mask_;
  Slot* reusable = nullptr;
  for (std::size_t i = 0; i < kProbeWindow; ++i) {
    Slot& s = slots_[(home + i) & mask_];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) return &s;
    if (k == 0) {
      uint64_t expected = 0;
      if (s.key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
        reusable = &s;
        break;
      }
      if (expected == key) return &s;
      continue;
    }
    if (reusable == nullptr && s.boxedUntil.load(std::memory_order_relaxed) <= nowMs &&
        windowOver(s.strikes.load(std::memory_order_relaxed), nowMs)) {
      reusable = &s;
    }
  }
  if (reusable == nullptr) return nullptr;
  uint64_t k = reusable->key.load(std::memory_order_acquire);
  if (k != key && !reusable->key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) {
    return k == key ? reusable : nullptr;
  }
  // A taken-over slot's ban and strikes have expired: they read as a clean record for the new address.
  uint64_t high = 0;
  uint64_t low = 0;
  std::memcpy(&high, client.bytes().data(), 8);
  std::memcpy(&low, client.bytes().data() + 8, 8);
  reusable->addressHigh.store(high, std::memory_order_relaxed);
  reusable->addressLow.store(low, std::memory_order_release);
  return reusable;
}

bool PenaltyBox::boxed(const IpAddress& client, int64_t nowMs) const noexcept {
  const Slot* s = lookup(keyOf(client));
  return s != nullptr && s->boxedUntil.load(std::memory_order_relaxed) > nowMs;
}

bool PenaltyBox::strike(const IpAddress& client, const PenaltySettings& settings, int64_t nowMs) noexcept {
  if (settings.threshold == 0 || settings.windowMs <= 0) return false;
  const uint64_t key = keyOf(client);
  Slot* s = lookupOrClaim(client, key, nowMs);
  if (s == nullptr) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (s->boxedUntil.load(std::memory_order_relaxed) > nowMs) return false;
  // Strikes are counted in a window that opens with the first strike: (window start << 16 | count).
  uint64_t word = s->strikes.load(std::memory_order_relaxed);
  uint64_t next = 0;
  do {
    const int64_t start = static_cast<int64_t>(word >> 16);
    const uint64_t count = word & 0xffff;
    if (word == 0 || nowMs - start >= settings.windowMs || nowMs < start) {
      next = (static_cast<uint64_t>(nowMs) << 16) | 1;
    } else {
      next = (word & ~uint64_t{0xffff}) | std::min<uint64_t>(count + 1, 0xffff);
    }
  } while (!s->strikes.compare_exchange_weak(word, next, std::memory_order_relaxed));
  if ((next & 0xffff) < settings.threshold) return false;
  // Boxed: the strikes start from zero again, so the client comes out with a clean record.
  s->strikes.store(0, std::memory_order_relaxed);
  int64_t until = s->boxedUntil.load(std::memory_order_relaxed);
  const int64_t end = nowMs + settings.durationMs;
  while (until <= nowMs) {
    if (s->boxedUntil.compare_exchange_weak(until, end, std::memory_order_relaxed)) return true;
  }
  return false;  // another worker boxed it at the same moment
}

bool PenaltyBox::add(const IpAddress& client, int64_t untilMs, int64_t nowMs) noexcept {
  Slot* s = lookupOrClaim(client, keyOf(client), nowMs);
  if (s == nullptr) return false;
  s->boxedUntil.store(untilMs, std::memory_order_relaxed);
  return true;
}

bool PenaltyBox::remove(const IpAddress& client, int64_t nowMs) noexcept {
  const Slot* found = lookup(keyOf(client));
  if (found == nullptr) return false;
  Slot* s = const_cast<Slot*>(found);
  s->strikes.store(0, std::memory_order_relaxed);
  return s->boxedUntil.exchange(0, std::memory_order_relaxed) > nowMs;
}

std::vector<PenaltyBox::Entry> PenaltyBox::list(int64_t nowMs) const {
  std::vector<Entry> out;
  for (std::size_t i = 0; i <= mask_; ++i) {
    const Slot& s = slots_[i];
    const uint64_t key = s.key.load(std::memory_order_acquire);
    if (key == 0) continue;
    const int64_t until = s.boxedUntil.load(std::memory_order_relaxed);
    if (until <= nowMs) continue;
    std::array<uint8_t, 16> bytes{};
    uint64_t low = s.addressLow.load(std::memory_order_acquire);
    uint64_t high = s.addressHigh.load(std::memory_order_relaxed);
    std::memcpy(bytes.data(), &high, 8);
    std::memcpy(bytes.data() + 8, &low, 8);
    IpAddress a = IpAddress::v6(bytes.data());
    if (keyOf(a) != key) continue;  // slot being taken over by another address right now
    out.push_back({a, until});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.untilMs < b.untilMs; });
  return out;
}

}  // namespace bulwark::shield
