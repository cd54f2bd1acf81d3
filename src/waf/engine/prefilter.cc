#include "waf/engine/prefilter.h"

#include <fcntl.h>
#include <hs/hs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <thread>

#include "core/hash.h"

namespace bulwark::waf {

namespace {

// PCRE2 is compiled with DOTALL | DOLLAR_ENDONLY for @rx. Hyperscan's `$` also matches before a final
// newline, which only widens the prefilter (never a missed match). SINGLEMATCH: a slot is one bit, one
// report is enough. ALLOWEMPTY: patterns such as `^.*$` are legal SecLang.
constexpr unsigned kHsFlags = HS_FLAG_DOTALL | HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
constexpr char kCacheMagic[] = "BULWARK-HSDB-2\n";
constexpr std::size_t kHashSize = 16;  // hashRaw()

std::atomic<uint64_t> gNextGeneration{1};

// A 128-bit non-cryptographic hash (two independently seeded 64-bit lanes) for cache keys and file
// checksums. Not OpenSSL: the builder thread may still run while the process exits, after OpenSSL's own
// exit handler has torn it down. The cache's trust comes from file ownership, not from this hash.
std::pair<uint64_t, uint64_t> hash128(std::string_view data) {
  uint64_t a = 0x243F6A8885A308D3ull ^ data.size();
  uint64_t b = 0x13198A2E03707344ull + data.size() * 0x9E3779B97F4A7C15ull;
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    a = mix64(a ^ w) + 0x9E3779B97F4A7C15ull;
    b = mix64(b + w * 0xC2B2AE3D27D4EB4Full) ^ (b >> 17);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, data.data() + i, data.size() - i);
  a = mix64(a ^ tail ^ 0xA0761D6478BD642Full);
  b = mix64(b + tail + 0xE7037ED1A0B428DBull);
  return {mix64(a + b), mix64(b ^ (a << 1))};
}

std::string hashHex(std::string_view data) {
  auto [a, b] = hash128(data);
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return out;
}

std::string hashRaw(std::string_view data) {
  auto [a, b] = hash128(data);
  std::string out(16, '\0');
  std::memcpy(out.data(), &a, 8);
  std::memcpy(out.data() + 8, &b, 8);
  return out;
}

void putU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void putU64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool u32(uint32_t& v) { return take(&v, sizeof v); }
  bool u64(uint64_t& v) { return take(&v, sizeof v); }
  bool bytes(std::size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool atEnd() const { return pos_ == data_.size(); }

 private:
  bool take(void* p, std::size_t n) {
    if (data_.size() - pos_ < n) return false;
    std::memcpy(p, data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  std::string_view data_;
  std::size_t pos_ = 0;
};

// The cache key of one database: Hyperscan's version, our flags, and its patterns with their slots.
std::string databaseKey(const PrefilterPlan::Group& g, const PrefilterPlan::Database& d) {
  std::string k = hs_version();
  k += '\0';
  k += std::to_string(kHsFlags);
  for (uint32_t slot : d.slots) {
    const std::string& p = g.patterns[slot];
    k += '\0';
    k += std::to_string(slot);
    k += ':';
    k += std::to_string(p.size());
    k += ':';
    k += p;
  }
  return hashHex(k);
}

// A cache file is only trusted if it is ours and nobody else could have written it: Hyperscan databases
// are not meant to be read from untrusted bytes.
bool trustedPath(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

bool readFile(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
            (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 && st.st_size < (int64_t{1} << 30);
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ok = got == out.size();
  }
  ::close(fd);
  return ok;
}

bool ensureDir(const std::string& dir) {
  std::string partial;
  for (std::size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && i > 0)) {
      partial = dir.substr(0, i);
      if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
  }
  return trustedPath(dir);
}

bool writeFileAtomically(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  bool ok = done == data.size() && ::close(fd) == 0;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

// Per-thread Hyperscan scratch, grown for each set a thread scans with. A scan during thread exit after it
// is destroyed (another thread_local's destructor ending a transaction) reads only the trivially destructible
// flag and answers "maybe" for every pattern, so PCRE2 decides; it never touches the freed scratch.
thread_local bool tScratchGone = false;
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  uint64_t generation = 0;
  ~ThreadScratch() {
    if (scratch != nullptr) hs_free_scratch(scratch);
    scratch = nullptr;
    tScratchGone = true;
  }
};
thread_local ThreadScratch tScratch;

int onMatch(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  auto* bits = static_cast<uint64_t*>(ctx);
  bits[id >> 6] |= uint64_t{1} << (id & 63);
  return 0;
}

}  // namespace

std::size_t PrefilterPlan::patternCount() const noexcept {
  std::size_t n = 0;
  for (const Group& g : groups) n += g.patterns.size();
  return n;
}

struct PrefilterSet::Compiled {
  std::vector<hs_database_t*> dbs;
  std::vector<uint32_t> unsupported;  // slots Hyperscan could not compile: always "maybe"
  Compiled() = default;
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  ~Compiled() { clear(); }
  void clear() {
    for (hs_database_t* d : dbs) hs_free_database(d);
    dbs.clear();
    unsupported.clear();
  }

  // Compiles `slots` into one or more databases; a pattern Hyperscan rejects becomes unsupported.
  // A slot's pattern may hold several expressions separated by NUL bytes (a long phrase list cut to fit
  // Hyperscan's pattern length limit): they are compiled under the slot's id.
  void compile(const std::vector<std::string>& patterns, std::vector<uint32_t> slots) {
    while (!slots.empty()) {
      std::vector<std::string> parts;
      std::vector<unsigned> ids;
      std::vector<std::size_t> slotIndex;  // expression -> index in slots
      for (std::size_t i = 0; i < slots.size(); ++i) {
        std::string_view p = patterns[slots[i]];
        for (std::size_t start = 0;;) {
          std::size_t end = p.find('\0', start);
          parts.emplace_back(
              p.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
          ids.push_back(slots[i]);
          slotIndex.push_back(i);
          if (end == std::string_view::npos) break;
          start = end + 1;
        }
      }
      std::vector<const char*> exprs;
      exprs.reserve(parts.size());
      for (const std::string& part : parts) exprs.push_back(part.c_str());
      std::vector<unsigned> flags(parts.size(), kHsFlags);
      hs_database_t* db = nullptr;
      hs_compile_error_t* err = nullptr;
      hs_error_t rc =
          hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                           HS_MODE_BLOCK, nullptr, &db, &err);
      if (rc == HS_SUCCESS) {
        dbs.push_back(db);
        return;
      }
      int bad = err != nullptr ? err->expression : -1;
      hs_free_compile_error(err);
      if (bad >= 0 && static_cast<std::size_t>(bad) < exprs.size()) {
        const std::size_t i = slotIndex[static_cast<std::size_t>(bad)];
        unsupported.push_back(slots[i]);
        slots.erase(slots.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      // A failure not tied to one pattern (e.g. the database is too large): split the group.
      if (slots.size() == 1) {
        unsupported.push_back(slots[0]);
        return;
      }
      std::vector<uint32_t> second(slots.begin() + static_cast<std::ptrdiff_t>(slots.size() / 2),
                                   slots.end());
      slots.resize(slots.size() / 2);
      compile(patterns, std::move(second));
    }
  }

  std::string serialize() const {
    std::string out(kCacheMagic);
    putU32(out, static_cast<uint32_t>(unsupported.size()));
    for (uint32_t s : unsupported) putU32(out, s);
    putU32(out, static_cast<uint32_t>(dbs.size()));
    for (hs_database_t* d : dbs) {
      char* bytes = nullptr;
      std::size_t len = 0;
      if (hs_serialize_database(d, &bytes, &len) != HS_SUCCESS) return {};
      putU64(out, len);
      out.append(bytes, len);
      std::free(bytes);
    }
    out += hashRaw(out);
    return out;
  }

  bool deserialize(std::string_view file, std::size_t slotCount) {
    if (file.size() < sizeof kCacheMagic - 1 + kHashSize) return false;
    std::string_view body = file.substr(0, file.size() - kHashSize);
    if (hashRaw(body) != file.substr(body.size())) return false;
    if (body.substr(0, sizeof kCacheMagic - 1) != kCacheMagic) return false;
    Reader r(body.substr(sizeof kCacheMagic - 1));
    uint32_t n = 0;
    if (!r.u32(n) || n > slotCount) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t s = 0;
      if (!r.u32(s) || s >= slotCount) return false;
      unsupported.push_back(s);
    }
    if (!r.u32(n) || n > slotCount) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint64_t len = 0;
      std::string_view bytes;
      if (!r.u64(len) || !r.bytes(len, bytes)) return false;
      hs_database_t* db = nullptr;
      if (hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) return false;
      dbs.push_back(db);
    }
    return r.atEnd();
  }
};

struct PrefilterSet::GroupDbs {
  std::vector<std::unique_ptr<Compiled>> databases;
  std::size_t words = 0;
};

PrefilterSet::~PrefilterSet() {
  if (prototype_ != nullptr) hs_free_scratch(static_cast<hs_scratch_t*>(prototype_));
}

std::unique_ptr<PrefilterSet> PrefilterSet::build(const PrefilterPlan& plan, const std::string& cacheDir,
                                                  std::string& error, const std::atomic<bool>* cancel) {
  if (hs_valid_platform() != HS_SUCCESS) {
    error = "Hyperscan is not supported on this CPU (needs SSSE3); @rx rules run on PCRE2 alone";
    return nullptr;
  }
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<PrefilterSet> set(new PrefilterSet());
  set->generation_ = gNextGeneration.fetch_add(1);
  const bool useCache = !cacheDir.empty() && ensureDir(cacheDir);
  for (const PrefilterPlan::Group& g : plan.groups) {
    auto group = std::make_unique<GroupDbs>();
    group->words = (g.patterns.size() + 63) / 64;
    for (const PrefilterPlan::Database& d : g.databases) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        error = "cancelled";
        return nullptr;
      }
      auto compiled = std::make_unique<Compiled>();
      std::string path;
      bool loaded = false;
      if (useCache) {
        path = cacheDir + "/" + databaseKey(g, d) + ".hsdb";
        std::string file;
        if (readFile(path, file)) {
          loaded = compiled->deserialize(file, g.patterns.size());
          if (!loaded) compiled->clear();  // a damaged file: rebuild and overwrite it
        }
      }
      if (loaded) {
        ++set->stats_.cacheHits;
      } else {
        compiled->compile(g.patterns, d.slots);
        if (useCache) {
          std::string bytes = compiled->serialize();
          if (!bytes.empty() && writeFileAtomically(path, bytes)) ++set->stats_.cacheWrites;
        }
      }
      set->stats_.unsupported += compiled->unsupported.size();
      group->databases.push_back(std::move(compiled));
    }
    set->stats_.patterns += g.patterns.size();
    set->groups_.push_back(std::move(group));
  }
  set->stats_.groups = plan.groups.size();
  // One scratch sized for every database, built here once: a thread's first scan clones it (a copy)
  // instead of growing its own through every database (hs_alloc_scratch per database).
  hs_scratch_t* prototype = nullptr;
  const bool allocated = [&] {
    for (const auto& g : set->groups_) {
      for (const auto& c : g->databases) {
        for (hs_database_t* d : c->dbs) {
          if (hs_alloc_scratch(d, &prototype) != HS_SUCCESS) return false;
        }
      }
    }
    return true;
  }();
  if (!allocated && prototype != nullptr) {
    hs_free_scratch(prototype);
    prototype = nullptr;
  }
  set->prototype_ = prototype;
  set->stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

std::size_t PrefilterSet::words(int group) const noexcept {
  return groups_[static_cast<std::size_t>(group)]->words;
}

void PrefilterSet::prepareScratch() const noexcept {
  if (prototype_ != nullptr) {
    // The prototype is only read (never scanned with): cloning it from several threads at once is safe.
    hs_scratch_t* clone = nullptr;
    if (hs_clone_scratch(static_cast<const hs_scratch_t*>(prototype_), &clone) == HS_SUCCESS) {
      if (tScratch.scratch != nullptr) hs_free_scratch(tScratch.scratch);
      tScratch.scratch = clone;
      tScratch.generation = generation_;
      return;
    }
  }
  for (const auto& g : groups_) {
    for (const auto& c : g->databases) {
      for (hs_database_t* d : c->dbs) {
        if (hs_alloc_scratch(d, &tScratch.scratch) != HS_SUCCESS) return;
      }
    }
  }
  tScratch.generation = generation_;
}

void PrefilterSet::scan(int group, int db, std::string_view value, uint64_t* bits) const noexcept {
  const GroupDbs& g = *groups_[static_cast<std::size_t>(group)];
  const Compiled& c = *g.databases[static_cast<std::size_t>(db)];
  bool failed = tScratchGone;
  if (!failed && tScratch.generation != generation_) prepareScratch();
  failed = failed || tScratch.generation != generation_;
  for (hs_database_t* d : c.dbs) {
    if (failed) break;
    hs_error_t rc =
        hs_scan(d, value.data(), static_cast<unsigned>(value.size()), 0, tScratch.scratch, onMatch, bits);
    failed = rc != HS_SUCCESS;
  }
  if (failed) {
    for (std::size_t i = 0; i < g.words; ++i) bits[i] = ~uint64_t{0};
    return;
  }
  for (uint32_t s : c.unsupported) bits[s >> 6] |= uint64_t{1} << (s & 63);
}

// --- background builder --------------------------------------------------------------------------------

class PrefilterBuilder {
 public:
  static PrefilterBuilder& instance() {
    static PrefilterBuilder builder;
    return builder;
  }

