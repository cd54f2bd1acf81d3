// SecLang directives -> Program. See program.h for what is decided here.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "waf/engine/collection_store.h"
#include "waf/engine/program.h"
#include "waf/engine/text.h"
#include "waf/seclang/parser.h"

namespace bulwark::waf {

// ---------------------------------------------------------------------------------------------------------
// SelectorRegex / TargetExclusion

namespace {

std::shared_ptr<Program> makeProgram() {
  auto p = std::make_shared<Program>();
  p->store = CollectionStore::process();
  return p;
}
std::atomic<uint64_t> gNextSelectorId{1};

// Per-thread memo of selector answers: a selector's answer for a key never changes, and CRS asks the same
// ones in every transaction (TX:/^MSC_/ of every TX variable, !REQUEST_COOKIES:/__utm/ of every cookie).
// Direct-mapped, keyed by the selector's unique id and the key's full content (keys up to kMaxKey bytes),
// so an answer is only reused for exactly the same question; bounded at 4,096 entries per thread.
struct SelectorMemo {
  static constexpr std::size_t kMaxKey = 46;
  uint64_t id = 0;
  uint8_t size = 0;
  bool result = false;
  char key[kMaxKey];
};
thread_local std::array<SelectorMemo, 4096> tSelectorMemo;
}  // namespace

std::shared_ptr<SelectorRegex> SelectorRegex::compile(const std::string& pattern, std::string& error) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_CASELESS | PCRE2_DOTALL, &code, &offset, nullptr);
  if (re == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    error = "invalid regex /" + pattern + "/: " + reinterpret_cast<const char*>(msg);
    return nullptr;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
  std::shared_ptr<SelectorRegex> r(new SelectorRegex());
  r->pattern_ = pattern;
  r->code_ = re;
  r->id_ = gNextSelectorId.fetch_add(1, std::memory_order_relaxed);
  // A pattern of plain characters only (letters, digits, '_', '-', '/', or punctuation escaped with a
  // backslash, which PCRE2 always reads as itself), optionally anchored with '^', as CRS's `/__utm/`,
  // `/^header_name_/` and `/AVAILABILITY\/APP_NOT_AVAIL/`, is a caseless substring (prefix) test: answered
  // without PCRE2 or the memo. A trailing `.*` or `c*` may match nothing, so it does not change the answer
  // of a search whose end is not anchored (`/paramcounter_.*/`, `/MULTIPART_HEADERS_CONTENT_TYPES_*/`).
  std::string_view lit = pattern;
  const bool anchored = !lit.empty() && lit.front() == '^';
  if (anchored) lit.remove_prefix(1);
  // (Only when neither the '*' nor the character it repeats is escaped.)
  while (lit.size() >= 2 && lit.back() == '*' && lit[lit.size() - 2] != '\\' &&
         (lit.size() < 3 || lit[lit.size() - 3] != '\\')) {
    lit.remove_suffix(2);
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  std::string literal;
  bool plain = !lit.empty();
  for (std::size_t i = 0; plain && i < lit.size(); ++i) {
    const char c = lit[i];
    if (alnum(c) || c == '_' || c == '-' || c == '/') {
      literal += asciiLowerChar(c);
    } else if (c == '\\' && i + 1 < lit.size() && lit[i + 1] > ' ' && lit[i + 1] < 0x7f &&
               !alnum(lit[i + 1])) {
      literal += lit[++i];
    } else {
      plain = false;
    }
  }
  if (plain) {
    r->literal_ = std::move(literal);
    r->literalKind_ = anchored ? LiteralKind::kPrefix : LiteralKind::kContains;
  }
  return r;
}

SelectorRegex::~SelectorRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool SelectorRegex::matches(std::string_view key) const {
  if (literalKind_ != LiteralKind::kNone) {
    const std::size_t n = literal_.size();
    if (key.size() < n) return false;
    const std::size_t last = literalKind_ == LiteralKind::kPrefix ? 0 : key.size() - n;
    const char first = literal_[0];
    for (std::size_t at = 0; at <= last; ++at) {
      if (asciiLowerChar(key[at]) != first) continue;
      std::size_t i = 1;
      while (i < n && asciiLowerChar(key[at + i]) == literal_[i]) ++i;
      if (i == n) return true;
    }
    return false;
  }
  SelectorMemo* memo = nullptr;
  if (key.size() <= SelectorMemo::kMaxKey) {
    const uint64_t h = mix64(fnv1a(kFnvOffset ^ id_, key));
    memo = &tSelectorMemo[h & (tSelectorMemo.size() - 1)];
    if (memo->id == id_ && memo->size == key.size() && std::memcmp(memo->key, key.data(), key.size()) == 0) {
      return memo->result;
    }
  }
  thread_local pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(key.data()), key.size(),
                       0, 0, md, nullptr);
  if (memo != nullptr) {
    memo->id = id_;
    memo->size = static_cast<uint8_t>(key.size());
    std::memcpy(memo->key, key.data(), key.size());
    memo->result = rc >= 0;
  }
  return rc >= 0;
}

namespace {

std::string lower(std::string_view s) { return asciiLower(s); }
bool iequals(std::string_view a, std::string_view b) { return asciiIequals(a, b); }

bool parseInt(std::string_view s, int64_t& out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parseOnOff(std::string_view s, bool& out) {
  if (iequals(s, "on")) {
    out = true;
    return true;
  }
  if (iequals(s, "off")) {
    out = false;
    return true;
  }
  return false;
}

// "1,3-5, 200000-200100" -> ranges.
bool parseIdRanges(std::string_view s, std::vector<std::pair<int64_t, int64_t>>& out) {
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t end = s.find_first_of(", ", pos);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(pos, end - pos);
    if (!item.empty()) {
      std::size_t dash = item.find('-', 1);
      int64_t a = 0;
      int64_t b = 0;
      if (dash == std::string_view::npos) {
        if (!parseInt(item, a)) return false;
        b = a;
      } else if (!parseInt(item.substr(0, dash), a) || !parseInt(item.substr(dash + 1), b)) {
        return false;
      }
      out.emplace_back(a, b);
    }
    pos = end + 1;
  }
  return !out.empty();
}

std::string dirOf(const std::string& file) {
  std::size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}

VariableId collectionFor(std::string_view name, bool& ok) {
  static const std::pair<std::string_view, VariableId> kPersistent[] = {
      {"tx", VariableId::kTx},           {"ip", VariableId::kIp},     {"global", VariableId::kGlobal},
      {"session", VariableId::kSession}, {"user", VariableId::kUser}, {"resource", VariableId::kResource}};
  for (const auto& [n, id] : kPersistent) {
    if (iequals(n, name)) {
      ok = true;
      return id;
    }
  }
  ok = false;
  return VariableId::kTx;
}

bool matchesTagOrMsg(const Rule& r, const SelectorRegex& re, bool byMsg) {
  if (byMsg) return re.matches(r.msg.text());
  return std::any_of(r.tags.begin(), r.tags.end(), [&](const std::string& t) { return re.matches(t); });
}

struct DefaultAction {
  Disruptive disruptive = Disruptive::kPass;
  std::optional<bool> log;
  std::optional<bool> auditlog;
  std::vector<TransformFn> transforms;
  std::vector<std::string_view> transformNames;
  int status = 0;
};

class Compiler {
 public:
  CompileResult run(const std::vector<seclang::Directive>& directives);

