// @validateUtf8Encoding: matches (flags) a value that is not valid UTF-8 by v2's rules: a truncated
// sequence, a bad lead or continuation byte, an overlong form, a UTF-16 surrogate (U+D800..U+DFFF), or a
// lead byte of F5..FF. As in v2, F4 90..F4 BF (above U+10FFFF) is not flagged. No parameter.
#include <cstdint>
#include <memory>
#include <string>

#include "waf/operators/factories.h"

namespace bulwark::waf::operators {

namespace {

// Length of the valid character at the start of `s`, or 0 if it is invalid.
std::size_t validCharacterLength(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  std::uint8_t lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    if (lead >= 0xF5) return 0;
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;  // a continuation byte or F8..FF as a lead
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3F);
  }
  if (code >= 0xD800 && code <= 0xDFFF) return 0;
  static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length]) return 0;  // overlong
  return length;
}

class ValidateUtf8EncodingOperator final : public Operator {
 public:
  bool match(OperatorContext&, std::string_view input) const override {
    std::size_t i = 0;
    while (i < input.size()) {
      std::size_t length = validCharacterLength(input.substr(i));
      if (length == 0) return true;
      i += length;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Operator> createValidateUtf8Encoding(const OperatorArgs&, std::string&) {
  return std::make_unique<ValidateUtf8EncodingOperator>();
}

}  // namespace bulwark::waf::operators