  // Queues a build. Bounded: a state waiting behind newer ones (an outdated program after reloads) is
  // dropped when more than kMaxPending wait; its transactions keep running on PCRE2 alone.
  void submit(std::weak_ptr<PrefilterState> state) {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    queue_.push_back(std::move(state));
    while (queue_.size() > kMaxPending) {
      if (auto dropped = queue_.front().lock()) dropped->publish(nullptr, "superseded before it was built");
      queue_.pop_front();
    }
    cv_.notify_one();
  }

  ~PrefilterBuilder() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      cancel_.store(true);
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  static constexpr std::size_t kMaxPending = 4;

  void run() {
    for (;;) {
      std::weak_ptr<PrefilterState> next;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      std::shared_ptr<PrefilterState> state = next.lock();
      if (!state) continue;  // its program is gone
      std::string error;
      std::unique_ptr<PrefilterSet> set =
          PrefilterSet::build(state->plan(), state->cacheDir(), error, &cancel_);
      state->publish(std::move(set), std::move(error));
    }
  }

  std::atomic<bool> cancel_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::weak_ptr<PrefilterState>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

PrefilterState::PrefilterState(PrefilterPlan plan, std::string cacheDir)
    : plan_(std::move(plan)), cacheDir_(std::move(cacheDir)) {}

const PrefilterSet* PrefilterState::acquire() noexcept {
  const PrefilterSet* set = ready_.load(std::memory_order_acquire);
  if (set != nullptr || requested_.load(std::memory_order_relaxed)) return set;
  if (!requested_.exchange(true)) {
    try {
      PrefilterBuilder::instance().submit(weak_from_this());
    } catch (...) {
      done_.store(true);  // no thread could be started: stay on PCRE2
    }
  }
  return nullptr;
}

const char* PrefilterState::stateName() const noexcept {
  if (ready_.load(std::memory_order_acquire) != nullptr) return "ready";
  if (done_.load(std::memory_order_acquire)) return "unavailable";
  return requested_.load(std::memory_order_relaxed) ? "building" : "pending";
}

const PrefilterSet* PrefilterState::buildNow() {
  requested_.store(true);
  std::string error;
  std::unique_ptr<PrefilterSet> set = PrefilterSet::build(plan_, cacheDir_, error);
  publish(std::move(set), std::move(error));
  return ready_.load(std::memory_order_acquire);
}

const PrefilterSet* PrefilterState::waitBuilt() {
  while (!done_.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return ready_.load(std::memory_order_acquire);
}

void PrefilterState::publish(std::unique_ptr<PrefilterSet> set, std::string error) {
  std::lock_guard lock(mu_);
  if (owned_ == nullptr && set != nullptr) {
    owned_ = std::move(set);
    ready_.store(owned_.get(), std::memory_order_release);
  }
  if (!error.empty()) error_ = std::move(error);
  done_.store(true, std::memory_order_release);
}

std::string defaultPrefilterCacheDir() {
  if (const char* d = std::getenv("BULWARK_CACHE_DIR"); d != nullptr && *d != '\0') {
    return std::strcmp(d, "off") == 0 ? std::string() : std::string(d);
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/')
    return std::string(x) + "/bulwark";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/')
    return std::string(h) + "/.cache/bulwark";
  return {};
}

}  // namespace bulwark::waf
