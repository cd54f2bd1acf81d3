#include "shield/ip_list.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace bulwark::shield {

namespace {

constexpr uint64_t kMappedLo = 0x0000ffff00000000ull;  // low half of ::ffff:0.0.0.0

uint64_t loadBigEndian(const uint8_t* p) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void storeBigEndian(uint64_t v, uint8_t* p) noexcept {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

// Bit `i` (0 = most significant) of the 128-bit value hi:lo; i < 128.
int bitAt(uint64_t hi, uint64_t lo, int i) noexcept {
  return i < 64 ? static_cast<int>((hi >> (63 - i)) & 1) : static_cast<int>((lo >> (127 - i)) & 1);
}

// Number of leading bits on which two 128-bit values agree (128 if equal).
int commonBits(uint64_t hiA, uint64_t loA, uint64_t hiB, uint64_t loB) noexcept {
  if (uint64_t x = hiA ^ hiB; x != 0) return std::countl_zero(x);
  if (uint64_t x = loA ^ loB; x != 0) return 64 + std::countl_zero(x);
  return 128;
}

// Clears every bit after the first `length` (0..128).
void maskTo(uint64_t& hi, uint64_t& lo, int length) noexcept {
  if (length <= 64) {
    lo = 0;
    hi = length == 0 ? 0 : hi & (~uint64_t{0} << (64 - length));
  } else if (length < 128) {
    lo &= ~uint64_t{0} << (128 - length);
  }
}

bool isBlank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

// The offending text for a message: at most 64 bytes, anything but printable ASCII as \xHH, so a hostile
// file cannot put control bytes into the logs.
std::string quoted(std::string_view s) {
  constexpr std::size_t kShown = 64;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > kShown) out += "...";
  out += "'";
  return out;
}

// Collects load errors up to IpList::kMaxErrors, then counts the rest for one closing line.
class ErrorSink {
 public:
  ErrorSink(const std::string& name, std::vector<std::string>& errors) : name_(name), errors_(errors) {}
  ~ErrorSink() {
    if (dropped_ > 0) errors_.push_back(name_ + ": " + std::to_string(dropped_) + " more errors not shown");
  }
  void add(std::size_t line, const std::string& message) {
    ++count_;
    if (count_ > IpList::kMaxErrors) {
      ++dropped_;
      return;
    }
    errors_.push_back(name_ + ":" + std::to_string(line) + ": " + message);
  }
  bool any() const noexcept { return count_ > 0; }

