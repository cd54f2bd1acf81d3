#include "dns/xfr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>

#include "dns/journal.h"

namespace bulwark::dns {

// ---- serial arithmetic --------------------------------------------------------------------------------

bool serialGreater(uint32_t a, uint32_t b) noexcept {
  // RFC 1982 §3.2 with SERIAL_BITS = 32.
  return a != b && ((a > b && a - b < 0x80000000u) || (a < b && b - a > 0x80000000u));
}

// ---- CIDR ---------------------------------------------------------------------------------------------

bool parseCidr(std::string_view text, Cidr& out) {
  std::string addr(text);
  int bits = -1;
  if (auto slash = addr.find('/'); slash != std::string::npos) {
    std::string len = addr.substr(slash + 1);
    addr.resize(slash);
    if (len.empty() || len.size() > 3) return false;
    bits = 0;
    for (char c : len) {
      if (c < '0' || c > '9') return false;
      bits = bits * 10 + (c - '0');
    }
  }
  Cidr c;
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET;
    if (bits < 0) bits = 32;
    if (bits > 32) return false;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.family = AF_INET6;
    if (bits < 0) bits = 128;
    if (bits > 128) return false;
  } else {
    return false;
  }
  c.bits = static_cast<uint8_t>(bits);
  out = c;
  return true;
}

namespace {

bool prefixMatch(const uint8_t* a, const uint8_t* b, int bits) {
  int full = bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

bool transferAllowed(const sockaddr* client, const std::vector<Cidr>& allowed) {
  if (client == nullptr) return false;
  int family;
  uint8_t addr[16];
  if (client->sa_family == AF_INET) {
    family = AF_INET;
    std::memcpy(addr, &reinterpret_cast<const sockaddr_in*>(client)->sin_addr, 4);
  } else if (client->sa_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr.s6_addr;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a6, kMapped, 12) == 0) {
      family = AF_INET;
      std::memcpy(addr, a6 + 12, 4);
    } else {
      family = AF_INET6;
      std::memcpy(addr, a6, 16);
    }
  } else {
    return false;
  }
  for (const Cidr& c : allowed) {
    if (c.family == family && prefixMatch(addr, c.addr, c.bits)) return true;
  }
  return false;
}

// ---- owned records ------------------------------------------------------------------------------------

OwnedRecord toOwned(const RecordView& r) {
  OwnedRecord o;
  o.owner = *r.owner;
  o.type = r.type;
  o.rclass = r.rclass;
  o.ttl = r.ttl;
  o.rdata.assign(r.rdata, r.rdata + r.rdlen);
  return o;
}

bool sameRecord(const OwnedRecord& a, const OwnedRecord& b) {
  return a.type == b.type && a.rclass == b.rclass && a.ttl == b.ttl && a.rdata == b.rdata &&
         a.owner.equalsNoCase(b.owner);
}

bool soaSerial(const uint8_t* rdata, size_t rdlen, uint32_t& serial) {
  // mname, rname (uncompressed), then 5 x 32 bits.
  size_t pos = 0;
  for (int n = 0; n < 2; ++n) {
    while (true) {
      if (pos >= rdlen) return false;
      uint8_t l = rdata[pos];
      if (l > 63) return false;
      pos += 1 + l;
      if (l == 0) break;
    }
  }
  if (rdlen - pos != 20 || pos > rdlen) return false;
  serial = readU32(rdata + pos);
  return true;
}

namespace {

bool recordSerial(const OwnedRecord& r, uint32_t& serial) {
  return r.type == kTypeSOA && soaSerial(r.rdata.data(), r.rdata.size(), serial);
}

// ---- a stream of response messages ----------------------------------------------------------------------

// Writes records into successive messages of at most 65535 bytes, starting a new one once `chunkBytes` is
// reached. The MessageWriter keeps pointers to the names it can compress against, so the owners of the
// records of the current message are copied into `owners_` (stable addresses) for the message's lifetime.
class XfrStream {
 public:
  XfrStream(const ParsedQuery& q, const MessageSink& sink, size_t chunkBytes)
      : q_(q),
        sink_(&sink),
        chunk_(std::max<size_t>(chunkBytes, 512)),
        buf_(65535),
        w_(buf_.data(), buf_.size()) {
    begin(true);
  }