 private:
  std::map<std::string, std::shared_ptr<SelectorRegex>> selectors_;
  using Handler = void (Compiler::*)(const seclang::Directive&);
  static const std::map<std::string, Handler, std::less<>>& directiveTable();

  void error(const seclang::SourceLoc& loc, const std::string& msg) {
    result_.errors.push_back(loc.file + ":" + std::to_string(loc.line) + ": " + msg);
  }
  bool needArgs(const seclang::Directive& d, std::size_t min, std::size_t max) {
    if (d.args.size() < min || d.args.size() > max) {
      error(d.loc, d.name + " takes " +
                       (min == max ? std::to_string(min) : std::to_string(min) + "-" + std::to_string(max)) +
                       " argument(s), got " + std::to_string(d.args.size()));
      return false;
    }
    return true;
  }

  // Directive handlers.
  void secRule(const seclang::Directive& d);
  void secAction(const seclang::Directive& d);
  void secMarker(const seclang::Directive& d);
  void secDefaultAction(const seclang::Directive& d);
  void secRuleEngine(const seclang::Directive& d);
  void onOffSetting(const seclang::Directive& d, bool& target);
  void secRequestBodyAccess(const seclang::Directive& d) { onOffSetting(d, prog_->body.requestBodyAccess); }
  void secResponseBodyAccess(const seclang::Directive& d) { onOffSetting(d, prog_->body.responseBodyAccess); }
  void sizeSetting(const seclang::Directive& d, uint64_t& target);
  void secRequestBodyLimit(const seclang::Directive& d) { sizeSetting(d, prog_->body.requestBodyLimit); }
  void secRequestBodyNoFilesLimit(const seclang::Directive& d) {
    sizeSetting(d, prog_->body.requestBodyNoFilesLimit);
  }
  void secResponseBodyLimit(const seclang::Directive& d) { sizeSetting(d, prog_->body.responseBodyLimit); }
  void secArgumentsLimit(const seclang::Directive& d) { sizeSetting(d, prog_->body.argumentsLimit); }
  void secJsonDepthLimit(const seclang::Directive& d) {
    uint64_t v = 0;
    sizeSetting(d, v);
    prog_->body.jsonDepthLimit = static_cast<uint32_t>(std::min<uint64_t>(v, 100000));
  }
  void limitAction(const seclang::Directive& d, bool& reject);
  void secRequestBodyLimitAction(const seclang::Directive& d) {
    limitAction(d, prog_->body.requestBodyLimitReject);
  }
  void secResponseBodyLimitAction(const seclang::Directive& d) {
    limitAction(d, prog_->body.responseBodyLimitReject);
  }
  void secResponseBodyMimeType(const seclang::Directive& d);
  void secResponseBodyMimeTypesClear(const seclang::Directive& d) {
    if (needArgs(d, 0, 0)) prog_->body.responseMimeTypes.clear();
  }
  void secArgumentSeparator(const seclang::Directive& d);
  void secRuleRemoveById(const seclang::Directive& d);
  void secRuleRemoveByTag(const seclang::Directive& d) { removeWhere(d, false); }
  void secRuleRemoveByMsg(const seclang::Directive& d) { removeWhere(d, true); }
  void removeWhere(const seclang::Directive& d, bool byMsg);
  void secRuleUpdateTargetById(const seclang::Directive& d);
  void secRuleUpdateTargetByTag(const seclang::Directive& d) { updateTargetsWhere(d, false); }
  void secRuleUpdateTargetByMsg(const seclang::Directive& d) { updateTargetsWhere(d, true); }
  void updateTargetsWhere(const seclang::Directive& d, bool byMsg);
  void secRuleUpdateActionById(const seclang::Directive& d);
  void secCollectionTimeout(const seclang::Directive& d);
  void secComponentSignature(const seclang::Directive& d) {
    if (needArgs(d, 1, 1)) prog_->componentSignatures.push_back(d.args[0]);
  }
  void secAuditEngine(const seclang::Directive& d);
  void secAuditLogParts(const seclang::Directive& d) {
    if (needArgs(d, 1, 1)) prog_->audit.parts = d.args[0];
  }
  void secAuditLogRelevantStatus(const seclang::Directive& d);
  void secPcreMatchLimit(const seclang::Directive& d);
  // Accepted and checked for arity; they configure things Bulwark does elsewhere (logs, temp files).
  void ignoredOneArg(const seclang::Directive& d) { needArgs(d, 1, 1); }
  void ignoredAnyArgs(const seclang::Directive&) {}

  std::unique_ptr<Rule> buildRule(const seclang::Directive& d, std::string_view vars, std::string_view op,
                                  std::string_view actions, bool isAction);
  bool applyAction(Rule& r, const seclang::ActionRef& a, const seclang::SourceLoc& loc, bool& sawPhase,
                   bool& sawTransforms, bool& resetTransforms);
  bool parseTargetList(std::string_view text, std::vector<Target>* targets,
                       std::vector<TargetExclusion>* excl, std::string& err);
  bool parseCtl(const std::string& param, CtlAction& out, std::string& err);
  void addRule(std::unique_ptr<Rule> r, const seclang::SourceLoc& loc);
  void finish();
  void planPrefilter();
  template <typename Pred>
  void forRules(Pred&& pred, const std::function<void(Rule&)>& fn);

