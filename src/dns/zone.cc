#include "dns/zone.h"

// libzscanner's header has no C++ linkage guard.
extern "C" {
#include <libzscanner/scanner.h>
}

#include <algorithm>
#include <cstring>
#include <numeric>

namespace bulwark::dns {
namespace {

inline uint8_t lowerByte(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c; }

// FNV-1a over the lowercased name bytes: the zone table's hash.
uint32_t hashName(const uint8_t* p, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; ++i) {
    h ^= lowerByte(p[i]);
    h *= 16777619u;
  }
  return h;
}

bool equalNoCase(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (lowerByte(a[i]) != lowerByte(b[i])) return false;
  }
  return true;
}

// Length of an uncompressed wire name at p (within max bytes), or 0 when malformed.
size_t nameLength(const uint8_t* p, size_t max) {
  size_t pos = 0;
  while (pos < max) {
    const uint8_t l = p[pos];
    if (l == 0) return pos + 1 <= kMaxNameLength ? pos + 1 : 0;
    if (l > kMaxLabelLength) return 0;
    pos += l + 1u;
  }
  return 0;
}

// Where domain names sit in the rdata of the types whose names NSD stores as names (and so lowercases):
// `prefix` fixed bytes, then `names` names; `charStrings` character-strings come before the names (NAPTR).
// `exact` types must end right after their names (plus `suffix` fixed bytes).
struct RdataNames {
  uint16_t type;
  uint8_t prefix;
  uint8_t charStrings;
  uint8_t names;
  int16_t suffix;  // fixed bytes after the names, -1 = anything
};
constexpr RdataNames kRdataNames[] = {
    {kTypeNS, 0, 0, 1, 0},      {3 /*MD*/, 0, 0, 1, 0},     {4 /*MF*/, 0, 0, 1, 0},
    {kTypeCNAME, 0, 0, 1, 0},   {kTypeSOA, 0, 0, 2, 20},    {7 /*MB*/, 0, 0, 1, 0},
    {8 /*MG*/, 0, 0, 1, 0},     {9 /*MR*/, 0, 0, 1, 0},     {kTypePTR, 0, 0, 1, 0},
    {14 /*MINFO*/, 0, 0, 2, 0}, {kTypeMX, 2, 0, 1, 0},      {17 /*RP*/, 0, 0, 2, 0},
    {18 /*AFSDB*/, 2, 0, 1, 0}, {21 /*RT*/, 2, 0, 1, 0},    {26 /*PX*/, 2, 0, 2, 0},
    {kTypeSRV, 6, 0, 1, 0},     {35 /*NAPTR*/, 4, 3, 1, 0}, {36 /*KX*/, 2, 0, 1, 0},
    {kTypeDNAME, 0, 0, 1, 0},
};

const RdataNames* rdataNames(uint16_t type) {
  for (const auto& r : kRdataNames) {
    if (r.type == type) return &r;
  }
  return nullptr;
}

// Checks the rdata of name-bearing types and lowercases the names in place (NSD serves them lowercased).
// Returns false when malformed.
bool normaliseRdata(uint16_t type, uint8_t* rdata, size_t rdlen) {
  const RdataNames* spec = rdataNames(type);
  if (spec == nullptr) return true;
  size_t p = spec->prefix;
  if (p > rdlen) return false;
  for (int i = 0; i < spec->charStrings; ++i) {
    if (p >= rdlen) return false;
    p += rdata[p] + 1u;
    if (p > rdlen) return false;
  }
  for (int i = 0; i < spec->names; ++i) {
    const size_t n = nameLength(rdata + p, rdlen - p);
    if (n == 0) return false;
    for (size_t k = 0; k < n; ++k) {
      // Length bytes are < 64 and so never in 'A'..'Z'; lowering every byte is safe.
      rdata[p + k] = lowerByte(rdata[p + k]);
    }
    p += n;
  }
  if (spec->suffix >= 0) return rdlen - p == static_cast<size_t>(spec->suffix);
  return true;
}

// Offset of the target name for the additional-section types (NS, MX, SRV), or -1.
int targetOffset(uint16_t type) {
  switch (type) {
    case kTypeNS:
      return 0;
    case kTypeMX:
      return 2;
    case kTypeSRV:
      return 6;
    default:
      return -1;
  }
}

