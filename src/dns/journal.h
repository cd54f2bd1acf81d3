// The differences between successive versions of one zone, kept for IXFR out (RFC 1995).
//
// Each version change (serial N -> M) is a Delta: the records removed and added (SOA excluded; the old and
// new SOA are kept apart), computed by diffing the two zones' records. The journal is bounded by a number of
// versions and by bytes; the oldest versions are dropped first.
//
// Threading: a Journal is a value; the owner publishes immutable copies (deltas are shared, copies are
// cheap) for concurrent readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "dns/xfr.h"
#include "dns/zone.h"

namespace bulwark::dns {

struct JournalDelta {
  uint32_t fromSerial = 0, toSerial = 0;
  OwnedRecord oldSoa, newSoa;
  std::vector<OwnedRecord> removed, added;
  size_t bytes = 0;  // approximate memory
};

// Records of `oldZ` not in `newZ` (removed) and of `newZ` not in `oldZ` (added), SOA excluded.
JournalDelta diffZones(const Zone& oldZ, const Zone& newZ);

// One delta with the net effect of a chain of successive deltas (RFC 1995 §4 condensation): a record
// added then removed (or removed then added back) cancels out. Old SOA from the first, new SOA from the
// last; removed and added in canonical order. `chain` must not be empty.
JournalDelta condenseDeltas(const std::vector<const JournalDelta*>& chain);

class Journal {
 public:
  explicit Journal(size_t maxVersions = 32, size_t maxBytes = 64u << 20)
      : maxVersions_(maxVersions), maxBytes_(maxBytes) {}

  // Records the change oldZ -> newZ. A reload with the same serial is ignored; a serial that went backwards
  // (or by 2^31) clears the journal (IXFR clients then get a full zone). A single delta larger than the
  // byte bound is not kept (and clears the journal: the chain would have a gap).
  void onNewVersion(const Zone& oldZ, const Zone& newZ);
  void add(std::shared_ptr<const JournalDelta> delta);
  void clear() { deltas_.clear(), bytes_ = 0; }

  // The chain of deltas from `fromSerial` to `toSerial` (both ends exact), or false when the journal does not
  // reach back that far.
  bool chain(uint32_t fromSerial, uint32_t toSerial, std::vector<const JournalDelta*>& out) const;

  size_t versions() const { return deltas_.size(); }
  size_t bytes() const { return bytes_; }
  const std::deque<std::shared_ptr<const JournalDelta>>& deltas() const { return deltas_; }

 private:
  void trim();
  size_t maxVersions_, maxBytes_;
  size_t bytes_ = 0;
  std::deque<std::shared_ptr<const JournalDelta>> deltas_;
};

// The zone's SOA record (apex owner, class IN), as transfers and the journal carry it.
OwnedRecord zoneSoa(const Zone& z);

}  // namespace bulwark::dns
