// Data-driven operator tests: every line of tests/data/waf/operators/operators.tsv (format described at
// the top of that file) is one case, named by its line number in failure messages.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fake_context.h"
#include "waf/operators/operator.h"

namespace bulwark::waf {
namespace {

using testing::FakeContext;
using testing::kStale;

const std::string kDataDir = std::string(BULWARK_TEST_DATA) + "/waf/operators";

std::vector<std::string> splitTabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    std::size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return fields;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes \t \n \r \v \f \\ \xHH; returns nullopt for any other escape (a typo in the data file).
std::optional<std::string> unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    char c = text[++i];
    switch (c) {
      case 't':
        out.push_back('\t');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case 'x': {
        if (i + 2 >= text.size()) return std::nullopt;
        int hi = hexDigit(text[i + 1]);
        int lo = hexDigit(text[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

struct CaptureCheck {
  int index = 0;
  enum class Kind { kEquals, kRemoved, kStale, kSet } kind = Kind::kEquals;
  std::string value;
};

struct Vector {
  int line = 0;
  std::string op;
  std::string param;
  std::string input;
  char expect = '0';
  bool capture = false;
  std::vector<CaptureCheck> checks;
  std::map<std::string, std::string> vars;
  std::string malformed;  // why the line could not be read, if it could not
};

bool parseChecks(const std::string& text, std::vector<CaptureCheck>& checks) {
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ';')) {
    if (item.size() < 2 || item[0] < '0' || item[0] > '9') return false;
    CaptureCheck check;
    check.index = item[0] - '0';
    switch (item[1]) {
      case '!':
        check.kind = CaptureCheck::Kind::kRemoved;
        break;
      case '~':
        check.kind = CaptureCheck::Kind::kStale;
        break;
      case '*':
        check.kind = CaptureCheck::Kind::kSet;
        break;
      case '=': {
        std::optional<std::string> value = unescape(item.substr(2));
        if (!value) return false;
        check.value = *value;
        break;
      }
      default:
        return false;
    }
    checks.push_back(check);
  }
  return true;
}

// Runs at test registration, so it cannot fail a test: a bad line becomes a vector that fails.
std::vector<Vector> loadVectors() {
  std::vector<Vector> vectors;
  std::ifstream in(kDataDir + "/operators.tsv");
  if (!in.good()) {
    Vector v;
    v.malformed = "cannot read " + kDataDir + "/operators.tsv";
    vectors.push_back(v);
    return vectors;
  }
  std::map<std::string, std::string> vars;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = splitTabs(line);
    Vector v;
    v.line = number;
    if (f[0] == "@var") {
      if (f.size() == 3) {
        vars[f[1]] = f[2];
        continue;
      }
      v.malformed = "@var needs a name and a value";
    } else if (f.size() != 4 && f.size() != 5) {
      v.malformed = "expected 4 or 5 tab-separated fields, got " + std::to_string(f.size());
    } else {
      v.op = f[0];
      v.param = f[1];
      std::optional<std::string> input = unescape(f[2]);
      if (!input) v.malformed = "bad escape in input";
      if (f[3].size() != 1 || std::string("01E").find(f[3][0]) == std::string::npos) {
        v.malformed = "expect must be 0, 1 or E";
      } else {
        v.expect = f[3][0];
      }
      if (input) v.input = *input;
      if (f.size() == 5) {
        v.capture = true;
        if (!parseChecks(f[4], v.checks)) v.malformed = "bad captures field \"" + f[4] + "\"";
      }
      v.vars = vars;
    }
    vectors.push_back(std::move(v));
  }
  return vectors;
}

const std::vector<Vector>& allVectors() {
  static const std::vector<Vector> vectors = loadVectors();
  return vectors;
}

class OperatorVector : public ::testing::TestWithParam<Vector> {};

TEST_P(OperatorVector, BehavesAsModSecurityV2) {
  const Vector& v = GetParam();
  ASSERT_TRUE(v.malformed.empty()) << "operators.tsv line " << v.line << ": " << v.malformed;
  SCOPED_TRACE("operators.tsv line " + std::to_string(v.line) + ": @" + v.op + " \"" + v.param + "\"");
  const OperatorInfo* info = findOperator(v.op);
  ASSERT_NE(info, nullptr) << "unknown operator " << v.op;
  std::string error;
  std::unique_ptr<Operator> op = info->create(OperatorArgs{v.param, kDataDir}, error);
  if (v.expect == 'E') {
    EXPECT_EQ(op, nullptr) << "create() should fail";
    EXPECT_FALSE(error.empty()) << "a failed create() must say why";
    return;
  }
  ASSERT_NE(op, nullptr) << "create() failed: " << error;
  FakeContext ctx;
  ctx.vars = v.vars;
  ctx.capture = v.capture;
  EXPECT_EQ(op->match(ctx, v.input), v.expect == '1');
  for (const CaptureCheck& check : v.checks) {
    const std::optional<std::string>& slot = ctx.captures[static_cast<std::size_t>(check.index)];
    switch (check.kind) {
      case CaptureCheck::Kind::kEquals:
        EXPECT_EQ(slot, check.value) << "TX:" << check.index;
        break;
      case CaptureCheck::Kind::kRemoved:
        EXPECT_FALSE(slot.has_value()) << "TX:" << check.index << " should be removed, is " << *slot;
        break;
      case CaptureCheck::Kind::kStale:
        EXPECT_EQ(slot, std::string(kStale)) << "TX:" << check.index << " should be untouched";
        break;
      case CaptureCheck::Kind::kSet:
        EXPECT_TRUE(slot.has_value() && *slot != kStale) << "TX:" << check.index << " should be set";
        break;
    }
  }
  // The same operator object must give the same answer again (no state kept between calls).
  FakeContext again;
  again.vars = v.vars;
  EXPECT_EQ(op->match(again, v.input), v.expect == '1') << "second call differs";
}

std::string vectorName(const ::testing::TestParamInfo<Vector>& info) {
  std::string name = "line" + std::to_string(info.param.line) + "_";
  for (char c : info.param.op) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(OperatorsTsv, OperatorVector, ::testing::ValuesIn(allVectors()), vectorName);

TEST(OperatorVectors, EveryLoadableOperatorHasSeveralVectors) {
  std::map<std::string, int> perOperator;
  for (const Vector& v : allVectors()) {
    if (const OperatorInfo* info = findOperator(v.op)) ++perOperator[std::string(info->name)];
  }
  EXPECT_GT(allVectors().size(), 200u);
  for (const char* name : {"rx",
                           "pm",
                           "pmFromFile",
                           "streq",
                           "beginsWith",
                           "endsWith",
                           "contains",
                           "containsWord",
                           "within",
                           "strmatch",
                           "eq",
                           "ne",
                           "ge",
                           "gt",
                           "le",
                           "lt",
                           "ipMatch",
                           "ipMatchFromFile",
                           "validateByteRange",
                           "validateUrlEncoding",
                           "validateUtf8Encoding",
                           "verifyCC",
                           "verifySSN",
                           "verifyCPF",
                           "detectSQLi",
                           "detectXSS",
                           "unconditionalMatch",
                           "rbl"}) {
    EXPECT_GE(perOperator[name], 2) << "too few vectors for @" << name;
  }
}

}  // namespace
}  // namespace bulwark::waf
