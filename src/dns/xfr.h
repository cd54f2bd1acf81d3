// Zone transfers and NOTIFY, protocol side (no event loop): AXFR and IXFR out (RFC 5936, RFC 1995),
// NOTIFY messages (RFC 1996), SOA/AXFR/IXFR queries and the parser of transfer replies (secondary side),
// RFC 1982 serial arithmetic and a tiny CIDR matcher for `allow_transfer`.
//
// Threading: every function here is reentrant; nothing keeps global state.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/wire.h"
#include "dns/zone.h"

namespace bulwark::dns {

class Journal;

// ---- RFC 1982 serial number arithmetic ------------------------------------------------------------
// a > b in sequence space; false when the distance is exactly 2^31 (undefined by the RFC).
bool serialGreater(uint32_t a, uint32_t b) noexcept;

// ---- allow_transfer: a tiny CIDR matcher (bulwark_dns does not link the shield's prefix tables) ------
struct Cidr {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t addr[16] = {};
  uint8_t bits = 0;
};
// "192.0.2.0/24", "2001:db8::/32", or a bare address (/32 or /128). False on anything else.
bool parseCidr(std::string_view text, Cidr& out);
// True when `client` (sockaddr_in / sockaddr_in6; an IPv4-mapped IPv6 peer counts as IPv4) is inside one
// of `allowed`. An empty list allows nobody.
bool transferAllowed(const sockaddr* client, const std::vector<Cidr>& allowed);

// ---- records owned outside a Zone (journal deltas, transfer-in) --------------------------------------
struct OwnedRecord {
  Name owner;
  uint16_t type = 0;
  uint16_t rclass = 1;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;  // uncompressed wire form
};
OwnedRecord toOwned(const RecordView& r);
// Same owner (case-insensitive), type, class, TTL and rdata (bytes; names inside rdata compared exactly).
bool sameRecord(const OwnedRecord& a, const OwnedRecord& b);
// SOA serial from SOA rdata; false when the rdata is not a well-formed SOA.
bool soaSerial(const uint8_t* rdata, size_t rdlen, uint32_t& serial);

// ---- transfers out -----------------------------------------------------------------------------------
// Receives one complete DNS message (without the TCP length prefix). Return false to abort the transfer.
using MessageSink = std::function<bool(const uint8_t* msg, size_t len)>;

struct XfrLimits {
  size_t chunkBytes = 16384;  // start a new message once this many bytes are written (like NSD)
  bool condenseIxfr = true;   // IXFR over several versions sent as one net difference (RFC 1995 §4)
};

// AXFR: SOA, every record in canonical order, SOA; each message a valid response (QR, AA, the query's id;
// the question in the first message only; OPT echoed when the query had one), names compressed. Returns
// false when the sink aborted. `query`/`pkt` are the parsed AXFR (or IXFR, for the fallback) query.
bool buildAxfr(const Zone& zone, const ParsedQuery& query, const MessageSink& sink,
               const XfrLimits& limits = {});

// The same AXFR reply a few messages at a time, so that a server sends a large zone as its reader drains it
// instead of building all of it at once (docs/dns-transfers.md). `zone` must outlive the cursor; the query's
// header and question are copied.
class AxfrCursor {
 public:
  AxfrCursor(const Zone& zone, const ParsedQuery& query, const XfrLimits& limits = {});
  ~AxfrCursor();
  AxfrCursor(const AxfrCursor&) = delete;
  AxfrCursor& operator=(const AxfrCursor&) = delete;
  // Up to `maxMessages` more messages to `sink` (kept only during the call). False when the sink refused
  // one or a record does not fit in a message: the transfer is then over, incomplete.
  bool next(const MessageSink& sink, size_t maxMessages);
  bool done() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An IXFR that is answered with the whole zone (AXFR-style): the client's serial is older than the current
// one and `journal` (may be null) cannot bridge the gap.
bool ixfrNeedsFullZone(const Journal* journal, const Zone& current, uint32_t clientSerial);

// The serial of the SOA in an IXFR query's authority section (RFC 1995 §3). False when it is missing or
// malformed (the server then answers FORMERR).
bool ixfrClientSerial(const uint8_t* pkt, size_t len, const ParsedQuery& query, uint32_t& serial);

// IXFR (RFC 1995). clientSerial current (or newer) -> one message with the current SOA; the journal
// reaches back to clientSerial -> SOA(cur), then per version SOA(old) removed... SOA(new) added..., SOA(cur)
// (one net difference when `limits.condenseIxfr`);
// otherwise an AXFR-style reply. Over UDP (`tcp` false) a reply that does not fit in `udpSize` bytes is
// replaced by the single current SOA (the client then retries over TCP). `journal` may be null.
bool buildIxfr(const Journal* journal, const Zone& current, const ParsedQuery& query, uint32_t clientSerial,
               bool tcp, size_t udpSize, const MessageSink& sink, const XfrLimits& limits = {});

// ---- NOTIFY and queries (both directions) ------------------------------------------------------------
// NOTIFY (opcode 4, AA) for `zone` with the SOA in the question; when soa is given, it goes in the answer
// section as a hint (RFC 1996 §3.7). Returns the length, 0 when cap is too small.
size_t buildNotify(const Name& zone, uint16_t id, const OwnedRecord* soa, uint8_t* out, size_t cap);
// A query (opcode 0, RD=0) for zone/qtype. For IXFR, `ixfrSerialSoa` is put in the authority section.
size_t buildQuery(const Name& zone, uint16_t qtype, uint16_t id, const OwnedRecord* ixfrSerialSoa,
                  uint8_t* out, size_t cap);
// Response to a NOTIFY: id and question echoed, QR and AA set, the given rcode.
size_t buildNotifyResponse(const uint8_t* pkt, size_t len, const ParsedQuery& query, Rcode rcode,
                           uint8_t* out, size_t cap);

// Header fields of a reply (a message with QR=1): false when shorter than a header.
struct ReplyHeader {
  uint16_t id = 0, flags = 0, qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  uint8_t opcode() const { return (flags >> 11) & 0xF; }
  uint8_t rcode() const { return flags & 0xF; }
  bool qr() const { return flags & 0x8000; }
};
bool parseReplyHeader(const uint8_t* msg, size_t len, ReplyHeader& out);

// Parses every record of a message's answer section (names decompressed, also inside the rdata of the
// RFC 1035 and RFC 3597 §4 types). False on a malformed message. `maxRecords` bounds the work.
bool parseAnswerRecords(const uint8_t* msg, size_t len, std::vector<OwnedRecord>& out,
                        size_t maxRecords = 65535);

// ---- transfers in (secondary) ------------------------------------------------------------------------
struct XfrInLimits {
  size_t maxRecords = 2'000'000;  // per transfer
  size_t maxBytes = 512u << 20;   // owner + rdata bytes per transfer
};

// Fed with the messages of one AXFR/IXFR reply, in order. Recognises the reply's form (RFC 1995 §4):
// up to date (the single SOA), incremental (SOA, SOA(old)...), or a full zone (AXFR-style).
class XfrReceiver {
 public:
  enum class State { More, Done, Error };
  enum class Kind { Unknown, UpToDate, Incremental, Full };
  struct Delta {
    OwnedRecord oldSoa, newSoa;
    std::vector<OwnedRecord> removed, added;
  };

