// The registry and the contract every transformation shares (transforms.h): lookup by name, and an
// accurate "changed" answer with bounded output on arbitrary bytes.
#include "waf/transforms/transforms.h"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf {
namespace {

// The SecLang transformations Bulwark implements, as CRS and the ModSecurity manual spell them.
const std::vector<std::string_view> kExpectedNames = {
    "base64Decode",       "base64DecodeExt",
    "base64Encode",       "cmdLine",
    "compressWhitespace", "cssDecode",
    "escapeSeqDecode",    "hexDecode",
    "hexEncode",          "htmlEntityDecode",
    "jsDecode",           "length",
    "lowercase",          "md5",
    "normalisePath",      "normalisePathWin",
    "normalizePath",      "normalizePathWin",
    "parityEven7bit",     "parityOdd7bit",
    "parityZero7bit",     "removeComments",
    "removeCommentsChar", "removeNulls",
    "removeWhitespace",   "replaceComments",
    "replaceNulls",       "sha1",
    "sqlHexDecode",       "trim",
    "trimLeft",           "trimRight",
    "uppercase",          "urlDecode",
    "urlDecodeUni",       "urlEncode",
    "utf8toUnicode",
};

std::vector<std::string_view> registeredNames() {
  std::size_t count = 0;
  const std::string_view* names = transformNames(count);
  return {names, names + count};
}

std::string withCase(std::string_view name, int (*convert)(int)) {
  std::string result(name);
  for (char& c : result) c = static_cast<char>(convert(static_cast<unsigned char>(c)));
  return result;
}

TEST(TransformRegistry, RegistersExactlyTheSecLangTransformations) {
  const std::vector<std::string_view> names = registeredNames();
  EXPECT_EQ(std::set<std::string_view>(names.begin(), names.end()),
            std::set<std::string_view>(kExpectedNames.begin(), kExpectedNames.end()));
  EXPECT_EQ(names.size(), kExpectedNames.size()) << "a name is listed twice";
}

TEST(TransformRegistry, ResolvesEveryRegisteredNameToItself) {
  for (std::string_view name : registeredNames()) {
    const TransformInfo* info = findTransform(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->name, name);
    EXPECT_NE(info->fn, nullptr) << name;
  }
}

TEST(TransformRegistry, LooksNamesUpCaseInsensitively) {
  for (std::string_view name : registeredNames()) {
    const TransformInfo* info = findTransform(name);
    EXPECT_EQ(findTransform(withCase(name, ::tolower)), info) << name;
    EXPECT_EQ(findTransform(withCase(name, ::toupper)), info) << name;
  }
  ASSERT_NE(findTransform("CmdLine"), nullptr);
  EXPECT_EQ(findTransform("cmdline")->name, "cmdLine");
  EXPECT_EQ(findTransform("Utf8toUnicode")->name, "utf8toUnicode");  // v2's own spelling
}

TEST(TransformRegistry, BritishAndAmericanSpellingsShareOneImplementation) {
  EXPECT_EQ(findTransform("normalisePath")->fn, findTransform("normalizePath")->fn);
  EXPECT_EQ(findTransform("normalisePathWin")->fn, findTransform("normalizePathWin")->fn);
  EXPECT_NE(findTransform("normalizePath")->fn, findTransform("normalizePathWin")->fn);
}

TEST(TransformRegistry, ReturnsNullForUnknownNames) {
  for (std::string_view name :
       {"none", "", "lowercase ", " lowercase", "t:lowercase", "base64", "urlDecodeUnicode", "cmd_line",
        "normalizePathWindows", "sha256", "utf8ToUnicodes", "trimBoth", "lowercas", "a", "zzzz"}) {
    EXPECT_EQ(findTransform(name), nullptr) << '"' << name << '"';
  }
  EXPECT_EQ(findTransform(std::string_view("lowercase\0", 10)), nullptr);
}

// Calls `info` the way the contract allows a caller to: `out` holds stale bytes, and when the answer is
// "unchanged" the caller keeps its input. Checks that the answer is accurate whenever `out` was written,
// and that the output stays within a small multiple of the input.
std::string runChecked(const TransformInfo& info, const std::string& input) {
  static const std::string kStale = "\x01stale\xFE";
  std::string out = kStale;
  const bool changed = info.fn(input, out);
  if (changed) {
    EXPECT_NE(out, input) << info.name << " reported a change for an unchanged result";
  } else if (out != kStale) {
    EXPECT_EQ(out, input) << info.name << " reported no change but produced a different result";
  }
  const std::string& result = changed ? out : input;
  EXPECT_LE(result.size(), 4 * input.size() + 32) << info.name;
  return result;
}

TEST(TransformContract, ReportsChangeAccuratelyForEveryByteValue) {
  for (std::string_view name : registeredNames()) {
    const TransformInfo& info = *findTransform(name);
    for (int c = 0; c < 256; ++c) {
      runChecked(info, std::string(1, static_cast<char>(c)));
      runChecked(info, std::string("a") + static_cast<char>(c) + "Z");
      runChecked(info, std::string(2, static_cast<char>(c)));
    }
  }
}

TEST(TransformContract, LeavesEmptyInputEmptyExceptForLengthAndDigests) {
  for (std::string_view name : registeredNames()) {
    const TransformInfo& info = *findTransform(name);
    std::string out = "stale";
    const bool changed = info.fn("", out);
    const bool producesValue = name == "length" || name == "md5" || name == "sha1";
    EXPECT_EQ(changed, producesValue) << name;
    if (!changed) continue;
    EXPECT_FALSE(out.empty()) << name;
  }
}

// Random strings over the bytes that steer the decoders, plus NUL and invalid UTF-8.
TEST(TransformContract, HoldsOnRandomInputs) {
  static constexpr std::string_view kAlphabet =
      "%uUxX0123456789aAfFgG&#;\\/.+-*<!>^'\", \t\r\n\v\f=_:lt\0\x7F\x80\xA0\xC3\xE2\xED\xF0\xF5\xFF";
  std::mt19937 random(20240517);
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 24);
  for (std::string_view name : registeredNames()) {
    const TransformInfo& info = *findTransform(name);
    for (int round = 0; round < 3000; ++round) {
      std::string input;
      for (int i = length(random); i > 0; --i) input.push_back(kAlphabet[pick(random)]);
      runChecked(info, input);
    }
  }
}

