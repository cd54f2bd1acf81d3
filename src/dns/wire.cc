#include "dns/wire.h"

#include <cstring>

namespace bulwark::dns {
namespace {

inline uint8_t lowerByte(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c; }

// Offsets of each label's length byte, left to right; returns the label count (root not counted).
int labelOffsets(const Name& n, uint8_t (&offsets)[128]) {
  int count = 0;
  size_t pos = 0;
  while (pos < n.len && n.data[pos] != 0 && count < 128) {
    offsets[count++] = static_cast<uint8_t>(pos);
    pos += n.data[pos] + 1u;
  }
  return count;
}

bool bytesEqualNoCase(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (lowerByte(a[i]) != lowerByte(b[i])) return false;
  }
  return true;
}

}  // namespace

Name Name::fromWire(const uint8_t* wire, size_t len) {
  Name n;
  if (len > kMaxNameLength) len = kMaxNameLength;
  std::memcpy(n.data, wire, len);
  n.len = static_cast<uint8_t>(len);
  return n;
}

int Name::labelCount() const {
  int count = 0;
  size_t pos = 0;
  while (pos < len && data[pos] != 0) {
    ++count;
    pos += data[pos] + 1u;
  }
  return count;
}

bool Name::equalsNoCase(const Name& other) const {
  return len == other.len && bytesEqualNoCase(data, other.data, len);
}

bool Name::isSubdomainOf(const Name& ancestor) const {
  if (ancestor.len > len || ancestor.len == 0) return false;
  // Walk label boundaries so a suffix match never starts inside a label.
  size_t pos = 0;
  const size_t want = len - ancestor.len;
  while (pos < want) pos += data[pos] + 1u;
  return pos == want && bytesEqualNoCase(data + pos, ancestor.data, ancestor.len);
}

Name Name::parent() const { return stripLabels(isRoot() || empty() ? 0 : 1); }

size_t Name::suffixOffset(int n) const {
  const int total = labelCount();
  size_t pos = 0;
  for (int i = 0; i < total - n && pos < len; ++i) pos += data[pos] + 1u;
  return pos;
}

Name Name::stripLabels(int n) const {
  size_t pos = 0;
  for (int i = 0; i < n && pos < len && data[pos] != 0; ++i) pos += data[pos] + 1u;
  return fromWire(data + pos, len - pos);
}

Name Name::lowered() const {
  Name n;
  n.len = len;
  for (size_t i = 0; i < len; ++i) n.data[i] = lowerByte(data[i]);
  return n;
}

bool Name::wildcardChild(Name& out) const {
  if (len + 2u > kMaxNameLength) return false;
  out.data[0] = 1;
  out.data[1] = '*';
  std::memcpy(out.data + 2, data, len);
  out.len = static_cast<uint8_t>(len + 2);
  return true;
}

int canonicalCompare(const Name& a, const Name& b) {
  uint8_t ao[128], bo[128];
  int an = labelOffsets(a, ao);
  int bn = labelOffsets(b, bo);
  while (an > 0 && bn > 0) {
    --an;
    --bn;
    const uint8_t* la = a.data + ao[an];
    const uint8_t* lb = b.data + bo[bn];
    const size_t common = la[0] < lb[0] ? la[0] : lb[0];
    for (size_t i = 1; i <= common; ++i) {
      const uint8_t ca = lowerByte(la[i]), cb = lowerByte(lb[i]);
      if (ca != cb) return ca < cb ? -1 : 1;
    }
    if (la[0] != lb[0]) return la[0] < lb[0] ? -1 : 1;
  }
  if (an == bn) return 0;
  return an < bn ? -1 : 1;
}

