// @rx beyond the vectors: PCRE2 limits and their counters, threads sharing one operator, macro patterns
// that change between calls.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fake_context.h"
#include "waf/operators/operator.h"
#include "waf/operators/regex_limits.h"

namespace bulwark::waf {
namespace {

using testing::FakeContext;

std::unique_ptr<Operator> makeRx(const std::string& pattern) {
  std::string error;
  auto op = findOperator("rx")->create(OperatorArgs{pattern, ""}, error);
  EXPECT_NE(op, nullptr) << error;
  return op;
}

// Restores the default limits when a test ends, whatever it set.
class RxLimits : public ::testing::Test {
 protected:
  void TearDown() override {
    setRegexMatchLimits(kDefaultRegexMatchLimits.match, kDefaultRegexMatchLimits.recursion);
  }
};

// Nested quantifiers backtrack exponentially before the first alternative fails; the second alternative
// then matches at the end. With a small limit the first alternative gives up and the match is lost.
const std::string kCatastrophic = "^(a+)+$|b";
const std::string kCatastrophicInput = std::string(16, 'a') + "!b";

TEST_F(RxLimits, DefaultsAreDebianModsecurityConf) {
  RegexMatchLimits limits = regexMatchLimits();
  EXPECT_EQ(limits.match, 1000u);
  EXPECT_EQ(limits.recursion, 1000u);
}

TEST_F(RxLimits, LimitHitIsNoMatchAndIsCounted) {
  auto op = makeRx(kCatastrophic);
  FakeContext ctx;
  setRegexMatchLimits(1000, 1000);
  std::uint64_t processBefore = regexLimitHits();
  std::uint64_t threadBefore = regexLimitHitsOnThisThread();
  EXPECT_FALSE(op->match(ctx, kCatastrophicInput));
  EXPECT_EQ(regexLimitHits(), processBefore + 1);
  EXPECT_EQ(regexLimitHitsOnThisThread(), threadBefore + 1);

  // With PCRE2's own (much larger) limit the same value matches, and nothing is counted.
  setRegexMatchLimits(0, 0);
  EXPECT_EQ(regexMatchLimits().match, 0u);
  EXPECT_TRUE(op->match(ctx, kCatastrophicInput));
  EXPECT_EQ(regexLimitHitsOnThisThread(), threadBefore + 1);
}

TEST_F(RxLimits, LazyQuantifierPatternOnTwoKilobytesStaysUnderTheDefaultLimit) {
  auto op = makeRx(R"((?i:(?:\b(?:f(?:rom|or)|select|union)\b.{0,100}?\b(?:where|from|by)\b)))");
  FakeContext ctx;
  std::uint64_t before = regexLimitHitsOnThisThread();
  std::string value(2000, 'x');
  value += " select a from b ";
  EXPECT_TRUE(op->match(ctx, value));
  EXPECT_EQ(regexLimitHitsOnThisThread(), before);
}

TEST_F(RxLimits, PerThreadCounterCountsOnlyThatThread) {
  auto op = makeRx(kCatastrophic);
  setRegexMatchLimits(1000, 1000);
  std::uint64_t mine = regexLimitHitsOnThisThread();
  std::uint64_t total = regexLimitHits();
  std::thread other([&] {
    FakeContext ctx;
    EXPECT_FALSE(op->match(ctx, kCatastrophicInput));
    EXPECT_EQ(regexLimitHitsOnThisThread(), 1u);
  });
  other.join();
  EXPECT_EQ(regexLimitHitsOnThisThread(), mine);
  EXPECT_EQ(regexLimitHits(), total + 1);
}

TEST(Rx, ThreadsShareOneOperator) {
  auto literal = makeRx(R"(^(\w+)=(\d+)$)");
  // v2 escapes ( ) [ ] + . and backslashes in a pattern built from macros: keep this one literal.
  auto macro = makeRx("^%{tx.name}=");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      FakeContext ctx;
      ctx.capture = true;
      for (int i = 0; i < 2000; ++i) {
        std::string name = "k" + std::to_string((t * 7 + i) % 50);
        std::string value = name + "=" + std::to_string(i);
        ctx.vars["tx.name"] = name;
        if (!literal->match(ctx, value) || ctx.captures[1] != name || ctx.captures[2] != std::to_string(i)) {
          ++failures;
        }
        if (!macro->match(ctx, value) || ctx.captures[0] != name + "=" || ctx.captures[1].has_value()) {
          ++failures;
        }
        if (macro->match(ctx, "other=" + std::to_string(i))) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// The per-thread cache holds a bounded number of patterns; cycling through more must stay correct.
TEST(Rx, MacroPatternsBeyondTheCacheStayCorrect) {
  auto op = makeRx("^%{tx.value}$");
  FakeContext ctx;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) {
      ctx.vars["tx.value"] = "v" + std::to_string(i);
      EXPECT_TRUE(op->match(ctx, "v" + std::to_string(i)));
      EXPECT_FALSE(op->match(ctx, "v" + std::to_string(i + 1)));
    }
  }
  // A value that does not compile after v2's escaping ("\" is escaped, so "a{" stays literal-safe; an
  // unbalanced "{2,1}" quantifier range is a compile error) is simply no match.
  ctx.vars["tx.value"] = "a{2,1}";
  EXPECT_FALSE(op->match(ctx, "aa"));
}

TEST(Rx, DoesNotReadPastTheView) {
  auto op = makeRx("^abc$");
  std::string buffer = "abcdef";
  FakeContext ctx;
  EXPECT_TRUE(op->match(ctx, std::string_view(buffer).substr(0, 3)));
  EXPECT_FALSE(op->match(ctx, std::string_view(buffer).substr(0, 4)));
  EXPECT_TRUE(op->match(ctx, std::string_view()) == false);
}

}  // namespace
}  // namespace bulwark::waf
