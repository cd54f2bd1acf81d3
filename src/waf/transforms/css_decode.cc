// cssDecode: v2's CSS 2 escape decoder (http://www.w3.org/TR/REC-CSS2/syndata.html#q4).
//   \ + 1..6 hex digits: one byte, taken from the last two digits (the only digit if there is one). With
//     four digits, or five or six whose extra leading digits are 0, a value FFxx with xx in 01..5E is
//     full-width ASCII and maps to ASCII (xx + 0x20). One whitespace byte after the digits is consumed.
//   \ + newline: both removed (line continuation).
//   \ + any other byte: that byte. A backslash at the very end is removed.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

// Decodes the `count` hex digits at in[begin] to one byte.
char decodeHexEscape(std::string_view in, std::size_t begin, std::size_t count) {
  if (count == 1) return static_cast<char>(kHexValue[byteAt(in, begin)]);
  const std::size_t last = begin + count;
  // Only a value that fits 16 bits (extra leading digits are 0) can be full-width ASCII.
  const bool sixteenBits = count == 4 || (count == 5 && in[begin] == '0') ||
                           (count == 6 && in[begin] == '0' && in[begin + 1] == '0');
  if (sixteenBits) return codePointByte(in.substr(last - 4, 4));
  return hexByte(byteAt(in, last - 2), byteAt(in, last - 1));
}

}  // namespace

bool cssDecode(std::string_view in, std::string& out) {
  std::size_t i = in.find('\\');
  if (i == std::string_view::npos) return false;
  OutputCursor cursor(in, out, i, in.size());
  while (i < in.size()) {
    if (in[i] != '\\') {
      cursor.put(in[i++]);
      continue;
    }
    ++i;  // the backslash itself is never kept
    if (i == in.size()) break;
    std::size_t digits = 0;
    while (digits < 6 && i + digits < in.size() && isHex(byteAt(in, i + digits))) ++digits;
    if (digits > 0) {
      cursor.put(decodeHexEscape(in, i, digits));
      i += digits;
      if (i < in.size() && kIsSpace[byteAt(in, i)] != 0) ++i;
    } else if (in[i] == '\n') {
      ++i;
    } else {
      cursor.put(in[i++]);
    }
  }
  // Every escape drops at least its backslash, so finding one means the output is shorter.
  return true;
}

}  // namespace bulwark::waf::transforms
