// @verifyCC, @verifySSN, @verifyCPF: a regex finds candidates, a checksum confirms them (v2's loop).
//
// The regex (v2 flags DOTALL and MULTILINE) is tried from offset 0 with PCRE2_NOTEMPTY; a candidate that
// fails the check restarts the search one byte after the candidate's start, so overlapping candidates
// are all tried. The first confirmed candidate matches; with `capture`, TX:0..n-1 (n = groups + 1) all
// receive the whole candidate, as in v2, and the other slots are removed. A regex limit hit is no match.
#include <array>
#include <memory>
#include <string>

#include "waf/operators/factories.h"
#include "waf/operators/regex.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

using Check = bool (*)(std::string_view candidate);

class VerifyOperator final : public Operator {
 public:
  VerifyOperator(std::unique_ptr<Regex> regex, Check check) : regex_(std::move(regex)), check_(check) {}

  bool match(OperatorContext& ctx, std::string_view input) const override {
    std::array<RegexSpan, kCaptureSlots> groups;
    for (std::size_t offset = 0; offset < input.size(); ++offset) {
      int count = 0;
      RegexResult result = regex_->match(input, offset, PCRE2_NOTEMPTY, groups.data(), count);
      if (result != RegexResult::kMatch) return false;
      if (count == 0) continue;  // too many groups for the captures: v2 moves on one byte
      offset = groups[0].begin;
      std::string_view candidate = input.substr(groups[0].begin, groups[0].end - groups[0].begin);
      if (!check_(candidate)) continue;
      if (ctx.captureEnabled()) {
        for (int i = 0; i < count; ++i) ctx.setCapture(i, candidate);
        unsetCapturesFrom(ctx, count);
      }
      return true;
    }
    return false;
  }

 private:
  std::unique_ptr<Regex> regex_;
  Check check_;
};

// Luhn (ISO/IEC 7812) over the digits of the candidate, other bytes skipped; no digits is not valid.
bool luhnValid(std::string_view candidate) {
  int sum = 0;
  int digits = 0;
  for (auto it = candidate.rbegin(); it != candidate.rend(); ++it) {
    if (*it < '0' || *it > '9') continue;
    int d = *it - '0';
    if (digits % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    ++digits;
  }
  return digits > 0 && sum % 10 == 0;
}

// US social security number: exactly nine digits; not all equal, not a run of +1 steps; area (first
// three), group (next two) and serial (last four) not zero; area below 740 and not 666 (v2's rules).
bool ssnValid(std::string_view candidate) {
  int num[9] = {};
  int digits = 0;
  for (char c : candidate) {
    if (c < '0' || c > '9') continue;
    if (digits < 9) num[digits] = c - '0';
    ++digits;
  }
  if (digits != 9) return false;
  int sequential = 0;
  int repeated = 0;
  for (int i = 0; i < 8; ++i) {
    if (num[i] == num[i + 1] - 1) ++sequential;
    if (num[i] == num[i + 1]) ++repeated;
  }
  if (sequential == 8 || repeated == 8) return false;
  int area = num[0] * 100 + num[1] * 10 + num[2];
  int group = num[3] * 10 + num[4];
  int serial = num[5] * 1000 + num[6] * 100 + num[7] * 10 + num[8];
  if (area == 0 || group == 0 || serial == 0) return false;
  return area < 740 && area != 666;
}

// Brazilian CPF: the first eleven digits (others ignored, as in v2), not one of v2's known-bad numbers,
// with both mod-11 check digits right.
bool cpfValid(std::string_view candidate) {
  int cpf[11] = {};
  int digits = 0;
  for (char c : candidate) {
    if (c >= '0' && c <= '9' && digits < 11) cpf[digits++] = c - '0';
  }
  if (digits != 11) return false;
  bool allSame = true;
  for (int i = 1; i < 11; ++i) allSame = allSame && cpf[i] == cpf[0];
  static constexpr int kSequence[11] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0};  // "01234567890"
  bool isSequence = true;
  for (int i = 0; i < 11; ++i) isSequence = isSequence && cpf[i] == kSequence[i];
  if (allSame || isSequence) return false;
  auto checkDigit = [&](int count) {
    int sum = 0;
    for (int i = 0; i < count; ++i) sum += cpf[i] * (count + 1 - i);
    int rest = sum % 11;
    return rest < 2 ? 0 : 11 - rest;
  };
  return checkDigit(9) == cpf[9] && checkDigit(10) == cpf[10];
}

std::unique_ptr<Operator> make(const OperatorArgs& args, Check check, std::string& error) {
  std::unique_ptr<Regex> regex = Regex::compile(args.param, kVerifyCompileOptions, error);
  if (regex == nullptr) return nullptr;
  return std::make_unique<VerifyOperator>(std::move(regex), check);
}

}  // namespace

std::unique_ptr<Operator> createVerifyCc(const OperatorArgs& args, std::string& error) {
  return make(args, luhnValid, error);
}
std::unique_ptr<Operator> createVerifySsn(const OperatorArgs& args, std::string& error) {
  return make(args, ssnValid, error);
}
std::unique_ptr<Operator> createVerifyCpf(const OperatorArgs& args, std::string& error) {
  return make(args, cpfValid, error);
}

}  // namespace bulwark::waf::operators
