// Arbitrary bytes through every operator: no crash, no sanitizer report (in the ASan/UBSan build), and
// the same answer twice. A bounded, seeded stand-in for a fuzzer (fuzz/run.sh builds targets without
// extra libraries, and these operators need PCRE2).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "fake_context.h"
#include "waf/operators/operator.h"

namespace bulwark::waf {
namespace {

using testing::FakeContext;

TEST(OperatorRobustness, RandomBytesNeverBreakAnOperator) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"rx", R"((?i)(?:<script[^>]*>|\bon\w+\s*=|javascript:))"},
      {"rx", R"(^(\w+)=(\d*)(?:&|$))"},
      {"rx", "^%{tx.a}$"},
      {"rx", "%{tx.a}|%{tx.b}"},
      {"pm", "select union <script ../ \\x00 |00 ff|"},
      {"pmFromFile", "phrases.data more-phrases.data"},
      {"strmatch", "a|00|b"},
      {"streq", "%{tx.a}"},
      {"beginsWith", "%{tx.a}"},
      {"endsWith", "%{tx.b}"},
      {"contains", "%{tx.a}"},
      {"containsWord", "%{tx.a}"},
      {"within", "%{tx.a} %{tx.b}"},
      {"eq", "%{tx.a}"},
      {"lt", "%{tx.b}"},
      {"ge", "12"},
      {"ipMatch", "10.0.0.0/8,192.168.1.1,2001:db8::/32,::1"},
      {"ipMatchFromFile", "ips.data"},
      {"validateByteRange", "1-255"},
      {"validateUrlEncoding", ""},
      {"validateUtf8Encoding", ""},
      {"verifyCC", R"(\d{13,16})"},
      {"verifySSN", R"(\d{3}-?\d{2}-?\d{4})"},
      {"verifyCPF", R"(\d{3}\.?\d{3}\.?\d{3}-?\d{2})"},
      {"detectSQLi", ""},
      {"detectXSS", ""},
  };
  std::mt19937 rng(20240611);
  // Mostly bytes that matter to these operators, sometimes anything.
  std::string alphabet = "aA0 %=&;|'\"<>()\\/.:-_\t\n\r123456789bcdef";
  alphabet += std::string("\x00\x7f\x80\xc0\xe0\xf0\xff", 7);
  auto randomBytes = [&](std::size_t maxLength) {
    std::string s(std::uniform_int_distribution<std::size_t>(0, maxLength)(rng), '\0');
    for (char& c : s) {
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
        c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
      } else {
        c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
      }
    }
    return s;
  };
  for (const auto& [name, param] : cases) {
    SCOPED_TRACE("@" + name + " " + param);
    std::string error;
    auto op = findOperator(name)->create(
        OperatorArgs{param, std::string(BULWARK_TEST_DATA) + "/waf/operators"}, error);
    ASSERT_NE(op, nullptr) << error;
    for (int i = 0; i < 400; ++i) {
      FakeContext ctx;
      ctx.capture = (i % 2) == 0;
      ctx.vars["tx.a"] = randomBytes(8);
      ctx.vars["tx.b"] = randomBytes(8);
      std::string input = randomBytes(i % 50 == 0 ? 4000 : 200);
      bool first = op->match(ctx, input);
      EXPECT_EQ(op->match(ctx, input), first);
    }
  }
}

}  // namespace
}  // namespace bulwark::waf