  // Rdata must stay valid until the message is flushed (zone rdata or OwnedRecord rdata).
  bool add(const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t* rdata,
           uint16_t rdlen) {
    if (failed_) return false;
    if (w_.size() >= chunk_ && w_.count(MessageWriter::kAnswer) > 0) {
      if (!flush()) return false;
      begin(false);
    }
    owners_.push_back(owner);
    if (put(owners_.back(), type, rclass, ttl, rdata, rdlen)) return true;
    if (w_.count(MessageWriter::kAnswer) == 0) return fail();  // a record larger than a message
    owners_.pop_back();
    if (!flush()) return false;
    begin(false);
    owners_.push_back(owner);
    return put(owners_.back(), type, rclass, ttl, rdata, rdlen) || fail();
  }
  bool add(const OwnedRecord& r) {
    return add(r.owner, r.type, r.rclass, r.ttl, r.rdata.data(), static_cast<uint16_t>(r.rdata.size()));
  }
  bool finish() { return !failed_ && flush(); }
  size_t messages() const { return messages_; }
  // The sink for the messages from here on (a cursor is resumed with the caller's sink of the moment).
  void setSink(const MessageSink& sink) { sink_ = &sink; }

 private:
  static constexpr size_t kOptReserve = 11;

  void begin(bool first) {
    owners_.clear();
    w_ = MessageWriter(buf_.data(), buf_.size() - kOptReserve);
    uint16_t flags = kFlagQR | kFlagAA | (q_.flags & kFlagRD);
    w_.putHeader(q_.id, flags);
    if (first || repeatQuestion_) {
      w_.putQuestion(q_.qname, q_.qtype, q_.qclass);
      w_.setCount(MessageWriter::kQuestion, 1);
    }
  }
  bool put(const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t* rdata,
           uint16_t rdlen) {
    if (!w_.putRecord(owner, type, rclass, ttl, rdata, rdlen)) return false;
    w_.addCount(MessageWriter::kAnswer);
    return true;
  }
  bool flush() {
    size_t n = w_.size();
    if (q_.hasEdns) {
      // Room for the OPT was kept out of the writer's capacity; append it by hand (nothing to compress).
      uint8_t* p = buf_.data() + n;
      p[0] = 0;                   // root owner
      writeU16(p + 1, kTypeOPT);  // type
      writeU16(p + 3, 1232);      // UDP payload size
      p[5] = 0;                   // extended rcode
      p[6] = 0;                   // version
      writeU16(p + 7, 0);         // flags
      writeU16(p + 9, 0);         // rdlen
      writeU16(buf_.data() + 10, static_cast<uint16_t>(w_.count(MessageWriter::kAdditional) + 1));
      n += kOptReserve;
    }
    ++messages_;
    return (*sink_)(buf_.data(), n) || fail();
  }
  bool fail() {
    failed_ = true;
    return false;
  }

  const ParsedQuery q_;  // a copy: a cursor outlives the packet (only the header and question are used)
  const MessageSink* sink_;
  size_t chunk_;
  std::vector<uint8_t> buf_;
  MessageWriter w_;
  std::deque<Name> owners_;
  bool failed_ = false;
  bool repeatQuestion_ = false;
  size_t messages_ = 0;
};

}  // namespace

// ---- AXFR ---------------------------------------------------------------------------------------------

// Zone::RecordCursor's records (canonical order, SOA first), then the SOA again; resumable after any
// record.
struct AxfrCursor::Impl {
  Impl(const Zone& z, const ParsedQuery& q, const XfrLimits& limits)
      : zone(z), records(z), stream(q, noSink_, limits.chunkBytes) {}

  enum class Phase { Records, Done, Failed };
  static bool noSink(const uint8_t*, size_t) { return false; }