  CompileResult result_;
  std::shared_ptr<Program> prog_ = makeProgram();
  std::array<DefaultAction, 6> defaults_{};
  Rule* chainTail_ = nullptr;  // last link of a chain still waiting for its next rule
  seclang::SourceLoc chainLoc_;
  std::set<int64_t> ids_;
};

const std::map<std::string, Compiler::Handler, std::less<>>& Compiler::directiveTable() {
  static const std::map<std::string, Handler, std::less<>> kTable = {
      {"secrule", &Compiler::secRule},
      {"secaction", &Compiler::secAction},
      {"secmarker", &Compiler::secMarker},
      {"secdefaultaction", &Compiler::secDefaultAction},
      {"secruleengine", &Compiler::secRuleEngine},
      {"secrequestbodyaccess", &Compiler::secRequestBodyAccess},
      {"secresponsebodyaccess", &Compiler::secResponseBodyAccess},
      {"secrequestbodylimit", &Compiler::secRequestBodyLimit},
      {"secrequestbodynofileslimit", &Compiler::secRequestBodyNoFilesLimit},
      {"secrequestbodyinmemorylimit", &Compiler::ignoredOneArg},
      {"secrequestbodylimitaction", &Compiler::secRequestBodyLimitAction},
      {"secresponsebodylimit", &Compiler::secResponseBodyLimit},
      {"secresponsebodylimitaction", &Compiler::secResponseBodyLimitAction},
      {"secresponsebodymimetype", &Compiler::secResponseBodyMimeType},
      {"secresponsebodymimetypesclear", &Compiler::secResponseBodyMimeTypesClear},
      {"secargumentslimit", &Compiler::secArgumentsLimit},
      {"secrequestbodyjsondepthlimit", &Compiler::secJsonDepthLimit},
      {"secargumentseparator", &Compiler::secArgumentSeparator},
      {"secruleremovebyid", &Compiler::secRuleRemoveById},
      {"secruleremovebytag", &Compiler::secRuleRemoveByTag},
      {"secruleremovebymsg", &Compiler::secRuleRemoveByMsg},
      {"secruleupdatetargetbyid", &Compiler::secRuleUpdateTargetById},
      {"secruleupdatetargetbytag", &Compiler::secRuleUpdateTargetByTag},
      {"secruleupdatetargetbymsg", &Compiler::secRuleUpdateTargetByMsg},
      {"secruleupdateactionbyid", &Compiler::secRuleUpdateActionById},
      {"seccollectiontimeout", &Compiler::secCollectionTimeout},
      {"seccomponentsignature", &Compiler::secComponentSignature},
      {"secauditengine", &Compiler::secAuditEngine},
      {"secauditlogparts", &Compiler::secAuditLogParts},
      {"secauditlogrelevantstatus", &Compiler::secAuditLogRelevantStatus},
      {"secpcrematchlimit", &Compiler::secPcreMatchLimit},
      {"secpcrematchlimitrecursion", &Compiler::secPcreMatchLimit},
      // Logging destinations and storage: Bulwark's own `waf:` config decides these.
      {"secauditlog", &Compiler::ignoredOneArg},
      {"secauditlog2", &Compiler::ignoredOneArg},
      {"secauditlogtype", &Compiler::ignoredOneArg},
      {"secauditlogformat", &Compiler::ignoredOneArg},
      {"secauditlogstoragedir", &Compiler::ignoredOneArg},
      {"secauditlogdirmode", &Compiler::ignoredOneArg},
      {"secauditlogfilemode", &Compiler::ignoredOneArg},
      {"secdebuglog", &Compiler::ignoredOneArg},
      {"secdebugloglevel", &Compiler::ignoredOneArg},
      {"sectmpdir", &Compiler::ignoredOneArg},
      {"secdatadir", &Compiler::ignoredOneArg},
      {"secuploaddir", &Compiler::ignoredOneArg},
      {"secuploadkeepfiles", &Compiler::ignoredOneArg},
      {"secuploadfilemode", &Compiler::ignoredOneArg},
      {"secuploadfilelimit", &Compiler::ignoredOneArg},
      {"secunicodemapfile", &Compiler::ignoredAnyArgs},
      {"secunicodecodepage", &Compiler::ignoredOneArg},
      {"secstatusengine", &Compiler::ignoredOneArg},
      {"secserversignature", &Compiler::ignoredOneArg},
      {"secwebappid", &Compiler::ignoredOneArg},
      {"seccookieformat", &Compiler::ignoredOneArg},
      {"seccookiev0separator", &Compiler::ignoredOneArg},
      {"sectmpsaveuploadedfiles", &Compiler::ignoredOneArg},
      {"secxmlexternalentity", &Compiler::ignoredOneArg},
      {"secinterceptonerror", &Compiler::ignoredOneArg},
      {"secconnengine", &Compiler::ignoredOneArg},
      {"secgeolookupdb", &Compiler::ignoredOneArg},
      {"sechttpblkey", &Compiler::ignoredOneArg},
      {"secsensorid", &Compiler::ignoredOneArg},
      {"sechashengine", &Compiler::ignoredOneArg},
  };
  return kTable;
}

CompileResult Compiler::run(const std::vector<seclang::Directive>& directives) {
  for (const seclang::Directive& d : directives) {
    const auto& table = directiveTable();
    auto it = table.find(lower(d.name));
    if (it == table.end()) {
      error(d.loc, "unknown directive '" + d.name + "'");
      continue;
    }
    if (chainTail_ != nullptr && it->second != &Compiler::secRule) {
      error(d.loc, "rule with 'chain' (" + chainLoc_.file + ":" + std::to_string(chainLoc_.line) +
                       ") must be followed by SecRule");
      chainTail_ = nullptr;
    }
    (this->*(it->second))(d);
  }
  if (chainTail_ != nullptr) error(chainLoc_, "rule with 'chain' is not followed by a rule");
  finish();
  if (result_.errors.empty()) result_.program = prog_;
  return std::move(result_);
}

void Compiler::secRule(const seclang::Directive& d) {
  if (!needArgs(d, 2, 3)) return;
  auto r = buildRule(d, d.args[0], d.args[1], d.args.size() > 2 ? std::string_view(d.args[2]) : "", false);
  if (r) addRule(std::move(r), d.loc);
}

void Compiler::secAction(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  auto r = buildRule(d, "", "", d.args[0], true);
  if (r) addRule(std::move(r), d.loc);
}

void Compiler::secMarker(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  // A marker stands in every phase, so skipAfter from any phase finds it (as in ModSecurity v2).
  auto r = std::make_unique<Rule>();
  r->isMarker = true;
  r->markerName = d.args[0];
  r->file = d.loc.file;
  r->line = d.loc.line;
  Rule* raw = r.get();
  prog_->rules.push_back(std::move(r));
  for (int p = 1; p <= 5; ++p) prog_->phases[static_cast<std::size_t>(p)].push_back(raw);
}

void Compiler::secDefaultAction(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  Rule tmp;
  std::vector<seclang::ActionRef> actions;
  std::string err;
  if (!seclang::parseActions(d.args[0], actions, err)) {
    error(d.loc, err);
    return;
  }
  bool sawPhase = false;
  bool sawT = false;
  bool resetT = false;
  for (const auto& a : actions) {
    if (!applyAction(tmp, a, d.loc, sawPhase, sawT, resetT)) return;
  }
  if (!sawPhase) {
    error(d.loc, "SecDefaultAction must specify a phase");
    return;
  }
  if (tmp.disruptive == Disruptive::kNone) {
    error(d.loc, "SecDefaultAction must specify a disruptive action");
    return;
  }
  DefaultAction& def = defaults_[static_cast<std::size_t>(tmp.phase)];
  def.disruptive = tmp.disruptive;
  def.log = tmp.log;
  def.auditlog = tmp.auditlog;
  def.transforms = tmp.transforms;
  def.transformNames = tmp.transformNames;
  def.status = tmp.status;
}

void Compiler::secRuleEngine(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  const std::string& v = d.args[0];
  if (iequals(v, "on")) {
    prog_->engine = EngineMode::kOn;
  } else if (iequals(v, "off")) {
    prog_->engine = EngineMode::kOff;
  } else if (iequals(v, "detectiononly")) {
    prog_->engine = EngineMode::kDetectionOnly;
  } else {
    error(d.loc, "SecRuleEngine takes On, Off or DetectionOnly, got '" + v + "'");
  }
}

void Compiler::onOffSetting(const seclang::Directive& d, bool& target) {
  if (!needArgs(d, 1, 1)) return;
  if (!parseOnOff(d.args[0], target)) error(d.loc, d.name + " takes On or Off, got '" + d.args[0] + "'");
}

void Compiler::sizeSetting(const seclang::Directive& d, uint64_t& target) {
  if (!needArgs(d, 1, 1)) return;
  int64_t v = 0;
  if (!parseInt(d.args[0], v) || v < 0) {
    error(d.loc, d.name + " takes a non-negative number, got '" + d.args[0] + "'");
    return;
  }
  target = static_cast<uint64_t>(v);
}

void Compiler::limitAction(const seclang::Directive& d, bool& reject) {
  if (!needArgs(d, 1, 1)) return;
  if (iequals(d.args[0], "reject")) {
    reject = true;
  } else if (iequals(d.args[0], "processpartial")) {
    reject = false;
  } else {
    error(d.loc, d.name + " takes Reject or ProcessPartial, got '" + d.args[0] + "'");
  }
}

void Compiler::secResponseBodyMimeType(const seclang::Directive& d) {
  if (d.args.empty()) {
    error(d.loc, d.name + " needs at least one MIME type");
    return;
  }
  for (const std::string& a : d.args) {
    std::size_t pos = 0;
    while (pos < a.size()) {
      std::size_t end = a.find(' ', pos);
      if (end == std::string::npos) end = a.size();
      if (end > pos) prog_->body.responseMimeTypes.push_back(lower(a.substr(pos, end - pos)));
      pos = end + 1;
    }
  }
}

void Compiler::secArgumentSeparator(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  if (d.args[0].size() != 1) {
    error(d.loc, "SecArgumentSeparator takes one character");
    return;
  }
  prog_->body.argumentSeparator = d.args[0][0];
}

template <typename Pred>
void Compiler::forRules(Pred&& pred, const std::function<void(Rule&)>& fn) {
  for (auto& r : prog_->rules) {
    if (r->isMarker || r->isChainLink) continue;
    if (pred(*r)) fn(*r);
  }
}

void Compiler::secRuleRemoveById(const seclang::Directive& d) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const std::string& a : d.args) {
    if (!parseIdRanges(a, ranges)) {
      error(d.loc, "SecRuleRemoveById: bad id or range '" + a + "'");
      return;
    }
  }
  forRules(
      [&](const Rule& r) {
        for (auto [lo, hi] : ranges) {
          if (r.id >= lo && r.id <= hi) return true;
        }
        return false;
      },
      [](Rule& r) { r.removed = true; });
}

