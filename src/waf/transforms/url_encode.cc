// urlEncode: v2's encoder. Letters, digits and '*' stay; a space becomes '+'; every other byte becomes
// "%xx" with lower-case hex digits.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kNeedsEncoding =
    makeByteTable([](unsigned char c) { return kIsAlnum[c] == 0 && c != '*'; });
constexpr char kLowerHexDigits[] = "0123456789abcdef";

}  // namespace

bool urlEncode(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kNeedsEncoding);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size() + 2 * (in.size() - i));
  for (; i < in.size(); ++i) {
    const unsigned char c = byteAt(in, i);
    if (kNeedsEncoding[c] == 0) {
      cursor.put(static_cast<char>(c));
    } else if (c == ' ') {
      cursor.put('+');
    } else {
      cursor.put('%');
      cursor.put(kLowerHexDigits[c >> 4]);
      cursor.put(kLowerHexDigits[c & 0x0F]);
    }
  }
  return true;
}

}  // namespace bulwark::waf::transforms