bool nameFromText(std::string_view text, Name& out) {
  out.len = 0;
  if (text.empty()) return false;
  if (text == ".") {
    out = Name::root();
    return true;
  }
  uint8_t buf[kMaxNameLength + 1];
  size_t pos = 0;         // write position in buf
  size_t labelStart = 0;  // where the current label's length byte is
  size_t labelLen = 0;
  buf[0] = 0;
  pos = 1;
  size_t i = 0;
  bool endedWithDot = false;
  while (i < text.size()) {
    char c = text[i];
    endedWithDot = false;
    if (c == '.') {
      if (labelLen == 0) return false;  // empty label
      buf[labelStart] = static_cast<uint8_t>(labelLen);
      labelStart = pos;
      if (pos >= kMaxNameLength) return false;
      buf[pos++] = 0;
      labelLen = 0;
      ++i;
      endedWithDot = true;
      continue;
    }
    uint8_t byte;
    if (c == '\\') {
      if (i + 1 >= text.size()) return false;
      char d = text[i + 1];
      if (d >= '0' && d <= '9') {
        if (i + 4 > text.size()) return false;
        int v = 0;
        for (int k = 1; k <= 3; ++k) {
          char e = text[i + k];
          if (e < '0' || e > '9') return false;
          v = v * 10 + (e - '0');
        }
        if (v > 255) return false;
        byte = static_cast<uint8_t>(v);
        i += 4;
      } else {
        byte = static_cast<uint8_t>(d);
        i += 2;
      }
    } else {
      byte = static_cast<uint8_t>(c);
      ++i;
    }
    if (labelLen >= kMaxLabelLength) return false;
    if (pos >= kMaxNameLength) return false;
    buf[pos++] = byte;
    ++labelLen;
  }
  if (!endedWithDot) {
    if (labelLen == 0) return false;
    buf[labelStart] = static_cast<uint8_t>(labelLen);
    if (pos >= kMaxNameLength) return false;
    buf[pos++] = 0;
  }
  out = Name::fromWire(buf, pos);
  return true;
}

std::string nameToText(const Name& n) {
  if (n.len <= 1) return ".";
  std::string s;
  s.reserve(n.len + 8);
  size_t pos = 0;
  while (pos < n.len && n.data[pos] != 0) {
    const uint8_t l = n.data[pos];
    for (size_t k = 1; k <= l && pos + k < n.len; ++k) {
      const uint8_t c = n.data[pos + k];
      if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$') {
        s += '\\';
        s += static_cast<char>(c);
      } else if (c < 0x21 || c > 0x7e) {
        char esc[5];
        esc[0] = '\\';
        esc[1] = static_cast<char>('0' + c / 100);
        esc[2] = static_cast<char>('0' + (c / 10) % 10);
        esc[3] = static_cast<char>('0' + c % 10);
        esc[4] = 0;
        s += esc;
      } else {
        s += static_cast<char>(c);
      }
    }
    s += '.';
    pos += l + 1u;
  }
  return s;
}

bool readName(const uint8_t* msg, size_t len, size_t& pos, Name& out) {
  size_t p = pos;
  size_t outLen = 0;
  size_t endPos = 0;  // position after the name where it first appears
  bool jumped = false;
  size_t limit = p;  // a pointer must go strictly before the start of the name part that holds it
  int hops = 0;
  while (true) {
    if (p >= len) return false;
    const uint8_t l = msg[p];
    if ((l & 0xc0) == 0xc0) {
      if (p + 1 >= len) return false;
      const size_t target = static_cast<size_t>(((l & 0x3f) << 8) | msg[p + 1]);
      if (!jumped) endPos = p + 2;
      if (target >= limit || ++hops > 127) return false;  // forward pointers and loops
      jumped = true;
      limit = target;
      p = target;
      continue;
    }
    if ((l & 0xc0) != 0) return false;  // 0x40 / 0x80: reserved label types
    if (l == 0) {
      if (outLen + 1 > kMaxNameLength) return false;
      out.data[outLen++] = 0;
      break;
    }
    if (p + 1 + l > len) return false;
    if (outLen + 1 + l + 1 > kMaxNameLength) return false;
    std::memcpy(out.data + outLen, msg + p, l + 1u);
    outLen += l + 1u;
    p += l + 1u;
  }
  out.len = static_cast<uint8_t>(outLen);
  pos = jumped ? endPos : p + 1;
  return true;
}

bool skipName(const uint8_t* msg, size_t len, size_t& pos) {
  size_t p = pos;
  size_t total = 0;
  while (true) {
    if (p >= len) return false;
    const uint8_t l = msg[p];
    if ((l & 0xc0) == 0xc0) {
      if (p + 1 >= len) return false;
      pos = p + 2;
      return true;
    }
    if ((l & 0xc0) != 0) return false;
    if (l == 0) {
      pos = p + 1;
      return total + 1 <= kMaxNameLength;
    }
    total += l + 1u;
    if (total > kMaxNameLength) return false;
    p += l + 1u;
  }
}

