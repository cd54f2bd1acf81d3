// @validateUrlEncoding: matches (flags) a value whose %-encoding is broken: a '%' not followed by two
// hex digits, including one too close to the end. Other bytes are not judged. No parameter.
#include <memory>
#include <string>

#include "waf/operators/factories.h"

namespace bulwark::waf::operators {

namespace {

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class ValidateUrlEncodingOperator final : public Operator {
 public:
  bool match(OperatorContext&, std::string_view input) const override {
    std::size_t i = 0;
    while (i < input.size()) {
      if (input[i] != '%') {
        ++i;
        continue;
      }
      if (i + 2 >= input.size()) return true;  // not enough characters
      if (!isHex(input[i + 1]) || !isHex(input[i + 2])) return true;
      i += 3;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Operator> createValidateUrlEncoding(const OperatorArgs&, std::string&) {
  return std::make_unique<ValidateUrlEncodingOperator>();
}

}  // namespace bulwark::waf::operators
