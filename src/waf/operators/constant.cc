// @unconditionalMatch and @noMatch: fixed answers (SecAction compiles to @unconditionalMatch).
#include <memory>
#include <string>

#include "waf/operators/factories.h"

namespace bulwark::waf::operators {

namespace {

class ConstantOperator final : public Operator {
 public:
  explicit ConstantOperator(bool result) : result_(result) {}
  bool match(OperatorContext&, std::string_view) const override { return result_; }

 private:
  bool result_;
};

}  // namespace

std::unique_ptr<Operator> createUnconditionalMatch(const OperatorArgs&, std::string&) {
  return std::make_unique<ConstantOperator>(true);
}

std::unique_ptr<Operator> createNoMatch(const OperatorArgs&, std::string&) {
  return std::make_unique<ConstantOperator>(false);
}

}  // namespace bulwark::waf::operators