namespace {

// Reads the question name: no compression allowed (a query's first name has nothing to point to).
bool readQuestionName(const uint8_t* pkt, size_t len, size_t& pos, Name& out) {
  size_t p = pos;
  size_t outLen = 0;
  while (true) {
    if (p >= len) return false;
    const uint8_t l = pkt[p];
    if ((l & 0xc0) != 0) return false;
    if (outLen + 1u + l > kMaxNameLength) return false;
    if (p + 1u + l > len) return false;
    std::memcpy(out.data + outLen, pkt + p, l + 1u);
    outLen += l + 1u;
    p += l + 1u;
    if (l == 0) break;
  }
  out.len = static_cast<uint8_t>(outLen);
  pos = p;
  return true;
}

// Parses the OPT record's rdata (the option list) into `out`. False when malformed.
bool parseEdnsOptions(const uint8_t* opts, size_t len, ParsedQuery& out) {
  size_t p = 0;
  while (p < len) {
    if (p + 4 > len) return false;
    const uint16_t code = readU16(opts + p);
    const uint16_t optLen = readU16(opts + p + 2);
    p += 4;
    if (p + optLen > len) return false;
    if (code == kEdnsOptionCookie) {
      // RFC 7873 §5.2.2: a client cookie alone (8 bytes) or with a server cookie of 8..32 bytes.
      if (optLen == 8) {
        out.clientCookie = opts + p;
      } else if (optLen >= 16 && optLen <= 40) {
        out.clientCookie = opts + p;
        out.serverCookie = opts + p + 8;
        out.serverCookieLen = static_cast<uint8_t>(optLen - 8);
      } else {
        out.malformedCookie = true;
        return false;
      }
    }
    p += optLen;
  }
  return true;
}

}  // namespace

ParseResult parseQuery(const uint8_t* pkt, size_t len, ParsedQuery& out) {
  out = ParsedQuery{};
  if (pkt == nullptr || len < kHeaderSize) return ParseResult::Drop;
  out.id = readU16(pkt);
  out.flags = readU16(pkt + 2);
  if (out.flags & kFlagQR) return ParseResult::Drop;
  out.opcode = static_cast<uint8_t>((out.flags >> 11) & 0x0f);
  out.qdcount = readU16(pkt + 4);
  out.ancount = readU16(pkt + 6);
  out.nscount = readU16(pkt + 8);
  out.arcount = readU16(pkt + 10);

  // NSD 4.6's order: an unknown opcode is NOTIMP whatever follows (the answerer says so); then the question
  // is read whatever qdcount says, a query carrying an RCODE is malformed, and only then the counts.
  const bool knownOpcode = out.opcode == kOpcodeQuery || out.opcode == kOpcodeNotify;
  size_t pos = kHeaderSize;
  if (!readQuestionName(pkt, len, pos, out.qname) || pos + 4 > len) {
    out.qname.len = 0;
    return knownOpcode ? ParseResult::FormErr : ParseResult::Ok;
  }
  out.qtype = readU16(pkt + pos);
  out.qclass = readU16(pkt + pos + 2);
  pos += 4;
  out.questionEnd = pos;
  if (!knownOpcode) return ParseResult::Ok;
  if ((out.flags & 0x000f) != 0) return ParseResult::FormErr;
  // NOTIFY carries other sections (the SOA in the answer); the server layer reads them.
  if (out.opcode != kOpcodeQuery) return ParseResult::Ok;

  if (out.qdcount == 0 && out.ancount == 0 && out.nscount == 0 && out.arcount == 1) {
    // RFC 7873 §5.4: a query without a question, carrying only an OPT (a cookie request), as NSD accepts it.
    out.qname.len = 0;
    out.qtype = out.qclass = 0;
    out.questionEnd = kHeaderSize;
    pos = kHeaderSize;
  } else if (out.qdcount != 1) {
    return ParseResult::FormErr;
  }
  if (out.ancount != 0) return ParseResult::FormErr;
  if (out.nscount != 0 && out.qtype != kTypeIXFR) return ParseResult::FormErr;
  for (uint16_t i = 0; i < out.nscount; ++i) {  // IXFR: the client's SOA
    if (!skipName(pkt, len, pos) || pos + 10 > len) return ParseResult::FormErr;
    const uint16_t rdlen = readU16(pkt + pos + 8);
    pos += 10;
    if (pos + rdlen > len) return ParseResult::FormErr;
    pos += rdlen;
  }
  // Additional section: at most one record, and it must be an OPT owned by the root. Trailing bytes after
  // the records are ignored (as NSD does).
  if (out.arcount > 1) return ParseResult::FormErr;
  if (out.arcount == 1) {
    if (pos >= len || pkt[pos] != 0) return ParseResult::FormErr;
    ++pos;
    if (pos + 10 > len) return ParseResult::FormErr;
    const uint16_t type = readU16(pkt + pos);
    if (type != kTypeOPT) return ParseResult::FormErr;
    out.hasEdns = true;
    out.ednsUdpSize = readU16(pkt + pos + 2);
    const uint32_t ttl = readU32(pkt + pos + 4);
    out.ednsVersion = static_cast<uint8_t>(ttl >> 16);
    out.doBit = (ttl & 0x8000u) != 0;
    const uint16_t rdlen = readU16(pkt + pos + 8);
    pos += 10;
    if (pos + rdlen > len) return ParseResult::FormErr;
    if (!parseEdnsOptions(pkt + pos, rdlen, out)) return ParseResult::FormErr;
  }
  return ParseResult::Ok;
}

