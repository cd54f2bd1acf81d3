// @rx: PCRE2 regular expression, v2 flags (DOTALL, DOLLAR_ENDONLY), JIT, limits from regex_limits.h.
//
// A parameter without macros is compiled once at load. One with macros (CRS 920480:
// `!@rx ^%{tx.allowed_request_content_type_charset}$`) is expanded per call, passed through v2's
// log_escape_re() exactly as v2 does, and compiled through a small per-thread cache keyed by the final
// pattern, so a steady set of values compiles once per thread.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "waf/operators/factories.h"
#include "waf/operators/regex.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

// Per-thread cache of patterns built from macros; replaced round-robin when full.
class ThreadRegexCache {
 public:
  static constexpr std::size_t kCapacity = 32;

  // Returns nullptr if `pattern` does not compile (the failure is cached too).
  const Regex* get(const std::string& pattern) {
    for (Entry& e : entries_) {
      if (e.pattern == pattern) return e.regex.get();
    }
    std::string error;
    Entry entry{pattern, Regex::compile(pattern, kRxCompileOptions, error)};
    const Regex* result = entry.regex.get();
    if (entries_.size() < kCapacity) {
      entries_.push_back(std::move(entry));
    } else {
      entries_[next_] = std::move(entry);
      next_ = (next_ + 1) % kCapacity;
    }
    return result;
  }

 private:
  struct Entry {
    std::string pattern;
    std::unique_ptr<Regex> regex;
  };
  std::vector<Entry> entries_;
  std::size_t next_ = 0;
};

class RxOperator final : public Operator {
 public:
  RxOperator(std::string_view param, std::unique_ptr<Regex> regex)
      : param_(param), regex_(std::move(regex)) {}

  bool match(OperatorContext& ctx, std::string_view input) const override {
    const Regex* regex = regex_.get();
    if (regex == nullptr) {
      thread_local ThreadRegexCache cache;
      thread_local std::string escaped;
      std::string_view expanded = expandMacro(param_, ctx, ctx.scratch());
      escaped.clear();
      escapeLikeV2(expanded, escaped);
      regex = cache.get(escaped);
      if (regex == nullptr) return false;  // v2: a pattern that fails to compile at run time is no match
    }
    std::array<RegexSpan, kCaptureSlots> groups;
    int groupCount = 0;
    if (regex->match(input, 0, 0, groups.data(), groupCount) != RegexResult::kMatch) return false;
    // v2 replaces TX:0..9 only when the ovector held every group (groupCount > 0).
    if (ctx.captureEnabled() && groupCount > 0) {
      for (int i = 0; i < groupCount; ++i) {
        ctx.setCapture(i, input.substr(groups[i].begin, groups[i].end - groups[i].begin));
      }
      unsetCapturesFrom(ctx, groupCount);
    }
    return true;
  }

  std::string_view regexPattern() const noexcept override {
    return regex_ != nullptr ? std::string_view(regex_->pattern()) : std::string_view();
  }

 private:
  MacroString param_;
  std::unique_ptr<Regex> regex_;  // null when the parameter has macros
};

}  // namespace

std::unique_ptr<Operator> createRx(const OperatorArgs& args, std::string& error) {
  MacroString param(args.param);
  if (param.hasMacros()) return std::make_unique<RxOperator>(args.param, nullptr);
  std::unique_ptr<Regex> regex = Regex::compile(args.param, kRxCompileOptions, error);
  if (regex == nullptr) return nullptr;
  return std::make_unique<RxOperator>(args.param, std::move(regex));
}

}  // namespace bulwark::waf::operators