// SecRuleRemoveByTag / ByMsg: the argument is a regex over the rule's tags or its msg.
void Compiler::removeWhere(const seclang::Directive& d, bool byMsg) {
  if (!needArgs(d, 1, 1)) return;
  std::string err;
  auto re = SelectorRegex::compile(d.args[0], err);
  if (!re) {
    error(d.loc, err);
    return;
  }
  forRules([&](const Rule& r) { return matchesTagOrMsg(r, *re, byMsg); }, [](Rule& r) { r.removed = true; });
}

void Compiler::secRuleUpdateTargetById(const seclang::Directive& d) {
  if (!needArgs(d, 2, 3)) return;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  if (!parseIdRanges(d.args[0], ranges)) {
    error(d.loc, "SecRuleUpdateTargetById: bad id '" + d.args[0] + "'");
    return;
  }
  std::vector<Target> add;
  std::vector<TargetExclusion> excl;
  std::string err;
  if (!parseTargetList(d.args[1], &add, &excl, err)) {
    error(d.loc, err);
    return;
  }
  bool found = false;
  forRules(
      [&](const Rule& r) {
        for (auto [lo, hi] : ranges) {
          if (r.id >= lo && r.id <= hi) return true;
        }
        return false;
      },
      [&](Rule& r) {
        found = true;
        r.targets.insert(r.targets.end(), add.begin(), add.end());
        r.exclusions.insert(r.exclusions.end(), excl.begin(), excl.end());
      });
  if (!found)
    result_.warnings.push_back(d.loc.file + ":" + std::to_string(d.loc.line) + ": no rule with id " +
                               d.args[0]);
}

// SecRuleUpdateTargetByTag / ByMsg: the first argument is a regex over the rule's tags or its msg.
void Compiler::updateTargetsWhere(const seclang::Directive& d, bool byMsg) {
  if (!needArgs(d, 2, 3)) return;
  std::string err;
  auto re = SelectorRegex::compile(d.args[0], err);
  std::vector<Target> add;
  std::vector<TargetExclusion> excl;
  if (!re || !parseTargetList(d.args[1], &add, &excl, err)) {
    error(d.loc, err);
    return;
  }
  forRules([&](const Rule& r) { return matchesTagOrMsg(r, *re, byMsg); },
           [&](Rule& r) {
             r.targets.insert(r.targets.end(), add.begin(), add.end());
             r.exclusions.insert(r.exclusions.end(), excl.begin(), excl.end());
           });
}

