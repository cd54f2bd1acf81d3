#include "waf/engine/collection_store.h"

#include <algorithm>
#include <limits>

#include "core/hash.h"
#include "waf/engine/text.h"

namespace bulwark::waf {

namespace {

std::string recordId(std::string_view collection, std::string_view key) {
  std::string id;
  id.reserve(collection.size() + 1 + key.size());
  id.append(collection);
  id += '\0';
  id.append(key);
  return id;
}

bool live(const CollectionStore::Record& r, int64_t now) { return r.lastUpdate + r.timeout > now; }

int64_t saturatingAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out))
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return out;
}

}  // namespace

CollectionStore::CollectionStore(std::size_t maxRecords)
    : perShardLimit_(std::max<std::size_t>(1, (maxRecords + kShards - 1) / kShards)) {}

CollectionStore::Shard& CollectionStore::shardFor(const std::string& id) {
  return shards_[fnv1a(kFnvOffset, id) % kShards];
}

bool CollectionStore::load(std::string_view collection, std::string_view key, int64_t now, Record& out) {
  const std::string id = recordId(collection, key);
  Shard& shard = shardFor(id);
  // Most initcols find nothing (CRS initialises IP and GLOBAL on every request and writes neither unless
  // its optional rules run): an empty shard answers without taking its lock.
  if (shard.count.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.records.find(id);
  if (it == shard.records.end()) return false;
  if (!live(it->second, now)) {
    shard.records.erase(it);
    shard.count.store(shard.records.size(), std::memory_order_release);
    return false;
  }
  const Record& r = it->second;
  out.createTime = r.createTime;
  out.lastUpdate = r.lastUpdate;
  out.timeout = r.timeout;
  out.updateCounter = r.updateCounter;
  out.vars.clear();
  for (const Var& v : r.vars) {
    if (v.expiresAt == 0 || v.expiresAt > now) out.vars.push_back(v);
  }
  return true;
}

// Drops timed-out records; if the shard is still at its limit, the least recently updated one.
void CollectionStore::makeRoom(Shard& shard, std::size_t limit, int64_t now) {
  if (shard.records.size() < limit) return;
  std::erase_if(shard.records, [&](const auto& kv) { return !live(kv.second, now); });
  while (shard.records.size() >= limit) {
    auto oldest = std::min_element(
        shard.records.begin(), shard.records.end(),
        [](const auto& a, const auto& b) { return a.second.lastUpdate < b.second.lastUpdate; });
    shard.records.erase(oldest);
    ++shard.evictions;
  }
}

void CollectionStore::store(std::string_view collection, std::string_view key,
                            const std::vector<Change>& changes, int64_t now, int64_t timeoutSeconds,
                            int64_t createTime) {
  const std::string id = recordId(collection, key);
  Shard& shard = shardFor(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  auto it = shard.records.find(id);
  if (it != shard.records.end() && !live(it->second, now)) {
    shard.records.erase(it);
    it = shard.records.end();
  }
  if (it == shard.records.end()) {
    makeRoom(shard, perShardLimit_, now);
    it = shard.records.emplace(id, Record{}).first;
    it->second.createTime = createTime;
  }
  shard.count.store(shard.records.size(), std::memory_order_release);
  Record& r = it->second;
  for (const Change& c : changes) {
    auto var = std::find_if(r.vars.begin(), r.vars.end(), [&](const Var& v) { return v.name == c.name; });
    if (var != r.vars.end() && var->expiresAt != 0 && var->expiresAt <= now) {
      r.vars.erase(var);  // expired: a delta starts from nothing again
      var = r.vars.end();
    }
    if (c.kind == Change::Kind::kRemove) {
      if (var != r.vars.end()) r.vars.erase(var);
      continue;
    }
    if (var == r.vars.end()) {
      if (r.vars.size() >= kMaxVars) continue;  // bounded: further variables are not kept
      r.vars.push_back(Var{c.name, "", 0});
      var = r.vars.end() - 1;
    }
    switch (c.kind) {
      case Change::Kind::kSet:
        var->value.assign(c.value, 0, std::min(c.value.size(), kMaxValue));
        break;
      case Change::Kind::kDelta:
        var->value = std::to_string(saturatingAdd(secLangInt(var->value), c.delta));
        break;
      case Change::Kind::kExpire:
        var->expiresAt = c.expiresAt;
        break;
      case Change::Kind::kRemove:
        break;
    }
  }
  r.timeout = timeoutSeconds;
  r.lastUpdate = now;
  ++r.updateCounter;
}

std::size_t CollectionStore::size() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    n += s.records.size();
  }
  return n;
}

uint64_t CollectionStore::evictions() const {
  uint64_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mutex);
    n += s.evictions;
  }
  return n;
}

std::shared_ptr<CollectionStore> CollectionStore::process() {
  static const std::shared_ptr<CollectionStore> store = std::make_shared<CollectionStore>();
  return store;
}

}  // namespace bulwark::waf
