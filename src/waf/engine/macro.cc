#include "waf/engine/macro.h"

#include <cctype>

#include "waf/engine/text.h"

namespace bulwark::waf {

MacroString::MacroString(std::string_view text) : text_(text) {
  std::size_t pos = 0;
  std::string literal;
  while (pos < text.size()) {
    std::size_t open = text.find("%{", pos);
    if (open == std::string_view::npos) break;
    std::size_t close = text.find('}', open + 2);
    if (close == std::string_view::npos) break;
    literal.append(text.substr(pos, open - pos));
    if (!literal.empty()) {
      parts_.push_back(MacroPart{true, literal, {}, {}, 0});
      literal.clear();
    }
    std::string_view ref = text.substr(open + 2, close - open - 2);
    MacroPart p;
    p.literal = false;
    p.text = std::string(text.substr(open, close - open + 1));
    std::size_t dot = ref.find('.');
    std::string_view coll = ref.substr(0, dot);
    for (char c : coll) p.collection += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (dot != std::string_view::npos) {
      for (char c : ref.substr(dot + 1))
        p.key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    p.keyHash = keyHash(p.key);
    parts_.push_back(std::move(p));
    hasMacros_ = true;
    pos = close + 1;
  }
  literal.append(text.substr(pos));
  if (!literal.empty()) parts_.push_back(MacroPart{true, literal, {}, {}, 0});
}

std::string_view expandMacro(const MacroString& m, MacroResolver& resolver, std::string& scratch) {
  if (!m.hasMacros()) return m.text();
  scratch.clear();
  for (const MacroPart& p : m.parts()) {
    if (p.literal) {
      scratch += p.text;
    } else {
      resolver.resolve(p, scratch);
    }
  }
  return scratch;
}

}  // namespace bulwark::waf
