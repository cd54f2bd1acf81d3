// The operator registry: names, aliases, unknown and unsupported operators.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "fake_context.h"
#include "waf/operators/operator.h"

namespace bulwark::waf {
namespace {

using testing::FakeContext;

std::unique_ptr<Operator> create(std::string_view name, const std::string& param, std::string& error) {
  const OperatorInfo* info = findOperator(name);
  if (info == nullptr) {
    error = "unknown";
    return nullptr;
  }
  return info->create(OperatorArgs{param, std::string(BULWARK_TEST_DATA) + "/waf/operators"}, error);
}

TEST(OperatorRegistry, UnknownNamesAreNotFound) {
  for (const char* name : {"", "nosuch", "rx2", "@rx", " rx", "rx ", "regex", "pmFrom", "validateUtf8"}) {
    EXPECT_EQ(findOperator(name), nullptr) << name;
  }
}

TEST(OperatorRegistry, EveryOperatorIsFoundByItsCanonicalName) {
  for (const char* name : {"beginsWith",
                           "contains",
                           "containsWord",
                           "detectSQLi",
                           "detectXSS",
                           "endsWith",
                           "eq",
                           "fuzzyHash",
                           "ge",
                           "geoLookup",
                           "gsbLookup",
                           "gt",
                           "inspectFile",
                           "ipMatch",
                           "ipMatchFromFile",
                           "le",
                           "lt",
                           "ne",
                           "noMatch",
                           "pm",
                           "pmFromFile",
                           "rbl",
                           "rsub",
                           "rx",
                           "streq",
                           "strmatch",
                           "unconditionalMatch",
                           "validateByteRange",
                           "validateDTD",
                           "validateHash",
                           "validateSchema",
                           "validateUrlEncoding",
                           "validateUtf8Encoding",
                           "verifyCC",
                           "verifyCPF",
                           "verifySSN",
                           "within"}) {
    const OperatorInfo* info = findOperator(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->name, name);
    EXPECT_NE(info->create, nullptr);
  }
}

TEST(OperatorRegistry, LookupIgnoresCaseAndKnowsV2Aliases) {
  EXPECT_EQ(findOperator("RX")->name, "rx");
  EXPECT_EQ(findOperator("detectsqli")->name, "detectSQLi");
  EXPECT_EQ(findOperator("pmf")->name, "pmFromFile");
  EXPECT_EQ(findOperator("PMF")->name, "pmFromFile");
  EXPECT_EQ(findOperator("ipMatchF")->name, "ipMatchFromFile");
  EXPECT_EQ(findOperator("ipmatchf")->name, "ipMatchFromFile");
  EXPECT_EQ(findOperator("IPMATCHFROMFILE")->name, "ipMatchFromFile");
}

TEST(OperatorRegistry, UnsupportedOperatorsFailAtLoadWithTheirName) {
  for (const char* name :
       {"inspectFile", "fuzzyHash", "gsbLookup", "validateDTD", "validateSchema", "validateHash", "rsub"}) {
    std::string error;
    EXPECT_EQ(create(name, "x", error), nullptr) << name;
    EXPECT_EQ(error, std::string("operator @") + name + " is not supported");
  }
}

TEST(OperatorRegistry, BadParametersSayWhy) {
  std::string error;
  EXPECT_EQ(create("rx", "(unclosed", error), nullptr);
  EXPECT_NE(error.find("offset"), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(create("pmFromFile", "no-such-file.data", error), nullptr);
  EXPECT_NE(error.find("no-such-file.data"), std::string::npos) << error;
  error.clear();
  EXPECT_EQ(create("ipMatchFromFile", "bad-ips.data", error), nullptr);
  EXPECT_NE(error.find("bad-ips.data:3"), std::string::npos) << error;
  EXPECT_NE(error.find("10.0.0.300"), std::string::npos) << error;
}

TEST(OperatorRegistry, RegexPatternOnlyForRxWithALiteralParameter) {
  std::string error;
  auto literal = create("rx", "^(?:GET|HEAD)$", error);
  ASSERT_NE(literal, nullptr) << error;
  EXPECT_EQ(literal->regexPattern(), "^(?:GET|HEAD)$");
  auto macro = create("rx", "^%{tx.allowed}$", error);
  ASSERT_NE(macro, nullptr) << error;
  EXPECT_TRUE(macro->regexPattern().empty());
  auto pm = create("pm", "a b", error);
  ASSERT_NE(pm, nullptr) << error;
  EXPECT_TRUE(pm->regexPattern().empty());
}

TEST(OperatorRegistry, PhraseFilePathMayBeAbsolute) {
  std::string path = std::string(BULWARK_TEST_DATA) + "/waf/operators/more-phrases.data";
  const OperatorInfo* info = findOperator("pmFromFile");
  std::string error;
  auto op = info->create(OperatorArgs{path, "/nonexistent-base"}, error);
  ASSERT_NE(op, nullptr) << error;
  FakeContext ctx;
  EXPECT_TRUE(op->match(ctx, "xx SECONDFILE xx"));
}

}  // namespace
}  // namespace bulwark::waf
