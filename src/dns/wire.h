// DNS wire format: names, query parsing, and a response writer with name compression.
// Nothing here allocates on the query path; every function is safe on arbitrary (hostile) input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bulwark::dns {

// RR types and classes the protocol core handles by name.
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNS = 2;
inline constexpr uint16_t kTypeCNAME = 5;
inline constexpr uint16_t kTypeSOA = 6;
inline constexpr uint16_t kTypePTR = 12;
inline constexpr uint16_t kTypeMX = 15;
inline constexpr uint16_t kTypeTXT = 16;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeSRV = 33;
inline constexpr uint16_t kTypeDNAME = 39;
inline constexpr uint16_t kTypeOPT = 41;
inline constexpr uint16_t kTypeDS = 43;
inline constexpr uint16_t kTypeRRSIG = 46;
inline constexpr uint16_t kTypeNSEC = 47;
inline constexpr uint16_t kTypeNSEC3 = 50;
inline constexpr uint16_t kTypeIXFR = 251;
inline constexpr uint16_t kTypeAXFR = 252;
inline constexpr uint16_t kTypeMAILB = 253;
inline constexpr uint16_t kTypeMAILA = 254;
inline constexpr uint16_t kTypeANY = 255;
inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassCH = 3;
inline constexpr uint16_t kClassANY = 255;

inline constexpr uint8_t kOpcodeQuery = 0;
inline constexpr uint8_t kOpcodeNotify = 4;
inline constexpr uint16_t kEdnsOptionCookie = 10;

// Header flag bits (in the 16-bit flags word, network order already undone).
inline constexpr uint16_t kFlagQR = 0x8000;
inline constexpr uint16_t kFlagAA = 0x0400;
inline constexpr uint16_t kFlagTC = 0x0200;
inline constexpr uint16_t kFlagRD = 0x0100;
inline constexpr uint16_t kFlagRA = 0x0080;
inline constexpr uint16_t kFlagAD = 0x0020;
inline constexpr uint16_t kFlagCD = 0x0010;

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameLength = 255;
inline constexpr size_t kMaxLabelLength = 63;

// A domain name in uncompressed wire form (length-prefixed labels, terminating 0), at most 255 bytes.
// `len` counts the terminating zero, so the root name has len == 1. A default-constructed Name is empty
// (len == 0) and invalid until assigned.
struct Name {
  uint8_t len = 0;
  uint8_t data[255];

  static Name root() {
    Name n;
    n.len = 1;
    n.data[0] = 0;
    return n;
  }
  // Wraps already validated wire bytes (at most 255, ending in the root label).
  static Name fromWire(const uint8_t* wire, size_t len);

  bool empty() const { return len == 0; }
  bool isRoot() const { return len == 1; }
  int labelCount() const;  // the root label not counted: "a.b." -> 2
  // First label is "*".
  bool isWildcard() const { return len >= 2 && data[0] == 1 && data[1] == '*'; }
  // Case-insensitive (ASCII) equality, as DNS compares names.
  bool equalsNoCase(const Name& other) const;
  // True when this name is `ancestor` or below it (case-insensitive).
  bool isSubdomainOf(const Name& ancestor) const;
  // The name without its first label; the root's parent is the root.
  Name parent() const;
  // The name with its first `n` labels removed (n <= labelCount()).
  Name stripLabels(int n) const;
  // Byte offset of the suffix with `n` labels (n <= labelCount()).
  size_t suffixOffset(int n) const;
  // ASCII-lowercased copy.
  Name lowered() const;
  // "*" + "." + this; false when the result would exceed 255 bytes.
  bool wildcardChild(Name& out) const;
  std::string_view bytes() const { return {reinterpret_cast<const char*>(data), len}; }
};

// Canonical DNS name order (RFC 4034 §6.1): labels compared right to left, each as a lowercased octet
// string. Returns <0, 0, >0.
int canonicalCompare(const Name& a, const Name& b);
inline bool operator==(const Name& a, const Name& b) { return a.equalsNoCase(b); }

// Presentation form <-> wire form. nameFromText accepts relative names only as absolute ("a.b" and "a.b."
// are the same), handles \DDD and \X escapes, and rejects empty labels, labels > 63 and names > 255.
bool nameFromText(std::string_view text, Name& out);
std::string nameToText(const Name&);  // always absolute ("." for the root), escapes like NSD/Knot

// Reads a possibly compressed name at `pos` in a message. On success `pos` moves past the name as it
// appears at that position (after the first pointer, if any). Rejects pointer loops or forward pointers,
// labels > 63, names > 255 and reserved label types. Never reads outside [msg, msg+len).
bool readName(const uint8_t* msg, size_t len, size_t& pos, Name& out);

// Skips a (possibly compressed) name without decoding it.
bool skipName(const uint8_t* msg, size_t len, size_t& pos);

enum class Rcode : uint8_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NxDomain = 3,
  NotImp = 4,
  Refused = 5,
  YxDomain = 6,
  NotAuth = 9,
  BadVers = 16
};

