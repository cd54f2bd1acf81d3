// jsDecode: v2's JavaScript string-escape decoder. Every escape yields exactly one byte:
//   \uHHHH  the low byte of the code point, with full-width ASCII (U+FF01..U+FF5E) mapped to ASCII
//   \xHH    that byte
//   \OOO    one to three octal digits, but a third digit only if the first is 0-3 (the value fits a byte)
//   \a \b \f \n \r \t \v  the control character; any other \C yields C (so "\u12" yields "u12")
// A backslash at the very end is kept. Only lower-case 'u' and 'x' introduce an escape, as in v2.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kSimpleEscape = makeByteTable([](unsigned char c) -> int {
  switch (c) {
    case 'a':
      return '\a';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      return c;
  }
});

bool allHex(std::string_view in, std::size_t begin, std::size_t count) {
  for (std::size_t k = begin; k < begin + count; ++k) {
    if (!isHex(byteAt(in, k))) return false;
  }
  return true;
}

// Decodes the escape whose backslash is at in[i] (with at least one byte after it) into `out`; returns
// the number of input bytes it spans.
std::size_t decodeEscape(std::string_view in, std::size_t i, OutputCursor& cursor) {
  const unsigned char next = byteAt(in, i + 1);
  if (next == 'u' && i + 5 < in.size() && allHex(in, i + 2, 4)) {
    cursor.put(codePointByte(in.substr(i + 2, 4)));
    return 6;
  }
  if (next == 'x' && i + 3 < in.size() && allHex(in, i + 2, 2)) {
    cursor.put(hexByte(byteAt(in, i + 2), byteAt(in, i + 3)));
    return 4;
  }
  if (kIsOctal[next] != 0) {
    std::size_t digits = 1;
    while (digits < 3 && i + 1 + digits < in.size() && kIsOctal[byteAt(in, i + 1 + digits)] != 0) ++digits;
    if (digits == 3 && next > '3') digits = 2;
    unsigned value = 0;
    for (std::size_t k = 0; k < digits; ++k) value = value * 8 + (byteAt(in, i + 1 + k) - '0');
    cursor.put(static_cast<char>(value));
    return 1 + digits;
  }
  cursor.put(static_cast<char>(kSimpleEscape[next]));
  return 2;
}

}  // namespace

bool jsDecode(std::string_view in, std::string& out) { return decodeBackslashEscapes(in, out, decodeEscape); }

}  // namespace bulwark::waf::transforms