  const Zone& zone;
  Zone::RecordCursor records;
  const MessageSink noSink_ = noSink;
  XfrStream stream;
  Phase phase = Phase::Records;

  // One record, or the closing SOA and the last message; false when the stream failed.
  bool step() {
    RecordView r;
    if (records.next(r)) return stream.add(*r.owner, r.type, r.rclass, r.ttl, r.rdata, r.rdlen);
    // The trailing SOA: the apex owner from the zone (stable), rdata from the zone blob (stable).
    phase = Phase::Done;
    const Zone::Rdata& rd = zone.rdata(zone.soa(), 0);
    const Name apex = zone.nodeName(*zone.apex());
    return stream.add(apex, kTypeSOA, kClassIN, rd.ttl, zone.rdataBytes(rd), rd.len) && stream.finish();
  }
};

AxfrCursor::AxfrCursor(const Zone& zone, const ParsedQuery& query, const XfrLimits& limits)
    : impl_(std::make_unique<Impl>(zone, query, limits)) {}

AxfrCursor::~AxfrCursor() = default;

bool AxfrCursor::done() const noexcept { return impl_->phase == Impl::Phase::Done; }

bool AxfrCursor::next(const MessageSink& sink, size_t maxMessages) {
  Impl& c = *impl_;
  if (c.phase == Impl::Phase::Failed) return false;
  c.stream.setSink(sink);
  const size_t start = c.stream.messages();
  while (c.phase == Impl::Phase::Records && c.stream.messages() - start < maxMessages) {
    if (!c.step()) {
      c.phase = Impl::Phase::Failed;
      c.stream.setSink(c.noSink_);
      return false;
    }
  }
  c.stream.setSink(c.noSink_);  // the caller's sink may not outlive this call
  return true;
}

bool buildAxfr(const Zone& zone, const ParsedQuery& query, const MessageSink& sink, const XfrLimits& limits) {
  AxfrCursor cursor(zone, query, limits);
  return cursor.next(sink, SIZE_MAX) && cursor.done();
}

// ---- IXFR ---------------------------------------------------------------------------------------------

bool ixfrClientSerial(const uint8_t* pkt, size_t len, const ParsedQuery& query, uint32_t& serial) {
  if (query.nscount < 1) return false;
  size_t pos = query.questionEnd;
  for (uint16_t i = 0; i < query.ancount; ++i) {
    if (!skipName(pkt, len, pos) || pos + 10 > len) return false;
    pos += 10 + readU16(pkt + pos + 8);
    if (pos > len) return false;
  }
  Name owner;
  if (!readName(pkt, len, pos, owner) || pos + 10 > len) return false;
  uint16_t type = readU16(pkt + pos);
  uint16_t rdlen = readU16(pkt + pos + 8);
  pos += 10;
  if (type != kTypeSOA || pos + rdlen > len || rdlen < 22) return false;
  // The names may be compressed: the serial is the 20-byte tail's first word.
  size_t p = pos;
  Name tmp;
  if (!readName(pkt, len, p, tmp) || !readName(pkt, len, p, tmp)) return false;
  if (p + 20 != pos + rdlen) return false;
  serial = readU32(pkt + p);
  return true;
}

namespace {

OwnedRecord currentSoa(const Zone& zone) {
  const Zone::RRset& set = zone.soa();
  const Zone::Rdata& rd = zone.rdata(set, 0);
  OwnedRecord r;
  r.owner = zone.nodeName(*zone.apex());
  r.type = kTypeSOA;
  r.rclass = kClassIN;
  r.ttl = rd.ttl;
  r.rdata.assign(zone.rdataBytes(rd), zone.rdataBytes(rd) + rd.len);
  return r;
}

bool ixfrStream(const std::vector<const JournalDelta*>& chain, const OwnedRecord& soa,
                const ParsedQuery& query, const MessageSink& sink, size_t chunk) {
  XfrStream s(query, sink, chunk);
  if (!s.add(soa)) return false;
  for (const JournalDelta* d : chain) {
    if (!s.add(d->oldSoa)) return false;
    for (const OwnedRecord& r : d->removed)
      if (!s.add(r)) return false;
    if (!s.add(d->newSoa)) return false;
    for (const OwnedRecord& r : d->added)
      if (!s.add(r)) return false;
  }
  if (!chain.empty() && !s.add(soa)) return false;
  return s.finish();
}

}  // namespace

