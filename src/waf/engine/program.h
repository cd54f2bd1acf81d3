// The compiled WAF program: SecLang directives turned into per-phase rule lists with every name resolved.
//
// Built once by compileProgram() (src/waf/engine/compiler.cc) and then immutable, shared by all workers.
// Everything that can be decided at load time is decided there: variables, operators, transformations and
// actions are looked up in their registries (an unknown name is a load error with file:line), regexes are
// compiled, macros are pre-split, skipAfter targets are resolved to rule indexes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "waf/engine/macro.h"
#include "waf/engine/prefilter.h"
#include "waf/engine/variables.h"
#include "waf/operators/operator.h"
#include "waf/transforms/transforms.h"

namespace bulwark::waf {

enum class EngineMode : uint8_t { kOff, kDetectionOnly, kOn };

// A compiled selector regex (`ARGS:/^id_/`), matched case-insensitively against keys.
class SelectorRegex {
 public:
  static std::shared_ptr<SelectorRegex> compile(const std::string& pattern, std::string& error);
  ~SelectorRegex();
  bool matches(std::string_view key) const;
  const std::string& pattern() const { return pattern_; }

 private:
  SelectorRegex() = default;
  std::string pattern_;
  enum class LiteralKind : uint8_t { kNone, kPrefix, kContains };
  LiteralKind literalKind_ = LiteralKind::kNone;  // the pattern is a plain (lower-cased) literal_
  std::string literal_;
  void* code_ = nullptr;  // pcre2_code*
  uint64_t id_ = 0;       // unique per compiled selector in the process, for the per-thread answer memo
};

// One rule target: `ARGS`, `ARGS:foo`, `&TX:score`, `REQUEST_HEADERS:/^x-/`.
struct Target {
  VariableId var = VariableId::kArgs;
  bool count = false;
  std::string key;       // lower-cased selector ("" = whole collection)
  uint64_t keyHash = 0;  // keyHash(key)
  std::shared_ptr<SelectorRegex> regex;
  std::string text;  // as written, for messages
};

// Removes values from a rule's targets: rule-level `!ARGS:foo`, SecRuleUpdateTargetById "!ARGS:foo",
// or ctl:ruleRemoveTarget*. An empty key removes the whole collection.
struct TargetExclusion {
  VariableId var = VariableId::kArgs;
  std::string key;
  std::shared_ptr<SelectorRegex> regex;
  bool matches(VariableId v, std::string_view lowerKey) const {
    if (v != var) return false;
    if (regex) return regex->matches(lowerKey);
    return key.empty() || key == lowerKey;
  }
};

enum class Disruptive : uint8_t {
  kNone,
  kPass,
  kBlock,
  kDeny,
  kDrop,
  kAllow,
  kAllowPhase,
  kAllowRequest,
  kRedirect
};

struct SetVar {
  enum class Op : uint8_t { kSet, kAdd, kSub, kDelete };
  VariableId collection = VariableId::kTx;
  MacroString key;  // lower-cased when expanded
  MacroString value;
  Op op = Op::kSet;
  std::string lowerKey;  // a key without macros, lower-cased at load...
  uint64_t keyHash = 0;  // ...and its keyHash()
};

struct ExpireVar {
  VariableId collection = VariableId::kTx;
  MacroString key;
  MacroString seconds;
};

struct InitCol {
  VariableId collection = VariableId::kIp;
  MacroString key;
};

struct CtlAction {
  enum class Kind : uint8_t {
    kRuleEngine,
    kRuleRemoveById,
    kRuleRemoveByTag,
    kRuleRemoveByMsg,
    kRuleRemoveTargetById,
    kRuleRemoveTargetByTag,
    kRuleRemoveTargetByMsg,
    kRequestBodyAccess,
    kRequestBodyLimit,
    kRequestBodyProcessor,
    kForceRequestBodyVariable,
    kResponseBodyAccess,
    kResponseBodyLimit,
    kAuditEngine,
    kAuditLogParts,
    kIgnored,  // accepted for compatibility, no effect here (e.g. debugLogLevel)
  };
  Kind kind = Kind::kIgnored;
  std::string value;                                  // raw value (engine mode, processor name, tag, ...)
  std::vector<std::pair<int64_t, int64_t>> idRanges;  // for *ById
  std::shared_ptr<SelectorRegex> tagRegex;            // for *ByTag / *ByMsg (v2: regex match)
  std::vector<TargetExclusion> targets;               // for ruleRemoveTarget*
};

struct Rule {
  int64_t id = 0;
  int phase = 2;
  std::string file;
  int line = 0;