std::string typeName(uint16_t type) {
  switch (type) {
    case kTypeSOA:
      return "SOA";
    case kTypeNS:
      return "NS";
    case kTypeCNAME:
      return "CNAME";
    case kTypeDNAME:
      return "DNAME";
    default:
      return "TYPE" + std::to_string(type);
  }
}

}  // namespace

// --- Zone -------------------------------------------------------------------------------------------

uint32_t Zone::hashSlot(const uint8_t* name, size_t len) const { return hashName(name, len) & tableMask_; }

const Zone::Node* Zone::findWire(const uint8_t* name, size_t len) const {
  if (table_.empty()) return nullptr;
  uint32_t slot = hashSlot(name, len);
  while (true) {
    const uint32_t v = table_[slot];
    if (v == 0) return nullptr;
    const Node& n = nodes_[v - 1];
    if (n.nameLen == len && equalNoCase(names_.data() + n.nameOffset, name, len)) return &n;
    slot = (slot + 1) & tableMask_;
  }
}

const Zone::Node* Zone::findExact(const Name& name) const { return findWire(name.data, name.len); }

const Zone::Node* Zone::findSuffix(const Name& name, int labels) const {
  const size_t off = name.suffixOffset(labels);
  return findWire(name.data + off, name.len - off);
}

const Zone::RRset* Zone::find(const Node& node, uint16_t type) const {
  const RRset* sets = &rrsets_[node.firstRRset];
  for (uint16_t i = 0; i < node.rrsetCount; ++i) {
    if (sets[i].type == type) return &sets[i];
  }
  return nullptr;
}

void Zone::forEachRecord(const std::function<void(const RecordView&)>& fn) const {
  RecordCursor c(*this);
  RecordView r;
  while (c.next(r)) fn(r);
}

Zone::RecordCursor::RecordCursor(const Zone& zone) : zone_(zone), owner_(zone.nodeName(*zone.apex())) {}

bool Zone::RecordCursor::next(RecordView& out) {
  const Zone& z = zone_;
  for (;;) {
    const RRset* set;
    if (!soaDone_) {  // the apex SOA RRset first
      set = &z.rrsets_[z.soaRRset_];
      if (rd_ >= set->count) {
        soaDone_ = true;
        rd_ = 0;
        if (z.nodes_.empty()) return false;
        owner_ = z.nodeName(z.nodes_[0]);
        continue;
      }
    } else {
      if (node_ >= z.nodes_.size()) return false;
      const Node& node = z.nodes_[node_];
      if (rrset_ >= node.rrsetCount) {
        ++node_;
        rrset_ = 0;
        rd_ = 0;
        if (node_ < z.nodes_.size()) owner_ = z.nodeName(z.nodes_[node_]);
        continue;
      }
      set = &z.rrsets_[node.firstRRset + rrset_];
      if (rd_ >= set->count || (node_ == z.apexIndex_ && set->type == kTypeSOA)) {
        ++rrset_;
        rd_ = 0;
        continue;
      }
    }
    const Rdata& rd = z.rdatas_[set->first + rd_++];
    out = RecordView{&owner_, set->type, kClassIN, rd.ttl, z.blob_.data() + rd.offset, rd.len};
    return true;
  }
}

// --- ZoneBuilder --------------------------------------------------------------------------------------

struct ZoneBuilder::Impl {
  struct Record {
    Name owner;  // lowercased
    uint16_t type;
    uint32_t ttl;
    uint32_t rdataOffset;
    uint16_t rdlen;
    uint32_t fileIndex;
    uint64_t line;
  };
  Name origin;
  std::vector<Record> records;
  std::vector<uint8_t> rdata;
  std::vector<std::string> files;
  uint64_t line = 0;
  uint32_t currentFile = 0;  // 1-based index into files, 0 = no source set

  std::string where(const Record& r) const {
    if (r.fileIndex == 0 || r.fileIndex > files.size()) return "";
    return files[r.fileIndex - 1] + ":" + std::to_string(r.line) + ": ";
  }
  std::string whereFirst() const {
    if (files.empty()) return "";
    return files[0] + ":" + std::to_string(records.empty() ? 1 : records.front().line) + ": ";
  }
};

ZoneBuilder::ZoneBuilder(const Name& origin) : impl_(std::make_unique<Impl>()) {
  impl_->origin = origin.lowered();
}
ZoneBuilder::~ZoneBuilder() = default;

