#include "waf/engine/transaction.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <ctime>

#include "waf/body/body.h"
#include "waf/engine/collection_store.h"
#include "waf/engine/text.h"
#include "waf/operators/regex_limits.h"

namespace bulwark::waf {

namespace {

std::string lower(std::string_view s) { return asciiLower(s); }
bool iequals(std::string_view a, std::string_view b) { return asciiIequals(a, b); }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding as ModSecurity does for arguments: '+' is a space, %XX is
// decoded, an invalid escape is kept as is and flagged.
std::string urlDecodeArg(std::string_view s, bool& invalid) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    } else {
      if (c == '%') invalid = true;
      out += c;
    }
  }
  return out;
}

std::string percentDecodePath(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool isCollectionVar(VariableId v) {
  return static_cast<std::size_t>(v) <= static_cast<std::size_t>(VariableId::kMatchedVarsNames);
}

bool isRequestData(VariableId v) {
  switch (v) {
    case VariableId::kTx:
    case VariableId::kIp:
    case VariableId::kGlobal:
    case VariableId::kSession:
    case VariableId::kUser:
    case VariableId::kResource:
    case VariableId::kEnv:
    case VariableId::kRule:
    case VariableId::kMatchedVars:
    case VariableId::kMatchedVarsNames:
    case VariableId::kMatchedVar:
    case VariableId::kMatchedVarName:
    case VariableId::kHighestSeverity:
    case VariableId::kDuration:
      return false;
    default:
      return true;
  }
}

constexpr std::size_t idx(VariableId v) { return static_cast<std::size_t>(v); }

bool isPersistent(VariableId v) {
  return idx(v) >= idx(VariableId::kIp) && idx(v) <= idx(VariableId::kResource);
}
std::size_t persistentIndex(VariableId v) { return idx(v) - idx(VariableId::kIp); }
std::string_view persistentName(std::size_t i) {
  static constexpr std::string_view kNames[] = {"ip", "global", "session", "user", "resource"};
  return kNames[i];
}

// The variables ModSecurity keeps in every persistent record; recomputed on load, never merged back.
bool isBuiltinVar(std::string_view lkey) {
  return lkey == "key" || lkey == "timeout" || lkey == "create_time" || lkey == "last_update_time" ||
         lkey == "update_counter" || lkey == "is_new";
}

bool looksNumeric(std::string_view s) {
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

int64_t epochSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* severityName(int severity) noexcept {
  static const char* kNames[] = {"EMERGENCY", "ALERT",  "CRITICAL", "ERROR",
                                 "WARNING",   "NOTICE", "INFO",     "DEBUG"};
  return severity >= 0 && severity <= 7 ? kNames[severity] : "";
}

// ---------------------------------------------------------------------------------------------------------
// Collection

namespace {
// Lower-cases a key into a stack buffer (long keys fall back to a string): looking a key up allocates
// nothing.
class LowerKey {
 public:
  explicit LowerKey(std::string_view key) {
    if (key.size() <= sizeof buf_) {
      for (std::size_t i = 0; i < key.size(); ++i) buf_[i] = asciiLowerChar(key[i]);
      view_ = std::string_view(buf_, key.size());
    } else {
      long_ = asciiLower(key);
      view_ = long_;
    }
  }
  std::string_view view() const noexcept { return view_; }

 private:
  char buf_[96];
  std::string long_;
  std::string_view view_;
};
}  // namespace

Collection::Slot* Collection::slotFor(std::string_view lkey, uint64_t hash) {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t h = static_cast<std::size_t>(mix64(hash));; ++h) {
    Slot& s = slots_[h & mask];
    if (s.first < 0) return &s;
    const KeyValue& kv = items_[static_cast<std::size_t>(s.first)];
    if (kv.hash == hash && kv.lkey == lkey) return &s;
  }
}

int32_t Collection::firstIndex(std::string_view lkey, uint64_t hash) const {
  return const_cast<Collection*>(this)->slotFor(lkey, hash)->first;
}

void Collection::reindex() {
  std::size_t size = 16;
  while (size < size_ * 2 + 2) size *= 2;
  slots_.assign(size, Slot{});
  distinct_ = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    KeyValue& kv = items_[i];
    kv.nextSame = -1;
    Slot* s = slotFor(kv.lkey, kv.hash);
    if (s->first < 0) {
      s->first = static_cast<int32_t>(i);
      ++distinct_;
    } else {
      items_[static_cast<std::size_t>(s->last)].nextSame = static_cast<int32_t>(i);
    }
    s->last = static_cast<int32_t>(i);
  }
}

void Collection::append(std::string_view key, std::string_view lkey, std::string_view value, uint64_t hash) {
  if (size_ < items_.size()) {
    KeyValue& kv = items_[size_];
    kv.key.assign(key);
    kv.lkey.assign(lkey);
    kv.value.assign(value);
    kv.hash = hash;
    kv.nextSame = -1;
  } else {
    items_.push_back(KeyValue{std::string(key), std::string(lkey), std::string(value), hash, -1});
  }
  ++size_;
  if (slots_.empty()) {
    if (size_ >= kIndexFrom) reindex();
    return;
  }
  if ((distinct_ + 1) * 2 > slots_.size()) {
    reindex();  // links the new item too
    return;
  }
  const auto i = static_cast<int32_t>(size_ - 1);
  const KeyValue& kv = items_[size_ - 1];
  Slot* s = slotFor(kv.lkey, kv.hash);
  if (s->first < 0) {
    s->first = i;
    ++distinct_;
  } else {
    items_[static_cast<std::size_t>(s->last)].nextSame = i;
  }
  s->last = i;
}

void Collection::add(std::string_view key, std::string_view value) {
  const LowerKey lk(key);
  append(key, lk.view(), value, keyHash(lk.view()));
}

void Collection::set(std::string_view key, std::string_view value) {
  const LowerKey lk(key);
  put(key, lk.view(), keyHash(lk.view()), value);
}

void Collection::put(std::string_view key, std::string_view lkey, uint64_t h, std::string_view value) {
  if (slots_.empty()) {
    for (std::size_t i = 0; i < size_; ++i) {
      KeyValue& kv = items_[i];
      if (kv.hash == h && kv.lkey == lkey) {
        kv.value.assign(value);
        return;
      }
    }
  } else if (const int32_t i = firstIndex(lkey, h); i >= 0) {
    items_[static_cast<std::size_t>(i)].value.assign(value);
    return;
  }
  append(key, lkey, value, h);
}

void Collection::remove(std::string_view lkey) {
  if (find(lkey) == nullptr) return;
  const uint64_t h = keyHash(lkey);
  // Items after the removed ones move forward (order is kept); the freed slots stay for reuse. std::remove_if
  // would leave them moved-from, which is valid: they are assigned before any use.
  const auto end = items_.begin() + static_cast<std::ptrdiff_t>(size_);
  const auto kept = std::remove_if(items_.begin(), end,
                                   [&](const KeyValue& kv) { return kv.hash == h && kv.lkey == lkey; });
  size_ = static_cast<std::size_t>(kept - items_.begin());
  if (!slots_.empty()) reindex();
}

void Collection::recycle(std::size_t maxItems, std::size_t maxText) {
  clear();
  if (items_.size() > maxItems) items_.resize(maxItems);
  for (KeyValue& kv : items_) {
    for (std::string* str : {&kv.key, &kv.lkey, &kv.value}) {
      if (str->capacity() > maxText) std::string().swap(*str);
    }
  }
}

const KeyValue* Collection::find(std::string_view lkey, uint64_t h) const {
  if (!slots_.empty()) {
    const int32_t i = firstIndex(lkey, h);
    return i < 0 ? nullptr : &items_[static_cast<std::size_t>(i)];
  }
  for (const KeyValue& kv : items()) {
    if (kv.hash == h && kv.lkey == lkey) return &kv;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------------------
// TextArena

std::string_view TextArena::copy(std::string_view s) {
  if (s.empty()) return std::string_view("", 0);
  char* p = nullptr;
  if (s.size() > kBlock / 4) {
    large_.push_back(std::make_unique_for_overwrite<char[]>(s.size()));
    p = large_.back().get();
  } else {
    if (blocks_.empty() || used_ + s.size() > kBlock) {
      if (!blocks_.empty()) ++current_;
      if (current_ == blocks_.size()) blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBlock));
      used_ = 0;
    }
    p = blocks_[current_].get() + used_;
    used_ += s.size();
  }
  std::memcpy(p, s.data(), s.size());
  return std::string_view(p, s.size());
}

