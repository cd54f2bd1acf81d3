// ASCII case helpers shared by the WAF engine (SecLang names and collection keys are ASCII-case-insensitive).
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace bulwark::waf {

inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline bool asciiIequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

}  // namespace bulwark::waf