  // SecRule / SecAction / SecMarker.
  bool isMarker = false;
  bool isAction = false;  // SecAction: unconditional
  std::string markerName;

  std::vector<Target> targets;
  std::vector<TargetExclusion> exclusions;
  std::vector<TransformFn> transforms;
  std::vector<std::string_view> transformNames;
  int transformChainId = 0;  // equal chains share an id (transformation cache key)
  int prefilterGroup = -1;   // Hyperscan prefilter group of this @rx link (one per chain), -1: none
  int prefilterSlot = -1;    // its pattern's slot in the group
  std::unique_ptr<Operator> op;
  std::string opName;
  std::string opParam;
  bool opNegated = false;

  // Actions.
  Disruptive disruptive = Disruptive::kNone;  // kNone: inherit from SecDefaultAction
  int status = 0;
  MacroString redirectUrl;
  MacroString msg;
  MacroString logdata;
  int severity = -1;
  std::vector<std::string> tags;
  std::string ver;
  std::string rev;
  std::string maturity;
  std::string accuracy;
  std::optional<bool> log;       // log / nolog
  std::optional<bool> auditlog;  // auditlog / noauditlog
  bool capture = false;
  bool multiMatch = false;
  bool chainStarter = false;  // this rule has `chain`
  int skip = 0;
  std::string skipAfter;
  std::vector<SetVar> setvars;
  std::vector<ExpireVar> expirevars;
  std::vector<InitCol> initcols;
  std::vector<std::pair<MacroString, MacroString>> setenvs;
  std::vector<CtlAction> ctls;

  int skipAfterIndex = -1;  // index in the phase list of the skipAfter marker; -1: to the end of the phase
  Rule* chained = nullptr;  // next link of the chain (owned by Program::rules)
  bool isChainLink = false;
  bool removed = false;  // removed at load time (SecRuleRemove*)
};

struct BodySettings {
  bool requestBodyAccess = false;
  uint64_t requestBodyLimit = 13107200;
  uint64_t requestBodyNoFilesLimit = 131072;
  bool requestBodyLimitReject = true;  // SecRequestBodyLimitAction Reject (else ProcessPartial)
  bool responseBodyAccess = false;
  uint64_t responseBodyLimit = 524288;
  bool responseBodyLimitReject = true;
  std::vector<std::string> responseMimeTypes = {"text/plain", "text/html"};
  uint64_t argumentsLimit = 1000;
  uint32_t jsonDepthLimit = 512;
  char argumentSeparator = '&';
};

struct AuditSettings {
  // Without a SecAuditEngine directive: RelevantOnly. The gateway's `waf.audit_log` already decides whether
  // there is an audit log at all, so a rule set that does not mention auditing (CRS without
  // modsecurity.conf) still records its matches.
  enum class Engine : uint8_t { kOff, kOn, kRelevantOnly } engine = Engine::kRelevantOnly;
  std::string parts = "ABIJDEFHZ";
  std::shared_ptr<SelectorRegex> relevantStatus;
};

class CollectionStore;

struct Program {
  EngineMode engine = EngineMode::kOn;
  BodySettings body;
  AuditSettings audit;
  std::vector<std::string> componentSignatures;
  int64_t collectionTimeout = 3600;
  // Where initcol loads persistent collections from and transactions write them back: the process's store
  // (CollectionStore::process()) unless a test gives its own.
  std::shared_ptr<CollectionStore> store;
  std::vector<std::unique_ptr<Rule>> rules;  // all rules, chain links included, in file order
  std::array<std::vector<Rule*>, 6> phases;  // [1..5]: rules (chain starters and markers) in order
  std::size_t ruleCount = 0;                 // SecRule + SecAction (chain starters), for reporting
  // @rx patterns grouped for Hyperscan; built in the background on first use. Null: nothing to group, or
  // BULWARK_WAF_PREFILTER=off.
  std::shared_ptr<PrefilterState> prefilter;
};

struct CompileResult {
  std::shared_ptr<const Program> program;
  std::vector<std::string> errors;  // "FILE:LINE: message"
  std::vector<std::string> warnings;
};

// Loads the files in order (each may be a glob), compiles them into one program.
CompileResult compileFiles(const std::vector<std::string>& files);
// Compiles rule text (for tests); `name` is used as FILE in messages.
CompileResult compileText(std::string_view text, const std::string& name);

}  // namespace bulwark::waf
