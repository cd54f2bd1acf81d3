// htmlEntityDecode: v2's lenient HTML entity decoder. Every decoded entity yields exactly one byte.
//
//   &#DDD; and &#xHHH; (x or X): all the digits that follow are read, the semicolon is optional, and the
//   value is reduced as v2's strtol() + (unsigned char) cast does: its low byte, or 0xFF once it exceeds
//   LONG_MAX. "&#" or "&#x" without a digit is kept as written.
//   &name; : the longest run of ASCII letters and digits is the name, the semicolon is optional, and the
//   name is matched case-insensitively against v2's list below; an unknown name is kept as written.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

struct NamedEntity {
  std::string_view name;  // lower case
  char value;
};

// v2's named entities: the five it always knew (nbsp is the single byte 0xA0), plus the ASCII punctuation
// names it added for advisory GHSA-cxqf-vgrr-xxrv ("javascript&colon;alert(1)" used to pass through).
constexpr NamedEntity kNamedEntities[] = {
    {"quot", '"'},   {"amp", '&'},    {"lt", '<'},     {"gt", '>'},     {"nbsp", '\xA0'}, {"colon", ':'},
    {"apos", '\''},  {"num", '#'},    {"dollar", '$'}, {"percnt", '%'}, {"lpar", '('},    {"rpar", ')'},
    {"ast", '*'},    {"plus", '+'},   {"comma", ','},  {"hyphen", '-'}, {"period", '.'},  {"sol", '/'},
    {"semi", ';'},   {"equals", '='}, {"quest", '?'},  {"commat", '@'}, {"lbrack", '['},  {"bsol", '\\'},
    {"rbrack", ']'}, {"caret", '^'},  {"lowbar", '_'}, {"grave", '`'},  {"lbrace", '{'},  {"verbar", '|'},
    {"rbrace", '}'}, {"tilde", '~'},
};

constexpr std::size_t longestEntityName() {
  std::size_t longest = 0;
  for (const NamedEntity& entity : kNamedEntities) longest = std::max(longest, entity.name.size());
  return longest;
}
constexpr std::size_t kLongestEntityName = longestEntityName();

// The byte for an entity name, or -1 if v2 does not know it.
int namedEntityValue(std::string_view name) {
  if (name.size() > kLongestEntityName) return -1;
  char folded[kLongestEntityName];
  for (std::size_t i = 0; i < name.size(); ++i) folded[i] = static_cast<char>(kToLower[byteAt(name, i)]);
  const std::string_view key(folded, name.size());
  for (const NamedEntity& entity : kNamedEntities) {
    if (entity.name == key) return static_cast<unsigned char>(entity.value);
  }
  return -1;
}

// strtol(digits, NULL, base) cast to unsigned char; `digits` is non-empty and all valid in `base`.
char numericEntityValue(std::string_view digits, unsigned base) {
  constexpr std::uint64_t kLongMax = static_cast<std::uint64_t>(std::numeric_limits<long>::max());
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const std::uint64_t digit = kHexValue[byteAt(digits, i)];
    if (value > (kLongMax - digit) / base) return '\xFF';  // strtol saturates at LONG_MAX
    value = value * base + digit;
  }
  return static_cast<char>(value & 0xFF);
}

constexpr ByteTable kIsHexDigit = makeByteTable([](unsigned char c) { return kHexValue[c] != kNotHex; });

// Past an entity's last character, and past its semicolon if there is one.
std::size_t skipSemicolon(std::string_view in, std::size_t i) {
  return (i < in.size() && in[i] == ';') ? i + 1 : i;
}

std::size_t skipClass(std::string_view in, std::size_t i, const ByteTable& set) {
  while (i < in.size() && set[byteAt(in, i)] != 0) ++i;
  return i;
}

}  // namespace

bool htmlEntityDecode(std::string_view in, std::string& out) {
  std::size_t i = in.find('&');
  if (i == std::string_view::npos) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  while (i < in.size()) {
    if (in[i] != '&' || i + 1 == in.size()) {
      cursor.put(in[i++]);
      continue;
    }
    if (in[i + 1] == '#') {
      const bool hex = i + 2 < in.size() && (in[i + 2] == 'x' || in[i + 2] == 'X');
      const std::size_t digits = i + (hex ? 3 : 2);
      const std::size_t end = skipClass(in, digits, hex ? kIsHexDigit : kIsDigit);
      if (end == digits) {
        // "&#" or "&#x" with no digit: kept, and scanning resumes right after it.
        cursor.put(in.data() + i, digits - i);
        i = digits;
        continue;
      }
      cursor.put(numericEntityValue(in.substr(digits, end - digits), hex ? 16 : 10));
      changed = true;
      i = skipSemicolon(in, end);
      continue;
    }
    const std::size_t end = skipClass(in, i + 1, kIsAlnum);
    const int value = namedEntityValue(in.substr(i + 1, end - i - 1));
    if (end == i + 1 || value < 0) {
      // Not a name, or one v2 does not decode: the '&' and the name are kept as they are.
      cursor.put(in.data() + i, end - i);
      i = end;
      continue;
    }
    cursor.put(static_cast<char>(value));
    changed = true;
    i = skipSemicolon(in, end);
  }
  return changed;
}

}  // namespace bulwark::waf::transforms