void ZoneBuilder::setSource(const std::string& file, uint64_t line) {
  Impl& d = *impl_;
  if (d.currentFile == 0 || d.files[d.currentFile - 1] != file) {
    auto it = std::find(d.files.begin(), d.files.end(), file);
    if (it == d.files.end()) it = d.files.insert(d.files.end(), file);
    d.currentFile = static_cast<uint32_t>(it - d.files.begin()) + 1;
  }
  d.line = line;
}

bool ZoneBuilder::add(const Name& owner, uint16_t type, uint32_t ttl, const uint8_t* rdata, uint16_t rdlen,
                      std::string& error) {
  return add(owner, type, kClassIN, ttl, rdata, rdlen, error);
}

bool ZoneBuilder::add(const Name& owner, uint16_t type, uint16_t rclass, uint32_t ttl, const uint8_t* rdata,
                      uint16_t rdlen, std::string& error) {
  Impl& d = *impl_;
  Impl::Record r{};
  r.owner = owner.lowered();
  r.type = type;
  r.ttl = ttl;
  r.line = d.line;
  r.fileIndex = d.currentFile;
  const std::string at = d.where(r);
  if (owner.empty()) {
    error = at + "empty owner name";
    return false;
  }
  if (rclass != kClassIN) {
    error = at + "class " + std::to_string(rclass) + " is not IN";
    return false;
  }
  if (!r.owner.isSubdomainOf(d.origin)) {
    error = at + "out-of-zone data: " + nameToText(owner) + " is not in zone " + nameToText(d.origin);
    return false;
  }
  if (type == kTypeOPT || type == kTypeIXFR || type == kTypeAXFR || type == kTypeANY || type == kTypeMAILA ||
      type == kTypeMAILB || type == 0 || type == 250 /*TSIG*/ || type == 249 /*TKEY*/) {
    error = at + "type " + std::to_string(type) + " cannot appear in a zone";
    return false;
  }
  const size_t off = d.rdata.size();
  d.rdata.insert(d.rdata.end(), rdata, rdata + rdlen);
  if (!normaliseRdata(type, d.rdata.data() + off, rdlen)) {
    d.rdata.resize(off);
    error = at + "malformed rdata for " + typeName(type) + " record";
    return false;
  }
  r.rdataOffset = static_cast<uint32_t>(off);
  r.rdlen = rdlen;
  d.records.push_back(r);
  return true;
}