  // currentSerial: our serial (for IXFR; ignored for AXFR). id: the query's id.
  XfrReceiver(const Name& zone, uint16_t qtype, uint16_t id, bool haveCurrent, uint32_t currentSerial,
              const XfrInLimits& limits = {});

  State feed(const uint8_t* msg, size_t len);
  State state() const { return state_; }
  Kind kind() const { return kind_; }
  // Error text, or the rcode the primary answered (`rcode()` non-zero).
  const std::string& error() const { return error_; }
  uint8_t rcode() const { return rcode_; }
  uint32_t newSerial() const { return newSerial_; }

  // Full: every record (the leading SOA once). Incremental: the deltas.
  const std::vector<OwnedRecord>& records() const { return records_; }
  const std::vector<Delta>& deltas() const { return deltas_; }

  // Builds the new zone: for Full from records(); for Incremental by applying deltas() to `current`.
  // Null and `error` set on failure (a removed record that is not there, ZoneBuilder errors).
  std::shared_ptr<const Zone> buildZone(const Zone* current, std::string& error) const;

 private:
  State fail(std::string msg);
  State take(OwnedRecord&& r);

  Name zone_;
  uint16_t qtype_, id_;
  bool haveCurrent_;
  uint32_t currentSerial_;
  XfrInLimits limits_;
  State state_ = State::More;
  Kind kind_ = Kind::Unknown;
  std::string error_;
  uint8_t rcode_ = 0;
  uint32_t newSerial_ = 0;
  size_t count_ = 0, bytes_ = 0, messages_ = 0;
  bool firstSeen_ = false;
  OwnedRecord firstSoa_;
  std::vector<OwnedRecord> records_;
  std::vector<Delta> deltas_;
  bool inAdds_ = false;
};

}  // namespace bulwark::dns