bool ixfrNeedsFullZone(const Journal* journal, const Zone& current, uint32_t clientSerial) {
  if (clientSerial == current.serial() || serialGreater(clientSerial, current.serial())) return false;
  std::vector<const JournalDelta*> chain;
  return journal == nullptr || !journal->chain(clientSerial, current.serial(), chain);
}

bool buildIxfr(const Journal* journal, const Zone& current, const ParsedQuery& query, uint32_t clientSerial,
               bool tcp, size_t udpSize, const MessageSink& sink, const XfrLimits& limits) {
  OwnedRecord soa = currentSoa(current);
  std::vector<const JournalDelta*> chain;
  bool upToDate = clientSerial == current.serial() || serialGreater(clientSerial, current.serial());
  bool incremental = !upToDate && journal != nullptr && journal->chain(clientSerial, current.serial(), chain);
  JournalDelta condensed;
  if (incremental && limits.condenseIxfr && chain.size() > 1) {
    condensed = condenseDeltas(chain);
    chain.assign(1, &condensed);
  }
  if (tcp) {
    if (upToDate) return ixfrStream({}, soa, query, sink, limits.chunkBytes);
    if (incremental) return ixfrStream(chain, soa, query, sink, limits.chunkBytes);
    return buildAxfr(current, query, sink, limits);
  }
  // UDP: the whole reply must fit in one datagram, else the single SOA (RFC 1995 §2).
  if (udpSize < 512) udpSize = 512;
  if (incremental) {
    std::vector<uint8_t> one;
    size_t count = 0;
    bool ok = ixfrStream(
        chain, soa, query,
        [&](const uint8_t* m, size_t n) {
          ++count;
          one.assign(m, m + n);
          return count == 1 && n <= udpSize;
        },
        65535);
    if (ok && count == 1) return sink(one.data(), one.size());
  }
  return ixfrStream({}, soa, query, sink, limits.chunkBytes);
}

// ---- NOTIFY and queries ---------------------------------------------------------------------------------

size_t buildNotify(const Name& zone, uint16_t id, const OwnedRecord* soa, uint8_t* out, size_t cap) {
  MessageWriter w(out, cap);
  if (!w.putHeader(id, static_cast<uint16_t>((kOpcodeNotify << 11) | kFlagAA))) return 0;
  if (!w.putQuestion(zone, kTypeSOA, kClassIN)) return 0;
  w.setCount(MessageWriter::kQuestion, 1);
  if (soa != nullptr) {
    if (!w.putRecord(soa->owner, kTypeSOA, kClassIN, soa->ttl, soa->rdata.data(),
                     static_cast<uint16_t>(soa->rdata.size())))
      return 0;
    w.setCount(MessageWriter::kAnswer, 1);
  }
  return w.size();
}

size_t buildQuery(const Name& zone, uint16_t qtype, uint16_t id, const OwnedRecord* ixfrSerialSoa,
                  uint8_t* out, size_t cap) {
  MessageWriter w(out, cap);
  if (!w.putHeader(id, 0)) return 0;
  if (!w.putQuestion(zone, qtype, kClassIN)) return 0;
  w.setCount(MessageWriter::kQuestion, 1);
  if (ixfrSerialSoa != nullptr) {
    if (!w.putRecord(ixfrSerialSoa->owner, kTypeSOA, kClassIN, ixfrSerialSoa->ttl,
                     ixfrSerialSoa->rdata.data(), static_cast<uint16_t>(ixfrSerialSoa->rdata.size())))
      return 0;
    w.setCount(MessageWriter::kAuthority, 1);
  }
  return w.size();
}

