// @detectSQLi and @detectXSS: the tokenizing detectors of waf/detect (our own, libinjection-like).
// No parameter. With `capture`, @detectSQLi stores the fingerprint in TX:0 as v2 does (and, like v2,
// leaves TX:1..9 alone); @detectXSS stores nothing.
#include "waf/detect/detect.h"

#include <memory>
#include <string>

#include "waf/operators/factories.h"

namespace bulwark::waf::operators {

namespace {

class DetectSqliOperator final : public Operator {
 public:
  bool match(OperatorContext& ctx, std::string_view input) const override {
    if (!ctx.captureEnabled()) return detectSqli(input);
    thread_local std::string fingerprint;
    fingerprint.clear();
    if (!detectSqli(input, &fingerprint)) return false;
    ctx.setCapture(0, fingerprint);
    return true;
  }
};

class DetectXssOperator final : public Operator {
 public:
  bool match(OperatorContext&, std::string_view input) const override { return detectXss(input); }
};

}  // namespace

std::unique_ptr<Operator> createDetectSqli(const OperatorArgs&, std::string&) {
  return std::make_unique<DetectSqliOperator>();
}

std::unique_ptr<Operator> createDetectXss(const OperatorArgs&, std::string&) {
  return std::make_unique<DetectXssOperator>();
}

}  // namespace bulwark::waf::operators
