// Behaviour of detectSqli(): which reading of the input (bare, inside '...', inside "...") finds what,
// the fingerprint it reports, and the edges of the token window. Corpora are in corpus_test.cc.
#include <gtest/gtest.h>

#include <string>

#include "waf/detect/detect.h"

namespace bulwark::waf {
namespace {

std::string fingerprintOf(std::string_view input) {
  std::string fingerprint;
  return detectSqli(input, &fingerprint) ? fingerprint : "";
}

TEST(DetectSqli, FindsATautologyAfterTheInputClosesASingleQuotedLiteral) {
  EXPECT_EQ(fingerprintOf("x' or '1'='1"), "single:break-logic:s&s=s");
}

TEST(DetectSqli, FindsATautologyAfterTheInputClosesADoubleQuotedLiteral) {
  EXPECT_EQ(fingerprintOf("x\" or \"1\"=\"1"), "double:break-logic:s&s=s");
}

TEST(DetectSqli, FindsATautologyInANumericParameter) {
  EXPECT_EQ(fingerprintOf("1 or 1=1"), "bare:number-logic:1&1=1");
  EXPECT_TRUE(detectSqli("1) or (1=1"));
}

TEST(DetectSqli, ReadsNamesWithApostrophesAsText) {
  for (const char* name :
       {"O'Brien", "O'Neil and Sons", "D'Angelo or Smith", "Dunkin' and Donuts", "it's 5"}) {
    EXPECT_FALSE(detectSqli(name)) << name;
  }
}

TEST(DetectSqli, NeedsAComparisonOrCallAfterAConnective) {
  EXPECT_FALSE(detectSqli("1 and 2"));
  EXPECT_FALSE(detectSqli("rock and roll"));
  EXPECT_TRUE(detectSqli("1 and 2=2"));
  EXPECT_TRUE(detectSqli("1 and sleep(2)"));
}

TEST(DetectSqli, ReadsEnglishInIsAndLikeAsWordsUnlessTheirOperandFits) {
  EXPECT_FALSE(detectSqli("2 and stored in y"));
  EXPECT_TRUE(detectSqli("2 and id in (1,2)"));
  EXPECT_FALSE(detectSqli("x' is great"));
  EXPECT_TRUE(detectSqli("x' or id is null--"));
}

TEST(DetectSqli, FindsACommentEndingTheQuery) {
  EXPECT_EQ(fingerprintOf("admin'--"), "single:break-comment:sc");
  EXPECT_TRUE(detectSqli("admin')#"));
  EXPECT_FALSE(detectSqli("Dunkin' -- the best"));  // a comment that says something is prose
}

TEST(DetectSqli, FindsUnionSelectAnywhereIncludingBehindComments) {
  EXPECT_TRUE(detectSqli("1/**/union/**/select/**/1,2"));
  EXPECT_TRUE(detectSqli("1 /*!50000union*/ /*!50000select*/ 1,2"));
  EXPECT_FALSE(detectSqli("what is a union select"));
  EXPECT_FALSE(detectSqli("Union of Concerned Scientists"));
}

TEST(DetectSqli, FindsStackedStatementsButNotSentencesWithSemicolons) {
  EXPECT_TRUE(detectSqli("1; drop table users"));
  EXPECT_TRUE(detectSqli("'; exec master..xp_cmdshell 'dir'--"));
  EXPECT_FALSE(detectSqli("Drop off at 5; pick up at 6"));
  EXPECT_FALSE(detectSqli("Please update my address; delete the old one"));
}

TEST(DetectSqli, FindsDelayingCallsWrittenAsMySqlCallsThem) {
  EXPECT_EQ(fingerprintOf("sleep(20)"), "bare:sleepy-call:f(1)");
  EXPECT_TRUE(detectSqli("benchmark(10000000,md5(1))"));
  EXPECT_TRUE(detectSqli("pg_sleep(5)"));
  EXPECT_FALSE(detectSqli("I need sleep (8 hours)"));
  EXPECT_FALSE(detectSqli("benchmark (1.5.0-1) unstable; urgency=medium"));
}

TEST(DetectSqli, FindsConcatenationThatRejoinsTheLiteral) {
  EXPECT_TRUE(detectSqli("'+sleep(5)+'"));
  EXPECT_TRUE(detectSqli("\" | type %SystemDrive%\\config.ini | \""));
  EXPECT_FALSE(detectSqli("found in \"/usr/share/common-licenses/GPL-2\"."));
  EXPECT_FALSE(detectSqli("preceded by '+' or '-'"));
}

TEST(DetectSqli, SeesAnInjectionPastTheTokenWindow) {
  // Hundreds of tokens of padding push the attack past the array the folder holds at once.
  std::string padded;
  for (int i = 0; i < 300; ++i) padded += "word ";
  EXPECT_FALSE(detectSqli(padded));
  EXPECT_TRUE(detectSqli(padded + "1 union select password from users"));
  EXPECT_TRUE(detectSqli(padded + "; drop table users"));
}

TEST(DetectSqli, KeepsThePrefixOfALongInput) {
  // Prefix rules look at the first tokens even when the input goes on for long after them.
  std::string tail;
  for (int i = 0; i < 300; ++i) tail += " word";
  EXPECT_TRUE(detectSqli("x' or 1=1--" + tail));
  EXPECT_TRUE(detectSqli("1 or 1=1" + tail));
}

TEST(DetectSqli, ToleratesArbitraryBytes) {
  EXPECT_FALSE(detectSqli(""));
  EXPECT_FALSE(detectSqli(std::string(1, '\0')));
  EXPECT_FALSE(detectSqli("'"));
  EXPECT_FALSE(detectSqli("\""));
  EXPECT_FALSE(detectSqli("\\"));
  EXPECT_FALSE(detectSqli("/*"));
  EXPECT_FALSE(detectSqli("[[[[[[[["));
  EXPECT_FALSE(detectSqli("\xff\xfe\x80"));
  EXPECT_TRUE(detectSqli(std::string("1 or 1=1\0", 9)));
}

TEST(DetectSqli, LeavesTheFingerprintAloneWhenNothingMatches) {
  std::string fingerprint = "unchanged";
  EXPECT_FALSE(detectSqli("hello world", &fingerprint));
  EXPECT_EQ(fingerprint, "unchanged");
}

}  // namespace
}  // namespace bulwark::waf
