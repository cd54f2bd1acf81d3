// utf8toUnicode: v2's rewrite of UTF-8 sequences as "%uXXXX", so that later decoders and rules see one
// spelling. Byte by byte:
//   0x01..0x7F                      kept
//   NUL                             dropped (v2 never advances its output for it)
//   a 2-, 3- or 4-byte lead with the continuation bytes it needs
//                                   "%u" + the code point in lower-case hex, at least four digits; then the
//                                   lead byte once more if the encoding is overlong, and once more if the
//                                   code point is a surrogate (U+D800..U+DFFF)
//   a 2- or 3-byte lead without them dropped; scanning resumes at the next byte
//   a 4-byte lead 0xF5..0xF7        kept (v2 copies it before looking further), then decoded as above
//   any other byte (0x80..0xBF as a lead, 0xF8..0xFF)
//                                   kept
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kNeedsRewrite = makeByteTable([](unsigned char c) { return c == 0 || c >= 0x80; });
constexpr char kLowerHexDigits[] = "0123456789abcdef";

bool isContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

void appendCodePoint(OutputCursor& cursor, unsigned codePoint) {
  char digits[8];
  int count = 0;
  do {
    digits[count++] = kLowerHexDigits[codePoint & 0x0F];
    codePoint >>= 4;
  } while (codePoint != 0);
  while (count < 4) digits[count++] = '0';
  cursor.put('%');
  cursor.put('u');
  while (count > 0) cursor.put(digits[--count]);
}

// Length of the sequence a lead byte announces (2..4), or 0 if `lead` does not start a multi-byte one.
int sequenceLength(unsigned char lead) {
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

constexpr unsigned kSmallestCodePoint[5] = {0, 0, 0x80, 0x800, 0x10000};
constexpr unsigned kLeadPayloadMask[5] = {0, 0, 0x1F, 0x0F, 0x07};

}  // namespace

bool utf8toUnicode(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kNeedsRewrite);
  if (i == in.size()) return false;
  // At most 3.5 output bytes per input byte: an overlong 2-byte sequence gives "%uXXXX" and its lead byte.
  OutputCursor cursor(in, out, i, i + (in.size() - i) * 7 / 2 + 1);
  bool changed = false;
  while (i < in.size()) {
    const unsigned char lead = byteAt(in, i);
    if (lead == 0) {
      changed = true;
      ++i;
      continue;
    }
    const int length = sequenceLength(lead);
    if (length == 0) {
      cursor.put(static_cast<char>(lead));
      ++i;
      continue;
    }
    if (length == 4 && lead >= 0xF5) cursor.put(static_cast<char>(lead));
    bool complete = i + static_cast<std::size_t>(length) <= in.size();
    for (int k = 1; complete && k < length; ++k) complete = isContinuation(byteAt(in, i + k));
    if (!complete) {
      if (!(length == 4 && lead >= 0xF5)) changed = true;  // the lead byte is dropped
      ++i;
      continue;
    }
    unsigned codePoint = lead & kLeadPayloadMask[length];
    for (int k = 1; k < length; ++k) codePoint = (codePoint << 6) | (byteAt(in, i + k) & 0x3F);
    appendCodePoint(cursor, codePoint);
    if (codePoint >= 0xD800 && codePoint <= 0xDFFF) cursor.put(static_cast<char>(lead));
    if (codePoint < kSmallestCodePoint[length]) cursor.put(static_cast<char>(lead));
    changed = true;
    i += static_cast<std::size_t>(length);
  }
  return changed;
}

}  // namespace bulwark::waf::transforms
