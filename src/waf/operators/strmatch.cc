// @strmatch: case-sensitive substring search for one fixed string, v2's Boyer-Moore-Horspool operator.
// The parameter goes through v2's |hex| and escape processing and is fixed at load (no macros, as in v2).
#include <cstring>
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

class StrmatchOperator final : public Operator {
 public:
  explicit StrmatchOperator(std::string needle) : needle_(std::move(needle)) {}

  bool match(OperatorContext&, std::string_view input) const override {
    if (needle_.size() > input.size()) return false;
    // glibc's memmem uses a two-way search: linear time, like v2's Horspool in practice.
    return memmem(input.data(), input.size(), needle_.data(), needle_.size()) != nullptr;
  }

 private:
  std::string needle_;  // never empty
};

}  // namespace

std::unique_ptr<Operator> createStrmatch(const OperatorArgs& args, std::string& error) {
  std::string needle;
  std::string why;
  if (!parsePmContent(args.param, needle, why)) {
    error = "invalid parameter for operator @strmatch: " + why;
    return nullptr;
  }
  return std::make_unique<StrmatchOperator>(std::move(needle));
}

}  // namespace bulwark::waf::operators
