// SecLang macro strings: text with %{COLLECTION.key} / %{VARIABLE} references, expanded per transaction.
//
// Compiled once at rule load into literal and reference parts, so expansion at request time is a walk over
// a small vector. A string without `%{` is kept as one literal and costs nothing to expand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf {

struct MacroPart {
  bool literal = true;
  std::string text;        // literal text, or the reference as written (for messages)
  std::string collection;  // reference: upper-case collection or variable name ("TX", "MATCHED_VAR", "RULE")
  std::string key;         // reference: lower-case key ("anomaly_score"), "" for a plain variable
  uint64_t keyHash = 0;    // reference: keyHash(key) (waf/engine/text.h), for collection lookups
};

class MacroString {
 public:
  MacroString() = default;
  explicit MacroString(std::string_view text);  // compiles; an unterminated "%{" stays literal

  bool hasMacros() const noexcept { return hasMacros_; }
  bool empty() const noexcept { return parts_.empty(); }
  const std::string& text() const noexcept { return text_; }  // the original text
  const std::vector<MacroPart>& parts() const noexcept { return parts_; }

 private:
  std::string text_;
  std::vector<MacroPart> parts_;
  bool hasMacros_ = false;
};

// Implemented by the transaction: resolves one macro reference to its current value.
class MacroResolver {
 public:
  virtual ~MacroResolver() = default;
  // Appends the value of the reference to `out`; appends nothing if it does not exist.
  virtual void resolve(const MacroPart& ref, std::string& out) = 0;
};

// Expands `m` into `scratch` and returns a view of the result (or of the literal, without copying).
std::string_view expandMacro(const MacroString& m, MacroResolver& resolver, std::string& scratch);

}  // namespace bulwark::waf