void Compiler::secRuleUpdateActionById(const seclang::Directive& d) {
  if (!needArgs(d, 2, 2)) return;
  int64_t id = 0;
  if (!parseInt(d.args[0], id)) {
    error(d.loc, "SecRuleUpdateActionById: bad id '" + d.args[0] + "'");
    return;
  }
  std::vector<seclang::ActionRef> actions;
  std::string err;
  if (!seclang::parseActions(d.args[1], actions, err)) {
    error(d.loc, err);
    return;
  }
  for (auto& r : prog_->rules) {
    if (r->isMarker || r->isChainLink || r->id != id) continue;
    bool sawPhase = false;
    bool sawT = false;
    bool resetT = false;
    for (const auto& a : actions) {
      if (a.name == "id" || a.name == "phase") {
        error(d.loc, "SecRuleUpdateActionById cannot change '" + a.name + "'");
        return;
      }
      // A new disruptive action replaces the old one; transformations are appended unless t:none.
      applyAction(*r, a, d.loc, sawPhase, sawT, resetT);
    }
    return;
  }
  result_.warnings.push_back(d.loc.file + ":" + std::to_string(d.loc.line) + ": no rule with id " +
                             d.args[0]);
}

void Compiler::secCollectionTimeout(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  int64_t v = 0;
  if (!parseInt(d.args[0], v) || v < 0) {
    error(d.loc, "SecCollectionTimeout takes seconds");
    return;
  }
  prog_->collectionTimeout = v;
}

void Compiler::secAuditEngine(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  const std::string& v = d.args[0];
  if (iequals(v, "on")) {
    prog_->audit.engine = AuditSettings::Engine::kOn;
  } else if (iequals(v, "off")) {
    prog_->audit.engine = AuditSettings::Engine::kOff;
  } else if (iequals(v, "relevantonly")) {
    prog_->audit.engine = AuditSettings::Engine::kRelevantOnly;
  } else {
    error(d.loc, "SecAuditEngine takes On, Off or RelevantOnly, got '" + v + "'");
  }
}

void Compiler::secAuditLogRelevantStatus(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  std::string err;
  prog_->audit.relevantStatus = SelectorRegex::compile(d.args[0], err);
  if (!prog_->audit.relevantStatus) error(d.loc, err);
}

void Compiler::secPcreMatchLimit(const seclang::Directive& d) {
  if (!needArgs(d, 1, 1)) return;
  int64_t v = 0;
  if (!parseInt(d.args[0], v) || v <= 0) error(d.loc, d.name + " takes a positive number");
  // Applied by the @rx operator's own limits; see docs/waf-operators.md.
}

bool Compiler::parseTargetList(std::string_view text, std::vector<Target>* targets,
                               std::vector<TargetExclusion>* excl, std::string& err) {
  std::vector<seclang::VariableRef> refs;
  if (!seclang::parseVariables(text, refs, err)) return false;
  for (const auto& ref : refs) {
    const VariableInfo* info = findVariable(ref.collection);
    if (info == nullptr) {
      err = "unknown variable '" + ref.collection + "'";
      return false;
    }
    if (!ref.selector.empty() && !info->collection) {
      err = "variable " + ref.collection + " takes no selector (got '" + ref.selector + "')";
      return false;
    }
    std::shared_ptr<SelectorRegex> re;
    if (ref.selectorIsRegex) {
      // One object per distinct pattern: transactions remember a selector's answer per key by its address.
      std::shared_ptr<SelectorRegex>& shared = selectors_[ref.selector];
      if (!shared) shared = SelectorRegex::compile(ref.selector, err);
      re = shared;
      if (!re) {
        selectors_.erase(ref.selector);
        return false;
      }
    }
    if (ref.exclude) {
      if (excl == nullptr) {
        err = "exclusions are not allowed here";
        return false;
      }
      excl->push_back(
          TargetExclusion{info->id, ref.selectorIsRegex ? std::string() : lower(ref.selector), re});
    } else {
      if (targets == nullptr) {
        err = "only exclusions are allowed here";
        return false;
      }
      Target t;
      t.var = info->id;
      t.count = ref.count;
      t.key = ref.selectorIsRegex ? std::string() : lower(ref.selector);
      t.keyHash = keyHash(t.key);
      t.regex = re;
      t.text =
          (ref.count ? "&" : "") + std::string(info->name) +
          (ref.selector.empty() ? "" : ":" + (ref.selectorIsRegex ? "/" + ref.selector + "/" : ref.selector));
      targets->push_back(std::move(t));
    }
  }
  return true;
}

bool Compiler::parseCtl(const std::string& param, CtlAction& out, std::string& err) {
  std::size_t eq = param.find('=');
  if (eq == std::string::npos) {
    err = "ctl needs option=value, got '" + param + "'";
    return false;
  }
  std::string opt = lower(param.substr(0, eq));
  std::string value = param.substr(eq + 1);
  out.value = value;
  static const std::map<std::string, CtlAction::Kind, std::less<>> kKinds = {
      {"ruleengine", CtlAction::Kind::kRuleEngine},
      {"ruleremovebyid", CtlAction::Kind::kRuleRemoveById},
      {"ruleremovebytag", CtlAction::Kind::kRuleRemoveByTag},
      {"ruleremovebymsg", CtlAction::Kind::kRuleRemoveByMsg},
      {"ruleremovetargetbyid", CtlAction::Kind::kRuleRemoveTargetById},
      {"ruleremovetargetbytag", CtlAction::Kind::kRuleRemoveTargetByTag},
      {"ruleremovetargetbymsg", CtlAction::Kind::kRuleRemoveTargetByMsg},
      {"requestbodyaccess", CtlAction::Kind::kRequestBodyAccess},
      {"requestbodylimit", CtlAction::Kind::kRequestBodyLimit},
      {"requestbodyprocessor", CtlAction::Kind::kRequestBodyProcessor},
      {"forcerequestbodyvariable", CtlAction::Kind::kForceRequestBodyVariable},
      {"responsebodyaccess", CtlAction::Kind::kResponseBodyAccess},
      {"responsebodylimit", CtlAction::Kind::kResponseBodyLimit},
      {"auditengine", CtlAction::Kind::kAuditEngine},
      {"auditlogparts", CtlAction::Kind::kAuditLogParts},
      {"debugloglevel", CtlAction::Kind::kIgnored},
      {"hashengine", CtlAction::Kind::kIgnored},
  };
  auto it = kKinds.find(opt);
  if (it == kKinds.end()) {
    err = "unknown ctl option '" + param.substr(0, eq) + "'";
    return false;
  }
  out.kind = it->second;
  switch (out.kind) {
    case CtlAction::Kind::kRuleEngine:
      if (!iequals(value, "on") && !iequals(value, "off") && !iequals(value, "detectiononly")) {
        err = "ctl:ruleEngine takes On, Off or DetectionOnly";
        return false;
      }
      break;
    case CtlAction::Kind::kRuleRemoveById:
      if (!parseIdRanges(value, out.idRanges)) {
        err = "ctl:ruleRemoveById: bad id '" + value + "'";
        return false;
      }
      break;
    case CtlAction::Kind::kRuleRemoveByTag:
    case CtlAction::Kind::kRuleRemoveByMsg:
      out.tagRegex = SelectorRegex::compile(value, err);
      if (!out.tagRegex) return false;
      break;
    case CtlAction::Kind::kRuleRemoveTargetById:
    case CtlAction::Kind::kRuleRemoveTargetByTag:
    case CtlAction::Kind::kRuleRemoveTargetByMsg: {
      std::size_t semi = value.find(';');
      if (semi == std::string::npos) {
        err = "ctl:" + param.substr(0, eq) + " needs WHAT;TARGETS";
        return false;
      }
      std::string what = value.substr(0, semi);
      if (out.kind == CtlAction::Kind::kRuleRemoveTargetById) {
        if (!parseIdRanges(what, out.idRanges)) {
          err = "ctl:ruleRemoveTargetById: bad id '" + what + "'";
          return false;
        }
      } else {
        out.tagRegex = SelectorRegex::compile(what, err);
        if (!out.tagRegex) return false;
      }
      // The targets are plain references here; they are removals by meaning.
      std::vector<Target> targets;
      if (!parseTargetList(value.substr(semi + 1), &targets, nullptr, err)) return false;
      for (const Target& t : targets) out.targets.push_back(TargetExclusion{t.var, t.key, t.regex});
      break;
    }
    case CtlAction::Kind::kRequestBodyProcessor: {
      std::string v = lower(value);
      if (v != "urlencoded" && v != "multipart" && v != "xml" && v != "json") {
        err = "ctl:requestBodyProcessor takes URLENCODED, MULTIPART, XML or JSON, got '" + value + "'";
        return false;
      }
      out.value = v;
      break;
    }
    default:
      break;
  }
  return true;
}