void TextArena::reset() {
  large_.clear();
  if (blocks_.size() > kKeepBlocks) blocks_.resize(kKeepBlocks);
  current_ = 0;
  used_ = 0;
}

// ---------------------------------------------------------------------------------------------------------
// Per-thread buffer reuse

struct Transaction::Reusable {
  uint32_t generation = 1;
  uint32_t dataVersion = 0;
  TextArena text;
  std::vector<TransformSlot> transformIndex;
  std::vector<CachedValue> transformValues;
  std::vector<uint64_t> prefilterBits;
  std::vector<UnionBits> unionBits;
  std::vector<Candidate> candidates;
  std::vector<Candidate> unionScratch;
  std::vector<PendingMatch> pendingMatched;
  std::string pendingText;
  std::string tfScratch[2];
  std::string opScratch;
  std::string macroScratch;
  std::string evalScratch;
  std::array<Collection, kCollectionCount> collections;  // empty, with the capacity of earlier ones
};

namespace {
// Transactions on a thread reuse each other's buffers; a worker with many transactions in flight keeps at
// most kPoolSize sets, and a set that grew unusually big is not kept (bounded memory per thread).
constexpr std::size_t kPoolSize = 4;
constexpr std::size_t kKeepIndexSlots = 8192;
constexpr std::size_t kKeepItems = 8192;
constexpr std::size_t kKeepText = 65536;
constexpr std::size_t kKeepCollectionItems = 128;  // item slots kept per collection...
constexpr std::size_t kKeepItemText = 64;          // ...with at most this many bytes per string

template <class T>
void keepBounded(T& to, T& from, std::size_t limit) {
  from.clear();
  if (from.capacity() <= limit) to = std::move(from);
}
}  // namespace

namespace {
// Set when the thread's pool has been destroyed (thread exit): a transaction ending after that (one owned
// by another thread_local object) frees its buffers instead of touching the destroyed pool. A plain bool:
// no destructor, so it stays readable until the thread is gone.
thread_local bool tPoolGone = false;
}  // namespace

std::vector<std::unique_ptr<Transaction::Reusable>>* Transaction::reusablePool() {
  if (tPoolGone) return nullptr;
  struct Pool {
    std::vector<std::unique_ptr<Reusable>> sets;
    ~Pool() { tPoolGone = true; }
  };
  thread_local Pool pool;
  return &pool.sets;
}

void Transaction::takeBuffers() {
  auto* pool = reusablePool();
  if (pool == nullptr || pool->empty()) {
    reusable_ = std::make_unique<Reusable>();
    return;
  }
  reusable_ = std::move(pool->back());
  pool->pop_back();
  Reusable& r = *reusable_;
  // Index slots and union entries of earlier transactions carry older generations and versions: unused.
  generation_ = r.generation + 1;
  if (generation_ == 0) {
    r.transformIndex.clear();
    generation_ = 1;
  }
  dataVersion_ = r.dataVersion;
  text_ = std::move(r.text);
  transformIndex_ = std::move(r.transformIndex);
  transformValues_ = std::move(r.transformValues);
  prefilterBits_ = std::move(r.prefilterBits);
  unionBits_ = std::move(r.unionBits);
  candidates_ = std::move(r.candidates);
  unionScratch_ = std::move(r.unionScratch);
  pendingMatched_ = std::move(r.pendingMatched);
  pendingText_ = std::move(r.pendingText);
  tfScratch_[0] = std::move(r.tfScratch[0]);
  tfScratch_[1] = std::move(r.tfScratch[1]);
  opScratch_ = std::move(r.opScratch);
  macroScratch_ = std::move(r.macroScratch);
  evalScratch_ = std::move(r.evalScratch);
  collections_ = std::move(r.collections);
}

void Transaction::returnBuffers() {
  auto* pool = reusablePool();
  if (reusable_ == nullptr || pool == nullptr || pool->size() >= kPoolSize) return;
  Reusable& r = *reusable_;
  r.generation = generation_;
  r.dataVersion = dataVersion_;
  text_.reset();
  r.text = std::move(text_);
  if (transformIndex_.size() <= kKeepIndexSlots) r.transformIndex = std::move(transformIndex_);
  keepBounded(r.transformValues, transformValues_, kKeepItems);
  keepBounded(r.prefilterBits, prefilterBits_, kKeepItems);
  if (unionBits_.size() <= kKeepItems) r.unionBits = std::move(unionBits_);  // kept: entries are versioned
  keepBounded(r.candidates, candidates_, kKeepItems);
  keepBounded(r.unionScratch, unionScratch_, kKeepItems);
  keepBounded(r.pendingMatched, pendingMatched_, kKeepItems);
  keepBounded(r.pendingText, pendingText_, kKeepText);
  keepBounded(r.tfScratch[0], tfScratch_[0], kKeepText);
  keepBounded(r.tfScratch[1], tfScratch_[1], kKeepText);
  keepBounded(r.opScratch, opScratch_, kKeepText);
  keepBounded(r.macroScratch, macroScratch_, kKeepText);
  keepBounded(r.evalScratch, evalScratch_, kKeepText);
  for (std::size_t i = 0; i < collections_.size(); ++i) {
    collections_[i].recycle(kKeepCollectionItems, kKeepItemText);
    r.collections[i] = std::move(collections_[i]);
  }
  pool->push_back(std::move(reusable_));
}

// ---------------------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(std::shared_ptr<const Program> program, TxInfo info)
    : program_(std::move(program)),
      info_(std::move(info)),
      mode_(program_->engine),
      requestBodyAccess_(program_->body.requestBodyAccess),
      responseBodyAccess_(program_->body.responseBodyAccess),
      requestBodyLimit_(program_->body.requestBodyLimit),
      auditEngine_(program_->audit.engine),
      auditParts_(program_->audit.parts),
      start_(std::chrono::steady_clock::now()) {
  takeBuffers();
  if (program_->prefilter) prefilter_ = program_->prefilter->acquire();
  setScalar(VariableId::kRemoteAddr, info_.clientAddress);
  setScalar(VariableId::kUserAgentIp, info_.clientAddress);
  setScalar(VariableId::kRemoteHost, info_.clientAddress);
  setScalar(VariableId::kRemotePort, std::to_string(info_.clientPort));
  setScalar(VariableId::kServerAddr, info_.serverAddress);
  setScalar(VariableId::kServerPort, std::to_string(info_.serverPort));
  setScalar(VariableId::kServerName, info_.serverName);
  setScalar(VariableId::kUniqueId, info_.uniqueId);
  setScalar(VariableId::kModsecBuild, "020907100");  // the v2 release whose behaviour we follow
  setScalar(VariableId::kReqbodyError, "0");
  setScalar(VariableId::kReqbodyProcessorError, "0");
  setScalar(VariableId::kInboundDataError, "0");
  setScalar(VariableId::kOutboundDataError, "0");
  setScalar(VariableId::kUrlencodedError, "0");
  for (VariableId v : {VariableId::kMultipartStrictError, VariableId::kMultipartUnmatchedBoundary,
                       VariableId::kMultipartBoundaryQuoted, VariableId::kMultipartBoundaryWhitespace,
                       VariableId::kMultipartDataBefore, VariableId::kMultipartDataAfter,
                       VariableId::kMultipartHeaderFolding, VariableId::kMultipartLfLine,
                       VariableId::kMultipartMissingSemicolon, VariableId::kMultipartInvalidQuoting,
                       VariableId::kMultipartInvalidPart, VariableId::kMultipartInvalidHeaderFolding,
                       VariableId::kMultipartFileLimitExceeded, VariableId::kMultipartCrlfLfLines}) {
    setScalar(v, "0");
  }
}

Transaction::~Transaction() {
  persistCollections();
  returnBuffers();
}

std::string_view Transaction::store(std::string_view s) { return text_.copy(s); }

