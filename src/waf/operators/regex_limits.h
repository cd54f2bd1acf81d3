// PCRE2 limits for @rx (and @verifyCC/@verifySSN/@verifyCPF), SecPcreMatchLimit and
// SecPcreMatchLimitRecursion in SecLang.
//
// ModSecurity v2 treats a regex that exceeds a limit as "no match" and sets TX:MSC_PCRE_LIMITS_EXCEEDED
// to 1. We do the same "no match", and count the event: once per process (for metrics) and once per
// thread (so the engine can snapshot regexLimitHitsOnThisThread() before a rule and, if it grew, set
// TX:MSC_PCRE_LIMITS_EXCEEDED as v2 does; operators cannot set arbitrary TX variables themselves).
//
// Thread-safety: every function may be called from any thread at any time. A new limit applies to each
// thread's next match. Defaults are 1000/1000, the values of Debian's modsecurity.conf.
#pragma once

#include <cstdint>

namespace bulwark::waf {

struct RegexMatchLimits {
  std::uint32_t match = 1000;      // pcre2_set_match_limit: also bounds JIT-compiled matching
  std::uint32_t recursion = 1000;  // pcre2_set_depth_limit: applies to the interpreter only (not JIT)
};

inline constexpr RegexMatchLimits kDefaultRegexMatchLimits{};

// Values of 0 mean "PCRE2's built-in default" (10,000,000 for both).
void setRegexMatchLimits(std::uint32_t match, std::uint32_t recursion) noexcept;
RegexMatchLimits regexMatchLimits() noexcept;

// Matches abandoned because a limit was hit (match, depth, heap or JIT stack).
std::uint64_t regexLimitHits() noexcept;              // whole process
std::uint64_t regexLimitHitsOnThisThread() noexcept;  // calling thread only

}  // namespace bulwark::waf
