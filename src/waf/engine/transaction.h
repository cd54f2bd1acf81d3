// One HTTP transaction through the WAF: collections, phases 1-5, interventions, matched rules.
//
// A Transaction is created per request on the worker that serves it and never shared between threads. It
// holds a shared_ptr to the compiled Program, so a rule reload never changes the rules under it.
// Feed it in order: request line + headers -> processRequestHeaders (phase 1); body chunks ->
// processRequestBody (phase 2); response status + headers -> processResponseHeaders (3); response body ->
// processResponseBody (4); processLogging (5). After each, intervention() says whether to stop.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "waf/engine/program.h"
#include "waf/engine/text.h"

namespace bulwark::waf {

struct KeyValue {
  std::string key;   // as received
  std::string lkey;  // lower-cased, for selector matching
  std::string value;
  uint64_t hash = 0;      // keyHash(lkey)
  int32_t nextSame = -1;  // index of the next item with the same lkey (kept by Collection), -1: none
};

// An ordered multimap with case-insensitive keys (ModSecurity collections keep duplicates and order).
// Past a few items it keeps an index from lower-cased key to the first and last item with that key (items
// with the same key are linked in order), so keyed reads (TX:score, REQUEST_HEADERS:Host) do not walk the
// whole collection.
class Collection {
 public:
  void add(std::string_view key, std::string_view value);
  // Replaces all items with that key (TX and the persistent collections hold one value per key).
  void set(std::string_view key, std::string_view value);
  // set() for a key already lower-cased, with its keyHash().
  void setLowered(std::string_view lkey, uint64_t hash, std::string_view value) {
    put(lkey, lkey, hash, value);
  }
  void remove(std::string_view lkey);
  const KeyValue* find(std::string_view lkey) const { return find(lkey, keyHash(lkey)); }
  const KeyValue* find(std::string_view lkey, uint64_t hash) const;
  std::span<const KeyValue> items() const noexcept { return {items_.data(), size_}; }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept {
    size_ = 0;  // the items stay allocated: the next ones reuse their strings
    slots_.clear();
  }
  // clear(), keeping at most `maxItems` item slots whose strings hold at most `maxText` bytes each (a
  // collection reused by the next transaction keeps a bounded amount of memory).
  void recycle(std::size_t maxItems, std::size_t maxText);
  // Calls f(item) for each item whose lower-cased key is `lkey` (hash: keyHash(lkey)), in order.
  template <class F>
  void forEachWithKey(std::string_view lkey, uint64_t hash, F&& f) const {
    if (slots_.empty()) {
      for (const KeyValue& kv : items()) {
        if (kv.hash == hash && kv.lkey == lkey) f(kv);
      }
      return;
    }
    for (int32_t i = firstIndex(lkey, hash); i >= 0; i = items_[static_cast<std::size_t>(i)].nextSame) {
      f(items_[static_cast<std::size_t>(i)]);
    }
  }

 private:
  static constexpr std::size_t kIndexFrom = 12;  // smaller collections are searched linearly
  struct Slot {
    int32_t first = -1;  // -1: empty
    int32_t last = -1;
  };
  int32_t firstIndex(std::string_view lkey, uint64_t hash) const;
  Slot* slotFor(std::string_view lkey, uint64_t hash);  // the key's slot, or the empty slot to claim
  void append(std::string_view key, std::string_view lkey, std::string_view value, uint64_t hash);
  void put(std::string_view key, std::string_view lkey, uint64_t hash, std::string_view value);
  void reindex();
  std::vector<KeyValue> items_;  // [0, size_) in use; the rest are kept for reuse
  std::size_t size_ = 0;
  std::vector<Slot> slots_;  // open addressing by hash, power-of-two size, at most half full; empty: no index
  std::size_t distinct_ = 0;
};

// Bump storage for the text a transaction keeps views into (transformed values, copies of values that may
// change mid-rule): copying a value is a memcpy into the current block, not an allocation. reset() drops
// everything and keeps a bounded number of blocks for the next transaction.
class TextArena {
 public:
  std::string_view copy(std::string_view s);
  void reset();