void Transaction::setRequestLine(std::string_view method, std::string_view uri, std::string_view protocol) {
  setScalar(VariableId::kRequestMethod, method);
  setScalar(VariableId::kRequestProtocol, protocol);
  std::string line = std::string(method) + " " + std::string(uri) + " " + std::string(protocol);
  setScalar(VariableId::kRequestLine, line);
  setScalar(VariableId::kRequestUriRaw, uri);
  // Absolute-form: REQUEST_URI is the path and query only.
  std::string_view path = uri;
  if (path.size() > 7 && (iequals(path.substr(0, 7), "http://") || iequals(path.substr(0, 8), "https://"))) {
    std::size_t start = path.find("//") + 2;
    std::size_t slash = path.find('/', start);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }
  setScalar(VariableId::kRequestUri, path);
  std::size_t q = path.find('?');
  // REQUEST_FILENAME and REQUEST_BASENAME are percent-decoded, as in v2 (Apache decodes the parsed path
  // before ModSecurity sees it) and v3; '+' stays '+' in a path, an invalid escape stays as it is.
  std::string file = percentDecodePath(path.substr(0, q));
  std::size_t slash = file.rfind('/');
  setScalar(VariableId::kRequestBasename, slash == std::string::npos ? file : file.substr(slash + 1));
  setScalar(VariableId::kRequestFilename, file);
  if (q != std::string_view::npos) {
    std::string_view qs = path.substr(q + 1);
    setScalar(VariableId::kQueryString, qs);
    parseQueryString(qs, collections_[idx(VariableId::kArgsGet)]);
  }
}

void Transaction::addRequestHeader(std::string_view name, std::string_view value) {
  collections_[idx(VariableId::kRequestHeaders)].add(name, value);
  if (iequals(name, "cookie")) parseCookies(value);
  if (iequals(name, "content-type")) {
    contentType_.assign(value);
    std::string ct = lower(value);
    if (ct.rfind("application/x-www-form-urlencoded", 0) == 0) {
      bodyProcessor_ = "urlencoded";
    } else if (ct.rfind("multipart/form-data", 0) == 0) {
      bodyProcessor_ = "multipart";
    }
  }
}

void Transaction::parseQueryString(std::string_view qs, Collection& into) {
  const char sep = program_->body.argumentSeparator;
  std::size_t pos = 0;
  bool invalid = false;
  while (pos <= qs.size()) {
    std::size_t end = qs.find(sep, pos);
    if (end == std::string_view::npos) end = qs.size();
    std::string_view pair = qs.substr(pos, end - pos);
    if (!pair.empty()) {
      if (into.size() >= program_->body.argumentsLimit) break;
      std::size_t eq = pair.find('=');
      std::string name = urlDecodeArg(pair.substr(0, eq), invalid);
      std::string value =
          eq == std::string_view::npos ? std::string() : urlDecodeArg(pair.substr(eq + 1), invalid);
      into.add(name, value);
    }
    pos = end + 1;
  }
  if (invalid) setScalar(VariableId::kUrlencodedError, "1");
}

void Transaction::parseUrlencoded(std::string_view body, Collection& into, bool& error) {
  parseQueryString(body, into);
  error = false;
}

