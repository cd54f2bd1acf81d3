// PhraseMatcher (behind @pm) against a naive search on random phrase sets and texts: same phrase found
// at the same place, i.e. the first end position and, there, the longest phrase.
#include "waf/operators/phrase_matcher.h"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>
#include <vector>

namespace bulwark::waf::operators {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The reference: scan end positions left to right; at the first with a phrase ending there, the longest
// such phrase, first spelling among case-duplicates.
const std::string* naiveFind(const std::vector<std::string>& phrases, std::string_view text) {
  for (std::size_t end = 1; end <= text.size(); ++end) {
    const std::string* best = nullptr;
    for (const std::string& p : phrases) {
      if (p.empty() || p.size() > end) continue;
      if (!equalsIgnoreCase(text.substr(end - p.size(), p.size()), p)) continue;
      if (best == nullptr || p.size() > best->size()) best = &p;
    }
    if (best != nullptr) return best;
  }
  return nullptr;
}

TEST(PhraseMatcher, AgreesWithNaiveSearch) {
  std::mt19937 rng(12345);
  const std::string alphabet("abcAB\x00\xff", 7);
  auto randomString = [&](std::size_t maxLength) {
    std::string s(std::uniform_int_distribution<std::size_t>(0, maxLength)(rng), 'a');
    for (char& c : s) c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    return s;
  };
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> phrases;
    int count = std::uniform_int_distribution<int>(1, 12)(rng);
    for (int i = 0; i < count; ++i) phrases.push_back(randomString(5));
    PhraseMatcher matcher;
    ASSERT_TRUE(matcher.build(phrases));
    for (int t = 0; t < 50; ++t) {
      std::string text = randomString(30);
      const std::string* expected = naiveFind(phrases, text);
      const std::string* actual = matcher.find(text);
      ASSERT_EQ(expected == nullptr, actual == nullptr) << "round " << round << " text " << text;
      if (expected != nullptr) {
        EXPECT_TRUE(equalsIgnoreCase(*expected, *actual));
      }
    }
  }
}

TEST(PhraseMatcher, EmptyListFindsNothing) {
  PhraseMatcher matcher;
  ASSERT_TRUE(matcher.build({}));
  EXPECT_EQ(matcher.find("anything"), nullptr);
  ASSERT_TRUE(matcher.build({""}));
  EXPECT_EQ(matcher.find("anything"), nullptr);
  EXPECT_EQ(matcher.phraseCount(), 0u);
}

TEST(PhraseMatcher, KeepsTheFirstSpellingOfDuplicates) {
  PhraseMatcher matcher;
  ASSERT_TRUE(matcher.build({"Foo", "FOO", "foo"}));
  EXPECT_EQ(matcher.phraseCount(), 1u);
  ASSERT_NE(matcher.find("xfOox"), nullptr);
  EXPECT_EQ(*matcher.find("xfOox"), "Foo");
}

}  // namespace
}  // namespace bulwark::waf::operators
