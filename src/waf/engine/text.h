// ASCII case helpers shared by the WAF engine (SecLang names and collection keys are ASCII-case-insensitive).
//
// ASCII only, whatever the process locale: std::tolower would follow setlocale() and is a library call per
// byte on the hottest path (every collection key is lower-cased once when stored).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/hash.h"

namespace bulwark::waf {

constexpr char asciiLowerChar(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = asciiLowerChar(c);
  return out;
}

inline bool asciiIequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (asciiLowerChar(a[i]) != asciiLowerChar(b[i])) return false;
  }
  return true;
}

// atoi semantics, as ModSecurity v2 uses for numeric setvar arithmetic: leading spaces and one sign, then
// digits up to the first non-digit; no digits is 0.
constexpr int64_t secLangInt(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  int64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && v < (int64_t{1} << 60)) v = v * 10 + (s[i++] - '0');
  return neg ? -v : v;
}

// FNV-1a over the (already lower-cased) key: collection items and keyed targets carry it, so a keyed
// lookup compares 8 bytes per item before comparing strings.
constexpr uint64_t keyHash(std::string_view lkey) noexcept { return fnv1a(kFnvOffset, lkey); }

}  // namespace bulwark::waf