std::shared_ptr<const Zone> ZoneBuilder::build(std::string& error) {
  Impl& d = *impl_;
  auto zone = std::shared_ptr<Zone>(new Zone());
  Zone& z = *zone;
  z.origin_ = d.origin;

  // Order records by owner (canonical), keeping file order within an owner (it decides RRset order, which
  // NSD's minimal ANY answer depends on).
  std::vector<uint32_t> order(d.records.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return canonicalCompare(d.records[a].owner, d.records[b].owner) < 0;
  });

  // Node names: every owner and every name between an owner and the apex (empty non-terminals).
  std::vector<Name> names;
  names.reserve(d.records.size() + 1);
  names.push_back(d.origin);
  const int originLabels = d.origin.labelCount();
  {
    std::vector<Name> all;
    for (const auto& r : d.records) {
      Name n = r.owner;
      while (n.labelCount() > originLabels) {
        all.push_back(n);
        n = n.parent();
      }
    }
    std::sort(all.begin(), all.end(),
              [](const Name& a, const Name& b) { return canonicalCompare(a, b) < 0; });
    for (const Name& n : all) {
      if (!names.back().equalsNoCase(n)) names.push_back(n);
    }
  }
  // names[0] is the apex, the rest are below it in canonical order, so `names` is canonical.
  z.nodes_.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    Zone::Node& node = z.nodes_[i];
    node.nameOffset = static_cast<uint32_t>(z.names_.size());
    node.nameLen = names[i].len;
    node.labels = static_cast<uint8_t>(names[i].labelCount());
    node.flags = 0;
    node.firstRRset = 0;
    node.rrsetCount = 0;
    z.names_.insert(z.names_.end(), names[i].data, names[i].data + names[i].len);
  }
  z.apexIndex_ = 0;
  z.nodes_[0].flags |= Zone::kApex;

  // Hash table.
  size_t tableSize = 16;
  while (tableSize < names.size() * 2) tableSize <<= 1;
  z.table_.assign(tableSize, 0);
  z.tableMask_ = static_cast<uint32_t>(tableSize - 1);
  for (size_t i = 0; i < names.size(); ++i) {
    uint32_t slot = z.hashSlot(names[i].data, names[i].len);
    while (z.table_[slot] != 0) slot = (slot + 1) & z.tableMask_;
    z.table_[slot] = static_cast<uint32_t>(i + 1);
  }
  auto nodeIndex = [&](const Name& n) -> uint32_t {
    const Zone::Node* node = z.findExact(n);
    return node ? static_cast<uint32_t>(node - z.nodes_.data()) : Zone::kNone;
  };

  // RRsets: per node, types in order of first appearance; records deduplicated; the last TTL seen wins for
  // the whole RRset (what NSD 4.6 serves after warning about a mismatch).
  struct Pending {
    uint16_t type;
    uint32_t ttl;
    std::vector<uint32_t> records;  // indexes into d.records
  };
  std::vector<std::vector<Pending>> perNode(names.size());
  for (uint32_t ri : order) {
    const auto& r = d.records[ri];
    const uint32_t ni = nodeIndex(r.owner);
    auto& sets = perNode[ni];
    Pending* set = nullptr;
    for (auto& s : sets) {
      if (s.type == r.type) set = &s;
    }
    if (set == nullptr) {
      sets.push_back(Pending{r.type, r.ttl, {}});
      set = &sets.back();
    }
    bool duplicate = false;
    for (uint32_t other : set->records) {
      const auto& o = d.records[other];
      if (o.rdlen == r.rdlen && std::memcmp(&d.rdata[o.rdataOffset], &d.rdata[r.rdataOffset], r.rdlen) == 0) {
        duplicate = true;
        break;
      }
    }
    set->ttl = r.ttl;
    if (!duplicate) set->records.push_back(ri);
  }
  auto firstLine = [&](const Pending& p) -> const Impl::Record& { return d.records[p.records.front()]; };
  auto laterOf = [&](const Pending& a, const Pending& b) -> const Impl::Record& {
    const auto& ra = firstLine(a);
    const auto& rb = firstLine(b);
    return (rb.fileIndex > ra.fileIndex || (rb.fileIndex == ra.fileIndex && rb.line > ra.line)) ? rb : ra;
  };

  // Semantic checks.
  {
    const auto& apexSets = perNode[0];
    const Pending* soa = nullptr;
    const Pending* ns = nullptr;
    for (const auto& s : apexSets) {
      if (s.type == kTypeSOA) soa = &s;
      if (s.type == kTypeNS) ns = &s;
    }
    if (soa == nullptr) {
      error = d.whereFirst() + "zone " + nameToText(d.origin) + " has no SOA record at its apex";
      return nullptr;
    }
    if (soa->records.size() > 1) {
      error = d.where(d.records[soa->records[1]]) + "more than one SOA record at the apex";
      return nullptr;
    }
    if (ns == nullptr) {
      error = d.where(firstLine(*soa)) + "zone " + nameToText(d.origin) + " has no NS records at its apex";
      return nullptr;
    }
  }
  for (size_t ni = 0; ni < names.size(); ++ni) {
    const auto& sets = perNode[ni];
    const Pending* cname = nullptr;
    const Pending* dname = nullptr;
    for (const auto& s : sets) {
      if (s.type == kTypeSOA && ni != 0) {
        error = d.where(firstLine(s)) + "SOA record not at the zone apex";
        return nullptr;
      }
      if (s.type == kTypeCNAME) cname = &s;
      if (s.type == kTypeDNAME) dname = &s;
    }
    if (cname != nullptr) {
      if (cname->records.size() > 1) {
        error =
            d.where(d.records[cname->records[1]]) + "more than one CNAME record at " + nameToText(names[ni]);
        return nullptr;
      }
      for (const auto& s : sets) {
        if (&s == cname || s.type == kTypeRRSIG || s.type == kTypeNSEC) continue;
        error = d.where(laterOf(*cname, s)) + "CNAME and other data at " + nameToText(names[ni]);
        return nullptr;
      }
    }
    if (dname != nullptr && dname->records.size() > 1) {
      error =
          d.where(d.records[dname->records[1]]) + "more than one DNAME record at " + nameToText(names[ni]);
      return nullptr;
    }
  }

  // Flags: zone cuts, occlusion, DNAME subtrees, wildcard parents, empty non-terminals.
  for (size_t ni = 0; ni < names.size(); ++ni) {
    Zone::Node& node = z.nodes_[ni];
    for (const auto& s : perNode[ni]) {
      if (s.type == kTypeNS && ni != 0) node.flags |= Zone::kDelegation;
      if (s.type == kTypeCNAME) node.flags |= Zone::kHasCname;
      if (s.type == kTypeDNAME) node.flags |= Zone::kHasDname;
    }
    if (perNode[ni].empty()) node.flags |= Zone::kEmptyNonTerminal;
  }
  for (size_t ni = 1; ni < names.size(); ++ni) {
    Zone::Node& node = z.nodes_[ni];
    // Walk the ancestors (strictly between the apex and this node).
    Name anc = names[ni].parent();
    while (anc.labelCount() > originLabels) {
      const uint32_t ai = nodeIndex(anc);
      const uint16_t af = z.nodes_[ai].flags;
      if (af & Zone::kDelegation) node.flags |= Zone::kBelowCut | Zone::kOccluded;
      if (af & Zone::kHasDname) {
        if (!perNode[ni].empty()) {
          error = d.where(firstLine(perNode[ni].front())) + "data below the DNAME at " + nameToText(anc);
          return nullptr;
        }
      }
      anc = anc.parent();
    }
    if (names[ni].isWildcard()) {
      const uint32_t pi = nodeIndex(names[ni].parent());
      if (pi != Zone::kNone) z.nodes_[pi].flags |= Zone::kWildcardChild;
    }
  }

  // Compile RRsets and rdata.
  for (size_t ni = 0; ni < names.size(); ++ni) {
    Zone::Node& node = z.nodes_[ni];
    node.firstRRset = static_cast<uint32_t>(z.rrsets_.size());
    node.rrsetCount = static_cast<uint16_t>(perNode[ni].size());
    for (const auto& s : perNode[ni]) {
      Zone::RRset set{s.type, static_cast<uint16_t>(s.records.size()),
                      static_cast<uint32_t>(z.rdatas_.size())};
      if (s.type == kTypeSOA && ni == 0) z.soaRRset_ = static_cast<uint32_t>(z.rrsets_.size());
      z.rrsets_.push_back(set);
      for (uint32_t ri : s.records) {
        const auto& r = d.records[ri];
        Zone::Rdata rd{static_cast<uint32_t>(z.blob_.size()), r.rdlen, s.ttl, Zone::kNone};
        z.blob_.insert(z.blob_.end(), d.rdata.begin() + r.rdataOffset,
                       d.rdata.begin() + r.rdataOffset + r.rdlen);
        z.rdatas_.push_back(rd);
      }
    }
  }
  // Additional-section targets: the exact node, or the wildcard that would answer for the name.
  for (auto& set : z.rrsets_) {
    const int off = targetOffset(set.type);
    if (off < 0) continue;
    for (uint16_t i = 0; i < set.count; ++i) {
      Zone::Rdata& rd = z.rdatas_[set.first + i];
      if (rd.len <= off) continue;
      const uint8_t* p = z.blob_.data() + rd.offset + off;
      const size_t n = nameLength(p, rd.len - off);
      if (n == 0) continue;
      const Name target = Name::fromWire(p, n);
      if (!target.isSubdomainOf(z.origin_)) continue;
      uint32_t ti = nodeIndex(target);
      if (ti == Zone::kNone) {
        Name enc = target.parent();
        while (enc.labelCount() >= originLabels) {
          const uint32_t ei = nodeIndex(enc);
          if (ei != Zone::kNone) {
            if (z.nodes_[ei].flags & Zone::kWildcardChild) {
              Name wc;
              if (enc.wildcardChild(wc)) ti = nodeIndex(wc);
            }
            break;
          }
          if (enc.isRoot()) break;
          enc = enc.parent();
        }
      }
      rd.targetNode = ti;
    }
  }

  // SOA facts.
  const Zone::RRset& soa = z.rrsets_[z.soaRRset_];
  const Zone::Rdata& soaRd = z.rdatas_[soa.first];
  const uint8_t* sp = z.blob_.data() + soaRd.offset + soaRd.len - 20;
  z.serial_ = readU32(sp);
  const uint32_t minimum = readU32(sp + 16);
  z.negativeTtl_ = std::min(soaRd.ttl, minimum);
  return zone;
}

