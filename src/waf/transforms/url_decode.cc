// urlDecode, urlDecodeUni: v2's non-strict URL decoders. "+" becomes a space; "%XX" with two hex digits
// becomes that byte; anything malformed ("%", "%4", "%zz") is kept as written, byte for byte.
//
// urlDecodeUni also decodes IIS-style "%uXXXX" to one byte, as v2 does without a SecUnicodeMapFile: the
// low byte of the code point, except that full-width ASCII (U+FF01..U+FF5E) maps to the ASCII character it
// stands for (low byte + 0x20). A "%u" without four hex digits is kept as "%u" and decoding resumes after
// it, so "%u%41" yields "%uA".
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kUrlSpecial = makeByteSet("%+");

// Decodes "%XX" at in[i] (in[i] == '%') into `cursor`; returns the number of input bytes consumed, 0 if
// the escape is malformed.
std::size_t decodePercentHex(std::string_view in, std::size_t i, OutputCursor& cursor) {
  if (i + 2 < in.size() && isHex(byteAt(in, i + 1)) && isHex(byteAt(in, i + 2))) {
    cursor.put(hexByte(byteAt(in, i + 1), byteAt(in, i + 2)));
    return 3;
  }
  return 0;
}

// Decodes "%uXXXX" at in[i] (in[i] == '%', in[i + 1] is 'u' or 'U'); returns the bytes consumed, 0 if
// fewer than four hex digits follow.
std::size_t decodePercentU(std::string_view in, std::size_t i, OutputCursor& cursor) {
  if (i + 5 >= in.size()) return 0;
  for (std::size_t k = i + 2; k <= i + 5; ++k) {
    if (!isHex(byteAt(in, k))) return 0;
  }
  cursor.put(codePointByte(in.substr(i + 2, 4)));
  return 6;
}

bool decode(std::string_view in, std::string& out, bool unicode) {
  std::size_t i = findFirstOf(in, kUrlSpecial);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  while (i < in.size()) {
    const char c = in[i];
    if (c == '+') {
      cursor.put(' ');
      changed = true;
      ++i;
    } else if (c != '%') {
      cursor.put(c);
      ++i;
    } else if (unicode && i + 1 < in.size() && (in[i + 1] == 'u' || in[i + 1] == 'U')) {
      const std::size_t used = decodePercentU(in, i, cursor);
      if (used == 0) {
        cursor.put(in.data() + i, 2);
        i += 2;
      } else {
        changed = true;
        i += used;
      }
    } else {
      const std::size_t used = decodePercentHex(in, i, cursor);
      if (used == 0) {
        cursor.put('%');
        ++i;
      } else {
        changed = true;
        i += used;
      }
    }
  }
  return changed;
}

}  // namespace

bool urlDecode(std::string_view in, std::string& out) { return decode(in, out, false); }

bool urlDecodeUni(std::string_view in, std::string& out) { return decode(in, out, true); }

}  // namespace bulwark::waf::transforms