TEST(TransformContract, WritesIntoTheCallersBufferWithoutReallocatingWhenItIsLargeEnough) {
  const std::string input(200, 'A');
  for (std::string_view name : {"lowercase", "urlDecodeUni", "removeWhitespace", "htmlEntityDecode",
                                "cmdLine", "parityZero7bit", "trim", "normalizePath", "hexEncode"}) {
    std::string out;
    out.reserve(4096);
    const char* buffer = out.data();
    findTransform(name)->fn(input + "%41 &lt; ./x/../y", out);
    EXPECT_EQ(out.data(), buffer) << name;
  }
}

TEST(TransformContract, ReplacesStaleOutputCompletely) {
  std::string out(1000, 'x');
  ASSERT_TRUE(findTransform("urlDecode")->fn("a%20b", out));
  EXPECT_EQ(out, "a b");
  ASSERT_TRUE(findTransform("hexEncode")->fn(std::string_view("\0\xFF", 2), out));
  EXPECT_EQ(out, "00ff");
}

TEST(TransformContract, LeavesUnchangedInputAndItsOutputAlone) {
  std::string out = "untouched";
  EXPECT_FALSE(findTransform("lowercase")->fn("already lower", out));
  EXPECT_FALSE(findTransform("urlDecode")->fn("no escapes here", out));
  EXPECT_FALSE(findTransform("htmlEntityDecode")->fn("no entities", out));
  EXPECT_EQ(out, "untouched");
}

TEST(TransformContract, HandlesLargeInputsInOnePass) {
  std::string input;
  for (int i = 0; i < 100000; ++i) input += "%3Cscript%3E&#x61;\\u0041 ";
  std::string out;
  ASSERT_TRUE(findTransform("urlDecodeUni")->fn(input, out));
  EXPECT_EQ(out.substr(0, 25), "<script>&#x61;\\u0041 <scr");
  std::string second;
  ASSERT_TRUE(findTransform("htmlEntityDecode")->fn(out, second));
  ASSERT_TRUE(findTransform("jsDecode")->fn(second, out));
  EXPECT_EQ(out.substr(0, 12), "<script>aA <");
}

}  // namespace
}  // namespace bulwark::waf