 private:
  static constexpr std::size_t kBlock = 16384;
  static constexpr std::size_t kKeepBlocks = 8;  // retained across transactions: at most 128 KiB
  std::vector<std::unique_ptr<char[]>> blocks_;  // kBlock bytes each; [0, current_] in use
  std::size_t current_ = 0;
  std::size_t used_ = 0;                        // bytes used in blocks_[current_]
  std::vector<std::unique_ptr<char[]>> large_;  // values over kBlock / 4, one allocation each
};

struct TxInfo {
  std::string clientAddress;
  uint16_t clientPort = 0;
  std::string serverAddress;
  uint16_t serverPort = 0;
  std::string uniqueId;
  std::string serverName;  // host name for logs
};

struct Intervention {
  bool disrupted = false;
  int status = 403;
  bool drop = false;
  std::string redirect;
  int64_t ruleId = 0;
  int phase = 0;
};

// One rule (chain) that matched, with everything the logs need.
struct RuleMatch {
  const Rule* rule = nullptr;
  int phase = 0;
  std::string matchedVarName;
  std::string matchedVar;
  std::string message;  // msg, expanded
  std::string data;     // logdata, expanded
  bool disruptive = false;
  bool log = true;
};

class Transaction final : public OperatorContext {
 public:
  Transaction(std::shared_ptr<const Program> program, TxInfo info);
  ~Transaction() override;

  // --- request ---
  void setRequestLine(std::string_view method, std::string_view uri, std::string_view protocol);
  void addRequestHeader(std::string_view name, std::string_view value);
  void processRequestHeaders();
  // Returns false once the body is over the inspection limit (the caller decides: reject or pass on).
  bool appendRequestBody(std::string_view chunk);
  void processRequestBody();
  // --- response ---
  void setResponseStatus(int status, std::string_view protocol);
  void addResponseHeader(std::string_view name, std::string_view value);
  void processResponseHeaders();
  bool appendResponseBody(std::string_view chunk);
  void processResponseBody();
  void processLogging();

  const Intervention& intervention() const noexcept { return intervention_; }
  const std::vector<RuleMatch>& matches() const noexcept { return matches_; }
  EngineMode mode() const noexcept { return mode_; }
  // The gateway's per-route mode (detect / block) overrides SecRuleEngine for this transaction.
  void forceMode(EngineMode m) noexcept { mode_ = m; }
  // Bytes of request body inspected: SecRequestBodyLimit (or ctl:requestBodyLimit), and for bodies
  // without files (anything but multipart) also SecRequestBodyNoFilesLimit, as in v2.
  uint64_t requestBodyLimit() const noexcept {
    return bodyProcessor_ == "multipart"
               ? requestBodyLimit_
               : std::min(requestBodyLimit_, program_->body.requestBodyNoFilesLimit);
  }
  // SecRequestBodyLimitAction Reject; in DetectionOnly v2 processes partially instead (never rejects).
  bool requestBodyLimitReject() const noexcept {
    return program_->body.requestBodyLimitReject && mode_ == EngineMode::kOn;
  }
  uint64_t responseBodyLimit() const noexcept { return program_->body.responseBodyLimit; }
  bool responseBodyLimitReject() const noexcept {
    return program_->body.responseBodyLimitReject && mode_ == EngineMode::kOn;
  }
  bool requestBodyAccess() const noexcept { return requestBodyAccess_; }
  bool responseBodyAccess() const noexcept { return responseBodyAccess_; }
  // True if the response body should be inspected: access on and MIME type in SecResponseBodyMimeType.
  bool wantsResponseBody() const;
  const TxInfo& info() const noexcept { return info_; }
  // SecAuditEngine for this transaction (ctl:auditEngine may change it): Off writes nothing, On a record
  // for every transaction, RelevantOnly one when a rule matched with logging or the final status matches
  // SecAuditLogRelevantStatus.
  bool auditRecordWanted(int status) const;
  // SecAuditLogParts letters for this transaction (ctl:auditLogParts=+E / -E / ABHZ changes them).
  const std::string& auditLogParts() const noexcept { return auditParts_; }
  bool auditLogPart(char part) const noexcept { return auditParts_.find(part) != std::string::npos; }
  std::string_view requestUri() const noexcept { return scalar(VariableId::kRequestUri); }
  const Collection& tx() const noexcept { return collections_[static_cast<std::size_t>(VariableId::kTx)]; }
  int64_t anomalyScore() const;
  const Collection& collection(VariableId v) const noexcept {
    return collections_[static_cast<std::size_t>(v)];
  }
  std::string_view variable(VariableId v) const noexcept { return scalar(v); }