bool Compiler::applyAction(Rule& r, const seclang::ActionRef& a, const seclang::SourceLoc& loc,
                           bool& sawPhase, bool& sawTransforms, bool& resetTransforms) {
  const std::string& n = a.name;
  const std::string& p = a.param;
  auto fail = [&](const std::string& msg) {
    error(loc, msg);
    return false;
  };
  auto setDisruptive = [&](Disruptive d) {
    r.disruptive = d;
    return true;
  };
  if (n == "id") {
    int64_t id = 0;
    if (!parseInt(p, id) || id <= 0) return fail("bad rule id '" + p + "'");
    r.id = id;
  } else if (n == "phase") {
    int64_t ph = 0;
    if (iequals(p, "request")) {
      ph = 2;
    } else if (iequals(p, "response")) {
      ph = 4;
    } else if (iequals(p, "logging")) {
      ph = 5;
    } else if (!parseInt(p, ph) || ph < 1 || ph > 5) {
      return fail("bad phase '" + p + "'");
    }
    r.phase = static_cast<int>(ph);
    sawPhase = true;
  } else if (n == "msg") {
    r.msg = MacroString(p);
  } else if (n == "logdata") {
    r.logdata = MacroString(p);
  } else if (n == "severity") {
    static const char* kNames[] = {"emergency", "alert",  "critical", "error",
                                   "warning",   "notice", "info",     "debug"};
    int64_t sv = -1;
    if (!parseInt(p, sv)) {
      for (int i = 0; i < 8; ++i) {
        if (iequals(p, kNames[i])) sv = i;
      }
    }
    if (sv < 0 || sv > 7) return fail("bad severity '" + p + "'");
    r.severity = static_cast<int>(sv);
  } else if (n == "tag") {
    r.tags.push_back(p);
  } else if (n == "ver") {
    r.ver = p;
  } else if (n == "rev") {
    r.rev = p;
  } else if (n == "maturity") {
    r.maturity = p;
  } else if (n == "accuracy") {
    r.accuracy = p;
  } else if (n == "t") {
    if (iequals(p, "none")) {
      r.transforms.clear();
      r.transformNames.clear();
      resetTransforms = true;
    } else {
      const TransformInfo* t = findTransform(p);
      if (t == nullptr) return fail("unknown transformation '" + p + "'");
      r.transforms.push_back(t->fn);
      r.transformNames.push_back(t->name);
    }
    sawTransforms = true;
  } else if (n == "chain") {
    r.chainStarter = true;
  } else if (n == "pass") {
    return setDisruptive(Disruptive::kPass);
  } else if (n == "block") {
    return setDisruptive(Disruptive::kBlock);
  } else if (n == "deny") {
    return setDisruptive(Disruptive::kDeny);
  } else if (n == "drop") {
    return setDisruptive(Disruptive::kDrop);
  } else if (n == "allow") {
    if (p.empty()) return setDisruptive(Disruptive::kAllow);
    if (iequals(p, "phase")) return setDisruptive(Disruptive::kAllowPhase);
    if (iequals(p, "request")) return setDisruptive(Disruptive::kAllowRequest);
    return fail("allow takes no value, 'phase' or 'request'");
  } else if (n == "redirect") {
    r.redirectUrl = MacroString(p);
    return setDisruptive(Disruptive::kRedirect);
  } else if (n == "status") {
    int64_t st = 0;
    if (!parseInt(p, st) || st < 100 || st > 599) return fail("bad status '" + p + "'");
    r.status = static_cast<int>(st);
  } else if (n == "log") {
    r.log = true;
  } else if (n == "nolog") {
    r.log = false;
    if (!r.auditlog) r.auditlog = false;  // v2: nolog implies noauditlog unless auditlog is explicit
  } else if (n == "auditlog") {
    r.auditlog = true;
  } else if (n == "noauditlog") {
    r.auditlog = false;
  } else if (n == "capture") {
    r.capture = true;
  } else if (n == "multimatch") {
    r.multiMatch = true;
  } else if (n == "skip") {
    int64_t k = 0;
    if (!parseInt(p, k) || k < 1) return fail("skip takes a positive number");
    r.skip = static_cast<int>(k);
  } else if (n == "skipafter") {
    if (p.empty()) return fail("skipAfter needs a marker");
    r.skipAfter = p;
  } else if (n == "setvar") {
    SetVar sv;
    std::string_view text = p;
    if (!text.empty() && text.front() == '!') {
      sv.op = SetVar::Op::kDelete;
      text.remove_prefix(1);
    }
    std::size_t dot = text.find('.');
    if (dot == std::string_view::npos) return fail("setvar needs COLLECTION.name, got '" + p + "'");
    bool ok = false;
    sv.collection = collectionFor(text.substr(0, dot), ok);
    if (!ok) return fail("setvar: unknown collection '" + std::string(text.substr(0, dot)) + "'");
    std::string_view rest = text.substr(dot + 1);
    std::size_t eq = rest.find('=');
    std::string_view key = rest.substr(0, eq);
    if (sv.op != SetVar::Op::kDelete) {
      if (eq == std::string_view::npos) {
        sv.value = MacroString("1");  // v2: `setvar:tx.flag` sets 1
      } else {
        std::string_view value = rest.substr(eq + 1);
        if (!value.empty() && value.front() == '+') {
          sv.op = SetVar::Op::kAdd;
          value.remove_prefix(1);
        } else if (!value.empty() && value.front() == '-') {
          sv.op = SetVar::Op::kSub;
          value.remove_prefix(1);
        }
        sv.value = MacroString(value);
      }
    }
    if (key.empty()) return fail("setvar: empty variable name in '" + p + "'");
    sv.key = MacroString(key);
    if (!sv.key.hasMacros()) {
      sv.lowerKey = asciiLower(sv.key.text());
      sv.keyHash = keyHash(sv.lowerKey);
    }
    r.setvars.push_back(std::move(sv));
  } else if (n == "expirevar") {
    ExpireVar ev;
    std::size_t dot = p.find('.');
    std::size_t eq = p.find('=');
    bool ok = false;
    if (dot == std::string::npos) return fail("expirevar needs COLLECTION.name=seconds");
    ev.collection = collectionFor(std::string_view(p).substr(0, dot), ok);
    if (!ok) return fail("expirevar: unknown collection in '" + p + "'");
    ev.key = MacroString(
        std::string_view(p).substr(dot + 1, eq == std::string::npos ? std::string::npos : eq - dot - 1));
    ev.seconds =
        MacroString(eq == std::string::npos ? std::string_view("0") : std::string_view(p).substr(eq + 1));
    r.expirevars.push_back(std::move(ev));
  } else if (n == "initcol") {
    std::size_t eq = p.find('=');
    if (eq == std::string::npos) return fail("initcol needs collection=key");
    bool ok = false;
    InitCol ic;
    ic.collection = collectionFor(std::string_view(p).substr(0, eq), ok);
    if (!ok || ic.collection == VariableId::kTx)
      return fail("initcol: unsupported collection in '" + p + "'");
    ic.key = MacroString(std::string_view(p).substr(eq + 1));
    r.initcols.push_back(std::move(ic));
  } else if (n == "setenv") {
    std::size_t eq = p.find('=');
    std::string_view key = std::string_view(p).substr(0, eq);
    std::string_view value =
        eq == std::string::npos ? std::string_view("1") : std::string_view(p).substr(eq + 1);
    r.setenvs.emplace_back(MacroString(key), MacroString(value));
  } else if (n == "ctl") {
    CtlAction c;
    std::string err;
    if (!parseCtl(p, c, err)) return fail(err);
    r.ctls.push_back(std::move(c));
  } else if (n == "sanitisearg" || n == "sanitisematched" || n == "sanitiserequestheader" ||
             n == "sanitiseresponseheader" || n == "sanitisematchedbytes" || n == "setuid" || n == "setsid" ||
             n == "setrsc" || n == "deprecatevar" || n == "xmlns") {
    // Accepted: Bulwark masks sensitive data in every log by default (see docs/waf.md); the session/user
    // bindings of v2's persistent storage are not needed by CRS.
  } else if (n == "exec" || n == "proxy" || n == "pause" || n == "append" || n == "prepend") {
    return fail("action '" + n + "' is not supported");
  } else {
    return fail("unknown action '" + n + "'");
  }
  return true;
}

