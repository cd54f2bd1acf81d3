// Hyperscan prefilter for @rx rules: "scan once, many patterns" (docs/waf-prefilter.md).
//
// At compile time the @rx rules with a literal pattern are grouped by transformation chain: every rule of a
// group reads its values through the same chain, so one transformed value can be scanned once with one
// Hyperscan database holding all the group's patterns. The databases are compiled in prefilter mode
// (HS_FLAG_PREFILTER): Hyperscan may report a pattern that PCRE2 would not match, but never misses one
// PCRE2 matches. A pattern Hyperscan does not report is therefore a certain non-match and its rule skips
// PCRE2; a reported one still runs the rule's PCRE2 regex, so verdicts, captures and limits stay exactly
// ModSecurity's. Patterns Hyperscan cannot compile are always "maybe" (PCRE2 decides).
//
// Compiling CRS's patterns takes seconds, so it never delays serving: a Program starts on PCRE2 alone, the
// first transaction asks for the databases (PrefilterState::acquire), a background thread loads them from
// the on-disk cache or compiles (and caches) them, and publishes them with one atomic store. Transactions
// that start afterwards use them; a transaction keeps what it saw at its start.
//
// Thread-safety: PrefilterSet is immutable once published; scan() may run on any thread (per-thread
// Hyperscan scratch). PrefilterState::acquire() is lock-free after the first call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf {

// What to build: per group (one transformation chain), the distinct patterns; a rule's slot is the index
// of its pattern in its group. Within a group, one database per kind of value (variable): a value is
// scanned only for the patterns of the rules that read that variable. A variable read by a single rule of
// the group gets no database: a scan has a fixed cost of its own, more than one short PCRE2 call.
struct PrefilterPlan {
  struct Database {
    std::vector<uint32_t> slots;  // the group's slots it holds, ascending
  };
  struct Group {
    int chainId = 0;
    std::vector<std::string> patterns;
    std::vector<Database> databases;
    std::vector<int16_t> databaseOfVar;  // indexed by VariableId: database index, -1: PCRE2 only
    // Indexed by VariableId: when not empty, the group's rules read only the values of these keys
    // (lower-cased) of the variable (`REQUEST_HEADERS:User-Agent`), so only those need a scan to know
    // what none of them can match. Empty: every value of the variable.
    std::vector<std::vector<std::string>> keysOfVar;
  };
  std::vector<Group> groups;
  std::size_t patternCount() const noexcept;
};

struct PrefilterStats {
  std::size_t groups = 0;
  std::size_t patterns = 0;
  std::size_t unsupported = 0;  // patterns Hyperscan could not compile (always run on PCRE2)
  std::size_t cacheHits = 0;    // databases loaded from the disk cache
  std::size_t cacheWrites = 0;
  double seconds = 0;  // load/compile time
};

// The compiled databases of one plan.
class PrefilterSet {
 public:
  ~PrefilterSet();
  PrefilterSet(const PrefilterSet&) = delete;
  PrefilterSet& operator=(const PrefilterSet&) = delete;

  // Builds the databases for `plan`, reading and writing `cacheDir` ("" = no cache). Returns nullptr with
  // `error` when Hyperscan is unusable here (e.g. the CPU lacks SSSE3); single patterns that do not compile
  // are not an error (they stay PCRE2-only).
  // `cancel` (optional) is checked between databases: when it turns true the build stops and returns
  // nullptr (process exit must not wait for a whole rule set to compile).
  static std::unique_ptr<PrefilterSet> build(const PrefilterPlan& plan, const std::string& cacheDir,
                                             std::string& error, const std::atomic<bool>* cancel = nullptr);

  // 64-bit words of the bit set for `group` (one bit per pattern slot).
  std::size_t words(int group) const noexcept;
  // Scans `value` with database `db` of `group` and sets, in `bits` (words(group) words, zeroed by the
  // caller), the slots that may match. The database's slots Hyperscan could not compile are always set;
  // slots not in the database are left clear (the caller asks only for slots it holds). Never fails open
  // to "no match": on a scan error every slot is set.
  void scan(int group, int db, std::string_view value, uint64_t* bits) const noexcept;
  const PrefilterStats& stats() const noexcept { return stats_; }

 private:
  PrefilterSet() = default;
  struct Compiled;
  struct GroupDbs;
  void prepareScratch() const noexcept;
  std::vector<std::unique_ptr<GroupDbs>> groups_;
  PrefilterStats stats_;
  uint64_t generation_ = 0;    // tells a thread's scratch which set it was sized for
  void* prototype_ = nullptr;  // hs_scratch_t* for every database (null: none could be allocated)
};

// Shared by a Program and the background builder: the plan, and the set once it is built.
class PrefilterState : public std::enable_shared_from_this<PrefilterState> {
 public:
  PrefilterState(PrefilterPlan plan, std::string cacheDir);
  // The built set, or nullptr while it is being built (or could not be). The first call starts the build
  // on the background thread; later calls are one atomic load.
  const PrefilterSet* acquire() noexcept;
  // Builds now on the calling thread (tests, benchmarks); returns the set (nullptr if unusable).
  const PrefilterSet* buildNow();
  // Blocks until a started build has finished (tests); returns the set.
  const PrefilterSet* waitBuilt();
  const PrefilterPlan& plan() const noexcept { return plan_; }
  const std::string& cacheDir() const noexcept { return cacheDir_; }
  const std::string& error() const noexcept { return error_; }  // why the set is missing, once built
  // "pending" (no transaction yet), "building", "ready" or "unavailable" (could not be built), for /status.
  const char* stateName() const noexcept;
  // The published set without starting a build (observability; nullptr until ready).
  const PrefilterSet* peek() const noexcept { return ready_.load(std::memory_order_acquire); }

 private:
  friend class PrefilterBuilder;
  void publish(std::unique_ptr<PrefilterSet> set, std::string error);

  PrefilterPlan plan_;
  std::string cacheDir_;
  std::atomic<const PrefilterSet*> ready_{nullptr};
  std::atomic<bool> requested_{false};
  std::atomic<bool> done_{false};
  std::mutex mu_;  // guards owned_, error_; never taken on the request path
  std::unique_ptr<PrefilterSet> owned_;
  std::string error_;
};

// The default cache directory: $BULWARK_CACHE_DIR, else $XDG_CACHE_HOME/bulwark, else $HOME/.cache/bulwark;
// "" when none is set. BULWARK_CACHE_DIR=off disables the cache.
std::string defaultPrefilterCacheDir();

}  // namespace bulwark::waf
