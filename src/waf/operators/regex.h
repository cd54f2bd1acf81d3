// Private: a compiled PCRE2 pattern and one match attempt with the configured limits.
//
// The compiled code is immutable and shared by all threads; match data, match context and JIT stack are
// per thread (created on a thread's first match), so matching is thread-safe and does not allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "waf/operators/util.h"

namespace bulwark::waf::operators {

// Compile options of v2's @rx.
inline constexpr std::uint32_t kRxCompileOptions = PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY;
// Compile options of v2's @verifyCC, @verifySSN and @verifyCPF.
inline constexpr std::uint32_t kVerifyCompileOptions = PCRE2_DOTALL | PCRE2_MULTILINE;

struct RegexSpan {
  std::size_t begin = 0;
  std::size_t end = 0;  // begin == end for a group that did not take part
};

enum class RegexResult { kNoMatch, kMatch, kLimit, kError };

class Regex {
 public:
  // Returns nullptr with `error` ("... at offset N") if the pattern does not compile.
  static std::unique_ptr<Regex> compile(std::string_view pattern, std::uint32_t options, std::string& error);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // One match attempt from `offset`. On kMatch, `groups` (kCaptureSlots entries) holds the whole match
  // and the groups, and `groupCount` how many are valid: like v2's 30-int ovector, 0 when a group numbered
  // 10 or more took part (the match still counts; the captures are then unknown).
  RegexResult match(std::string_view subject, std::size_t offset, std::uint32_t options, RegexSpan* groups,
                    int& groupCount) const noexcept;

  const std::string& pattern() const noexcept { return pattern_; }

 private:
  Regex(pcre2_code* code, std::string_view pattern) : code_(code), pattern_(pattern) {}
  pcre2_code* code_;
  std::string pattern_;
};

// v2 runs an @rx pattern that held macros through log_escape_re() after expansion, which backslash-escapes
// `\ " : + . [ ] ( ) ? /` and writes control and non-ASCII bytes as \xHH. Appends the result to `out`.
void escapeLikeV2(std::string_view pattern, std::string& out);

}  // namespace bulwark::waf::operators
