// @eq, @ne, @ge, @gt, @le, @lt: integer comparison with v2's semantics, C atoi() on both sides after
// macro expansion: "  12abc" is 12, "abc" and "" are 0 (so an empty value equals 0).
//
// @ne is not in v2 (a rule writes !@eq); it is accepted here as libmodsecurity-style shorthand.
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

using Compare = bool (*)(int left, int right);

class NumericOperator final : public Operator {
 public:
  NumericOperator(std::string_view param, Compare compare)
      : param_(param), literal_(cAtoi(param)), compare_(compare) {}

  bool match(OperatorContext& ctx, std::string_view input) const override {
    int right = param_.hasMacros() ? cAtoi(expandMacro(param_, ctx, ctx.scratch())) : literal_;
    return compare_(cAtoi(input), right);
  }

 private:
  MacroString param_;
  int literal_;  // the parameter's value when it has no macros
  Compare compare_;
};

std::unique_ptr<Operator> make(const OperatorArgs& args, Compare compare) {
  return std::make_unique<NumericOperator>(args.param, compare);
}

}  // namespace

std::unique_ptr<Operator> createEq(const OperatorArgs& args, std::string&) {
  return make(args, [](int l, int r) { return l == r; });
}
std::unique_ptr<Operator> createNe(const OperatorArgs& args, std::string&) {
  return make(args, [](int l, int r) { return l != r; });
}
std::unique_ptr<Operator> createGe(const OperatorArgs& args, std::string&) {
  return make(args, [](int l, int r) { return l >= r; });
}
std::unique_ptr<Operator> createGt(const OperatorArgs& args, std::string&) {
  return make(args, [](int l, int r) { return l > r; });
}
std::unique_ptr<Operator> createLe(const OperatorArgs& args, std::string&) {
  return make(args, [](int l, int r) { return l <= r; });
}
std::unique_ptr<Operator> createLt(const OperatorArgs& args, std::string&) {
  return make(args, [](int l, int r) { return l < r; });
}

}  // namespace bulwark::waf::operators
