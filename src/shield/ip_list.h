// IpList: a set of IPv4 and IPv6 prefixes (allow or deny list) answering "is this client inside any of
// them?" in O(prefix length), built once from files or the admin API and then read by every worker.
//
// Structure: a path-compressed binary trie (every node is a prefix; a node with one child is never
// created except for listed prefixes) kept in one flat array of 32-byte nodes linked by 32-bit indices,
// so a list is a single allocation that copies cheaply and a lookup touches at most one cache line per
// level. IPv4 and IPv6 live under two roots of the same array: an IPv4 prefix matches only IPv4
// addresses (including IPv4-mapped IPv6 "::ffff:a.b.c.d", which IpAddress already folds into IPv4), and
// an IPv6 prefix, even ::/0, never matches an IPv4 address; this is IpPrefix::contains's rule.
// See docs/shield-lists.md for why this structure and its cost per prefix.
//
// Threads: build (add/remove/load) on one thread, then share it read-only; const methods may run from any
// number of threads at once. To change a list in service, copy it, change the copy and publish the copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shield/ip_address.h"

namespace bulwark::shield {

class IpList {
 public:
  // A list line longer than this (before comment removal) is an error: no address or prefix needs more,
  // and it bounds what one bad line can cost.
  static constexpr std::size_t kMaxLineBytes = 512;
  // loadText/loadFile append at most this many error messages (plus one summary line), so a file of
  // garbage cannot grow the error list without bound.
  static constexpr std::size_t kMaxErrors = 100;
  // loadText/loadFile stop (with an error) at this many prefixes in one text: the trie needs up to 64
  // bytes per prefix, so this bounds one load at about 640 MB.
  static constexpr std::size_t kMaxPrefixes = 10'000'000;
  // loadFile refuses larger files (a 1,000,000-line IPv6 list is about 40 MB).
  static constexpr std::size_t kMaxFileBytes = std::size_t{1} << 30;

  IpList();

  // Adds `p` (its address is masked to its length first). True if the list gained the prefix; false if it
  // was already listed or `p.length` is outside 0..bits of its family (IpPrefix::parse never gives that).
  // Build phase only: not safe while another thread reads this list.
  bool add(const IpPrefix& p);
  // Removes exactly `p` (not the prefixes inside it). True if it was listed. Build phase only. The trie
  // node stays allocated (unmarked), so a list that churns should be rebuilt now and then.
  bool remove(const IpPrefix& p);

  // True if `a` is inside any listed prefix of its family. Thread-safe, allocation-free, at most
  // bits(a) + 1 node visits.
  bool contains(const IpAddress& a) const noexcept;
  // The longest listed prefix containing `a` (for logs and the admin API: which entry matched). False if
  // none. Same cost as contains().
  bool longestMatch(const IpAddress& a, IpPrefix& out) const noexcept;
  // True if exactly `p` is listed.
  bool has(const IpPrefix& p) const noexcept;

  // Number of distinct prefixes listed (a duplicate add counts once).
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Every listed prefix, IPv4 first, each family in address order with a shorter prefix before the longer
  // ones it contains. Allocates; for the admin API and tests, not the request path.
  std::vector<IpPrefix> entries() const;
  // Bytes held by the trie and its jump table (capacities), for metrics and the documentation's figures.
  std::size_t memoryBytes() const noexcept;

  // Parses `text`: one CIDR ("10.0.0.0/8", "2001:db8::/32") or bare address (a /32 or /128) per line;
  // '#' starts a comment (whole-line or trailing); blank lines and surrounding spaces, tabs and CR are
  // ignored. Valid lines are added to `into` even when other lines are bad. Every bad line appends
  // "NAME:LINE: message" to `errors` (up to kMaxErrors of them, then one "NAME: N more errors" line) and
  // makes the result false. Never reads outside `text`, whatever its bytes.
  // `maxPrefixes` (kMaxPrefixes unless a test wants a small bound) caps the prefixes taken from `text`.
  static bool loadText(std::string_view text, const std::string& name, IpList& into,
                       std::vector<std::string>& errors, std::size_t maxPrefixes = kMaxPrefixes);
  // loadText on the contents of `path`, named `path` in messages; an unreadable or oversized file appends
  // "PATH:0: message" and returns false.
  static bool loadFile(const std::string& path, IpList& into, std::vector<std::string>& errors);

 private:
  // One trie node: the prefix it stands for (the 16-byte IpAddress form as two big-endian halves, and its
  // length in that 128-bit space: an IPv4 /n is 96 + n) and its two children by the next bit.
  struct alignas(32) Node {
    uint64_t hi = 0;
    uint64_t lo = 0;
    uint32_t child[2] = {kNone, kNone};
    uint8_t length = 0;  // 0..128
    bool listed = false;
  };
  static constexpr uint32_t kNone = 0;  // as a child: no child (index 0 is a root, never anyone's child)
  static constexpr uint32_t kNotFound = ~uint32_t{0};
  static constexpr uint32_t kV6Root = 0;
  static constexpr uint32_t kV4Root = 1;

  struct Key {
    uint64_t hi;
    uint64_t lo;
    int length;     // in the 128-bit space
    uint32_t root;  // kV4Root or kV6Root: the family's trie
  };
  static bool keyOf(const IpPrefix& p, Key& out) noexcept;

  // Jump table: once a list holds kJumpThreshold prefixes, the first kJumpBits bits of an address (of its
  // own family) index a table that says where the trie walk resumes, skipping the top levels that a
  // large random list makes cache misses. Entry [family][bits]: `start`, the deepest node of length
  // <= kJumpBits (in family bits) whose prefix those bits match; `match`, the deepest listed such node or
  // kNotFound. Kept exact by every add and remove.
  static constexpr int kJumpBits = 16;
  static constexpr std::size_t kJumpThreshold = 4096;
  struct Jump {
    uint32_t start;
    uint32_t match;
  };
  static bool isV4Node(const Node& n) noexcept;
  // Length in the node's own family bits (an IPv4 node's length less 96).
  static int familyLength(const Node& n) noexcept;
  static std::size_t jumpIndex(uint32_t root, uint64_t hi, uint64_t lo) noexcept;
  void buildJumpTable();
  // Brings the entries under node `n` (of length <= kJumpBits) up to date after `n` was created, listed or
  // unlisted.
  void refreshJump(uint32_t n);

  bool insert(const Key& k);
  // The node holding exactly `k`, or kNotFound.
  uint32_t find(const Key& k) const noexcept;
  // Walks from the root of `a`'s family; calls visit(nodeIndex) for each listed node on the path, in
  // order of increasing length, until visit returns false.
  template <typename Visit>
  void walk(const IpAddress& a, Visit&& visit) const noexcept;
  uint32_t newNode(const Key& k, bool listed);

  std::vector<Node> nodes_;
  std::vector<Jump> jump_;  // empty, or 2 << kJumpBits entries: IPv6 first, then IPv4
  std::size_t size_ = 0;
};

}  // namespace bulwark::shield
