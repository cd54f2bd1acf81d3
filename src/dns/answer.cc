#include "dns/answer.h"

#include <cstring>

namespace bulwark::dns {
namespace {

inline uint8_t lowerByte(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c; }

bool equalNoCase(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
  if (alen != blen) return false;
  for (size_t i = 0; i < alen; ++i) {
    if (lowerByte(a[i]) != lowerByte(b[i])) return false;
  }
  return true;
}

// Length of the uncompressed wire name at p (zone rdata is validated at load).
size_t wireNameLength(const uint8_t* p, size_t max) {
  size_t pos = 0;
  while (pos < max && p[pos] != 0) pos += p[pos] + 1u;
  return pos < max ? pos + 1 : 0;
}

// Answer sections in NSD's encoding order. The zone's NS in a positive answer is optional authority data
// (dropped without TC when it does not fit); the additional section is filled A records first, then AAAA.
enum Section : uint8_t {
  kAnswer = 0,
  kAuthority = 1,
  kOptionalAuthority = 2,
  kAdditionalA = 3,
  kAdditionalAAAA = 4,
  kSections = 5
};

constexpr int kMaxEntries = 256;  // RRsets per response
constexpr int kMaxChain = 64;     // CNAME/DNAME steps followed
constexpr int kMaxSynth = 8;      // DNAME-synthesized names per response

// One RRset to be written: a zone RRset under an owner name, or a CNAME synthesized from a DNAME.
struct Entry {
  Section section;
  bool negativeSoa;  // the SOA in a negative answer: TTL min(SOA TTL, MINIMUM)
  // 1 when the owner is the query name expanded from a wildcard before any CNAME was followed: NSD tells
  // that owner apart from the same name reached later, so a wildcard CNAME loop shows its CNAME twice.
  uint8_t tag;
  uint8_t ownerLen;
  const Zone* zone;
  const Zone::RRset* rrset;  // nullptr: synthesized CNAME
  const uint8_t* owner;
  const uint8_t* synth;  // synthesized CNAME target
  uint16_t synthLen;
  uint32_t synthTtl;
};

// The answer being built (NSD's answer_type): RRsets in order, each at most once.
class Answerer {
 public:
  Answerer(const ZoneSet& zones, const ParsedQuery& q)
      : zones_(zones), q_(q), anyClass_(q.qclass == kClassANY) {}

  void run() { lookup(q_.qname.data, q_.qname.len); }

  Rcode rcode = Rcode::NoError;
  bool aa = false;
  const Zone* firstZone = nullptr;
  int count = 0;
  Entry entries[kMaxEntries];

 private:
  // NSD's add_rrset: false when the RRset is already in the answer (a CNAME/DNAME loop) or the table is full.
  bool add(Section section, const Zone* zone, const Zone::RRset* rrset, const uint8_t* owner, size_t ownerLen,
           bool negativeSoa = false, uint8_t tag = 0) {
    for (int i = 0; i < count; ++i) {
      Entry& e = entries[i];
      if (e.rrset == rrset && e.rrset != nullptr && e.tag == tag &&
          equalNoCase(e.owner, e.ownerLen, owner, ownerLen)) {
        if (section < e.section) {
          e.section = section;
          return true;
        }
        return false;
      }
    }
    if (count >= kMaxEntries) return false;
    entries[count++] =
        Entry{section, negativeSoa, tag, static_cast<uint8_t>(ownerLen), zone, rrset, owner, nullptr, 0, 0};
    addAdditional(zone, rrset);
    return true;
  }

  // A/AAAA for the targets of NS (glue allowed), MX and SRV (glue not allowed), from the same zone.
  void addAdditional(const Zone* zone, const Zone::RRset* rrset) {
    int off;
    bool allowGlue = false;
    switch (rrset->type) {
      case kTypeNS:
        off = 0;
        allowGlue = true;
        break;
      case kTypeMX:
        off = 2;
        break;
      case kTypeSRV:
        off = 6;
        break;
      default:
        return;
    }
    for (uint16_t i = 0; i < rrset->count; ++i) {
      const Zone::Rdata& rd = zone->rdata(*rrset, i);
      if (rd.targetNode == Zone::kNone) continue;
      const Zone::Node* target = zone->node(rd.targetNode);
      if (!allowGlue && (target->flags & (Zone::kDelegation | Zone::kBelowCut))) continue;
      const uint8_t* name = zone->rdataBytes(rd) + off;
      const size_t nameLen = wireNameLength(name, rd.len - off);
      if (nameLen == 0) continue;
      if (const Zone::RRset* a = zone->find(*target, kTypeA)) add(kAdditionalA, zone, a, name, nameLen);
      if (const Zone::RRset* aaaa = zone->find(*target, kTypeAAAA)) {
        add(kAdditionalAAAA, zone, aaaa, name, nameLen);
      }
    }
  }

