// Small non-cryptographic hashes shared by the subsystems: FNV-1a over bytes and the splitmix64
// finaliser. Deterministic across processes and machines (no seed), so nodes agree on them (rate-limit
// keys, consistent hashing); never for anything an attacker must not be able to collide on purpose.
#pragma once

#include <cstdint>
#include <string_view>

namespace bulwark {

inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;

// FNV-1a, continuing from `hash` (start with kFnvOffset).
constexpr uint64_t fnv1a(uint64_t hash, std::string_view bytes) noexcept {
  for (char c : bytes) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return hash;
}

// splitmix64's finaliser: every input bit reaches every output bit (low bits pick table slots).
constexpr uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace bulwark
