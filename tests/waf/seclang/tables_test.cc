// Table-driven tests: tests/data/waf/seclang/{words,variables,operators,actions}.txt, one case per "in:"
// line (the files' headers describe the format). Each case is a test named after its line in the file.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "waf/seclang/parser.h"

namespace bulwark::waf::seclang {
namespace {

struct TableCase {
  std::string table;  // file name without ".txt"
  int line = 0;
  std::string in;
  std::vector<std::string> out;
  std::string error;  // expected substring of the error; "" when the case must succeed
};

void PrintTo(const TableCase& c, std::ostream* os) { *os << c.table << ".txt:" << c.line << " in: " << c.in; }

// The text after "key:", dropping the one space that separates it from the value.
bool field(const std::string& line, std::string_view key, std::string& value) {
  if (!line.starts_with(key)) return false;
  value = line.substr(key.size());
  if (!value.empty() && value.front() == ' ') value.erase(0, 1);
  return true;
}

std::vector<TableCase> loadTable(const std::string& table) {
  const std::string path = std::string(BULWARK_TEST_DATA) + "/waf/seclang/" + table + ".txt";
  std::ifstream file(path);
  std::vector<TableCase> cases;
  if (!file) {
    ADD_FAILURE() << "cannot open " << path;
    return cases;
  }
  std::string line;
  int lineNo = 0;
  while (std::getline(file, line)) {
    ++lineNo;
    if (line.empty() || line.front() == '#') continue;
    std::string value;
    if (field(line, "in:", value)) {
      cases.push_back(TableCase{table, lineNo, value, {}, ""});
    } else if (!cases.empty() && field(line, "out:", value)) {
      cases.back().out.push_back(value);
    } else if (!cases.empty() && field(line, "error:", value)) {
      cases.back().error = value;
    } else {
      ADD_FAILURE() << path << ":" << lineNo << ": unexpected line: " << line;
    }
  }
  return cases;
}

std::string formatVariable(const VariableRef& v) {
  std::string s = std::string(v.exclude ? "!" : "") + (v.count ? "&" : "") + v.collection;
  if (!v.selector.empty()) s += (v.selectorIsRegex ? " regex=" : " key=") + v.selector;
  return s;
}

std::string formatOperator(const OperatorRef& op) {
  std::string s = std::string(op.negated ? "!" : "") + "@" + op.name;
  if (!op.param.empty()) s += " " + op.param;
  return s;
}

std::string formatAction(const ActionRef& a) { return a.param.empty() ? a.name : a.name + "=" + a.param; }

// Runs one case through the function its table is about; returns the formatted parts or the error.
bool run(const TableCase& c, std::vector<std::string>& got, std::string& error) {
  if (c.table == "words") {
    const ReadResult r = readText(c.in + "\n", "words.conf");
    if (!r.ok()) {
      error = r.errors.front().message;
      EXPECT_TRUE(error.starts_with("words.conf:1: ")) << error;
      return false;
    }
    EXPECT_EQ(r.directives.size(), 1u);
    for (const Directive& d : r.directives) {
      got.push_back(d.name);
      got.insert(got.end(), d.args.begin(), d.args.end());
    }
    return true;
  }
  if (c.table == "variables") {
    std::vector<VariableRef> vars;
    if (!parseVariables(c.in, vars, error)) return false;
    for (const VariableRef& v : vars) got.push_back(formatVariable(v));
    return true;
  }
  if (c.table == "operators") {
    OperatorRef op;
    if (!parseOperator(c.in, op, error)) return false;
    got.push_back(formatOperator(op));
    return true;
  }
  std::vector<ActionRef> actions;
  if (!parseActions(c.in, actions, error)) return false;
  for (const ActionRef& a : actions) got.push_back(formatAction(a));
  return true;
}

class SecLangTable : public testing::TestWithParam<TableCase> {};

TEST_P(SecLangTable, SplitsAsTheReferenceEngineDoes) {
  const TableCase& c = GetParam();
  std::vector<std::string> got;
  std::string error;
  const bool ok = run(c, got, error);
  if (c.error.empty()) {
    ASSERT_TRUE(ok) << error;
    EXPECT_EQ(got, c.out);
  } else {
    ASSERT_FALSE(ok) << "expected an error containing: " << c.error;
    EXPECT_NE(error.find(c.error), std::string::npos)
        << "error: " << error << "\nexpected to contain: " << c.error;
  }
}

std::string caseName(const testing::TestParamInfo<TableCase>& info) {
  return info.param.table + "_line" + std::to_string(info.param.line);
}

INSTANTIATE_TEST_SUITE_P(Words, SecLangTable, testing::ValuesIn(loadTable("words")), caseName);
INSTANTIATE_TEST_SUITE_P(Variables, SecLangTable, testing::ValuesIn(loadTable("variables")), caseName);
INSTANTIATE_TEST_SUITE_P(Operators, SecLangTable, testing::ValuesIn(loadTable("operators")), caseName);
INSTANTIATE_TEST_SUITE_P(Actions, SecLangTable, testing::ValuesIn(loadTable("actions")), caseName);

}  // namespace
}  // namespace bulwark::waf::seclang