// --- zone files ---------------------------------------------------------------------------------------

namespace {

struct LoadState {
  ZoneBuilder* builder;
  std::string error;
  std::string fallbackName;
};

std::string scannerFile(const zs_scanner_t* s, const std::string& fallback) {
  return s->file.name != nullptr ? std::string(s->file.name) : fallback;
}

void onRecord(zs_scanner_t* s) {
  auto* st = static_cast<LoadState*>(s->process.data);
  if (!st->error.empty()) {
    s->state = ZS_STATE_STOP;
    return;
  }
  st->builder->setSource(scannerFile(s, st->fallbackName), s->line_counter);
  const Name owner = Name::fromWire(s->r_owner, s->r_owner_length);
  if (s->r_data_length > 0xffff) {
    st->error = scannerFile(s, st->fallbackName) + ":" + std::to_string(s->line_counter) + ": rdata too long";
    s->state = ZS_STATE_STOP;
    return;
  }
  std::string err;
  if (!st->builder->add(owner, s->r_type, s->r_class, s->r_ttl, s->r_data,
                        static_cast<uint16_t>(s->r_data_length), err)) {
    st->error = err;
    s->state = ZS_STATE_STOP;
  }
}

void onError(zs_scanner_t* s) {
  auto* st = static_cast<LoadState*>(s->process.data);
  if (st->error.empty()) {
    st->error = scannerFile(s, st->fallbackName) + ":" + std::to_string(s->line_counter) + ": " +
                zs_strerror(s->error.code);
  }
  s->state = ZS_STATE_STOP;
}

ZoneLoad loadWith(const std::string& origin, const std::string& name,
                  const std::function<int(zs_scanner_t*)>& setInput) {
  ZoneLoad result;
  Name originName;
  if (!nameFromText(origin, originName)) {
    result.error = name + ":0: invalid zone origin '" + origin + "'";
    return result;
  }
  std::string originText = nameToText(originName);
  ZoneBuilder builder(originName);
  LoadState st{&builder, {}, name};
  auto scanner = std::make_unique<zs_scanner_t>();
  std::memset(scanner.get(), 0, sizeof(zs_scanner_t));
  if (zs_init(scanner.get(), originText.c_str(), kClassIN, 3600) != 0) {
    result.error = name + ":0: " + zs_strerror(scanner->error.code);
    zs_deinit(scanner.get());
    return result;
  }
  if (setInput(scanner.get()) != 0) {
    result.error = name + ":0: " + zs_strerror(scanner->error.code);
    zs_deinit(scanner.get());
    return result;
  }
  if (zs_set_processing(scanner.get(), onRecord, onError, &st) != 0) {
    result.error = name + ":0: " + zs_strerror(scanner->error.code);
    zs_deinit(scanner.get());
    return result;
  }
  const int rc = zs_parse_all(scanner.get());
  if (st.error.empty() && (rc != 0 || scanner->error.counter > 0)) {
    st.error = name + ":" + std::to_string(scanner->line_counter) + ": " + zs_strerror(scanner->error.code);
  }
  zs_deinit(scanner.get());
  if (!st.error.empty()) {
    result.error = st.error;
    return result;
  }
  std::string err;
  result.zone = builder.build(err);
  if (!result.zone) result.error = err.empty() ? name + ":0: zone build failed" : err;
  return result;
}

}  // namespace

