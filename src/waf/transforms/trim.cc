// trim, trimLeft, trimRight: strip C-locale whitespace (space, \t, \n, \v, \f, \r) from the ends. Unlike
// compressWhitespace, v2 does not count the non-breaking space (0xA0) here.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kIsNotSpace = makeByteTable([](unsigned char c) { return kIsSpace[c] == 0; });

std::size_t leadingSpace(std::string_view in) { return findFirstOf(in, kIsNotSpace); }

std::size_t trailingSpace(std::string_view in) {
  std::size_t n = 0;
  while (n < in.size() && kIsSpace[byteAt(in, in.size() - 1 - n)] != 0) ++n;
  return n;
}

bool keepRange(std::string_view in, std::string& out, std::size_t begin, std::size_t end) {
  if (begin == 0 && end == in.size()) return false;
  beginOutput(in, out, 0, end - begin);
  out.append(in.data() + begin, end - begin);
  return true;
}

}  // namespace

bool trimLeft(std::string_view in, std::string& out) {
  return keepRange(in, out, leadingSpace(in), in.size());
}

bool trimRight(std::string_view in, std::string& out) {
  return keepRange(in, out, 0, in.size() - trailingSpace(in));
}

bool trim(std::string_view in, std::string& out) {
  const std::size_t begin = leadingSpace(in);
  return keepRange(in, out, begin, in.size() - trailingSpace(in.substr(begin)));
}

}  // namespace bulwark::waf::transforms
