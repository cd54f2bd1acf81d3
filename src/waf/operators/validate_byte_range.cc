// @validateByteRange: matches (flags) a value holding any byte outside the allowed set, e.g. "1-255" or
// "9,10,13,32-126,128-255". An empty value has no byte outside the set and never matches.
//
// Each comma-separated piece must be a number or a range of numbers within 0..255 (start <= end); v2 read
// pieces with atoi() and so silently turned a typo into byte 0, which we reject at load instead.
#include <bitset>
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

class ValidateByteRangeOperator final : public Operator {
 public:
  explicit ValidateByteRangeOperator(const std::bitset<256>& allowed) : allowed_(allowed) {}

  bool match(OperatorContext&, std::string_view input) const override {
    for (char c : input) {
      if (!allowed_[static_cast<unsigned char>(c)]) return true;
    }
    return false;
  }

 private:
  std::bitset<256> allowed_;
};

bool parseByte(std::string_view text, int& out) {
  text = trimCSpace(text);
  if (text.empty() || text.size() > 3) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > 255) return false;
  out = value;
  return true;
}

}  // namespace

std::unique_ptr<Operator> createValidateByteRange(const OperatorArgs& args, std::string& error) {
  std::bitset<256> allowed;
  std::string_view rest = args.param;
  bool any = false;
  while (true) {
    std::size_t comma = rest.find(',');
    std::string_view piece = trimCSpace(rest.substr(0, comma));
    if (!piece.empty()) {
      std::size_t dash = piece.find('-');
      int start = 0;
      int end = 0;
      bool ok = dash == std::string_view::npos
                    ? parseByte(piece, start) && parseByte(piece, end)
                    : parseByte(piece.substr(0, dash), start) && parseByte(piece.substr(dash + 1), end);
      if (!ok || start > end) {
        error = "invalid range \"" + std::string(piece) + "\" for operator @validateByteRange";
        return nullptr;
      }
      for (int b = start; b <= end; ++b) allowed.set(static_cast<std::size_t>(b));
      any = true;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!any) {
    error = "missing parameter for operator @validateByteRange";
    return nullptr;
  }
  return std::make_unique<ValidateByteRangeOperator>(allowed);
}

}  // namespace bulwark::waf::operators