size_t buildNotifyResponse(const uint8_t* pkt, size_t len, const ParsedQuery& query, Rcode rcode,
                           uint8_t* out, size_t cap) {
  (void)pkt;
  (void)len;
  MessageWriter w(out, cap);
  uint16_t flags = static_cast<uint16_t>(kFlagQR | (kOpcodeNotify << 11) | static_cast<uint16_t>(rcode));
  if (rcode == Rcode::NoError) flags |= kFlagAA;
  if (!w.putHeader(query.id, flags)) return 0;
  if (query.qdcount == 1 && query.questionEnd > 0) {
    if (!w.putQuestion(query.qname, query.qtype, query.qclass)) return 0;
    w.setCount(MessageWriter::kQuestion, 1);
  }
  return w.size();
}

bool parseReplyHeader(const uint8_t* msg, size_t len, ReplyHeader& out) {
  if (len < kHeaderSize) return false;
  out.id = readU16(msg);
  out.flags = readU16(msg + 2);
  out.qdcount = readU16(msg + 4);
  out.ancount = readU16(msg + 6);
  out.nscount = readU16(msg + 8);
  out.arcount = readU16(msg + 10);
  return true;
}

// ---- parsing records (names decompressed) ---------------------------------------------------------------

namespace {

// Layout of the names inside rdata for the types whose names may arrive compressed: a sequence of
// fixed-size fields (bytes) and names. 'N' = name, digit = that many fixed bytes, 'S' = char-string.
const char* rdataLayout(uint16_t type) {
  switch (type) {
    case 2:   // NS
    case 3:   // MD
    case 4:   // MF
    case 5:   // CNAME
    case 7:   // MB
    case 8:   // MG
    case 9:   // MR
    case 12:  // PTR
      return "N";
    case 6:  // SOA
      return "NN";
    case 14:  // MINFO
    case 17:  // RP
      return "NN";
    case 15:  // MX
    case 18:  // AFSDB
    case 21:  // RT
    case 36:  // KX
      return "2N";
    case 26:  // PX
      return "2NN";
    case 33:  // SRV
      return "6N";
    case 35:  // NAPTR
      return "4SSSN";
    default:
      return nullptr;
  }
}

bool decodeRdata(const uint8_t* msg, size_t pos, uint16_t rdlen, uint16_t type, std::vector<uint8_t>& out) {
  const char* layout = rdataLayout(type);
  size_t end = pos + rdlen;
  if (layout == nullptr) {
    out.assign(msg + pos, msg + end);
    return true;
  }
  out.clear();
  for (const char* l = layout; *l; ++l) {
    if (*l == 'N') {
      Name n;
      if (!readName(msg, end, pos, n)) return false;
      out.insert(out.end(), n.data, n.data + n.len);
    } else if (*l == 'S') {
      if (pos >= end || pos + 1 + msg[pos] > end) return false;
      out.insert(out.end(), msg + pos, msg + pos + 1 + msg[pos]);
      pos += 1 + msg[pos];
    } else {
      size_t n = static_cast<size_t>(*l - '0');
      if (pos + n > end) return false;
      out.insert(out.end(), msg + pos, msg + pos + n);
      pos += n;
    }
  }
  if (type == kTypeSOA) {
    if (pos + 20 != end) return false;
    out.insert(out.end(), msg + pos, msg + end);
    pos = end;
  }
  if (pos != end) return false;
  return out.size() <= 65535;
}

}  // namespace

bool parseAnswerRecords(const uint8_t* msg, size_t len, std::vector<OwnedRecord>& out, size_t maxRecords) {
  ReplyHeader h;
  if (!parseReplyHeader(msg, len, h)) return false;
  size_t pos = kHeaderSize;
  for (uint16_t i = 0; i < h.qdcount; ++i) {
    if (!skipName(msg, len, pos) || pos + 4 > len) return false;
    pos += 4;
  }
  if (h.ancount > maxRecords) return false;
  for (uint16_t i = 0; i < h.ancount; ++i) {
    OwnedRecord r;
    if (!readName(msg, len, pos, r.owner) || pos + 10 > len) return false;
    r.type = readU16(msg + pos);
    r.rclass = readU16(msg + pos + 2);
    r.ttl = readU32(msg + pos + 4);
    uint16_t rdlen = readU16(msg + pos + 8);
    pos += 10;
    if (pos + rdlen > len) return false;
    // Names inside rdata are read within [msg, end of rdata): compression pointers go backwards only.
    if (!decodeRdata(msg, pos, rdlen, r.type, r.rdata)) return false;
    pos += rdlen;
    out.push_back(std::move(r));
  }
  return true;
}