  // OperatorContext / MacroResolver.
  bool captureEnabled() const noexcept override { return captureEnabled_; }
  void setCapture(int index, std::string_view value) override;
  void unsetCapture(int index) override;
  std::string& scratch() noexcept override { return opScratch_; }
  void resolve(const MacroPart& ref, std::string& out) override;

 private:
  struct Candidate {
    VariableId var;
    std::string_view key;   // original-case key ("" for scalars)
    std::string_view lkey;  // lower-cased key, for exclusions
    std::string_view value;
  };
  struct TargetRemoval {
    std::vector<std::pair<int64_t, int64_t>> idRanges;
    std::shared_ptr<SelectorRegex> tagRegex;
    bool byMsg = false;
    std::vector<TargetExclusion> targets;
  };

  void runPhase(int phase);
  bool ruleRemoved(const Rule& r) const;
  bool evaluateLink(const Rule& starter, const Rule& link, int phase);
  void collect(const Rule& starter, const Rule& link, const Target& t, std::vector<Candidate>& out,
               bool applyExclusions = true);
  void collectFrom(const Collection& c, VariableId var, const Target& t, bool names,
                   std::vector<Candidate>& out);
  bool excluded(const Rule& starter, const Rule& link, VariableId var, std::string_view lkey) const;
  std::string_view transformed(const Rule& link, const Candidate& c, std::string& buf);
  void onMatch(const Rule& link, const Candidate& c, std::string_view value);
  void runActions(const Rule& link);
  void applyCtl(const CtlAction& c);
  // Persistent collections (IP, GLOBAL, SESSION, USER, RESOURCE): loaded by initcol, written back (changes
  // only, numeric ones as deltas) when the transaction ends.
  void initCollection(VariableId collection, std::string_view key);
  void expireVar(VariableId collection, std::string_view name, int64_t seconds);
  void persistCollections();
  struct Persistent {
    bool loaded = false;
    bool dirty = false;
    std::string key;
    int64_t createTime = 0;
    std::vector<std::pair<std::string, std::string>> original;  // lower-case name, value as loaded
    std::vector<std::pair<std::string, int64_t>> expires;       // expirevar: name, expiry (epoch seconds)
    std::vector<std::string> assigned;  // names given a value by setvar:x=v (not only +/-): stored as values
  };
  static constexpr std::size_t kPersistentCount = 5;  // kIp .. kResource
  std::array<Persistent, kPersistentCount> persistent_;
  bool persisted_ = false;
  void finishChainMatch(const Rule& starter, int phase);
  void parseQueryString(std::string_view qs, Collection& into);
  void parseUrlencoded(std::string_view body, Collection& into, bool& error);
  void parseCookies(std::string_view value);
  void processBody();
  std::string_view scalar(VariableId v) const noexcept { return scalars_[static_cast<std::size_t>(v)]; }
  void setScalar(VariableId v, std::string_view s) { scalars_[static_cast<std::size_t>(v)] = std::string(s); }
  std::string_view store(std::string_view s);
  std::string variableName(VariableId v, std::string_view key) const;
  // `key`: lower-cased, `hash` its keyHash() (collections only).
  void resolveVariable(VariableId v, std::string_view key, uint64_t hash, std::string& out);

