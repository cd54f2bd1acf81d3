// compressWhitespace, removeWhitespace. Whitespace here is C-locale isspace plus the non-breaking space
// 0xA0, which v2 adds because htmlEntityDecode turns &nbsp; into that byte.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr unsigned char kNbsp = 0xA0;
constexpr ByteTable kIsWhitespace =
    makeByteTable([](unsigned char c) { return kIsSpace[c] != 0 || c == kNbsp; });

}  // namespace

// Each run of whitespace becomes one space; a lone space is already in that form.
bool compressWhitespace(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kIsWhitespace);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  while (i < in.size()) {
    if (kIsWhitespace[byteAt(in, i)] == 0) {
      cursor.put(in[i++]);
      continue;
    }
    const std::size_t runBegin = i;
    while (i < in.size() && kIsWhitespace[byteAt(in, i)] != 0) ++i;
    if (i - runBegin > 1 || in[runBegin] != ' ') changed = true;
    cursor.put(' ');
  }
  return changed;
}

bool removeWhitespace(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kIsWhitespace);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  for (; i < in.size(); ++i) {
    if (kIsWhitespace[byteAt(in, i)] == 0) cursor.put(in[i]);
  }
  return true;
}

}  // namespace bulwark::waf::transforms
