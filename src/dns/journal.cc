#include "dns/journal.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace bulwark::dns {

namespace {

// Identity of a record in a diff: owner (lowercased), type, class, TTL, rdata. A TTL change is a removal
// plus an addition, as in NSD's and Knot's journals.
std::string diffKey(const RecordView& r) {
  Name low = r.owner->lowered();
  std::string k(reinterpret_cast<const char*>(low.data), low.len);
  uint8_t fixed[8];
  writeU16(fixed, r.type);
  writeU16(fixed + 2, r.rclass);
  writeU32(fixed + 4, r.ttl);
  k.append(reinterpret_cast<const char*>(fixed), sizeof fixed);
  k.append(reinterpret_cast<const char*>(r.rdata), r.rdlen);
  return k;
}

std::unordered_set<std::string> keysOf(const Zone& z) {
  std::unordered_set<std::string> keys;
  keys.reserve(z.recordCount() * 2);
  z.forEachRecord([&](const RecordView& r) {
    if (r.type != kTypeSOA) keys.insert(diffKey(r));
  });
  return keys;
}

size_t recordBytes(const OwnedRecord& r) { return sizeof(OwnedRecord) + r.rdata.size(); }

}  // namespace

OwnedRecord zoneSoa(const Zone& z) {
  const Zone::RRset& set = z.soa();
  const Zone::Rdata& rd = z.rdata(set, 0);
  OwnedRecord r;
  r.owner = z.nodeName(*z.apex());
  r.type = kTypeSOA;
  r.rclass = kClassIN;
  r.ttl = rd.ttl;
  r.rdata.assign(z.rdataBytes(rd), z.rdataBytes(rd) + rd.len);
  return r;
}

JournalDelta diffZones(const Zone& oldZ, const Zone& newZ) {
  JournalDelta d;
  d.fromSerial = oldZ.serial();
  d.toSerial = newZ.serial();
  d.oldSoa = zoneSoa(oldZ);
  d.newSoa = zoneSoa(newZ);
  // Removed and added keep the zones' canonical order.
  {
    std::unordered_set<std::string> newKeys = keysOf(newZ);
    oldZ.forEachRecord([&](const RecordView& r) {
      if (r.type != kTypeSOA && !newKeys.count(diffKey(r))) d.removed.push_back(toOwned(r));
    });
  }
  {
    std::unordered_set<std::string> oldKeys = keysOf(oldZ);
    newZ.forEachRecord([&](const RecordView& r) {
      if (r.type != kTypeSOA && !oldKeys.count(diffKey(r))) d.added.push_back(toOwned(r));
    });
  }
  d.bytes = sizeof(JournalDelta) + recordBytes(d.oldSoa) + recordBytes(d.newSoa);
  for (const OwnedRecord& r : d.removed) d.bytes += recordBytes(r);
  for (const OwnedRecord& r : d.added) d.bytes += recordBytes(r);
  return d;
}

namespace {

std::string ownedKey(const OwnedRecord& r) {
  RecordView v{&r.owner, r.type, r.rclass, r.ttl, r.rdata.data(), static_cast<uint16_t>(r.rdata.size())};
  return diffKey(v);
}

bool canonicalLess(const OwnedRecord& a, const OwnedRecord& b) {
  int c = canonicalCompare(a.owner, b.owner);
  if (c != 0) return c < 0;
  if (a.type != b.type) return a.type < b.type;
  return std::lexicographical_compare(a.rdata.begin(), a.rdata.end(), b.rdata.begin(), b.rdata.end());
}

}  // namespace

JournalDelta condenseDeltas(const std::vector<const JournalDelta*>& chain) {
  JournalDelta out;
  out.fromSerial = chain.front()->fromSerial;
  out.toSerial = chain.back()->toSerial;
  out.oldSoa = chain.front()->oldSoa;
  out.newSoa = chain.back()->newSoa;
  // Net state per record: removed from the client's version, or added since it.
  std::unordered_map<std::string, OwnedRecord> removed, added;
  for (const JournalDelta* d : chain) {
    for (const OwnedRecord& r : d->removed) {
      std::string k = ownedKey(r);
      if (!added.erase(k)) removed.emplace(std::move(k), r);
    }
    for (const OwnedRecord& r : d->added) {
      std::string k = ownedKey(r);
      if (!removed.erase(k)) added.emplace(std::move(k), r);
    }
  }
  for (auto& [k, r] : removed) out.removed.push_back(std::move(r));
  for (auto& [k, r] : added) out.added.push_back(std::move(r));
  std::sort(out.removed.begin(), out.removed.end(), canonicalLess);
  std::sort(out.added.begin(), out.added.end(), canonicalLess);
  out.bytes = sizeof(JournalDelta) + recordBytes(out.oldSoa) + recordBytes(out.newSoa);
  for (const OwnedRecord& r : out.removed) out.bytes += recordBytes(r);
  for (const OwnedRecord& r : out.added) out.bytes += recordBytes(r);
  return out;
}

void Journal::onNewVersion(const Zone& oldZ, const Zone& newZ) {
  if (oldZ.serial() == newZ.serial()) return;
  if (!serialGreater(newZ.serial(), oldZ.serial())) {
    clear();
    return;
  }
  add(std::make_shared<const JournalDelta>(diffZones(oldZ, newZ)));
}

void Journal::add(std::shared_ptr<const JournalDelta> delta) {
  if (delta->bytes > maxBytes_) {
    clear();
    return;
  }
  // A delta that does not continue the chain starts a new one.
  if (!deltas_.empty() && deltas_.back()->toSerial != delta->fromSerial) clear();
  bytes_ += delta->bytes;
  deltas_.push_back(std::move(delta));
  trim();
}

void Journal::trim() {
  while (!deltas_.empty() && (deltas_.size() > maxVersions_ || bytes_ > maxBytes_)) {
    bytes_ -= deltas_.front()->bytes;
    deltas_.pop_front();
  }
}

bool Journal::chain(uint32_t fromSerial, uint32_t toSerial, std::vector<const JournalDelta*>& out) const {
  out.clear();
  size_t i = 0;
  while (i < deltas_.size() && deltas_[i]->fromSerial != fromSerial) ++i;
  if (i == deltas_.size()) return false;
  for (; i < deltas_.size(); ++i) {
    out.push_back(deltas_[i].get());
    if (deltas_[i]->toSerial == toSerial) return true;
  }
  out.clear();
  return false;
}

}  // namespace bulwark::dns
