// Private: a set of IPv4 and IPv6 addresses and CIDR blocks, for @ipMatch and @ipMatchFromFile.
//
// Blocks are kept per prefix length in sorted vectors: a lookup masks the address once per prefix length
// in use (at most 33 + 129) and binary-searches, so large block lists stay cheap. Immutable after
// finish(); contains() is thread-safe and does not allocate.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf::operators {

class IpSet {
 public:
  // Adds "192.0.2.1", "192.0.2.0/24", "2001:db8::1" or "2001:db8::/32" (surrounding whitespace ignored).
  // False with `error` for anything else, including dotted masks ("/255.255.255.0").
  bool add(std::string_view entry, std::string& error);
  void finish();
  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }

  // True if `value` is an address inside the set. A value containing ':' is read as IPv6, any other as
  // IPv4 (v2's rule); a value that is not an address never matches.
  bool contains(std::string_view value) const noexcept;

 private:
  using V6 = unsigned __int128;
  struct V4Block {
    int prefix;
    std::vector<std::uint32_t> networks;  // sorted, masked to `prefix`
  };
  struct V6Block {
    int prefix;
    std::vector<V6> networks;
  };
  std::vector<V4Block> v4_;
  std::vector<V6Block> v6_;
};

}  // namespace bulwark::waf::operators
