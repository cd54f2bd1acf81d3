// removeNulls, replaceNulls: drop NUL bytes, or turn them into spaces.
#include <cstring>

#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr ByteTable kNulToSpace = makeByteTable([](unsigned char c) -> int { return c == 0 ? ' ' : c; });

}  // namespace

bool removeNulls(std::string_view in, std::string& out) {
  const void* nul = std::memchr(in.data(), 0, in.size());
  if (nul == nullptr) return false;
  const std::size_t first = static_cast<std::size_t>(static_cast<const char*>(nul) - in.data());
  OutputCursor cursor(in, out, first, in.size());
  for (std::size_t i = first + 1; i < in.size(); ++i) {
    if (in[i] != '\0') cursor.put(in[i]);
  }
  return true;
}

bool replaceNulls(std::string_view in, std::string& out) { return mapEachByte(in, out, kNulToSpace); }

}  // namespace bulwark::waf::transforms