void Transaction::parseCookies(std::string_view value) {
  // v0 cookies: `a=b; c=d`. Names and values are not URL-decoded (as ModSecurity).
  std::size_t pos = 0;
  while (pos < value.size()) {
    std::size_t end = value.find(';', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view pair = value.substr(pos, end - pos);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    if (!pair.empty()) {
      std::size_t eq = pair.find('=');
      std::string_view name = pair.substr(0, eq);
      std::string_view val = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      collections_[idx(VariableId::kRequestCookies)].add(name, val);
    }
    pos = end + 1;
  }
}

void Transaction::processRequestHeaders() { runPhase(1); }

bool Transaction::appendRequestBody(std::string_view chunk) {
  if (!requestBodyAccess_) return true;
  const uint64_t limit = requestBodyLimit();
  if (requestBody_.size() + chunk.size() > limit) {
    requestBody_.append(chunk.substr(0, limit - std::min<uint64_t>(limit, requestBody_.size())));
    requestBodyTruncated_ = true;
    setScalar(VariableId::kInboundDataError, "1");
    return false;
  }
  requestBody_.append(chunk);
  return true;
}

void Transaction::processBody() {
  setScalar(VariableId::kRequestBodyLength, std::to_string(requestBody_.size()));
  setScalar(VariableId::kReqbodyProcessor, lower(bodyProcessor_) == "urlencoded" ? "URLENCODED"
                                           : bodyProcessor_ == "multipart"       ? "MULTIPART"
                                           : bodyProcessor_ == "json"            ? "JSON"
                                           : bodyProcessor_ == "xml"             ? "XML"
                                                                                 : "");
  if (!requestBodyAccess_) return;
  bool setBodyVariable =
      forceRequestBodyVariable_ || bodyProcessor_.empty() || bodyProcessor_ == "urlencoded";
  if (bodyProcessor_ == "urlencoded") {
    bool err = false;
    parseUrlencoded(requestBody_, collections_[idx(VariableId::kArgsPost)], err);
    if (err) {
      setScalar(VariableId::kReqbodyError, "1");
      setScalar(VariableId::kReqbodyErrorMsg, "URLENCODED parsing error");
    }
  }
  body::Limits limits;
  limits.maxArgs = program_->body.argumentsLimit;
  limits.maxJsonDepth = program_->body.jsonDepthLimit;
  auto bodyError = [this](const std::string& msg) {
    setScalar(VariableId::kReqbodyError, "1");
    setScalar(VariableId::kReqbodyErrorMsg, msg);
    setScalar(VariableId::kReqbodyProcessorError, "1");
    setScalar(VariableId::kReqbodyProcessorErrorMsg, msg);
  };
  Collection& post = collections_[idx(VariableId::kArgsPost)];
  if (bodyProcessor_ == "multipart") {
    body::MultipartResult r;
    body::parseMultipart(contentType_, requestBody_, limits, r);
    for (const auto& [k, v] : r.args) post.add(k, v);
    uint64_t filesSize = 0;
    for (const body::MultipartFile& f : r.files) {
      collections_[idx(VariableId::kFiles)].add(f.name, f.filename);
      collections_[idx(VariableId::kFilesSizes)].add(f.name, std::to_string(f.size));
      filesSize += f.size;
    }
    setScalar(VariableId::kFilesCombinedSize, std::to_string(filesSize));
    for (const auto& [k, v] : r.partHeaders) collections_[idx(VariableId::kMultipartPartHeaders)].add(k, v);
    if (!r.filenames.empty()) setScalar(VariableId::kMultipartFilename, r.filenames.back());
    if (!r.names.empty()) setScalar(VariableId::kMultipartName, r.names.back());
    const body::MultipartFlags& f = r.flags;
    const std::pair<VariableId, bool> flags[] = {
        {VariableId::kMultipartStrictError, f.strictError},
        {VariableId::kMultipartUnmatchedBoundary, f.unmatchedBoundary},
        {VariableId::kMultipartBoundaryQuoted, f.boundaryQuoted},
        {VariableId::kMultipartBoundaryWhitespace, f.boundaryWhitespace},
        {VariableId::kMultipartDataBefore, f.dataBefore},
        {VariableId::kMultipartDataAfter, f.dataAfter},
        {VariableId::kMultipartHeaderFolding, f.headerFolding},
        {VariableId::kMultipartLfLine, f.lfLine},
        {VariableId::kMultipartCrlfLfLines, f.crlfLfLines},
        {VariableId::kMultipartMissingSemicolon, f.missingSemicolon},
        {VariableId::kMultipartInvalidQuoting, f.invalidQuoting},
        {VariableId::kMultipartInvalidPart, f.invalidPart},
        {VariableId::kMultipartInvalidHeaderFolding, f.invalidHeaderFolding},
        {VariableId::kMultipartFileLimitExceeded, f.fileLimitExceeded},
    };
    for (const auto& [var, on] : flags) setScalar(var, on ? "1" : "0");
    if (r.error) bodyError("Multipart parsing error: " + r.errorMsg);
  } else if (bodyProcessor_ == "json") {
    body::JsonResult r;
    body::parseJson(requestBody_, limits, r);
    for (const auto& [k, v] : r.args) post.add(k, v);
    if (r.error) bodyError("JSON parsing error: " + r.errorMsg);
  } else if (bodyProcessor_ == "xml") {
    body::XmlResult r;
    body::parseXml(requestBody_, limits, r);
    for (const std::string& v : r.values) collections_[idx(VariableId::kXml)].add("/*", v);
    for (const std::string& v : r.attributeValues) collections_[idx(VariableId::kXml)].add("//@*", v);
    if (r.error) bodyError("XML parsing error: " + r.errorMsg);
  }
  // As in ModSecurity v2, REQUEST_BODY holds the raw body only for urlencoded bodies and bodies without a
  // processor (or when ctl:forceRequestBodyVariable asks): parsed bodies are inspected through their parts.
  if (setBodyVariable) setScalar(VariableId::kRequestBody, requestBody_);
  uint64_t combined = 0;
  for (VariableId v : {VariableId::kArgsGet, VariableId::kArgsPost}) {
    for (const auto& kv : collections_[idx(v)].items()) combined += kv.key.size() + kv.value.size();
  }
  setScalar(VariableId::kArgsCombinedSize, std::to_string(combined));
}

void Transaction::processRequestBody() {
  processBody();
  runPhase(2);
}

void Transaction::setResponseStatus(int status, std::string_view protocol) {
  setScalar(VariableId::kResponseStatus, std::to_string(status));
  setScalar(VariableId::kResponseProtocol, protocol);
  setScalar(VariableId::kStatusLine, std::string(protocol) + " " + std::to_string(status));
}

void Transaction::addResponseHeader(std::string_view name, std::string_view value) {
  collections_[idx(VariableId::kResponseHeaders)].add(name, value);
  if (iequals(name, "content-type")) setScalar(VariableId::kResponseContentType, value);
  if (iequals(name, "content-length")) setScalar(VariableId::kResponseContentLength, value);
}

void Transaction::processResponseHeaders() { runPhase(3); }

bool Transaction::wantsResponseBody() const {
  if (!responseBodyAccess_) return false;
  std::string ct = lower(scalar(VariableId::kResponseContentType));
  std::string_view mime = std::string_view(ct).substr(0, ct.find(';'));
  for (const std::string& m : program_->body.responseMimeTypes) {
    if (m == mime) return true;
  }
  return false;
}

bool Transaction::appendResponseBody(std::string_view chunk) {
  uint64_t limit = program_->body.responseBodyLimit;
  if (responseBody_.size() + chunk.size() > limit) {
    responseBody_.append(chunk.substr(0, limit - responseBody_.size()));
    responseBodyTruncated_ = true;
    setScalar(VariableId::kOutboundDataError, "1");
    return false;
  }
  responseBody_.append(chunk);
  return true;
}

void Transaction::processResponseBody() {
  if (wantsResponseBody()) setScalar(VariableId::kResponseBody, responseBody_);
  runPhase(4);
}

void Transaction::processLogging() {
  runPhase(5);
  persistCollections();
}

void Transaction::initCollection(VariableId collection, std::string_view key) {
  Persistent& p = persistent_[persistentIndex(collection)];
  if (p.loaded || !program_->store) return;  // v2: a collection is initialised once per transaction
  p.loaded = true;
  p.key.assign(key);
  const int64_t now = epochSeconds();
  CollectionStore::Record rec;
  const bool found = program_->store->load(persistentName(persistentIndex(collection)), key, now, rec);
  p.createTime = found ? rec.createTime : now;
  Collection& col = collections_[idx(collection)];
  col.clear();
  col.set("KEY", key);
  col.set("TIMEOUT", std::to_string(program_->collectionTimeout));
  col.set("CREATE_TIME", std::to_string(p.createTime));
  col.set("LAST_UPDATE_TIME", std::to_string(found ? rec.lastUpdate : now));
  col.set("UPDATE_COUNTER", std::to_string(found ? rec.updateCounter : 0));
  col.set("IS_NEW", found ? "0" : "1");
  for (const CollectionStore::Var& v : rec.vars) {
    if (isBuiltinVar(v.name)) continue;
    col.set(v.name, v.value);
    p.original.emplace_back(v.name, v.value);
  }
}

void Transaction::expireVar(VariableId collection, std::string_view name, int64_t seconds) {
  Persistent& p = persistent_[persistentIndex(collection)];
  if (!p.loaded) return;
  p.expires.emplace_back(std::string(name), epochSeconds() + std::max<int64_t>(0, seconds));
  p.dirty = true;
}

// Writes back what this transaction changed in each initialised persistent collection: new and replaced
// values, removals, expiries, and for numbers that were already stored the difference, so that concurrent
// transactions that each add to a counter all count.
void Transaction::persistCollections() {
  if (persisted_) return;
  persisted_ = true;
  std::vector<CollectionStore::Change> changes;
  for (std::size_t i = 0; i < kPersistentCount; ++i) {
    Persistent& p = persistent_[i];
    if (!p.loaded || !p.dirty) continue;
    changes.clear();
    const Collection& col = collections_[idx(VariableId::kIp) + i];
    for (const KeyValue& kv : col.items()) {
      if (isBuiltinVar(kv.lkey)) continue;
      auto orig = std::find_if(p.original.begin(), p.original.end(),
                               [&](const auto& o) { return o.first == kv.lkey; });
      if (orig != p.original.end() && orig->second == kv.value) continue;
      CollectionStore::Change c;
      c.name = kv.lkey;
      const bool onlyCounted = std::find(p.assigned.begin(), p.assigned.end(), kv.lkey) == p.assigned.end() &&
                               looksNumeric(kv.value);
      if (onlyCounted && (orig == p.original.end() || looksNumeric(orig->second))) {
        // Changed by setvar:+n / -n only: merged as the difference (a missing value counts as 0).
        c.kind = CollectionStore::Change::Kind::kDelta;
        c.delta = secLangInt(kv.value) - (orig == p.original.end() ? 0 : secLangInt(orig->second));
      } else {
        c.value = kv.value;
      }
      changes.push_back(std::move(c));
    }
    for (const auto& [name, value] : p.original) {
      if (col.find(name) != nullptr) continue;
      CollectionStore::Change c;
      c.kind = CollectionStore::Change::Kind::kRemove;
      c.name = name;
      changes.push_back(std::move(c));
    }
    for (const auto& [name, at] : p.expires) {
      CollectionStore::Change c;
      c.kind = CollectionStore::Change::Kind::kExpire;
      c.name = name;
      c.expiresAt = at;
      changes.push_back(std::move(c));
    }
    program_->store->store(persistentName(i), p.key, changes, epochSeconds(), program_->collectionTimeout,
                           p.createTime);
  }
}

int64_t Transaction::anomalyScore() const {
  const KeyValue* kv = tx().find("anomaly_score");
  return kv ? secLangInt(kv->value) : 0;
}

// ---------------------------------------------------------------------------------------------------------
// Rule evaluation

bool Transaction::ruleRemoved(const Rule& r) const {
  if (r.removed) return true;
  if (removedIds_.empty() && removedTags_.empty() && removedMsgs_.empty()) return false;
  for (auto [lo, hi] : removedIds_) {
    if (r.id >= lo && r.id <= hi) return true;
  }
  for (const auto& re : removedTags_) {
    for (const std::string& t : r.tags) {
      if (re->matches(t)) return true;
    }
  }
  for (const auto& re : removedMsgs_) {
    if (re->matches(r.msg.text())) return true;
  }
  return false;
}

void Transaction::runPhase(int phase) {
  // The logging phase runs whatever happened before, a block or an `allow` included (ModSecurity v2's
  // reference manual; v3's RulesSet::evaluate): CRS's correlation rules report blocked requests there.
  const bool logging = phase == 5;
  if (mode_ == EngineMode::kOff) return;
  if (!logging && (allowAll_ || intervention_.disrupted)) return;
  if (allowRequest_ && phase <= 2) return;
  const auto& list = program_->phases[static_cast<std::size_t>(phase)];
  ++dataVersion_;  // request data only changes between phases (headers, body, response): unions are stale
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Rule& r = *list[i];
    // (ctl:ruleRemove* of a rule earlier in this phase applies to the next rules: checked per rule.)
    const bool runtimeRemovals = !removedIds_.empty() || !removedTags_.empty() || !removedMsgs_.empty();
    if (r.isMarker || r.removed || (runtimeRemovals && ruleRemoved(r))) continue;
    currentRule_ = &r;
    // MATCHED_VARS holds the matches of the rule (chain) being evaluated only: v2 clears it whenever a
    // rule ends, so a chain link reading it never sees an earlier rule's matches.
    pendingMatched_.clear();
    pendingText_.clear();
    matchedVarsBuilt_ = false;
    bool matched = true;
    for (const Rule* link = &r; link != nullptr; link = link->chained) {
      if (!evaluateLink(r, *link, phase)) {
        matched = false;
        break;
      }
    }
    if (!matched) continue;
    finishChainMatch(r, phase);
    // In the logging phase only a disruptive rule of its own ends it (v3 stops the phase there too).
    const bool stops = r.disruptive == Disruptive::kDeny || r.disruptive == Disruptive::kDrop ||
                       r.disruptive == Disruptive::kRedirect;
    if (logging ? stops && mode_ == EngineMode::kOn
                : intervention_.disrupted || allowAll_ || (allowRequest_ && phase <= 2))
      return;
    if (r.disruptive == Disruptive::kAllowPhase && mode_ == EngineMode::kOn) return;
    if (!r.skipAfter.empty()) {
      if (r.skipAfterIndex < 0) return;
      i = static_cast<std::size_t>(r.skipAfterIndex);  // continue after the marker
      continue;
    }
    if (r.skip > 0) {
      int left = r.skip;
      while (left > 0 && i + 1 < list.size()) {
        ++i;
        if (!list[i]->isMarker) --left;
      }
    }
  }
  currentRule_ = nullptr;
}

