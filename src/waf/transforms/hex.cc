// hexDecode, hexEncode, sqlHexDecode.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr char kLowerHexDigits[] = "0123456789abcdef";

// v2's x2c() digit arithmetic, which does not validate: 'A'..'F' and 'a'..'f' give 10..15 and '0'..'9'
// give 0..9 as expected, any other byte gives some value modulo 256.
constexpr ByteTable kLooseNibble = makeByteTable(
    [](unsigned char c) -> int { return (c >= 'A' ? ((c & 0xDF) - 'A') + 10 : c - '0') & 0xFF; });

constexpr ByteTable kIsZero = makeByteSet("0");

}  // namespace

// Each pair of bytes becomes one byte and a trailing odd byte is dropped. Like v2, the pairs are not
// validated: "zz" decodes to whatever v2's digit arithmetic makes of it.
bool hexDecode(std::string_view in, std::string& out) {
  if (in.empty()) return false;
  OutputCursor cursor(in, out, 0, in.size() / 2);
  for (std::size_t i = 0; i + 1 < in.size(); i += 2) {
    cursor.put(
        static_cast<char>((kLooseNibble[byteAt(in, i)] * 16 + kLooseNibble[byteAt(in, i + 1)]) & 0xFF));
  }
  return true;  // the result is shorter than any non-empty input
}

// Lower-case hex digits, two per byte.
bool hexEncode(std::string_view in, std::string& out) {
  if (in.empty()) return false;
  OutputCursor cursor(in, out, 0, in.size() * 2);
  for (std::size_t i = 0; i < in.size(); ++i) {
    cursor.put(kLowerHexDigits[byteAt(in, i) >> 4]);
    cursor.put(kLowerHexDigits[byteAt(in, i) & 0x0F]);
  }
  return true;  // the result is longer than any non-empty input
}

// SQL hex literals: "0x" (or "0X") followed by at least one pair of hex digits becomes the bytes of all the
// complete pairs that follow. As in v2, the byte right after such a literal is copied without being
// examined, so "0x410x42" gives "A0x42". v2 works on a C string and returns its strlen(), which truncates at
// the first NUL of the input or of the decoded output ("0x00"); we keep every byte.
bool sqlHexDecode(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kIsZero);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  while (i < in.size()) {
    const bool literal = in[i] == '0' && i + 3 < in.size() && (in[i + 1] == 'x' || in[i + 1] == 'X') &&
                         isHex(byteAt(in, i + 2)) && isHex(byteAt(in, i + 3));
    if (!literal) {
      cursor.put(in[i++]);
      continue;
    }
    changed = true;
    i += 2;
    while (i + 1 < in.size() && isHex(byteAt(in, i)) && isHex(byteAt(in, i + 1))) {
      cursor.put(hexByte(byteAt(in, i), byteAt(in, i + 1)));
      i += 2;
    }
    if (i < in.size()) cursor.put(in[i++]);
  }
  return changed;
}

}  // namespace bulwark::waf::transforms