 private:
  const std::string& name_;
  std::vector<std::string>& errors_;
  std::size_t count_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace

IpList::IpList() {
  nodes_.resize(2);
  nodes_[kV6Root] = Node{};  // ::/0
  nodes_[kV4Root].lo = kMappedLo;
  nodes_[kV4Root].length = 96;  // ::ffff:0:0/96, the parent of every IPv4 prefix
}

bool IpList::keyOf(const IpPrefix& p, Key& out) noexcept {
  const int familyBits = p.address.bits();
  if (p.length < 0 || p.length > familyBits) return false;
  const uint8_t* bytes = p.address.bytes().data();
  out.hi = loadBigEndian(bytes);
  out.lo = loadBigEndian(bytes + 8);
  out.length = (familyBits == 32 ? 96 : 0) + p.length;
  out.root = familyBits == 32 ? kV4Root : kV6Root;
  maskTo(out.hi, out.lo, out.length);
  return true;
}

uint32_t IpList::newNode(const Key& k, bool listed) {
  Node n;
  n.hi = k.hi;
  n.lo = k.lo;
  n.length = static_cast<uint8_t>(k.length);
  n.listed = listed;
  nodes_.push_back(n);
  return static_cast<uint32_t>(nodes_.size() - 1);
}

bool IpList::add(const IpPrefix& p) {
  Key k;
  return keyOf(p, k) && insert(k);
}

bool IpList::insert(const Key& k) {
  // Nodes created or newly listed: the jump entries under them need a refresh.
  uint32_t changed[2] = {kNotFound, kNotFound};
  uint32_t cur = k.root;
  // Invariant: the prefix of node `cur` is a prefix of k (true of the family's root).
  for (;;) {
    const int curLength = nodes_[cur].length;
    if (curLength == k.length) {
      if (nodes_[cur].listed) return false;
      nodes_[cur].listed = true;
      changed[0] = cur;
      break;
    }
    const int side = bitAt(k.hi, k.lo, curLength);
    const uint32_t child = nodes_[cur].child[side];
    if (child == kNone) {
      const uint32_t leaf = newNode(k, true);
      nodes_[cur].child[side] = leaf;
      changed[0] = leaf;
      break;
    }
    const Node c = nodes_[child];  // a copy: newNode below may move the array
    const int shared = std::min({commonBits(k.hi, k.lo, c.hi, c.lo), k.length, static_cast<int>(c.length)});
    if (shared == c.length) {
      cur = child;
      continue;
    }
    uint32_t between;
    if (shared == k.length) {
      // k sits between cur and child: it becomes child's parent.
      between = newNode(k, true);
    } else {
      // k and child part ways after `shared` bits: a branch node there holds both.
      Key fork{k.hi, k.lo, shared, k.root};
      maskTo(fork.hi, fork.lo, shared);
      between = newNode(fork, false);
      const uint32_t leaf = newNode(k, true);
      nodes_[between].child[bitAt(k.hi, k.lo, shared)] = leaf;
      changed[1] = leaf;
    }
    nodes_[between].child[bitAt(c.hi, c.lo, shared)] = child;
    nodes_[cur].child[side] = between;
    changed[0] = between;
    break;
  }
  ++size_;
  if (jump_.empty()) {
    if (size_ >= kJumpThreshold) buildJumpTable();
  } else {
    for (uint32_t n : changed) {
      if (n != kNotFound) refreshJump(n);
    }
  }
  return true;
}

uint32_t IpList::find(const Key& k) const noexcept {
  uint32_t cur = k.root;
  for (;;) {
    const Node& n = nodes_[cur];
    if (n.length == k.length) return cur;
    const uint32_t child = n.child[bitAt(k.hi, k.lo, n.length)];
    if (child == kNone) return kNotFound;
    const Node& c = nodes_[child];
    if (c.length > k.length || commonBits(k.hi, k.lo, c.hi, c.lo) < c.length) return kNotFound;
    cur = child;
  }
}

bool IpList::remove(const IpPrefix& p) {
  Key k;
  if (!keyOf(p, k)) return false;
  const uint32_t n = find(k);
  if (n == kNotFound || !nodes_[n].listed) return false;
  nodes_[n].listed = false;
  --size_;
  if (!jump_.empty()) refreshJump(n);
  return true;
}

bool IpList::has(const IpPrefix& p) const noexcept {
  Key k;
  if (!keyOf(p, k)) return false;
  const uint32_t n = find(k);
  return n != kNotFound && nodes_[n].listed;
}

bool IpList::isV4Node(const Node& n) noexcept {
  // Only the IPv4 root's subtree holds ::ffff:0:0/96 and longer prefixes under it; no IPv6 prefix of
  // 96 bits or more is IPv4-mapped (IpPrefix gives such text the IPv4 family).
  return n.length >= 96 && n.hi == 0 && n.lo >> 32 == 0xffff;
}

int IpList::familyLength(const Node& n) noexcept { return n.length - (isV4Node(n) ? 96 : 0); }

std::size_t IpList::jumpIndex(uint32_t root, uint64_t hi, uint64_t lo) noexcept {
  // IPv6: bits 0..15 of the address; IPv4: bits 96..111 (the first two octets).
  return root == kV6Root ? static_cast<std::size_t>(hi >> 48)
                         : (std::size_t{1} << kJumpBits) + static_cast<std::size_t>((lo >> 16) & 0xffff);
}

void IpList::buildJumpTable() {
  jump_.assign(std::size_t{2} << kJumpBits, Jump{kV6Root, kNotFound});
  for (std::size_t i = std::size_t{1} << kJumpBits; i < jump_.size(); ++i) jump_[i].start = kV4Root;
  // Every node of length <= kJumpBits refreshes its range; a parent comes before its children (a
  // preorder walk), so the deepest node of each chain writes last.
  std::vector<uint32_t> stack = {kV6Root, kV4Root};
  while (!stack.empty()) {
    const uint32_t n = stack.back();
    stack.pop_back();
    refreshJump(n);
    for (uint32_t child : nodes_[n].child) {
      if (child != kNone && familyLength(nodes_[child]) <= kJumpBits) stack.push_back(child);
    }
  }
}

void IpList::refreshJump(uint32_t n) {
  const Node& node = nodes_[n];
  const bool v4 = isV4Node(node);
  const int length = familyLength(node);
  if (length > kJumpBits) return;
  const std::size_t first = jumpIndex(v4 ? kV4Root : kV6Root, node.hi, node.lo);
  const std::size_t count = std::size_t{1} << (kJumpBits - length);
  for (std::size_t i = first; i < first + count; ++i) {
    Jump& j = jump_[i];
    if (nodes_[j.start].length < node.length) j.start = n;
    if (node.listed) {
      if (j.match == kNotFound || nodes_[j.match].length < node.length) j.match = n;
    } else if (j.match == n) {
      // n was unlisted: the next listed node up the chain from n takes over.
      j.match = kNotFound;
      uint32_t cur = v4 ? kV4Root : kV6Root;
      while (cur != n) {
        if (nodes_[cur].listed) j.match = cur;
        cur = nodes_[cur].child[bitAt(node.hi, node.lo, nodes_[cur].length)];
      }
    }
  }
}

template <typename Visit>
void IpList::walk(const IpAddress& a, Visit&& visit) const noexcept {
  const uint8_t* bytes = a.bytes().data();
  const uint64_t hi = loadBigEndian(bytes);
  const uint64_t lo = loadBigEndian(bytes + 8);
  uint32_t cur = a.isV4() ? kV4Root : kV6Root;
  if (!jump_.empty()) {
    const Jump& j = jump_[jumpIndex(cur, hi, lo)];
    if (j.match != kNotFound && !visit(j.match)) return;
    cur = j.start;
  } else if (nodes_[cur].listed && !visit(cur)) {
    return;
  }
  for (;;) {
    const Node& n = nodes_[cur];
    if (n.length == 128) return;
    const uint32_t child = n.child[bitAt(hi, lo, n.length)];
    if (child == kNone) return;
    const Node& c = nodes_[child];
    if (commonBits(hi, lo, c.hi, c.lo) < c.length) return;
    cur = child;
    if (c.listed && !visit(cur)) return;
  }
}

bool IpList::contains(const IpAddress& a) const noexcept {
  bool found = false;
  walk(a, [&](uint32_t) {
    found = true;
    return false;  // any listed prefix on the path answers; no need to go deeper
  });
  return found;
}

bool IpList::longestMatch(const IpAddress& a, IpPrefix& out) const noexcept {
  uint32_t best = kNotFound;
  walk(a, [&](uint32_t n) {
    best = n;
    return true;
  });
  if (best == kNotFound) return false;
  const Node& n = nodes_[best];
  uint8_t bytes[16];
  storeBigEndian(n.hi, bytes);
  storeBigEndian(n.lo, bytes + 8);
  out.address = IpAddress::v6(bytes);
  out.length = familyLength(n);
  return true;
}

std::vector<IpPrefix> IpList::entries() const {
  std::vector<IpPrefix> out;
  out.reserve(size_);
  std::vector<uint32_t> stack;
  for (uint32_t root : {kV4Root, kV6Root}) {
    stack.push_back(root);
    while (!stack.empty()) {
      const Node& n = nodes_[stack.back()];
      stack.pop_back();
      if (n.listed) {
        uint8_t bytes[16];
        storeBigEndian(n.hi, bytes);
        storeBigEndian(n.lo, bytes + 8);
        IpPrefix p;
        p.address = IpAddress::v6(bytes);
        p.length = root == kV4Root ? n.length - 96 : n.length;
        out.push_back(p);
      }
      // Right child first so the left (smaller addresses) comes out first.
      if (n.child[1] != kNone) stack.push_back(n.child[1]);
      if (n.child[0] != kNone) stack.push_back(n.child[0]);
    }
  }
  return out;
}

std::size_t IpList::memoryBytes() const noexcept {
  return nodes_.capacity() * sizeof(Node) + jump_.capacity() * sizeof(Jump);
}

bool IpList::loadText(std::string_view text, const std::string& name, IpList& into,
                      std::vector<std::string>& errors, std::size_t maxPrefixes) {
  ErrorSink sink(name, errors);
  // Parse everything first, then insert in address order: consecutive inserts then share most of their
  // trie path, which stays in cache (3x faster for a large random list than inserting in file order).
  std::vector<Key> keys;
  std::size_t lineNumber = 0;
  while (!text.empty()) {
    ++lineNumber;
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.size() > kMaxLineBytes) {
      sink.add(lineNumber, "line longer than " + std::to_string(kMaxLineBytes) + " bytes");
      continue;
    }
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    IpPrefix p;
    if (!IpPrefix::parse(line, p)) {
      sink.add(lineNumber, "not an IP address or CIDR prefix: " + quoted(line));
      continue;
    }
    if (keys.size() >= maxPrefixes) {
      sink.add(lineNumber, "more than " + std::to_string(maxPrefixes) + " prefixes; the rest is ignored");
      break;
    }
    keys.emplace_back();
    keyOf(p, keys.back());  // cannot fail: IpPrefix::parse checked the length
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.root != b.root) return a.root < b.root;
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return a.length < b.length;
  });
  // Each new prefix adds at most two nodes.
  into.nodes_.reserve(into.nodes_.size() + 2 * keys.size());
  for (const Key& k : keys) into.insert(k);
  return !sink.any();
}

bool IpList::loadFile(const std::string& path, IpList& into, std::vector<std::string>& errors) {
  const auto fail = [&](const std::string& what, int err) {
    errors.push_back(path + ":0: " + what + ": " + std::generic_category().message(err));
    return false;
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail("cannot open", errno);
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    const int err = errno;
    std::fclose(f);
    return fail("cannot stat", err);
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > kMaxFileBytes) {
    std::fclose(f);
    return fail(S_ISREG(st.st_mode) ? "file larger than 1 GiB" : "not a regular file",
                S_ISREG(st.st_mode) ? EFBIG : EINVAL);
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  const std::size_t got = std::fread(text.data(), 1, text.size(), f);
  const bool readError = std::ferror(f) != 0;
  std::fclose(f);
  if (readError) return fail("cannot read", EIO);
  text.resize(got);  // the file may have shrunk since fstat; what was read is what counts
  return loadText(text, path, into, errors);
}

}  // namespace bulwark::shield