bool Transaction::excluded(const Rule& starter, const Rule& link, VariableId var,
                           std::string_view lkey) const {
  // Keys are lower-cased once when a collection item is stored, never per rule.
  if (link.exclusions.empty() && removedTargets_.empty()) return false;
  for (const TargetExclusion& e : link.exclusions) {
    if (e.matches(var, lkey)) return true;
  }
  for (const TargetRemoval& tr : removedTargets_) {
    bool applies = false;
    for (auto [lo, hi] : tr.idRanges) applies |= starter.id >= lo && starter.id <= hi;
    if (tr.tagRegex) {
      if (tr.byMsg) {
        applies |= tr.tagRegex->matches(starter.msg.text());
      } else {
        for (const std::string& t : starter.tags) applies |= tr.tagRegex->matches(t);
      }
    }
    if (!applies) continue;
    for (const TargetExclusion& e : tr.targets) {
      if (e.matches(var, lkey)) return true;
    }
  }
  return false;
}

void Transaction::collectFrom(const Collection& c, VariableId var, const Target& t, bool names,
                              std::vector<Candidate>& out) {
  // Values of collections that rules change (TX, MATCHED_VARS, ...) are copied only when this rule could
  // change them while its candidates are still being evaluated (setvar, or a match adding MATCHED_VARS).
  const bool copy = !isRequestData(var) &&
                    (copyMutable_ || var == VariableId::kMatchedVars || var == VariableId::kMatchedVarsNames);
  auto add = [&](const KeyValue& kv) {
    std::string_view key = kv.key;
    std::string_view lkey = kv.lkey;
    std::string_view value = names ? std::string_view(kv.key) : std::string_view(kv.value);
    if (copy) {
      key = store(kv.key);
      lkey = store(kv.lkey);
      value = names ? key : store(kv.value);
    }
    out.push_back(Candidate{var, key, lkey, value});
  };
  if (!t.key.empty()) {
    if (t.regex) {
      c.forEachWithKey(t.key, t.keyHash, [&](const KeyValue& kv) {
        if (t.regex->matches(kv.lkey)) add(kv);
      });
    } else {
      c.forEachWithKey(t.key, t.keyHash, add);
    }
    return;
  }
  for (const KeyValue& kv : c.items()) {
    if (t.regex && !t.regex->matches(kv.lkey)) continue;
    add(kv);
  }
}

void Transaction::collect(const Rule& starter, const Rule& link, const Target& t, std::vector<Candidate>& out,
                          bool applyExclusions) {
  const std::size_t first = out.size();
  if (t.var == VariableId::kMatchedVars || t.var == VariableId::kMatchedVarsNames) buildMatchedVars();
  auto coll = [&](VariableId v) -> const Collection& { return collections_[idx(v)]; };
  switch (t.var) {
    case VariableId::kArgs:
      collectFrom(coll(VariableId::kArgsGet), VariableId::kArgs, t, false, out);
      collectFrom(coll(VariableId::kArgsPost), VariableId::kArgs, t, false, out);
      break;
    case VariableId::kArgsNames:
      collectFrom(coll(VariableId::kArgsGet), VariableId::kArgsNames, t, true, out);
      collectFrom(coll(VariableId::kArgsPost), VariableId::kArgsNames, t, true, out);
      break;
    case VariableId::kArgsGetNames:
      collectFrom(coll(VariableId::kArgsGet), VariableId::kArgsGetNames, t, true, out);
      break;
    case VariableId::kArgsPostNames:
      collectFrom(coll(VariableId::kArgsPost), VariableId::kArgsPostNames, t, true, out);
      break;
    case VariableId::kRequestHeadersNames:
      collectFrom(coll(VariableId::kRequestHeaders), t.var, t, true, out);
      break;
    case VariableId::kRequestCookiesNames:
      collectFrom(coll(VariableId::kRequestCookies), t.var, t, true, out);
      break;
    case VariableId::kResponseHeadersNames:
      collectFrom(coll(VariableId::kResponseHeaders), t.var, t, true, out);
      break;
    case VariableId::kFilesNames:
      collectFrom(coll(VariableId::kFiles), t.var, t, true, out);
      break;
    case VariableId::kMatchedVarsNames:
      collectFrom(coll(VariableId::kMatchedVars), t.var, t, true, out);
      break;
    case VariableId::kMatchedVar:
      out.push_back(Candidate{t.var, {}, {}, store(matchedVar_)});
      break;
    case VariableId::kMatchedVarName:
      out.push_back(Candidate{t.var, {}, {}, store(matchedVarName_)});
      break;
    case VariableId::kRule: {
      // RULE.id, RULE.msg, ... of the rule being evaluated.
      std::string v;
      MacroPart p;
      p.literal = false;
      p.collection = "RULE";
      p.key = t.key;
      resolve(p, v);
      out.push_back(Candidate{t.var, t.key, t.key, store(v)});
      break;
    }
    default:
      if (isCollectionVar(t.var)) {
        collectFrom(coll(t.var), t.var, t, false, out);
      } else {
        // Request scalars are stored once per phase and not changed by rules: point at them, no copy.
        const bool stored =
            isRequestData(t.var) && !(t.var >= VariableId::kTime && t.var <= VariableId::kTimeYear);
        std::string v;
        if (stored) {
          std::string_view sv = scalar(t.var);
          bool present = !sv.empty() || t.var == VariableId::kRequestUri ||
                         t.var == VariableId::kRequestFilename || t.var == VariableId::kRequestBasename ||
                         (t.var == VariableId::kQueryString &&
                          scalar(VariableId::kRequestUri).find('?') != std::string_view::npos);
          if (present) out.push_back(Candidate{t.var, {}, {}, sv});
          break;
        }
        resolveVariable(t.var, {}, 0, v);
        // A scalar that was never set (e.g. REQUEST_BODY without a body) yields no value, so negated
        // operators do not match on absent data (v2 behaviour).
        if (!v.empty() || t.var == VariableId::kRequestBody || t.var == VariableId::kQueryString ||
            t.var == VariableId::kRequestBasename || t.var == VariableId::kRequestFilename ||
            t.var == VariableId::kRequestUri) {
          bool present = !v.empty() || t.var == VariableId::kRequestUri ||
                         t.var == VariableId::kRequestFilename || t.var == VariableId::kRequestBasename ||
                         (t.var == VariableId::kQueryString && !scalar(VariableId::kRequestUri).empty() &&
                          scalar(VariableId::kRequestUri).find('?') != std::string_view::npos) ||
                         (t.var == VariableId::kRequestBody && !requestBody_.empty());
          if (present) out.push_back(Candidate{t.var, {}, {}, store(std::move(v))});
        }
      }
      break;
  }
  // Exclusions (rule `!X:y`, SecRuleUpdateTarget, ctl:ruleRemoveTarget*).
  if (!applyExclusions) return;
  if (!link.exclusions.empty() || !removedTargets_.empty()) {
    std::size_t w = first;
    for (std::size_t i = first; i < out.size(); ++i) {
      VariableId exclVar = out[i].var;
      if (!excluded(starter, link, exclVar, out[i].lkey)) out[w++] = out[i];
    }
    out.resize(w);
  }
  if (t.count) {
    const std::size_t n = out.size() - first;
    out.resize(first);
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, n);
    out.push_back(
        Candidate{t.var, {}, {}, store(std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)))});
  }
}

