// length: the input's length in bytes, as a decimal string (v2 prints it with "%ld").
#include <charconv>

#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {

bool length(std::string_view in, std::string& out) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), in.size());
  const std::string_view text(digits, static_cast<std::size_t>(result.ptr - digits));
  if (text == in) return false;
  beginOutput(in, out, 0, text.size());
  out.append(text);
  return true;
}

}  // namespace bulwark::waf::transforms