// --- MessageWriter ------------------------------------------------------------------------------------

bool MessageWriter::put16(uint16_t v) {
  if (size_ + 2 > cap_) return false;
  writeU16(buf_ + size_, v);
  size_ += 2;
  return true;
}

bool MessageWriter::put32(uint32_t v) {
  if (size_ + 4 > cap_) return false;
  writeU32(buf_ + size_, v);
  size_ += 4;
  return true;
}

bool MessageWriter::putBytes(const uint8_t* p, size_t n) {
  if (size_ + n > cap_) return false;
  if (n) std::memcpy(buf_ + size_, p, n);
  size_ += n;
  return true;
}

bool MessageWriter::putHeader(uint16_t id, uint16_t flags) {
  size_ = 0;
  entries_ = 0;
  lastName_ = nullptr;
  if (cap_ < kHeaderSize) return false;
  writeU16(buf_, id);
  writeU16(buf_ + 2, flags);
  std::memset(buf_ + 4, 0, 8);
  size_ = kHeaderSize;
  return true;
}

void MessageWriter::setCount(Section s, uint16_t count) {
  if (size_ >= kHeaderSize) writeU16(buf_ + 4 + 2 * s, count);
}

uint16_t MessageWriter::count(Section s) const {
  return size_ >= kHeaderSize ? readU16(buf_ + 4 + 2 * s) : 0;
}

void MessageWriter::setFlags(uint16_t flags) {
  if (size_ >= kHeaderSize) writeU16(buf_ + 2, flags);
}

uint16_t MessageWriter::flags() const { return size_ >= kHeaderSize ? readU16(buf_ + 2) : 0; }

void MessageWriter::rollback(Mark m) {
  if (m.size <= size_) size_ = m.size;
  if (m.entries <= entries_) entries_ = m.entries;
  if (lastTarget_ >= size_) lastName_ = nullptr;
}

// True when the (possibly compressed) name at `offset` in the message equals `suffix`, ignoring case.
bool MessageWriter::matchesAt(size_t offset, const uint8_t* suffix, size_t len) const {
  size_t p = offset;
  size_t i = 0;
  for (int hops = 0; hops < 128; ++hops) {
    if (p >= size_) return false;
    const uint8_t l = buf_[p];
    if ((l & 0xc0) == 0xc0) {
      if (p + 1 >= size_) return false;
      p = static_cast<size_t>(((l & 0x3f) << 8) | buf_[p + 1]);
      continue;
    }
    if (i >= len || suffix[i] != l || p + 1u + l > size_ || i + 1u + l > len) return false;
    if (l == 0) return i + 1 == len;
    if (!bytesEqualNoCase(buf_ + p + 1, suffix + i + 1, l)) return false;
    p += l + 1u;
    i += l + 1u;
  }
  return false;
}