namespace {
std::size_t transformSlotHash(const char* data, std::size_t size, int chain) noexcept {
  return static_cast<std::size_t>(
      mix64(reinterpret_cast<uintptr_t>(data) ^ (static_cast<uint64_t>(size) << 40) ^
            (static_cast<uint64_t>(static_cast<uint32_t>(chain)) * 0x9E3779B97F4A7C15ull)));
}

// Values that never change within the transaction once stored, so they can be cached by address: collection
// items (never modified once stored) and the request-line scalars. Flags such as REQBODY_ERROR are
// rewritten in place between phases and could otherwise hit a stale entry.
bool stableValue(VariableId v) {
  return isRequestData(v) &&
         (isCollectionVar(v) || v == VariableId::kRequestUri || v == VariableId::kRequestFilename ||
          v == VariableId::kRequestBasename || v == VariableId::kQueryString ||
          v == VariableId::kRequestLine || v == VariableId::kRequestMethod ||
          v == VariableId::kRequestUriRaw || v == VariableId::kRequestProtocol);
}
}  // namespace

Transaction::CachedValue& Transaction::cachedTransform(const Rule& link, const Candidate& c) {
  // Same bytes (request data never changes once stored) through the same chain give the same result:
  // cache by the exact (pointer, length, chain id) triple, so a lookup can never return another value.
  if (transformValues_.size() * 2 >= transformIndex_.size()) growTransformIndex();
  const std::size_t mask = transformIndex_.size() - 1;
  std::size_t h = transformSlotHash(c.value.data(), c.value.size(), link.transformChainId);
  for (;; ++h) {
    TransformSlot& slot = transformIndex_[h & mask];
    if (slot.generation != generation_) {
      slot = TransformSlot{c.value.data(), c.value.size(), link.transformChainId,
                           static_cast<uint32_t>(transformValues_.size()), generation_};
      break;
    }
    if (slot.data == c.value.data() && slot.size == c.value.size() && slot.chain == link.transformChainId) {
      return transformValues_[slot.index];
    }
  }
  CachedValue& cv = transformValues_.emplace_back();
  if (link.transforms.empty()) {
    cv.view = c.value;
    return cv;
  }
  // Intermediate results live in two scratch strings that keep their capacity across calls: only the
  // final value is allocated (and only when it does not fit the string's inline buffer).
  std::string_view cur = applyTransforms(link, c.value);
  cv.view = text_.copy(cur);
  return cv;
}

void Transaction::growTransformIndex() {
  std::vector<TransformSlot> old = std::move(transformIndex_);
  // CRS reads a typical request's values through ~25 chains: start big enough for that.
  transformIndex_.assign(old.empty() ? 2048 : old.size() * 2, TransformSlot{});
  const std::size_t mask = transformIndex_.size() - 1;
  for (const TransformSlot& o : old) {
    if (o.generation != generation_) continue;
    std::size_t h = transformSlotHash(o.data, o.size, o.chain);
    while (transformIndex_[h & mask].generation == generation_) ++h;
    transformIndex_[h & mask] = o;
  }
}

std::string_view Transaction::transformed(const Rule& link, const Candidate& c, std::string& buf) {
  if (link.transforms.empty()) return c.value;
  if (stableValue(c.var)) return cachedTransform(link, c).view;
  buf.assign(applyTransforms(link, c.value));
  return buf;
}

std::string_view Transaction::applyTransforms(const Rule& link, std::string_view value) {
  std::string_view cur = value;
  std::string* out = &tfScratch_[0];
  for (TransformFn f : link.transforms) {
    out->clear();
    if (f(cur, *out)) {
      cur = *out;
      out = out == &tfScratch_[0] ? &tfScratch_[1] : &tfScratch_[0];
    }
  }
  return cur;
}

bool Transaction::scanned(const Rule& link, int16_t db, CachedValue& cv) {
  if (cv.bits >= 0) return cv.bitsDb == db;  // scanned already (for another variable's database: unusable)
  cv.bits = static_cast<int32_t>(prefilterBits_.size());
  cv.bitsDb = db;
  prefilterBits_.resize(prefilterBits_.size() + prefilter_->words(link.prefilterGroup), 0);
  prefilter_->scan(link.prefilterGroup, db, cv.view, prefilterBits_.data() + cv.bits);
  return true;
}

bool Transaction::prefilterSaysMaybe(const Rule& link, VariableId var, CachedValue& cv) {
  const PrefilterPlan::Group& g =
      program_->prefilter->plan().groups[static_cast<std::size_t>(link.prefilterGroup)];
  const int16_t db = g.databaseOfVar[static_cast<std::size_t>(var)];
  if (db < 0) return true;  // read by one rule of the group: its PCRE2 call is cheaper than a scan
  if (!scanned(link, db, cv)) return true;
  const auto slot = static_cast<std::size_t>(link.prefilterSlot);
  return ((prefilterBits_[static_cast<std::size_t>(cv.bits) + (slot >> 6)] >> (slot & 63)) & 1) != 0;
}

namespace {
// TX:0..TX:99 as text without a std::string.
std::string_view captureName(int index, char (&buf)[24]) {
  const auto r = std::to_chars(buf, buf + sizeof buf, index);
  return std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
}
}  // namespace

void Transaction::setCapture(int index, std::string_view value) {
  char buf[24];
  collections_[idx(VariableId::kTx)].set(captureName(index, buf), value);
}

void Transaction::unsetCapture(int index) {
  char buf[24];
  collections_[idx(VariableId::kTx)].remove(captureName(index, buf));
}

const uint64_t* Transaction::unionBits(const Rule& starter, const Rule& link, VariableId var) {
  const PrefilterPlan& plan = program_->prefilter->plan();
  const std::size_t kVars = static_cast<std::size_t>(VariableId::kCount);
  if (unionBits_.size() != plan.groups.size() * kVars)
    unionBits_.assign(plan.groups.size() * kVars, UnionBits{});
  UnionBits& u =
      unionBits_[static_cast<std::size_t>(link.prefilterGroup) * kVars + static_cast<std::size_t>(var)];
  if (u.version != dataVersion_) {
    u.version = dataVersion_;
    u.offset = -1;
    const PrefilterPlan::Group& group = plan.groups[static_cast<std::size_t>(link.prefilterGroup)];
    const int16_t db = group.databaseOfVar[idx(var)];
    if (db >= 0) {
      // Every value of the variable the group's rules read (every value, or those of the keys they name;
      // no selector or exclusion: a superset of what any rule of the group reads), transformed by the
      // group's chain and scanned: what is not in the union matches no value.
      std::vector<Candidate>& all = unionScratch_;
      all.clear();
      Target& t = unionTarget_;
      t.var = var;
      const std::vector<std::string>& keys = group.keysOfVar[idx(var)];
      if (keys.empty()) {
        t.key.clear();
        t.keyHash = 0;
        collect(starter, link, t, all, false);
      }
      for (const std::string& key : keys) {
        t.key.assign(key);
        t.keyHash = keyHash(key);
        collect(starter, link, t, all, false);
      }
      const std::size_t words = prefilter_->words(link.prefilterGroup);
      const auto offset = static_cast<int32_t>(prefilterBits_.size());
      prefilterBits_.resize(prefilterBits_.size() + words, 0);
      bool decided = true;
      for (const Candidate& c : all) {
        CachedValue& cv = cachedTransform(link, c);
        if (!scanned(link, db, cv)) {
          decided = false;
          break;
        }
        for (std::size_t w = 0; w < words; ++w) {
          prefilterBits_[static_cast<std::size_t>(offset) + w] |=
              prefilterBits_[static_cast<std::size_t>(cv.bits) + w];
        }
      }
      if (decided) u.offset = offset;
    }
  }
  return u.offset < 0 ? nullptr : prefilterBits_.data() + u.offset;
}