std::unique_ptr<Rule> Compiler::buildRule(const seclang::Directive& d, std::string_view vars,
                                          std::string_view op, std::string_view actions, bool isAction) {
  auto r = std::make_unique<Rule>();
  r->file = d.loc.file;
  r->line = d.loc.line;
  r->isAction = isAction;
  std::string err;
  if (!isAction) {
    if (!parseTargetList(vars, &r->targets, &r->exclusions, err)) {
      error(d.loc, err);
      return nullptr;
    }
    seclang::OperatorRef oref;
    if (!seclang::parseOperator(op, oref, err)) {
      error(d.loc, err);
      return nullptr;
    }
    const OperatorInfo* info = findOperator(oref.name);
    if (info == nullptr) {
      error(d.loc, "unknown operator '@" + oref.name + "'");
      return nullptr;
    }
    r->op = info->create(OperatorArgs{oref.param, dirOf(d.loc.file)}, err);
    if (!r->op) {
      error(d.loc, "@" + oref.name + ": " + err);
      return nullptr;
    }
    r->opName = std::string(info->name);
    r->opParam = oref.param;
    r->opNegated = oref.negated;
  }
  std::vector<seclang::ActionRef> acts;
  if (!actions.empty() && !seclang::parseActions(actions, acts, err)) {
    error(d.loc, err);
    return nullptr;
  }
  bool sawPhase = false;
  bool sawT = false;
  bool resetT = false;
  const std::size_t errorsBefore = result_.errors.size();
  for (const auto& a : acts) applyAction(*r, a, d.loc, sawPhase, sawT, resetT);
  if (result_.errors.size() != errorsBefore) return nullptr;

  const bool isLink = chainTail_ != nullptr;
  if (isLink) {
    if (r->id != 0) {
      error(d.loc, "a chained rule cannot have an id");
      return nullptr;
    }
    r->phase = chainTail_->phase;
  } else {
    if (r->id == 0) {
      error(d.loc, "rule has no id");
      return nullptr;
    }
    if (!ids_.insert(r->id).second) {
      error(d.loc, "duplicate rule id " + std::to_string(r->id));
      return nullptr;
    }
    // SecDefaultAction of the rule's phase fills what the rule leaves open (as v2 merges at load time).
    const DefaultAction& def = defaults_[static_cast<std::size_t>(r->phase)];
    if (r->disruptive == Disruptive::kNone) r->disruptive = def.disruptive;
    // `block` means "what SecDefaultAction of this phase says" (CRS relies on this for anomaly scoring).
    if (r->disruptive == Disruptive::kBlock) {
      r->disruptive = def.disruptive == Disruptive::kBlock ? Disruptive::kPass : def.disruptive;
      if (r->status == 0) r->status = def.status;
    }
    if (!r->log) r->log = def.log.value_or(true);
    if (!r->auditlog) r->auditlog = def.auditlog.value_or(true);
    if (r->status == 0) r->status = def.status;
  }
  if (!resetT && !isLink) {
    const DefaultAction& def = defaults_[static_cast<std::size_t>(r->phase)];
    r->transforms.insert(r->transforms.begin(), def.transforms.begin(), def.transforms.end());
    r->transformNames.insert(r->transformNames.begin(), def.transformNames.begin(), def.transformNames.end());
  }
  return r;
}