struct ParsedQuery {  // views into the caller's buffer; no allocation
  uint16_t id = 0, flags = 0, qtype = 0, qclass = 0, qdcount = 0;
  uint16_t ancount = 0, nscount = 0, arcount = 0;
  uint8_t opcode = 0;
  Name qname;  // as received (case preserved)
  size_t questionStart = kHeaderSize;
  size_t questionEnd = 0;  // offset just after the question
  bool hasEdns = false;
  uint8_t ednsVersion = 0;
  uint16_t ednsUdpSize = 0;
  bool doBit = false;
  const uint8_t* clientCookie = nullptr;  // 8 bytes or nullptr
  const uint8_t* serverCookie = nullptr;  // 8..32 bytes or nullptr/0
  uint8_t serverCookieLen = 0;
  bool malformedCookie = false;  // COOKIE option present but of invalid length -> FORMERR

  bool recursionDesired() const { return (flags & kFlagRD) != 0; }
  bool checkingDisabled() const { return (flags & kFlagCD) != 0; }
};

enum class ParseResult { Ok, Drop /* too short for a header, or QR=1: never answer */, FormErr };

// Parses the header, the question (when qdcount == 1) and the additional section's OPT record.
// Returns Drop for fewer than 12 bytes or QR=1. FormErr for: qdcount != 1 (for opcode QUERY), a question
// or record that runs past the end, a bad name, more than one OPT, an OPT not owned by the root, a
// malformed EDNS option list or COOKIE option (then `malformedCookie` is set). On FormErr the fields parsed
// so far (id, flags, opcode, and the question if it was read) are valid, so errorResponse can echo them.
// A question with an unknown opcode is still parsed; the answerer returns NOTIMP.
ParseResult parseQuery(const uint8_t* pkt, size_t len, ParsedQuery& out);

// Builds a DNS message in a caller-provided buffer with name compression. Fixed-size state: no allocation.
// Every put* returns false (and writes nothing) when the record does not fit in `cap`.
class MessageWriter {
 public:
  MessageWriter(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap), fullCap_(cap) {}

  // Header with all counts zero. Counts are patched by finishSection.
  bool putHeader(uint16_t id, uint16_t flags);
  // Question exactly as given (name case preserved); the name becomes a compression target.
  bool putQuestion(const Name& qname, uint16_t qtype, uint16_t qclass);
  // One resource record. `owner` is compressed; names inside rdata are compressed only for NS, CNAME,
  // SOA, MX and PTR (RFC 3597 §4: never for other types). `rdata` must be uncompressed and well formed
  // for those types (zone rdata is checked at load).
  bool putRecord(const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t* rdata,
                 uint16_t rdlen) {
    return putRecord(owner.data, owner.len, type, rclass, ttl, rdata, rdlen);
  }
  // The same with the owner as uncompressed wire bytes.
  bool putRecord(const uint8_t* owner, size_t ownerLen, uint16_t type, uint16_t rclass, uint32_t ttl,
                 const uint8_t* rdata, uint16_t rdlen);
  // OPT pseudo-record: udp size, extended rcode high bits, version, DO flag, then `options` verbatim.
  bool putOpt(uint16_t udpSize, uint8_t extRcode, uint8_t version, bool doBit, const uint8_t* options,
              uint16_t optionsLen);
  // A name (compressed if `compress`).
  bool putName(const Name& name, bool compress);

  enum Section { kQuestion = 0, kAnswer = 1, kAuthority = 2, kAdditional = 3 };
  void setCount(Section s, uint16_t count);
  uint16_t count(Section s) const;
  void addCount(Section s, uint16_t n = 1) { setCount(s, count(s) + n); }
  void setFlags(uint16_t flags);
  uint16_t flags() const;

  // Roll back to an earlier size (drops compression entries that point past it).
  struct Mark {
    size_t size;
    int entries;
  };
  Mark mark() const { return {size_, entries_}; }
  void rollback(Mark m);

  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  // Sets the usable capacity (e.g. the UDP limit minus room kept for the OPT record), at most the buffer's.
  void limit(size_t cap) { cap_ = cap < fullCap_ ? cap : fullCap_; }
  uint8_t* data() { return buf_; }

 private:
  // A name suffix already in the message: compared against the message bytes themselves, so callers' names
  // need not outlive the call that wrote them.
  struct Entry {
    uint32_t hash;    // first label's length and first three bytes, lowercased
    uint16_t offset;  // where it starts in the message
    uint8_t len;      // uncompressed length
  };
  static constexpr int kMaxEntries = 96;

  bool putNameBytes(const uint8_t* name, size_t nameLen, bool compress);
  bool matchesAt(size_t offset, const uint8_t* suffix, size_t len) const;
  void remember(const uint8_t* name, size_t len, size_t target) {
    lastName_ = name;
    lastLen_ = len;
    lastTarget_ = static_cast<uint16_t>(target);
  }
  bool put16(uint16_t v);
  bool put32(uint32_t v);
  bool putBytes(const uint8_t* p, size_t n);

  uint8_t* buf_;
  size_t cap_;
  size_t fullCap_;
  // The last name written with compression and where it can be pointed at: the records of one RRset share
  // their owner, which then costs one comparison (against the message, so callers may reuse buffers).
  const uint8_t* lastName_ = nullptr;
  size_t lastLen_ = 0;
  uint16_t lastTarget_ = 0;
  size_t size_ = 0;
  int entries_ = 0;
  Entry table_[kMaxEntries];
};

inline uint16_t readU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t readU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void writeU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void writeU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace bulwark::dns
