// Byte-exact string comparisons with a macro-expanded parameter: @streq, @beginsWith, @endsWith,
// @contains, @containsWord, @within. Case-sensitive, as in v2 (rules lower-case with t:lowercase).
//
// v2's empty-string rules are kept: an empty parameter matches every input for @beginsWith, @endsWith,
// @contains and @containsWord; an empty input matches every parameter for @within.
#include <cstring>
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

using Compare = bool (*)(std::string_view param, std::string_view input);

class StringOperator final : public Operator {
 public:
  StringOperator(std::string_view param, Compare compare) : param_(param), compare_(compare) {}

  bool match(OperatorContext& ctx, std::string_view input) const override {
    return compare_(expandMacro(param_, ctx, ctx.scratch()), input);
  }

 private:
  MacroString param_;
  Compare compare_;
};

bool contains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > haystack.size()) return false;
  return memmem(haystack.data(), haystack.size(), needle.data(), needle.size()) != nullptr;
}

bool streq(std::string_view param, std::string_view input) { return param == input; }

bool beginsWith(std::string_view param, std::string_view input) { return input.starts_with(param); }

bool endsWith(std::string_view param, std::string_view input) { return input.ends_with(param); }

bool containsParam(std::string_view param, std::string_view input) { return contains(input, param); }

// The parameter occurs in the input with a non-word byte (or the edge) on both sides; word bytes are
// [A-Za-z0-9_]. Every candidate position is tried, so "foo_foo foo" matches "foo".
bool containsWord(std::string_view param, std::string_view input) {
  if (param.empty()) return true;
  if (param.size() > input.size()) return false;
  std::size_t last = input.size() - param.size();
  for (std::size_t i = 0; i <= last; ++i) {
    if (i > 0 && isWordByte(static_cast<unsigned char>(input[i - 1]))) continue;
    if (input.compare(i, param.size(), param) != 0) continue;
    if (i == last || !isWordByte(static_cast<unsigned char>(input[i + param.size()]))) return true;
  }
  return false;
}

// The input occurs anywhere in the parameter (a plain substring test, as in v2: "GET" is within
// "GET HEAD POST" and so is "ET H"; CRS lists are space- or pipe-separated and matched whole by rules).
bool within(std::string_view param, std::string_view input) { return contains(param, input); }

std::unique_ptr<Operator> make(const OperatorArgs& args, Compare compare) {
  return std::make_unique<StringOperator>(args.param, compare);
}

}  // namespace

std::unique_ptr<Operator> createStreq(const OperatorArgs& args, std::string&) { return make(args, streq); }
std::unique_ptr<Operator> createBeginsWith(const OperatorArgs& args, std::string&) {
  return make(args, beginsWith);
}
std::unique_ptr<Operator> createEndsWith(const OperatorArgs& args, std::string&) {
  return make(args, endsWith);
}
std::unique_ptr<Operator> createContains(const OperatorArgs& args, std::string&) {
  return make(args, containsParam);
}
std::unique_ptr<Operator> createContainsWord(const OperatorArgs& args, std::string&) {
  return make(args, containsWord);
}
std::unique_ptr<Operator> createWithin(const OperatorArgs& args, std::string&) { return make(args, within); }

}  // namespace bulwark::waf::operators