  void addNegativeSoa(const Zone* zone) {
    if (anyClass_) return;
    const Zone::Node* apex = zone->apex();
    add(kAuthority, zone, &zone->soa(), zone->nameBytes(*apex), apex->nameLen, true);
  }

  // NSD's answer_lookup_zone for `name` (the query name, or a CNAME/DNAME target).
  void lookup(const uint8_t* name, size_t nameLen) {
    const Name n = Name::fromWire(name, nameLen);
    const Zone* zone = zones_.find(n);
    if (zone == nullptr) return;  // a CNAME out of our zones: the resolver follows it
    if (firstZone == nullptr) firstZone = zone;

    // Walk down from the apex: every ancestor of an existing name exists (empty non-terminals have nodes),
    // so the closest encloser is the last suffix found. The lowest zone cut on the way is the delegation.
    uint8_t offsets[128];
    int labels = 0;
    for (size_t p = 0; p < nameLen && name[p] != 0 && labels < 128; p += name[p] + 1u) {
      offsets[labels++] = static_cast<uint8_t>(p);
    }
    const Zone::Node* ce = nullptr;
    const Zone::Node* cut = nullptr;
    walk(zone, name, nameLen, offsets, labels, ce, cut);
    bool exact = ce->labels == labels;

    if (exact && q_.qtype == kTypeDS && (ce->flags & Zone::kApex)) {
      // RFC 4035 §3.1.4.1: DS lives in the parent; answer from it when we serve the parent too.
      const Zone* parent = n.isRoot() ? nullptr : zones_.find(n.parent());
      if (parent == nullptr) {
        aa = !anyClass_;
        addNegativeSoa(zone);
        return;
      }
      zone = parent;
      walk(zone, name, nameLen, offsets, labels, ce, cut);
      exact = ce->labels == labels;
    }
    if (cut != nullptr && !(exact && q_.qtype == kTypeDS && cut == ce)) {
      aa = chain_ > 0;  // a referral reached through a CNAME keeps AA for the CNAME (NSD)
      add(kAuthority, zone, zone->find(*cut, kTypeNS), zone->nameBytes(*cut), cut->nameLen);
      return;
    }
    aa = !anyClass_;
    authoritative(zone, ce, exact, name, nameLen);
  }

  static void walk(const Zone* zone, const uint8_t* name, size_t nameLen, const uint8_t* offsets, int labels,
                   const Zone::Node*& ce, const Zone::Node*& cut) {
    ce = zone->apex();
    cut = nullptr;
    for (int k = ce->labels + 1; k <= labels; ++k) {
      const size_t off = offsets[labels - k];
      const Zone::Node* node = zone->findWire(name + off, nameLen - off);
      if (node == nullptr) break;
      ce = node;
      if (node->flags & Zone::kDelegation) cut = node;
    }
  }

  void authoritative(const Zone* zone, const Zone::Node* ce, bool exact, const uint8_t* name,
                     size_t nameLen) {
    if (exact) {
      domain(zone, ce, name, nameLen);
      return;
    }
    if (ce->flags & Zone::kHasDname) {
      dname(zone, ce, name, nameLen);
      return;
    }
    if (ce->flags & Zone::kWildcardChild) {
      uint8_t wc[kMaxNameLength + 2];
      wc[0] = 1;
      wc[1] = '*';
      std::memcpy(wc + 2, zone->nameBytes(*ce), ce->nameLen);
      const Zone::Node* match = zone->findWire(wc, ce->nameLen + 2u);
      if (match != nullptr) {
        domain(zone, match, name, nameLen, chain_ == 0 ? 1 : 0);
        return;
      }
    }
    rcode = Rcode::NxDomain;
    addNegativeSoa(zone);
  }