void Compiler::addRule(std::unique_ptr<Rule> r, const seclang::SourceLoc& loc) {
  Rule* raw = r.get();
  if (chainTail_ != nullptr) {
    raw->isChainLink = true;
    chainTail_->chained = raw;
  } else {
    prog_->phases[static_cast<std::size_t>(raw->phase)].push_back(raw);
    ++prog_->ruleCount;
  }
  chainTail_ = raw->chainStarter ? raw : nullptr;
  if (raw->chainStarter) chainLoc_ = loc;
  prog_->rules.push_back(std::move(r));
}

void Compiler::finish() {
  // Equal transformation chains share one id, so the per-transaction cache serves them all.
  std::map<std::vector<TransformFn>, int> chains;
  for (auto& r : prog_->rules) {
    auto [it, inserted] = chains.emplace(r->transforms, static_cast<int>(chains.size()));
    r->transformChainId = it->second;
  }
  planPrefilter();
  // Resolve skipAfter: the first marker (or rule id) of that name after the rule, in the rule's phase.
  for (int p = 1; p <= 5; ++p) {
    auto& list = prog_->phases[static_cast<std::size_t>(p)];
    for (std::size_t i = 0; i < list.size(); ++i) {
      Rule* r = list[i];
      if (r->skipAfter.empty()) continue;
      for (std::size_t j = i + 1; j < list.size(); ++j) {
        const Rule* t = list[j];
        if ((t->isMarker && t->markerName == r->skipAfter) ||
            (!t->isMarker && std::to_string(t->id) == r->skipAfter)) {
          r->skipAfterIndex = static_cast<int>(j);
          break;
        }
      }
      if (r->skipAfterIndex < 0) {
        result_.warnings.push_back(r->file + ":" + std::to_string(r->line) + ": skipAfter target '" +
                                   r->skipAfter +
                                   "' not found after this rule; it skips the rest of the phase");
      }
    }
  }
}

}  // namespace

void Compiler::planPrefilter() {
  if (const char* env = std::getenv("BULWARK_WAF_PREFILTER");
      env != nullptr && std::string_view(env) == "off")
    return;
  // One group per transformation chain: a transformed value is scanned once for all the group's patterns.
  // multiMatch rules run their operator on intermediate values, which are not cached: PCRE2 only.
  constexpr std::size_t kVars = static_cast<std::size_t>(VariableId::kCount);
  PrefilterPlan plan;
  std::map<int, std::size_t> groupOfChain;
  std::map<std::pair<int, std::string_view>, int> slotOf;
  std::vector<std::vector<std::set<uint32_t>>> readers;  // [group][var] -> slots
  // [group][var] -> the keys read, while every reader reads the variable by plain keys only
  std::vector<std::vector<std::set<std::string>>> keys;
  std::vector<std::vector<bool>> wholeVar;  // [group][var]: some reader reads every value (or a regex)
  for (auto& r : prog_->rules) {
    if (!r->op || r->multiMatch || r->isAction || r->isMarker) continue;
    std::string_view pattern = r->op->regexPattern();
    if (pattern.empty()) continue;
    auto [git, newGroup] = groupOfChain.emplace(r->transformChainId, plan.groups.size());
    if (newGroup) {
      plan.groups.push_back(PrefilterPlan::Group{r->transformChainId, {}, {}, {}, {}});
      readers.emplace_back(kVars);
      keys.emplace_back(kVars);
      wholeVar.emplace_back(kVars, false);
    }
    PrefilterPlan::Group& g = plan.groups[git->second];
    auto [sit, newSlot] =
        slotOf.emplace(std::make_pair(r->transformChainId, pattern), static_cast<int>(g.patterns.size()));
    if (newSlot) g.patterns.emplace_back(pattern);
    r->prefilterGroup = static_cast<int>(git->second);
    r->prefilterSlot = sit->second;
    for (const Target& t : r->targets) {
      if (t.count) continue;
      const auto v = static_cast<std::size_t>(t.var);
      readers[git->second][v].insert(static_cast<uint32_t>(sit->second));
      if (t.key.empty() || t.regex) {
        wholeVar[git->second][v] = true;
      } else {
        keys[git->second][v].insert(t.key);
      }
    }
  }
  if (plan.groups.empty()) return;
  // Per group, one database per distinct set of slots read by a variable (variables read by the same rules
  // share it). A variable read by a single rule gets none: its one PCRE2 call is cheaper than a scan.
  for (std::size_t gi = 0; gi < plan.groups.size(); ++gi) {
    PrefilterPlan::Group& g = plan.groups[gi];
    g.databaseOfVar.assign(kVars, -1);
    g.keysOfVar.assign(kVars, {});
    for (std::size_t v = 0; v < kVars; ++v) {
      if (!wholeVar[gi][v]) g.keysOfVar[v].assign(keys[gi][v].begin(), keys[gi][v].end());
    }
    std::map<std::set<uint32_t>, int16_t> dbOfSet;
    for (std::size_t v = 0; v < kVars; ++v) {
      const std::set<uint32_t>& slots = readers[gi][v];
      if (slots.size() < 2) continue;
      auto [it, inserted] = dbOfSet.emplace(slots, static_cast<int16_t>(g.databases.size()));
      if (inserted)
        g.databases.push_back(PrefilterPlan::Database{std::vector<uint32_t>(slots.begin(), slots.end())});
      g.databaseOfVar[v] = it->second;
    }
  }
  prog_->prefilter = std::make_shared<PrefilterState>(std::move(plan), defaultPrefilterCacheDir());
}

CompileResult compileFiles(const std::vector<std::string>& files) {
  std::vector<seclang::Directive> all;
  CompileResult failed;
  for (const std::string& f : files) {
    seclang::ReadResult rr = seclang::readFile(f);
    for (auto& e : rr.errors) failed.errors.push_back(e.message);
    for (auto& d : rr.directives) all.push_back(std::move(d));
  }
  if (!failed.errors.empty()) return failed;
  return Compiler().run(all);
}

CompileResult compileText(std::string_view text, const std::string& name) {
  seclang::ReadResult rr = seclang::readText(text, name);
  if (!rr.ok()) {
    CompileResult failed;
    for (auto& e : rr.errors) failed.errors.push_back(e.message);
    return failed;
  }
  return Compiler().run(rr.directives);
}

}  // namespace bulwark::waf