bool Transaction::cannotMatch(const Rule& starter, const Rule& link) {
  // Decided without looking at single values when Hyperscan reported the rule's pattern for none of the
  // values of any of its targets. Only for a plain @rx (a negated one matches exactly when nothing does).
  if (prefilter_ == nullptr || link.prefilterSlot < 0 || link.opNegated || link.targets.empty()) return false;
  const auto slot = static_cast<std::size_t>(link.prefilterSlot);
  const std::size_t kVars = static_cast<std::size_t>(VariableId::kCount);
  const std::size_t row = static_cast<std::size_t>(link.prefilterGroup) * kVars;
  for (const Target& t : link.targets) {
    if (t.count || !stableValue(t.var)) return false;
    // The union of this phase, if already computed (sized in runPhase), else computed now.
    const std::size_t at = row + static_cast<std::size_t>(t.var);
    const uint64_t* bits = nullptr;
    if (at < unionBits_.size() && unionBits_[at].version == dataVersion_) {
      if (unionBits_[at].offset >= 0) bits = prefilterBits_.data() + unionBits_[at].offset;
    } else {
      bits = unionBits(starter, link, t.var);
    }
    if (bits == nullptr || ((bits[slot >> 6] >> (slot & 63)) & 1) != 0) return false;
  }
  return true;
}

bool Transaction::evaluateLink(const Rule& starter, const Rule& link, int phase) {
  if (link.isAction) {
    matchedVarName_.clear();
    runActions(link);
    return true;
  }
  if (link.prefilterSlot >= 0 && cannotMatch(starter, link)) return false;
  std::vector<Candidate>& candidates = candidates_;  // reused: no allocation per rule once warm
  candidates.clear();
  copyMutable_ = !link.setvars.empty() || !link.setenvs.empty();
  for (const Target& t : link.targets) collect(starter, link, t, candidates);
  bool any = false;
  captureEnabled_ = link.capture;
  std::string& buf = evalScratch_;  // keeps its capacity; a matched value in it is copied by store()
  const uint64_t limitHits = regexLimitHitsOnThisThread();
  for (const Candidate& c : candidates) {
    bool hit = false;
    std::string_view value = c.value;
    if (link.multiMatch && !link.transforms.empty()) {
      // multiMatch: the operator runs on the value before and after each transformation that changes it.
      std::string cur(c.value);
      hit = link.op->match(*this, cur) != link.opNegated;
      std::string next;
      for (std::size_t k = 0; !hit && k < link.transforms.size(); ++k) {
        next.clear();
        if (link.transforms[k](cur, next)) {
          cur.swap(next);
          hit = link.op->match(*this, cur) != link.opNegated;
        }
      }
      if (hit) value = store(cur);
    } else if (prefilter_ != nullptr && link.prefilterSlot >= 0 && stableValue(c.var)) {
      // Hyperscan did not report the pattern: PCRE2 cannot match either (prefilter mode never misses).
      CachedValue& cv = cachedTransform(link, c);
      value = cv.view;
      hit = (prefilterSaysMaybe(link, c.var, cv) && link.op->match(*this, value)) != link.opNegated;
    } else {
      value = transformed(link, c, buf);
      hit = link.op->match(*this, value) != link.opNegated;
      if (hit && value.data() == buf.data()) value = store(buf);
    }
    if (hit) {
      any = true;
      onMatch(link, c, value);
      if (intervention_.disrupted) break;
    }
  }
  captureEnabled_ = false;
  // v2: a regex abandoned at SecPcreMatchLimit counts as no match and flags the transaction, which the
  // base configuration's rule 200005 (TX:/^MSC_/) reports.
  if (regexLimitHitsOnThisThread() != limitHits) {
    collections_[idx(VariableId::kTx)].set("MSC_PCRE_LIMITS_EXCEEDED", "1");
  }
  (void)phase;
  return any;
}

std::string Transaction::variableName(VariableId v, std::string_view key) const {
  std::string n(variableInfo(v).name);
  if (!key.empty()) {
    n += ':';
    n += key;
  }
  return n;
}

void Transaction::onMatch(const Rule& link, const Candidate& c, std::string_view value) {
  matchedVar_.assign(value);
  const std::string_view name = variableInfo(c.var).name;
  matchedVarName_.assign(name);
  if (!c.key.empty()) {
    matchedVarName_ += ':';
    matchedVarName_ += c.key;
  }
  // MATCHED_VARS is built only if a rule reads it (few do): remember the match in a buffer that keeps its
  // capacity from rule to rule (copies, since TX values may change under a chain's later links).
  const auto keyOff = static_cast<uint32_t>(pendingText_.size());
  pendingText_ += c.key;
  const auto valueOff = static_cast<uint32_t>(pendingText_.size());
  pendingText_ += value;
  pendingMatched_.push_back(PendingMatch{c.var, keyOff, static_cast<uint32_t>(c.key.size()), valueOff,
                                         static_cast<uint32_t>(value.size())});
  matchedVarsBuilt_ = false;
  runActions(link);
}

void Transaction::buildMatchedVars() {
  if (matchedVarsBuilt_) return;
  Collection& mv = collections_[idx(VariableId::kMatchedVars)];
  mv.clear();
  const std::string_view text = pendingText_;
  for (const PendingMatch& m : pendingMatched_) {
    mv.add(variableName(m.var, text.substr(m.keyOff, m.keyLen)), text.substr(m.valueOff, m.valueLen));
  }
  matchedVarsBuilt_ = true;
}