  // RFC 6672: the DNAME, a CNAME synthesized from it (TTL of the DNAME, as NSD), then the new name.
  void dname(const Zone* zone, const Zone::Node* ce, const uint8_t* name, size_t nameLen) {
    const Zone::RRset* set = zone->find(*ce, kTypeDNAME);
    if (set == nullptr || set->count == 0) return;
    if (!add(kAnswer, zone, set, zone->nameBytes(*ce), ce->nameLen)) return;  // loop
    const Zone::Rdata& rd = zone->rdata(*set, 0);
    const uint8_t* target = zone->rdataBytes(rd);
    const size_t targetLen = wireNameLength(target, rd.len);
    const size_t prefix = nameLen - ce->nameLen;
    if (targetLen == 0) return;
    if (prefix + targetLen > kMaxNameLength) {
      rcode = Rcode::YxDomain;
      return;
    }
    if (synthCount_ >= kMaxSynth || count >= kMaxEntries || ++chain_ > kMaxChain) return;
    uint8_t* out = synth_[synthCount_++];
    for (size_t i = 0; i < prefix; ++i) out[i] = lowerByte(name[i]);  // NSD works on the lowercased name
    std::memcpy(out + prefix, target, targetLen);
    const size_t outLen = prefix + targetLen;
    entries[count++] = Entry{kAnswer, false, 0,   static_cast<uint8_t>(nameLen), zone,
                             nullptr, name,  out, static_cast<uint16_t>(outLen), rd.ttl};
    // A CNAME question is answered by the synthesized CNAME itself (NSD does not follow it then).
    if (q_.qtype != kTypeCNAME) lookup(out, outLen);
  }

  // NSD's answer_domain: the node matched (exactly or through a wildcard, then `owner` is the query name).
  void domain(const Zone* zone, const Zone::Node* node, const uint8_t* owner, size_t ownerLen,
              uint8_t tag = 0) {
    if (q_.qtype == kTypeANY) {
      // RFC 8482 as NSD 4.6 does it: one RRset; the first of A/AAAA/SOA/MX/PTR, else the last other type,
      // else the last of the DNSSEC types.
      const Zone::RRset* preferred = nullptr;
      const Zone::RRset* normal = nullptr;
      const Zone::RRset* dnssec = nullptr;
      const Zone::RRset* sets = zone->rrsets(*node);
      for (uint16_t i = 0; i < node->rrsetCount && preferred == nullptr; ++i) {
        switch (sets[i].type) {
          case kTypeA:
          case kTypeAAAA:
          case kTypeSOA:
          case kTypeMX:
          case kTypePTR:
            preferred = &sets[i];
            break;
          case kTypeRRSIG:
          case kTypeNSEC:
          case kTypeNSEC3:
          case 48 /*DNSKEY*/:
            dnssec = &sets[i];
            break;
          default:
            normal = &sets[i];
            break;
        }
      }
      const Zone::RRset* pick = preferred ? preferred : normal ? normal : dnssec;
      if (pick == nullptr) {
        addNegativeSoa(zone);
        return;
      }
      add(kAnswer, zone, pick, owner, ownerLen, false, tag);
      return;
    }
    if (q_.qtype == kTypeNSEC3) {  // NSD: NSEC3 records are never answered directly
      addNegativeSoa(zone);
      return;
    }
    if (const Zone::RRset* set = zone->find(*node, q_.qtype)) {
      add(kAnswer, zone, set, owner, ownerLen, false, tag);
      if (!anyClass_ && q_.qtype != kTypeDS && q_.qtype != 48 /*DNSKEY*/) {
        const Zone::Node* apex = zone->apex();
        if (const Zone::RRset* ns = zone->find(*apex, kTypeNS)) {
          add(kOptionalAuthority, zone, ns, zone->nameBytes(*apex), apex->nameLen);
        }
      }
      return;
    }
    if (node->flags & Zone::kHasCname) {
      const Zone::RRset* cname = zone->find(*node, kTypeCNAME);
      if (!add(kAnswer, zone, cname, owner, ownerLen, false, tag)) return;  // already there: a loop, stop
      if (++chain_ > kMaxChain) return;
      const Zone::Rdata& rd = zone->rdata(*cname, 0);
      const uint8_t* target = zone->rdataBytes(rd);
      const size_t targetLen = wireNameLength(target, rd.len);
      if (targetLen != 0) lookup(target, targetLen);
      return;
    }
    addNegativeSoa(zone);
  }