  std::shared_ptr<const Program> program_;
  TxInfo info_;
  EngineMode mode_;
  bool requestBodyAccess_;
  bool responseBodyAccess_;
  uint64_t requestBodyLimit_;
  AuditSettings::Engine auditEngine_;
  std::string auditParts_;
  std::string bodyProcessor_;  // "urlencoded", "multipart", "json", "xml" or ""
  std::string contentType_;    // request Content-Type (multipart boundary)
  bool forceRequestBodyVariable_ = false;
  static constexpr std::size_t kCollectionCount = static_cast<std::size_t>(VariableId::kMatchedVarsNames) + 1;
  std::array<Collection, kCollectionCount> collections_;
  std::array<std::string, static_cast<std::size_t>(VariableId::kCount)> scalars_;
  std::string requestBody_;
  std::string responseBody_;
  bool requestBodyTruncated_ = false;
  bool responseBodyTruncated_ = false;
  std::vector<std::pair<int64_t, int64_t>> removedIds_;
  std::vector<std::shared_ptr<SelectorRegex>> removedTags_;
  std::vector<std::shared_ptr<SelectorRegex>> removedMsgs_;
  std::vector<TargetRemoval> removedTargets_;
  Intervention intervention_;
  std::vector<RuleMatch> matches_;
  bool allowAll_ = false;      // `allow`: no more rules in any phase
  bool allowRequest_ = false;  // `allow:request`: no more request-phase rules
  bool captureEnabled_ = false;
  int highestSeverity_ = 255;
  struct PendingMatch {
    VariableId var;
    uint32_t keyOff, keyLen, valueOff, valueLen;  // in pendingText_
  };
  std::vector<PendingMatch> pendingMatched_;  // this rule's matches, for MATCHED_VARS
  std::string pendingText_;
  bool matchedVarsBuilt_ = true;
  void buildMatchedVars();
  std::string matchedVar_;
  std::string matchedVarName_;
  std::string opScratch_;
  std::string macroScratch_;
  std::string actionScratch_[3];
  std::string evalScratch_;
  TextArena text_;  // owned copies of values whose source may change mid-rule (TX), transformed values
  // A transformed value, cached per (value, chain); `view` is in text_ or, for the empty chain, the value.
  // `bits`: offset in prefilterBits_ of the value's Hyperscan scan result for the chain's group, -1: none.
  struct CachedValue {
    std::string_view view;
    int32_t bits = -1;
    int16_t bitsDb = -1;  // the group database `bits` came from
  };
  CachedValue& cachedTransform(const Rule& link, const Candidate& c);
  void growTransformIndex();
  // Runs the link's chain over `value`; the result points into tfScratch_ (or is `value` itself) and is
  // valid until the next call.
  std::string_view applyTransforms(const Rule& link, std::string_view value);
  std::string tfScratch_[2];
  bool prefilterSaysMaybe(const Rule& link, VariableId var, CachedValue& cv);
  // Scans cv with database `db` once; false if it was scanned with another database.
  bool scanned(const Rule& link, int16_t db, CachedValue& cv);
  // The OR of the prefilter bits of every value of `var` through the link's group (per phase), or null
  // when that cannot be known (no database for the variable).
  const uint64_t* unionBits(const Rule& starter, const Rule& link, VariableId var);
  bool cannotMatch(const Rule& starter, const Rule& link);
  struct UnionBits {
    uint32_t version = 0;
    int32_t offset = -1;
  };
  std::vector<UnionBits> unionBits_;  // [group * VariableId::kCount + var]
  std::vector<Candidate> unionScratch_;
  Target unionTarget_;  // the variable (and key) a union reads
  uint32_t dataVersion_ = 0;
  // Open-addressing index (linear probing, power-of-two size, at most half full) from (value address,
  // length, chain) to an entry of transformValues_. A slot is in use only if it carries this transaction's
  // generation, so a reused index needs no clearing.
  struct TransformSlot {
    const char* data = nullptr;
    std::size_t size = 0;
    int chain = -1;
    uint32_t index = 0;
    uint32_t generation = 0;
  };
  std::vector<TransformSlot> transformIndex_;
  std::vector<CachedValue> transformValues_;  // references are valid until the next cachedTransform()
  uint32_t generation_ = 1;
  const PrefilterSet* prefilter_ = nullptr;  // Hyperscan databases, once built (fixed for this transaction)
  std::vector<uint64_t> prefilterBits_;
  std::chrono::steady_clock::time_point start_;
  const Rule* currentRule_ = nullptr;
  std::vector<Candidate> candidates_;
  bool copyMutable_ = true;
  // The buffers above that keep their capacity from one transaction to the next on the same thread (a
  // small per-thread pool, bounded in count and in the size of what it keeps).
  struct Reusable;
  static std::vector<std::unique_ptr<Reusable>>* reusablePool();  // null once the thread is exiting
  void takeBuffers();
  void returnBuffers();
  std::unique_ptr<Reusable> reusable_;
};

const char* severityName(int severity) noexcept;

}  // namespace bulwark::waf