void Transaction::runActions(const Rule& link) {
  // Scratch strings that keep their capacity (actions never run recursively).
  std::string& key = actionScratch_[0];
  std::string& val = actionScratch_[1];
  std::string& k = actionScratch_[2];
  for (const InitCol& ic : link.initcols) initCollection(ic.collection, expandMacro(ic.key, *this, key));
  for (const SetVar& sv : link.setvars) {
    Collection& col = collections_[idx(sv.collection)];
    // The key, lower-cased: at load time when it has no macros.
    std::string_view lk = sv.lowerKey;
    uint64_t h = sv.keyHash;
    if (sv.key.hasMacros()) {
      const std::string_view expandedKey = expandMacro(sv.key, *this, key);
      k.resize(expandedKey.size());
      for (std::size_t i = 0; i < expandedKey.size(); ++i) k[i] = asciiLowerChar(expandedKey[i]);
      lk = k;
      h = keyHash(k);
    }
    if (isPersistent(sv.collection)) {
      Persistent& p = persistent_[persistentIndex(sv.collection)];
      p.dirty = true;
      if (sv.op == SetVar::Op::kSet) p.assigned.emplace_back(lk);
    }
    if (sv.op == SetVar::Op::kDelete) {
      col.remove(lk);
      continue;
    }
    std::string_view v = expandMacro(sv.value, *this, val);
    if (sv.op == SetVar::Op::kSet) {
      col.setLowered(lk, h, v);
    } else {
      const KeyValue* old = col.find(lk, h);
      int64_t base = old ? secLangInt(old->value) : 0;
      int64_t delta = secLangInt(v);
      char digits[24];
      const auto r = std::to_chars(digits, digits + sizeof digits,
                                   sv.op == SetVar::Op::kAdd ? base + delta : base - delta);
      col.setLowered(lk, h, std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
    }
  }
  for (const auto& [k, v] : link.setenvs) {
    std::string ks(expandMacro(k, *this, key));
    collections_[idx(VariableId::kEnv)].set(ks, expandMacro(v, *this, val));
  }
  for (const ExpireVar& ev : link.expirevars) {
    if (!isPersistent(ev.collection)) continue;  // TX lives for the transaction anyway
    std::string name = lower(expandMacro(ev.key, *this, key));
    expireVar(ev.collection, name, secLangInt(expandMacro(ev.seconds, *this, val)));
  }
  for (const CtlAction& c : link.ctls) applyCtl(c);
}

void Transaction::applyCtl(const CtlAction& c) {
  switch (c.kind) {
    case CtlAction::Kind::kRuleEngine:
      if (iequals(c.value, "on")) {
        mode_ = EngineMode::kOn;
      } else if (iequals(c.value, "off")) {
        mode_ = EngineMode::kOff;
      } else {
        mode_ = EngineMode::kDetectionOnly;
      }
      break;
    case CtlAction::Kind::kRuleRemoveById:
      removedIds_.insert(removedIds_.end(), c.idRanges.begin(), c.idRanges.end());
      break;
    case CtlAction::Kind::kRuleRemoveByTag:
      removedTags_.push_back(c.tagRegex);
      break;
    case CtlAction::Kind::kRuleRemoveByMsg:
      removedMsgs_.push_back(c.tagRegex);
      break;
    case CtlAction::Kind::kRuleRemoveTargetById:
    case CtlAction::Kind::kRuleRemoveTargetByTag:
    case CtlAction::Kind::kRuleRemoveTargetByMsg: {
      TargetRemoval tr;
      tr.idRanges = c.idRanges;
      tr.tagRegex = c.tagRegex;
      tr.byMsg = c.kind == CtlAction::Kind::kRuleRemoveTargetByMsg;
      tr.targets = c.targets;
      removedTargets_.push_back(std::move(tr));
      break;
    }
    case CtlAction::Kind::kRequestBodyAccess:
      requestBodyAccess_ = iequals(c.value, "on") || c.value == "1";
      break;
    case CtlAction::Kind::kRequestBodyLimit:
      requestBodyLimit_ = static_cast<uint64_t>(std::max<int64_t>(0, secLangInt(c.value)));
      break;
    case CtlAction::Kind::kRequestBodyProcessor:
      bodyProcessor_ = c.value;
      break;
    case CtlAction::Kind::kForceRequestBodyVariable:
      forceRequestBodyVariable_ = iequals(c.value, "on") || c.value == "1";
      break;
    case CtlAction::Kind::kResponseBodyAccess:
      responseBodyAccess_ = iequals(c.value, "on") || c.value == "1";
      break;
    case CtlAction::Kind::kAuditEngine:
      if (iequals(c.value, "on")) {
        auditEngine_ = AuditSettings::Engine::kOn;
      } else if (iequals(c.value, "off")) {
        auditEngine_ = AuditSettings::Engine::kOff;
      } else if (iequals(c.value, "relevantonly")) {
        auditEngine_ = AuditSettings::Engine::kRelevantOnly;
      }
      break;
    case CtlAction::Kind::kAuditLogParts:
      // "+E" adds parts, "-E" removes them, anything else replaces the set (v2/v3).
      if (!c.value.empty() && (c.value[0] == '+' || c.value[0] == '-')) {
        for (char part : std::string_view(c.value).substr(1)) {
          const std::size_t at = auditParts_.find(part);
          if (c.value[0] == '+' && at == std::string::npos) auditParts_ += part;
          if (c.value[0] == '-' && at != std::string::npos) auditParts_.erase(at, 1);
        }
      } else {
        auditParts_ = c.value;
      }
      break;
    default:
      break;
  }
}

bool Transaction::auditRecordWanted(int status) const {
  switch (auditEngine_) {
    case AuditSettings::Engine::kOff:
      return false;
    case AuditSettings::Engine::kOn:
      return true;
    case AuditSettings::Engine::kRelevantOnly:
      break;
  }
  for (const RuleMatch& m : matches_) {
    if (m.rule->auditlog.value_or(m.log)) return true;
  }
  return program_->audit.relevantStatus && program_->audit.relevantStatus->matches(std::to_string(status));
}

void Transaction::finishChainMatch(const Rule& starter, int phase) {
  if (starter.severity >= 0 && starter.severity < highestSeverity_) highestSeverity_ = starter.severity;
  const bool wouldDisrupt = starter.disruptive == Disruptive::kDeny ||
                            starter.disruptive == Disruptive::kDrop ||
                            starter.disruptive == Disruptive::kRedirect;
  const bool disrupts = wouldDisrupt && mode_ == EngineMode::kOn;
  if (starter.log.value_or(true) || disrupts) {
    RuleMatch m;
    m.rule = &starter;
    m.phase = phase;
    m.matchedVarName = matchedVarName_;
    m.matchedVar = matchedVar_;
    std::string scratch;
    m.message = std::string(expandMacro(starter.msg, *this, scratch));
    m.data = std::string(expandMacro(starter.logdata, *this, scratch));
    m.disruptive = disrupts;
    m.log = starter.log.value_or(true);
    matches_.push_back(std::move(m));
  }
  // In the logging phase the response has gone: a disruptive action only ends the phase (runPhase), and
  // the intervention that blocked the request, if any, stays the one reported.
  if (mode_ != EngineMode::kOn || phase == 5) return;
  switch (starter.disruptive) {
    case Disruptive::kDeny:
    case Disruptive::kDrop:
    case Disruptive::kRedirect:
      intervention_.disrupted = true;
      intervention_.status = starter.status != 0 ? starter.status : 403;
      intervention_.drop = starter.disruptive == Disruptive::kDrop;
      if (starter.disruptive == Disruptive::kRedirect) {
        std::string scratch;
        intervention_.redirect = std::string(expandMacro(starter.redirectUrl, *this, scratch));
        intervention_.status = starter.status >= 300 && starter.status < 400 ? starter.status : 302;
      }
      intervention_.ruleId = starter.id;
      intervention_.phase = phase;
      break;
    case Disruptive::kAllow:
      allowAll_ = true;
      break;
    case Disruptive::kAllowRequest:
      allowRequest_ = true;
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Macro / variable resolution

void Transaction::resolveVariable(VariableId v, std::string_view key, uint64_t hash, std::string& out) {
  auto fromCollection = [&](VariableId c) {
    if (key.empty()) return;
    if (c == VariableId::kMatchedVars) buildMatchedVars();
    const KeyValue* kv = collections_[idx(c)].find(key, hash);
    if (kv) out += kv->value;
  };
  switch (v) {
    case VariableId::kMatchedVar:
      out += matchedVar_;
      return;
    case VariableId::kMatchedVarName:
      out += matchedVarName_;
      return;
    case VariableId::kHighestSeverity:
      out += std::to_string(highestSeverity_);
      return;
    case VariableId::kDuration:
      out += std::to_string(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_)
              .count());
      return;
    case VariableId::kTime:
    case VariableId::kTimeDay:
    case VariableId::kTimeEpoch:
    case VariableId::kTimeHour:
    case VariableId::kTimeMin:
    case VariableId::kTimeMon:
    case VariableId::kTimeSec:
    case VariableId::kTimeWday:
    case VariableId::kTimeYear: {
      std::time_t now = std::time(nullptr);
      std::tm tm{};
      ::localtime_r(&now, &tm);
      char buf[32];
      switch (v) {
        case VariableId::kTime:
          std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
          break;
        case VariableId::kTimeDay:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_mday);
          break;
        case VariableId::kTimeEpoch:
          std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(now));
          break;
        case VariableId::kTimeHour:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_hour);
          break;
        case VariableId::kTimeMin:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_min);
          break;
        case VariableId::kTimeMon:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_mon);
          break;
        case VariableId::kTimeSec:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_sec);
          break;
        case VariableId::kTimeWday:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_wday);
          break;
        default:
          std::snprintf(buf, sizeof buf, "%d", tm.tm_year + 1900);
          break;
      }
      out += buf;
      return;
    }
    case VariableId::kArgs:
      fromCollection(VariableId::kArgsGet);
      if (out.empty()) fromCollection(VariableId::kArgsPost);
      return;
    default:
      if (isCollectionVar(v)) {
        fromCollection(v);
      } else {
        out += scalar(v);
      }
  }
}

void Transaction::resolve(const MacroPart& ref, std::string& out) {
  if (ref.collection == "RULE") {
    const Rule* r = currentRule_;
    if (r == nullptr) return;
    if (ref.key == "id") {
      out += std::to_string(r->id);
    } else if (ref.key == "msg") {
      std::string s;
      out += expandMacro(r->msg, *this, s);
    } else if (ref.key == "severity") {
      out += std::to_string(r->severity);
    } else if (ref.key == "rev") {
      out += r->rev;
    } else if (ref.key == "ver") {
      out += r->ver;
    } else if (ref.key == "logdata") {
      std::string s;
      out += expandMacro(r->logdata, *this, s);
    } else if (ref.key == "phase") {
      out += std::to_string(r->phase);
    }
    return;
  }
  // The variable of a reference, remembered per thread by the reference's address and checked by name (a
  // reused address after a reload can only hit when the name is the same, and then so is the answer).
  struct VariableMemo {
    const MacroPart* part = nullptr;
    const VariableInfo* info = nullptr;
  };
  thread_local std::array<VariableMemo, 256> memo;
  VariableMemo& m = memo[(reinterpret_cast<uintptr_t>(&ref) >> 4) & (memo.size() - 1)];
  const VariableInfo* v = nullptr;
  if (m.part == &ref && m.info != nullptr && m.info->name == ref.collection) {
    v = m.info;
  } else {
    v = findVariable(ref.collection);
    if (v == nullptr) return;
    m = VariableMemo{&ref, v};
  }
  resolveVariable(v->id, ref.key, ref.keyHash, out);
}

}  // namespace bulwark::waf