  const ZoneSet& zones_;
  const ParsedQuery& q_;
  const bool anyClass_;
  int chain_ = 0;
  int synthCount_ = 0;
  uint8_t synth_[kMaxSynth][kMaxNameLength];
};

uint16_t responseFlags(const ParsedQuery& q, bool aa, Rcode rcode) {
  return static_cast<uint16_t>(kFlagQR | (q.flags & kFlagRD) | (aa ? kFlagAA : 0) |
                               (static_cast<uint8_t>(rcode) & 0x0f));
}

// Extended DNS Errors (RFC 8914) NSD 4.6 attaches: info code and optional text.
struct Ede {
  int code = -1;  // -1: none
  const char* text = "";
};
constexpr uint16_t kEdnsOptionEde = 15;
constexpr Ede kEdeNotAuthoritative{20, ""};
constexpr Ede kEdeNotSupported{21, ""};
constexpr Ede kEdeProhibited{18, ""};
constexpr Ede kEdeDnameTooLong{0, "DNAME expansion became too large"};
constexpr size_t kOptionsMax = 48 + 4 + 2 + 40;

// The OPT record's option bytes: the COOKIE option when we have a server cookie to send, then the EDE.
uint16_t buildOptions(const ParsedQuery& q, const AnswerOptions& opts, const Ede& ede,
                      uint8_t (&buf)[kOptionsMax]) {
  uint16_t len = 0;
  if (opts.serverCookie != nullptr && q.clientCookie != nullptr && opts.serverCookieLen >= 8 &&
      opts.serverCookieLen <= 32) {
    writeU16(buf, kEdnsOptionCookie);
    writeU16(buf + 2, static_cast<uint16_t>(8 + opts.serverCookieLen));
    std::memcpy(buf + 4, q.clientCookie, 8);
    std::memcpy(buf + 12, opts.serverCookie, opts.serverCookieLen);
    len = static_cast<uint16_t>(12 + opts.serverCookieLen);
  }
  if (ede.code >= 0) {
    const size_t textLen = std::strlen(ede.text);
    writeU16(buf + len, kEdnsOptionEde);
    writeU16(buf + len + 2, static_cast<uint16_t>(2 + textLen));
    writeU16(buf + len + 4, static_cast<uint16_t>(ede.code));
    std::memcpy(buf + len + 6, ede.text, textLen);
    len = static_cast<uint16_t>(len + 6 + textLen);
  }
  return len;
}

// A response that is just the header (and question, if `withQuestion`) plus the OPT when the query had one.
size_t shortResponse(const ParsedQuery& q, const AnswerOptions& opts, uint16_t flags, Rcode rcode,
                     bool withQuestion, bool withOpt, uint8_t* out, size_t cap, const Ede& ede = Ede{}) {
  MessageWriter w(out, cap);
  if (!w.putHeader(q.id, static_cast<uint16_t>((flags & ~0x000fu) | (static_cast<uint8_t>(rcode) & 0x0f)))) {
    return 0;
  }
  if (withQuestion && w.putQuestion(q.qname, q.qtype, q.qclass)) w.setCount(MessageWriter::kQuestion, 1);
  if (withOpt && q.hasEdns) {
    uint8_t optBuf[kOptionsMax];
    const uint16_t optLen = buildOptions(q, opts, ede, optBuf);
    const bool doBit = rcode == Rcode::BadVers ? false : q.doBit;
    if (w.putOpt(opts.ednsUdpSize, static_cast<uint8_t>(static_cast<uint8_t>(rcode) >> 4), 0, doBit, optBuf,
                 optLen)) {
      w.setCount(MessageWriter::kAdditional, 1);
    }
  }
  return w.size();
}

ResponseClass classify(const Answerer& a, const ParsedQuery& q) {
  if (a.rcode == Rcode::NxDomain) return ResponseClass::NxDomain;
  if (a.rcode != Rcode::NoError) return ResponseClass::Error;
  bool answer = false, referral = false;
  for (int i = 0; i < a.count; ++i) {
    if (a.entries[i].section == kAnswer) answer = true;
    if (a.entries[i].section == kAuthority && a.entries[i].rrset && a.entries[i].rrset->type == kTypeNS &&
        !a.aa) {
      referral = true;
    }
  }
  if (answer) return q.qtype == kTypeANY ? ResponseClass::Any : ResponseClass::Positive;
  return referral ? ResponseClass::Referral : ResponseClass::NoData;
}

}  // namespace

size_t answerQuery(const ZoneSet& zones, const ParsedQuery& q, const uint8_t* pkt, size_t len,
                   const AnswerOptions& opts, uint8_t* out, size_t cap, AnswerInfo& info) {
  (void)pkt;
  (void)len;
  info = AnswerInfo{};
  info.cls = ResponseClass::Error;
  if (cap > 65535) cap = 65535;
  const uint16_t rdFlags = static_cast<uint16_t>(kFlagQR | (q.flags & kFlagRD));

  // Order of checks as NSD: opcode, EDNS version, class, zone transfers, then the answer.
  // NSD echoes the query's flags (less AD) in NOTIMP, NOTIFY and BADVERS replies.
  const uint16_t echoFlags = static_cast<uint16_t>((q.flags & ~kFlagAD) | kFlagQR);
  if (q.opcode == kOpcodeNotify) {
    // Accepted NOTIFYs are the server layer's; here, as NSD without an ACL match: NXDOMAIN for a name that is
    // not one of our zones, REFUSED for one that is.
    info.rcode = zones.findExact(q.qname) ? Rcode::Refused : Rcode::NxDomain;
    return shortResponse(q, opts, echoFlags, info.rcode, false, false, out, cap);
  }
  if (q.opcode != kOpcodeQuery) {
    info.rcode = Rcode::NotImp;
    return shortResponse(q, opts, echoFlags, Rcode::NotImp, false, false, out, cap);
  }
  if (q.hasEdns && q.ednsVersion > 0) {
    info.rcode = Rcode::BadVers;
    return shortResponse(q, opts, echoFlags, Rcode::BadVers, true, true, out, cap);
  }
  if (q.qdcount == 0) {  // a cookie request without a question (RFC 7873 §5.4): NOERROR and the OPT
    info.rcode = Rcode::NoError;
    return shortResponse(q, opts, rdFlags, Rcode::NoError, false, true, out, cap);
  }
  if (q.qclass != kClassIN && q.qclass != kClassANY) {
    info.rcode = Rcode::Refused;
    return shortResponse(q, opts, rdFlags, Rcode::Refused, q.qclass == kClassCH, true, out, cap,
                         kEdeNotSupported);
  }
  if (q.qtype == kTypeAXFR || q.qtype == kTypeIXFR) {
    // Allowed transfers are the server layer's; here, as NSD without an ACL match: AXFR over UDP is NOTIMP;
    // otherwise REFUSED for one of our zones and NOTAUTH for any other name.
    if (q.qtype == kTypeAXFR && !opts.tcp) {
      info.rcode = Rcode::NotImp;
    } else {
      info.rcode = zones.findExact(q.qname) ? Rcode::Refused : Rcode::NotAuth;
    }
    return shortResponse(q, opts, rdFlags, info.rcode, true, true, out, cap,
                         info.rcode == Rcode::Refused ? kEdeProhibited : Ede{});
  }
  if (zones.find(q.qname) == nullptr) {
    info.rcode = Rcode::Refused;
    return shortResponse(q, opts, rdFlags, Rcode::Refused, true, true, out, cap, kEdeNotAuthoritative);
  }

  Answerer a(zones, q);
  a.run();
  info.zone = a.firstZone;

  // Size limit: TCP takes the whole buffer; UDP takes 512, or with EDNS the smaller of the client's size and
  // ours (never under 512). Room for the OPT record is kept aside (NSD's reserved space).
  size_t limit = cap;
  if (!opts.tcp) {
    size_t udp = 512;
    if (q.hasEdns && q.ednsUdpSize > 512)
      udp = q.ednsUdpSize < opts.ednsUdpSize ? q.ednsUdpSize : opts.ednsUdpSize;
    if (udp < 512) udp = 512;
    if (udp < limit) limit = udp;
  }
  uint8_t optBuf[kOptionsMax];
  const uint16_t optLen =
      q.hasEdns ? buildOptions(q, opts, a.rcode == Rcode::YxDomain ? kEdeDnameTooLong : Ede{}, optBuf) : 0;
  const size_t reserved = q.hasEdns ? 11u + optLen : 0u;

  MessageWriter w(out, cap);
  if (!w.putHeader(q.id, responseFlags(q, a.aa, a.rcode))) return 0;
  if (!w.putQuestion(q.qname, q.qtype, q.qclass)) return 0;
  w.setCount(MessageWriter::kQuestion, 1);
  w.limit(limit > reserved ? limit - reserved : 0);

  // NSD's encode_answer: an answer or authority RRset that does not fit is dropped whole and sets TC, and
  // nothing more is written; an optional-authority or additional RRset that does not fit is dropped whole
  // without TC, the rest of its section is still tried, and later sections are not.
  uint16_t counts[kSections] = {0, 0, 0, 0, 0};
  bool tc = false;
  bool full = false;
  for (int s = kAnswer; s < kSections && !tc && !full; ++s) {
    for (int i = 0; i < a.count && !tc; ++i) {
      const Entry& e = a.entries[i];
      if (e.section != s) continue;
      const MessageWriter::Mark m = w.mark();
      bool ok = true;
      uint16_t written = 0;
      if (e.rrset == nullptr) {
        ok = w.putRecord(e.owner, e.ownerLen, kTypeCNAME, kClassIN, e.synthTtl, e.synth, e.synthLen);
        written = ok ? 1 : 0;
      } else {
        for (uint16_t r = 0; r < e.rrset->count && ok; ++r) {
          const Zone::Rdata& rd = e.zone->rdata(*e.rrset, r);
          const uint32_t ttl = e.negativeSoa ? e.zone->negativeTtl() : rd.ttl;
          ok = w.putRecord(e.owner, e.ownerLen, e.rrset->type, kClassIN, ttl, e.zone->rdataBytes(rd), rd.len);
          if (ok) ++written;
        }
      }
      if (!ok) {
        w.rollback(m);
        written = 0;
        if (s == kAnswer || s == kAuthority) {
          tc = true;
        } else {
          full = true;
        }
      }
      counts[s] = static_cast<uint16_t>(counts[s] + written);
    }
  }
  w.limit(cap);
  w.setCount(MessageWriter::kAnswer, counts[kAnswer]);
  w.setCount(MessageWriter::kAuthority,
             static_cast<uint16_t>(counts[kAuthority] + counts[kOptionalAuthority]));
  uint16_t additional = static_cast<uint16_t>(counts[kAdditionalA] + counts[kAdditionalAAAA]);
  if (q.hasEdns) {
    if (w.putOpt(opts.ednsUdpSize, static_cast<uint8_t>(static_cast<uint8_t>(a.rcode) >> 4), 0, q.doBit,
                 optBuf, optLen)) {
      ++additional;
    }
  }
  w.setCount(MessageWriter::kAdditional, additional);
  if (tc) w.setFlags(static_cast<uint16_t>(w.flags() | kFlagTC));

  info.rcode = a.rcode;
  info.truncated = tc;
  info.cls = classify(a, q);
  return w.size();
}

size_t errorResponse(const uint8_t* pkt, size_t len, Rcode rcode, uint8_t* out, size_t cap) {
  if (pkt == nullptr || len < kHeaderSize || cap < kHeaderSize) return 0;
  const uint16_t qflags = readU16(pkt + 2);
  const uint8_t opcode = static_cast<uint8_t>((qflags >> 11) & 0x0f);
  Name qname;
  size_t pos = kHeaderSize;
  const bool question = readName(pkt, len, pos, qname) && pos + 4 <= len && pos == kHeaderSize + qname.len;
  // As NSD: QR, the opcode and RD kept, everything else cleared; FORMERR and NOTIMP carry no question. A
  // query whose only fault is its question count gets all flags cleared (NSD resets them before answering
  // it).
  uint16_t keep = static_cast<uint16_t>((qflags & 0x7800u) | (qflags & kFlagRD));
  if (rcode == Rcode::FormErr && opcode == kOpcodeQuery && question && (qflags & 0x000f) == 0 &&
      readU16(pkt + 4) != 1) {
    keep = 0;
  }
  const uint16_t flags = static_cast<uint16_t>(kFlagQR | keep | (static_cast<uint8_t>(rcode) & 0x0f));
  MessageWriter w(out, cap);
  w.putHeader(readU16(pkt), flags);
  if (rcode != Rcode::FormErr && rcode != Rcode::NotImp && question) {
    if (w.putQuestion(qname, readU16(pkt + pos), readU16(pkt + pos + 2)))
      w.setCount(MessageWriter::kQuestion, 1);
  }
  return w.size();
}

}  // namespace bulwark::dns