// ---- XfrReceiver ----------------------------------------------------------------------------------------

XfrReceiver::XfrReceiver(const Name& zone, uint16_t qtype, uint16_t id, bool haveCurrent,
                         uint32_t currentSerial, const XfrInLimits& limits)
    : zone_(zone),
      qtype_(qtype),
      id_(id),
      haveCurrent_(haveCurrent),
      currentSerial_(currentSerial),
      limits_(limits) {}

XfrReceiver::State XfrReceiver::fail(std::string msg) {
  error_ = std::move(msg);
  state_ = State::Error;
  return state_;
}

XfrReceiver::State XfrReceiver::feed(const uint8_t* msg, size_t len) {
  if (state_ != State::More)
    return state_ == State::Done ? fail("data after the end of the transfer") : state_;
  ReplyHeader h;
  if (!parseReplyHeader(msg, len, h)) return fail("short message");
  if (!h.qr() || h.id != id_) return fail("reply id or QR mismatch");
  if (h.opcode() != kOpcodeQuery) return fail("reply opcode mismatch");
  if (h.rcode() != 0) {
    rcode_ = h.rcode();
    return fail("primary answered rcode " + std::to_string(h.rcode()));
  }
  if (h.flags & kFlagTC) return fail("truncated reply");
  ++messages_;
  std::vector<OwnedRecord> recs;
  if (!parseAnswerRecords(msg, len, recs, limits_.maxRecords)) return fail("malformed message");
  if (messages_ == 1 && recs.empty()) return fail("empty reply");
  for (OwnedRecord& r : recs) {
    if (state_ != State::More) return fail("records after the end of the transfer");
    if (take(std::move(r)) == State::Error) return state_;
  }
  // A lone SOA not newer than ours answers an IXFR query: up to date.
  if (state_ == State::More && kind_ == Kind::Unknown && firstSeen_ && count_ == 1 && qtype_ == kTypeIXFR &&
      haveCurrent_ && !serialGreater(newSerial_, currentSerial_)) {
    kind_ = Kind::UpToDate;
    state_ = State::Done;
  }
  return state_;
}

XfrReceiver::State XfrReceiver::take(OwnedRecord&& r) {
  ++count_;
  bytes_ += r.owner.len + r.rdata.size() + 10;
  if (count_ > limits_.maxRecords || bytes_ > limits_.maxBytes)
    return fail("transfer exceeds the size limits");
  if (r.rclass != kClassIN) return fail("record of class other than IN");
  if (!r.owner.isSubdomainOf(zone_)) return fail("record outside the zone: " + nameToText(r.owner));
  uint32_t serial = 0;
  bool isSoa = recordSerial(r, serial);
  if (r.type == kTypeSOA && !isSoa) return fail("malformed SOA");
  if (isSoa && !r.owner.equalsNoCase(zone_)) return fail("SOA not at the apex");
  if (!firstSeen_) {
    if (!isSoa) return fail("transfer does not start with the SOA");
    firstSeen_ = true;
    firstSoa_ = r;
    newSerial_ = serial;
    if (qtype_ == kTypeAXFR) {
      kind_ = Kind::Full;
      records_.push_back(std::move(r));
    }
    return state_;
  }
  if (kind_ == Kind::Unknown) {
    if (isSoa) {
      if (!haveCurrent_ || serial != currentSerial_) return fail("incremental reply from an unknown serial");
      kind_ = Kind::Incremental;
      deltas_.emplace_back();
      deltas_.back().oldSoa = std::move(r);
      inAdds_ = false;
      return state_;
    }
    kind_ = Kind::Full;
    records_.push_back(firstSoa_);
    records_.push_back(std::move(r));
    return state_;
  }
  if (kind_ == Kind::Full) {
    if (isSoa) {
      if (serial != newSerial_) return fail("closing SOA serial differs from the opening one");
      state_ = State::Done;
      return state_;
    }
    records_.push_back(std::move(r));
    return state_;
  }
  // Incremental.
  Delta& d = deltas_.back();
  if (isSoa) {
    if (!inAdds_) {
      d.newSoa = std::move(r);
      inAdds_ = true;
      return state_;
    }
    uint32_t dNew = 0;
    recordSerial(d.newSoa, dNew);
    if (serial != dNew) return fail("incremental reply with a gap between versions");
    if (serial == newSerial_) {
      state_ = State::Done;
      return state_;
    }
    deltas_.emplace_back();
    deltas_.back().oldSoa = std::move(r);
    inAdds_ = false;
    return state_;
  }
  (inAdds_ ? d.added : d.removed).push_back(std::move(r));
  return state_;
}