bool MessageWriter::putNameBytes(const uint8_t* name, size_t nameLen, bool compress) {
  if (compress && lastName_ != nullptr && nameLen == lastLen_ && lastTarget_ < size_ &&
      matchesAt(lastTarget_, name, nameLen)) {
    return put16(static_cast<uint16_t>(0xc000u | lastTarget_));
  }
  // Each suffix's key: its first label's length and first three bytes (lowercased). Cheap to compute, and
  // enough to skip nearly every entry that cannot match; matchesAt() confirms.
  uint8_t offsets[128];
  uint32_t hashes[128];
  int labels = 0;
  for (size_t p = 0; p < nameLen && name[p] != 0 && labels < 128; p += name[p] + 1u) {
    const uint8_t l = name[p];
    uint32_t key = uint32_t{l} << 24;
    if (l >= 1) key |= uint32_t{lowerByte(name[p + 1])} << 16;
    if (l >= 2) key |= uint32_t{lowerByte(name[p + 2])} << 8;
    if (l >= 3) key |= lowerByte(name[p + 3]);
    hashes[labels] = key;
    offsets[labels++] = static_cast<uint8_t>(p);
  }
  const Mark start = mark();
  for (int k = 0; k < labels; ++k) {
    const size_t pos = offsets[k];
    const size_t suffixLen = nameLen - pos;
    if (compress) {
      for (int i = 0; i < entries_; ++i) {
        const Entry& e = table_[i];
        if (e.hash == hashes[k] && e.len == suffixLen && matchesAt(e.offset, name + pos, suffixLen)) {
          if (!put16(static_cast<uint16_t>(0xc000u | e.offset))) {
            rollback(start);
            return false;
          }
          if (k == 0) remember(name, nameLen, e.offset);
          return true;
        }
      }
    }
    const size_t at = size_;
    if (!putBytes(name + pos, name[pos] + 1u)) {
      rollback(start);
      return false;
    }
    if (at <= 0x3fff && entries_ < kMaxEntries) {
      table_[entries_++] = Entry{hashes[k], static_cast<uint16_t>(at), static_cast<uint8_t>(suffixLen)};
    }
  }
  const uint8_t root = 0;
  if (!putBytes(&root, 1)) {
    rollback(start);
    return false;
  }
  if (compress && labels > 0 && start.size <= 0x3fff) remember(name, nameLen, start.size);
  return true;
}

bool MessageWriter::putName(const Name& name, bool compress) {
  return putNameBytes(name.data, name.len, compress);
}

bool MessageWriter::putQuestion(const Name& qname, uint16_t qtype, uint16_t qclass) {
  const Mark start = mark();
  if (!putNameBytes(qname.data, qname.len, true) || !put16(qtype) || !put16(qclass)) {
    rollback(start);
    return false;
  }
  return true;
}

namespace {

// Length of an uncompressed wire name at p (within max bytes), or 0 when malformed.
size_t wireNameLength(const uint8_t* p, size_t max) {
  size_t pos = 0;
  while (pos < max) {
    const uint8_t l = p[pos];
    if (l == 0) return pos + 1;
    if (l > kMaxLabelLength) return 0;
    pos += l + 1u;
  }
  return 0;
}

}  // namespace

bool MessageWriter::putRecord(const uint8_t* owner, size_t ownerLen, uint16_t type, uint16_t rclass,
                              uint32_t ttl, const uint8_t* rdata, uint16_t rdlen) {
  const Mark start = mark();
  auto fail = [&] {
    rollback(start);
    return false;
  };
  if (!putNameBytes(owner, ownerLen, true) || !put16(type) || !put16(rclass) || !put32(ttl)) return fail();
  const size_t rdlenAt = size_;
  if (!put16(0)) return fail();
  // RFC 3597 §4: compress names in rdata only for the RFC 1035 types.
  size_t p = 0;
  auto copyName = [&]() -> bool {
    const size_t n = wireNameLength(rdata + p, rdlen - p);
    if (n == 0) return false;
    if (!putNameBytes(rdata + p, n, true)) return false;
    p += n;
    return true;
  };
  bool ok = true;
  switch (type) {
    case kTypeNS:
    case kTypeCNAME:
    case kTypePTR:
      ok = copyName();
      break;
    case kTypeMX:
      ok = rdlen >= 2 && putBytes(rdata, 2);
      p = 2;
      ok = ok && copyName();
      break;
    case kTypeSOA:
      ok = copyName() && copyName();
      break;
    default:
      break;
  }
  if (!ok) return fail();
  if (!putBytes(rdata + p, rdlen - p)) return fail();
  const size_t written = size_ - rdlenAt - 2;
  if (written > 0xffff) return fail();
  writeU16(buf_ + rdlenAt, static_cast<uint16_t>(written));
  return true;
}

bool MessageWriter::putOpt(uint16_t udpSize, uint8_t extRcode, uint8_t version, bool doBit,
                           const uint8_t* options, uint16_t optionsLen) {
  const Mark start = mark();
  const uint8_t root = 0;
  const uint32_t ttl = (uint32_t{extRcode} << 24) | (uint32_t{version} << 16) | (doBit ? 0x8000u : 0u);
  if (!putBytes(&root, 1) || !put16(kTypeOPT) || !put16(udpSize) || !put32(ttl) || !put16(optionsLen) ||
      !putBytes(options, optionsLen)) {
    rollback(start);
    return false;
  }
  return true;
}

}  // namespace bulwark::dns