ZoneLoad loadZoneFile(const std::string& origin, const std::string& path) {
  return loadWith(origin, path, [&](zs_scanner_t* s) { return zs_set_input_file(s, path.c_str()); });
}

ZoneLoad loadZoneText(const std::string& origin, std::string_view text, const std::string& name) {
  return loadWith(origin, name,
                  [&](zs_scanner_t* s) { return zs_set_input_string(s, text.data(), text.size()); });
}

// --- ZoneSet -----------------------------------------------------------------------------------------

void ZoneSet::add(std::shared_ptr<const Zone> zone) {
  if (!zone) return;
  for (auto& z : zones_) {
    if (z->origin().equalsNoCase(zone->origin())) {
      z = std::move(zone);
      return;
    }
  }
  zones_.push_back(std::move(zone));
  std::stable_sort(zones_.begin(), zones_.end(),
                   [](const auto& a, const auto& b) { return a->origin().len > b->origin().len; });
}

const Zone* ZoneSet::find(const Name& qname) const {
  // Longest origin first, so the first zone that encloses the name is the closest.
  for (const auto& z : zones_) {
    if (z->origin().len <= qname.len && qname.isSubdomainOf(z->origin())) return z.get();
  }
  return nullptr;
}

const Zone* ZoneSet::findExact(const Name& origin) const {
  for (const auto& z : zones_) {
    if (z->origin().equalsNoCase(origin)) return z.get();
  }
  return nullptr;
}

}  // namespace bulwark::dns
