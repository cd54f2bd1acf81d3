// Persistent collections (IP, GLOBAL, SESSION, USER, RESOURCE): what `initcol` loads and what a
// transaction's setvar/expirevar changes are merged into when it ends, shared by every worker.
//
// ModSecurity v2 semantics: a record lives until TIMEOUT seconds (SecCollectionTimeout) after its last
// update; a variable may expire earlier (expirevar). Only changed collections are written back, and numeric
// variables are merged as deltas (two workers that each add 1 to IP:COUNTER leave it 2 higher), so
// concurrent transactions of one client do not lose each other's counts.
//
// Bounded: at most `maxRecords` records (default 65,536) and kMaxVars variables per record, values cut at
// kMaxValue bytes. When a shard is full, expired records are dropped first, then the least recently updated.
//
// Concurrency: 64 shards, each a mutex around a hash map. The lock is held only to copy one record in or to
// merge one record's changes; both are bounded by kMaxVars * kMaxValue bytes, and no I/O or allocation of
// unbounded size happens under it, so a worker never waits longer than another worker's copy of one record.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bulwark::waf {

class CollectionStore {
 public:
  static constexpr std::size_t kMaxVars = 128;
  static constexpr std::size_t kMaxValue = 1024;

  struct Var {
    std::string name;  // lower-case
    std::string value;
    int64_t expiresAt = 0;  // seconds (epoch); 0 = with the record
  };
  struct Record {
    std::vector<Var> vars;
    int64_t createTime = 0;
    int64_t lastUpdate = 0;
    int64_t timeout = 0;  // seconds after lastUpdate the record lives
    int64_t updateCounter = 0;
  };
  struct Change {
    enum class Kind : uint8_t { kSet, kDelta, kRemove, kExpire } kind = Kind::kSet;
    std::string name;       // lower-case
    std::string value;      // kSet
    int64_t delta = 0;      // kDelta
    int64_t expiresAt = 0;  // kExpire
  };

  explicit CollectionStore(std::size_t maxRecords = 65536);
  CollectionStore(const CollectionStore&) = delete;
  CollectionStore& operator=(const CollectionStore&) = delete;

  // The live record of (collection, key) as of `now` (seconds), expired variables left out. False when
  // there is none or it has timed out.
  bool load(std::string_view collection, std::string_view key, int64_t now, Record& out);
  // Applies one transaction's changes (creating the record if needed), bumps UPDATE_COUNTER and
  // LAST_UPDATE_TIME. `createTime` is used for a new record.
  void store(std::string_view collection, std::string_view key, const std::vector<Change>& changes,
             int64_t now, int64_t timeoutSeconds, int64_t createTime);

  std::size_t size() const;
  uint64_t evictions() const;

  // The process's store: shared by every worker and every rule generation (a reload keeps the counts).
  static std::shared_ptr<CollectionStore> process();

 private:
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Record> records;
    std::atomic<std::size_t> count{0};  // records.size(), read without the lock: an empty shard is not locked
    uint64_t evictions = 0;
  };
  static constexpr std::size_t kShards = 64;
  Shard& shardFor(const std::string& id);
  static void makeRoom(Shard& shard, std::size_t limit, int64_t now);

  std::size_t perShardLimit_;
  std::array<Shard, kShards> shards_;
};

}  // namespace bulwark::waf
