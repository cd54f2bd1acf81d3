// Authoritative zones: ZoneBuilder (records in, semantic checks, compiled Zone out), the zone-file loader
// (libzscanner) and ZoneSet (closest enclosing zone for a query name).
//
// A compiled Zone is immutable and shared between workers through shared_ptr<const Zone>. Lookups never
// allocate: nodes live in one table sorted in canonical order, found through an open-addressing hash on
// the lowercased owner name; every name between the apex and an owner has a node (empty non-terminals
// included), so the closest encloser of a query name is its longest suffix present in the table.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/wire.h"

namespace bulwark::dns {

struct RecordView {
  const Name* owner;
  uint16_t type, rclass;
  uint32_t ttl;
  const uint8_t* rdata;
  uint16_t rdlen;
};

class Zone {  // immutable after build; shared_ptr<const Zone>
 public:
  // One record's data: rdata bytes (uncompressed wire form) and the record's own TTL (NSD keeps a TTL per
  // record, so an RRset with mixed TTLs is served as written).
  struct Rdata {
    uint32_t offset;  // into the rdata blob
    uint16_t len;
    uint32_t ttl;
    // For NS/MX/SRV: node index of the target name in this zone (for additional-section glue), or kNone.
    uint32_t targetNode;
  };
  struct RRset {
    uint16_t type;
    uint16_t count;
    uint32_t first;  // index of the first Rdata
  };
  enum NodeFlags : uint16_t {
    kApex = 1 << 0,
    kDelegation = 1 << 1,     // has NS and is not the apex: a zone cut
    kWildcardChild = 1 << 2,  // "*.<this>" exists
    kEmptyNonTerminal = 1 << 3,
    kOccluded = 1 << 4,  // below a zone cut (other than glue there) or below a DNAME: not served
    kHasCname = 1 << 5,
    kHasDname = 1 << 6,
    kBelowCut = 1 << 7,  // strictly below a zone cut (glue or occluded)
  };
  struct Node {
    uint32_t nameOffset;  // into the name blob: uncompressed wire name, case as first written
    uint8_t nameLen;
    uint8_t labels;
    uint16_t flags;
    uint32_t firstRRset;
    uint16_t rrsetCount;
  };
  static constexpr uint32_t kNone = 0xffffffffu;

  const Name& origin() const { return origin_; }
  uint32_t serial() const { return serial_; }
  // Every record in canonical order, SOA first (what AXFR sends and IXFR diffs).
  void forEachRecord(const std::function<void(const RecordView&)>& fn) const;
  // The same order one record at a time, resumable (a transfer streamed as its reader drains it). The
  // zone must outlive the cursor; a view's owner is valid until the next call.
  class RecordCursor {
   public:
    explicit RecordCursor(const Zone& zone);
    bool next(RecordView& out);  // false after the last record

   private:
    const Zone& zone_;
    Name owner_;
    size_t node_ = 0;
    uint32_t rrset_ = 0;
    uint16_t rd_ = 0;
    bool soaDone_ = false;
  };
  size_t recordCount() const { return rdatas_.size(); }

  // --- lookup (no allocation) ---
  const Node* apex() const { return &nodes_[apexIndex_]; }
  const Node* node(uint32_t index) const { return index < nodes_.size() ? &nodes_[index] : nullptr; }
  size_t nodeCount() const { return nodes_.size(); }
  // Exact name match (case-insensitive); `name` must be at or below the origin, else nullptr.
  const Node* findExact(const Name& name) const;
  // Exact match on uncompressed wire bytes (any case).
  const Node* findWire(const uint8_t* name, size_t len) const;
  // The node whose name is the suffix of `name` with `labels` labels, if present.
  const Node* findSuffix(const Name& name, int labels) const;
  // The RRset of `type` at `node`, or nullptr.
  const RRset* find(const Node& node, uint16_t type) const;
  const RRset* rrsets(const Node& node) const { return &rrsets_[node.firstRRset]; }
  const Rdata& rdata(const RRset& set, uint16_t i) const { return rdatas_[set.first + i]; }
  const uint8_t* rdataBytes(const Rdata& rd) const { return blob_.data() + rd.offset; }
  // The node's owner name as stored (original case).
  const uint8_t* nameBytes(const Node& node) const { return names_.data() + node.nameOffset; }
  Name nodeName(const Node& node) const { return Name::fromWire(nameBytes(node), node.nameLen); }
  // SOA RRset at the apex (always present in a built zone) and the negative-answer TTL of RFC 2308
  // (min(SOA TTL, SOA MINIMUM)).
  const RRset& soa() const { return rrsets_[soaRRset_]; }
  uint32_t negativeTtl() const { return negativeTtl_; }

 private:
  friend class ZoneBuilder;
  uint32_t hashSlot(const uint8_t* lowered, size_t len) const;

  Name origin_;
  uint32_t serial_ = 0;
  uint32_t negativeTtl_ = 0;
  uint32_t apexIndex_ = 0;
  uint32_t soaRRset_ = 0;
  std::vector<Node> nodes_;  // canonical order
  std::vector<RRset> rrsets_;
  std::vector<Rdata> rdatas_;
  std::vector<uint8_t> blob_;    // rdata bytes
  std::vector<uint8_t> names_;   // owner names
  std::vector<uint32_t> table_;  // open addressing: node index + 1, 0 = empty; size a power of two
  uint32_t tableMask_ = 0;
};

class ZoneBuilder {  // used by the zone-file loader and by AXFR-in
 public:
  explicit ZoneBuilder(const Name& origin);
  ~ZoneBuilder();
  ZoneBuilder(const ZoneBuilder&) = delete;
  ZoneBuilder& operator=(const ZoneBuilder&) = delete;

  // Where the next add()ed records come from; errors name it as "file:line: message". Optional.
  void setSource(const std::string& file, uint64_t line);
  // false + error on out-of-zone owner, class != IN, bad rdata for a known type
  bool add(const Name& owner, uint16_t type, uint32_t ttl, const uint8_t* rdata, uint16_t rdlen,
           std::string& error);
  bool add(const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t* rdata,
           uint16_t rdlen, std::string& error);
  // semantic checks (SOA present at apex, NS at apex, CNAME beside other data, required glue ...)
  std::shared_ptr<const Zone> build(std::string& error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ZoneLoad {
  std::shared_ptr<const Zone> zone;
  std::string error;  // error is "file:line: message"
};
ZoneLoad loadZoneFile(const std::string& origin, const std::string& path);
// The same from zone text in memory (fuzzing, tests); `name` stands in for the file name in errors.
ZoneLoad loadZoneText(const std::string& origin, std::string_view text, const std::string& name = "<text>");

class ZoneSet {  // immutable snapshot, swapped atomically on reload
 public:
  void add(std::shared_ptr<const Zone>);      // replaces a zone with the same origin
  const Zone* find(const Name& qname) const;  // closest enclosing zone, or nullptr
  // The zone with exactly this origin, or nullptr.
  const Zone* findExact(const Name& origin) const;
  const std::vector<std::shared_ptr<const Zone>>& zones() const { return zones_; }

 private:
  std::vector<std::shared_ptr<const Zone>> zones_;  // longest origin first
};

}  // namespace bulwark::dns
