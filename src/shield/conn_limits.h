// Connection limits: open connections and in-flight requests per client address, shared by every worker.
//
// One fixed-size table; each slot is a single 64-bit word holding a 32-bit fingerprint of the address,
// the open connections (16 bits) and the requests in flight (16 bits), so taking or giving back a
// connection or a request is one compare-and-swap: lock-free, exact across workers, and a slot can only be
// reused (both counts 0) by a CAS that also checks the counts. A caller keeps the slot index it got and
// gives it back through that index, so releases never search.
//
// When every slot of an address's probe window is in use by other addresses with open connections, the
// connection is admitted without being counted (kUntracked, counted in stats): the table is bounded, and
// the global connection limit still applies.
//
// Thread-safety: every method may be called from any thread; nothing blocks or allocates after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "shield/ip_address.h"

namespace bulwark::shield {

class ClientTable {
 public:
  static constexpr uint32_t kUntracked = UINT32_MAX;  // slot index of a connection that is not counted
  static constexpr uint32_t kMaxCount = 0xffff;       // per-address limits above this are not enforced

  explicit ClientTable(std::size_t capacity);
  ClientTable(const ClientTable&) = delete;
  ClientTable& operator=(const ClientTable&) = delete;

  enum class Result { kOk, kOverLimit };
  // One more connection of `client`, refused when it already has `maxConnections` (0 = no limit). On kOk,
  // `slot` is what release calls take (kUntracked when the table had no room).
  Result openConnection(const IpAddress& client, uint32_t maxConnections, uint32_t& slot) noexcept;
  void closeConnection(uint32_t slot) noexcept;
  // One more request in flight on a connection counted in `slot`; refused at `maxRequests` (0 = no limit).
  Result startRequest(uint32_t slot, uint32_t maxRequests) noexcept;
  void endRequest(uint32_t slot) noexcept;

  // Current counts of `client` (for tests and the admin API).
  uint32_t connections(const IpAddress& client) const noexcept;
  uint64_t untracked() const noexcept { return untracked_.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return mask_ + 1; }

  static constexpr std::size_t kProbeWindow = 8;

 private:
  struct alignas(8) Slot {
    std::atomic<uint64_t> word{0};  // fingerprint << 32 | connections << 16 | requests
  };
  static uint32_t fingerprint(const IpAddress& a) noexcept;

  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_;
  std::atomic<uint64_t> untracked_{0};
};

}  // namespace bulwark::shield
