// SecLang operators (`@rx`, `@pm`, `@eq`, ...), ModSecurity v2 semantics.
//
// An Operator is compiled once from its parameter at rule load (regexes compiled, phrase files read,
// numbers parsed) and is then immutable and shared by all worker threads: match() must be thread-safe
// (per-call scratch lives in the OperatorContext, e.g. PCRE2 match data per thread).
// Parameters may contain macros (`@ge %{tx.inbound_anomaly_score_threshold}`); those are expanded per call
// through the context. Unknown operator names are a load error (findOperator returns nullptr): never a
// silent match or non-match.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "waf/engine/macro.h"

namespace bulwark::waf {

// What an operator may use of the transaction during match().
class OperatorContext : public MacroResolver {
 public:
  // True if the rule has the `capture` action: the operator then stores TX:0 (whole match) and TX:1..9.
  virtual bool captureEnabled() const noexcept = 0;
  virtual void setCapture(int index, std::string_view value) = 0;
  // Removes TX:index. v2 unsets TX:0..9 before storing a match's captures, so a slot the new match does
  // not fill (a regex with fewer groups) must not keep a previous rule's value.
  virtual void unsetCapture(int index) = 0;
  // Per-thread scratch string for macro expansion inside operators.
  virtual std::string& scratch() noexcept = 0;
};

class Operator {
 public:
  virtual ~Operator() = default;
  // True if `input` matches. Negation (`!@op`) is applied by the caller, not here.
  virtual bool match(OperatorContext& ctx, std::string_view input) const = 0;
  // For the multi-pattern prefilter (Hyperscan grouping): a regex that matches at least every input this
  // operator matches (@rx with a literal parameter: its own pattern; @pm: its phrases as an alternation),
  // else empty. The operator still decides; the prefilter only skips inputs the regex cannot match.
  virtual std::string_view regexPattern() const noexcept { return {}; }
};

struct OperatorArgs {
  std::string param;    // as parsed (may contain macros)
  std::string baseDir;  // directory of the rule file, for @pmFromFile / @ipMatchFromFile relative paths
};

struct OperatorInfo {
  std::string_view name;  // canonical, e.g. "rx", "pmFromFile"
  // Returns nullptr and sets `error` (no file:line; the caller adds it) for a bad parameter.
  std::unique_ptr<Operator> (*create)(const OperatorArgs& args, std::string& error);
};

// Case-insensitive lookup; nullptr if there is no such operator.
const OperatorInfo* findOperator(std::string_view name) noexcept;

}  // namespace bulwark::waf
