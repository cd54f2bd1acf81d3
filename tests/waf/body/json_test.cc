#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

JsonResult parse(std::string_view body, const Limits& limits = Limits{}) {
  JsonResult r;
  parseJson(body, limits, r);
  return r;
}

struct Case {
  std::string name;
  std::string body;
  std::optional<std::string> error;
  Args args;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> loadCases() {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(BULWARK_TEST_DATA "/waf/body/json_names.json");
  std::vector<Case> cases;
  for (simdjson::dom::element c : doc["cases"].get_array()) {
    Case k;
    k.name = std::string(c["name"].get_string().value());
    k.body = std::string(c["body"].get_string().value());
    if (std::string_view error; c["error"].get(error) == simdjson::SUCCESS) k.error = std::string(error);
    for (simdjson::dom::array pair : c["args"].get_array()) {
      k.args.emplace_back(std::string(pair.at(0).get_string().value()),
                          std::string(pair.at(1).get_string().value()));
    }
    cases.push_back(std::move(k));
  }
  return cases;
}

class JsonNamingTest : public testing::TestWithParam<Case> {};

TEST_P(JsonNamingTest, ArgsAreNamedAsV2NamesThem) {
  const Case& c = GetParam();
  JsonResult r = parse(c.body);
  if (c.error) {
    EXPECT_TRUE(r.error);
    EXPECT_NE(r.errorMsg.find(*c.error), std::string::npos) << r.errorMsg;
  } else {
    EXPECT_FALSE(r.error) << r.errorMsg;
  }
  EXPECT_EQ(r.args, c.args);
}

INSTANTIATE_TEST_SUITE_P(CaseFile, JsonNamingTest, testing::ValuesIn(loadCases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

std::string nestedArrays(std::size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

std::string nestedObjects(std::size_t depth) {
  std::string body;
  for (std::size_t i = 0; i < depth; ++i) body += "{\"k\":";
  body += "1";
  body += std::string(depth, '}');
  return body;
}

TEST(Json, DepthCountsContainersButNotTheTopLevelObject) {
  Limits limits;
  limits.maxJsonDepth = 3;
  // {"k":{"k":{"k":{"k":1}}}}: the top-level object is free, three more fit.
  EXPECT_FALSE(parse(nestedObjects(4), limits).error);
  JsonResult r = parse(nestedObjects(5), limits);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.errorMsg, "JSON depth limit exceeded");
  // A top-level array counts.
  EXPECT_FALSE(parse(nestedArrays(3), limits).error);
  EXPECT_TRUE(parse(nestedArrays(4), limits).error);
}

TEST(Json, ValuesBeforeTheDepthLimitAreKept) {
  Limits limits;
  limits.maxJsonDepth = 1;
  JsonResult r = parse(R"({"a":"kept","b":{"c":{"d":1}}})", limits);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.args, (Args{{"a", "kept"}}));
}

TEST(Json, VeryDeepNestingNeedsNoRecursion) {
  Limits limits;
  limits.maxJsonDepth = 1'000'000;
  JsonResult r = parse(nestedArrays(100'000), limits);
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.args.size(), 1u);
  EXPECT_EQ(r.args[0].second, "1");
  EXPECT_EQ(r.args[0].first.size(), std::string_view("array").size() * 100'001 + 100'000);
}

TEST(Json, ArgumentsBeyondTheLimitStopParsing) {
  Limits limits;
  limits.maxArgs = 2;
  JsonResult r = parse(R"({"a":1,"b":2,"c":3,"d":4})", limits);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.errorMsg, "JSON: More than 2 JSON keys");
  EXPECT_EQ(r.args, (Args{{"a", "1"}, {"b", "2"}}));
}

TEST(Json, LongKeyRepeatedInManyNamesHitsTheOutputBudget) {
  // A 512 KiB key names every element of the array below it: names would be ~1000 times the body.
  std::string key(512 * 1024, 'k');
  std::string body = "{\"" + key + "\":[";
  for (int i = 0; i < 999; ++i) body += "1,";
  body += "1]}";
  JsonResult r = parse(body);
  EXPECT_TRUE(r.error);
  EXPECT_NE(r.errorMsg.find("size budget"), std::string::npos) << r.errorMsg;
  std::size_t total = 0;
  for (const auto& [name, value] : r.args) total += name.size() + value.size();
  EXPECT_LE(total, body.size() * 4 + 256 * 1024);
}

TEST(Json, StringsWithNulBytesKeepThem) {
  JsonResult r = parse(R"({"a":"x\u0000y"})");
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.args, (Args{{"a", std::string("x\0y", 3)}}));
}

TEST(Json, InvalidUtf8IsAnError) {
  JsonResult r = parse("{\"a\":\"\xff\"}");
  EXPECT_TRUE(r.error);
  EXPECT_NE(r.errorMsg.find("UTF-8"), std::string::npos) << r.errorMsg;
}

TEST(Json, ResultIsResetBetweenCalls) {
  JsonResult r;
  parseJson("{", Limits{}, r);
  ASSERT_TRUE(r.error);
  parseJson(R"({"a":1})", Limits{}, r);
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.errorMsg.empty());
  EXPECT_EQ(r.args.size(), 1u);
}

TEST(Json, LargeBodyParsesQuickly) {
  // Near the default SecRequestBodyLimit, arguments up to the default SecArgumentsLimit.
  std::string value(10'000, 'v');
  std::string body = "{\"items\":[";
  for (int i = 0; i < 499; ++i) body += R"({"id":12345,"text":")" + value + "\"},";
  body += "{}]}";
  auto start = std::chrono::steady_clock::now();
  JsonResult r = parse(body);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.args.size(), 998u);
  EXPECT_EQ(r.args[1], (std::pair<std::string, std::string>{"items.items.text", value}));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

}  // namespace
}  // namespace bulwark::waf::body
