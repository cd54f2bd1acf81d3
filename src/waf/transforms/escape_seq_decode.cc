// escapeSeqDecode: v2's ANSI C escape decoder.
//   \a \b \f \n \r \t \v \\ \? \' \"  the character they stand for
//   \xHH (x or X, two hex digits)    that byte
//   \O, \OO, \OOO (octal)            that value modulo 256 ("\666" is 0xB6; unlike jsDecode, no cap at \377)
//   \ + any other byte               that byte (so a malformed "\x4" yields "x4")
// A backslash at the very end is kept.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr int kNotSimple = -1;

constexpr std::array<int, 256> kSimpleEscape = [] {
  std::array<int, 256> table{};
  for (int& entry : table) entry = kNotSimple;
  table['a'] = '\a';
  table['b'] = '\b';
  table['f'] = '\f';
  table['n'] = '\n';
  table['r'] = '\r';
  table['t'] = '\t';
  table['v'] = '\v';
  table['\\'] = '\\';
  table['?'] = '?';
  table['\''] = '\'';
  table['"'] = '"';
  return table;
}();

// Decodes the escape whose backslash is at in[i] (with at least one byte after it) into `out`; returns
// the number of input bytes it spans.
std::size_t decodeEscape(std::string_view in, std::size_t i, OutputCursor& cursor) {
  const unsigned char next = byteAt(in, i + 1);
  if (kSimpleEscape[next] != kNotSimple) {
    cursor.put(static_cast<char>(kSimpleEscape[next]));
    return 2;
  }
  if ((next == 'x' || next == 'X') && i + 3 < in.size() && isHex(byteAt(in, i + 2)) &&
      isHex(byteAt(in, i + 3))) {
    cursor.put(hexByte(byteAt(in, i + 2), byteAt(in, i + 3)));
    return 4;
  }
  if (kIsOctal[next] != 0) {
    std::size_t digits = 1;
    while (digits < 3 && i + 1 + digits < in.size() && kIsOctal[byteAt(in, i + 1 + digits)] != 0) ++digits;
    unsigned value = 0;
    for (std::size_t k = 0; k < digits; ++k) value = value * 8 + (byteAt(in, i + 1 + k) - '0');
    cursor.put(static_cast<char>(value & 0xFF));
    return 1 + digits;
  }
  cursor.put(static_cast<char>(next));
  return 2;
}

}  // namespace

bool escapeSeqDecode(std::string_view in, std::string& out) {
  return decodeBackslashEscapes(in, out, decodeEscape);
}

}  // namespace bulwark::waf::transforms