namespace {

// Identity of a record for IXFR application: owner (lowercased), type, class, rdata; TTL excluded.
std::string recordKey(const OwnedRecord& r) {
  Name low = r.owner.lowered();
  std::string k(reinterpret_cast<const char*>(low.data), low.len);
  k.push_back(static_cast<char>(r.type >> 8));
  k.push_back(static_cast<char>(r.type));
  k.append(reinterpret_cast<const char*>(r.rdata.data()), r.rdata.size());
  return k;
}

std::shared_ptr<const Zone> buildFrom(const Name& origin, const OwnedRecord& soa,
                                      const std::vector<const OwnedRecord*>& recs, std::string& error) {
  ZoneBuilder b(origin);
  if (!b.add(soa.owner, soa.type, soa.rclass, soa.ttl, soa.rdata.data(),
             static_cast<uint16_t>(soa.rdata.size()), error))
    return nullptr;
  for (const OwnedRecord* r : recs) {
    if (r->type == kTypeSOA) continue;
    if (!b.add(r->owner, r->type, r->rclass, r->ttl, r->rdata.data(), static_cast<uint16_t>(r->rdata.size()),
               error))
      return nullptr;
  }
  return b.build(error);
}

}  // namespace

std::shared_ptr<const Zone> XfrReceiver::buildZone(const Zone* current, std::string& error) const {
  if (state_ != State::Done) {
    error = "transfer not complete";
    return nullptr;
  }
  if (kind_ == Kind::Full) {
    std::vector<const OwnedRecord*> recs;
    recs.reserve(records_.size());
    for (const OwnedRecord& r : records_) recs.push_back(&r);
    return buildFrom(zone_, records_.front(), recs, error);
  }
  if (kind_ != Kind::Incremental || current == nullptr) {
    error = "nothing to build";
    return nullptr;
  }
  std::unordered_map<std::string, OwnedRecord> set;
  set.reserve(current->recordCount() * 2);
  current->forEachRecord([&](const RecordView& v) {
    if (v.type == kTypeSOA) return;
    OwnedRecord o = toOwned(v);
    std::string k = recordKey(o);
    set.emplace(std::move(k), std::move(o));
  });
  for (const Delta& d : deltas_) {
    for (const OwnedRecord& r : d.removed) {
      if (r.type == kTypeSOA) continue;
      auto it = set.find(recordKey(r));
      if (it == set.end()) {
        error = "IXFR removes a record we do not have: " + nameToText(r.owner) + " type " +
                std::to_string(r.type);
        return nullptr;
      }
      set.erase(it);
    }
    for (const OwnedRecord& r : d.added) {
      if (r.type == kTypeSOA) continue;
      set.insert_or_assign(recordKey(r), r);
    }
  }
  std::vector<const OwnedRecord*> recs;
  recs.reserve(set.size());
  for (const auto& [k, r] : set) recs.push_back(&r);
  return buildFrom(zone_, deltas_.back().newSoa, recs, error);
}

}  // namespace bulwark::dns
