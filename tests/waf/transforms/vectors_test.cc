// Runs the shared transformation vectors in tests/data/waf/transforms/vectors.tsv: each row names a
// transformation (or a comma-separated chain), an input and the expected output, and every row is one test.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "waf/transforms/transforms.h"

namespace bulwark::waf {
namespace {

constexpr char kVectorFile[] = BULWARK_TEST_DATA "/waf/transforms/vectors.tsv";
constexpr std::size_t kMinimumVectorsPerTransform = 5;

struct Vector {
  int line = 0;
  std::vector<std::string> chain;
  std::string input;
  std::string expected;
  std::string error;  // a malformed row fails its own test instead of silently vanishing
};

// The file's one-letter escapes and the bytes they stand for.
constexpr std::string_view kEscapeLetters = "\\tnrvf0";
constexpr std::string_view kEscapeBytes("\\\t\n\r\v\f\0", 7);

// Undoes the file's escapes: \\ \t \n \r \v \f \0 and \xHH. Returns false on any other escape.
bool unescape(std::string_view text, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (++i == text.size()) return false;
    const std::size_t simple = kEscapeLetters.find(text[i]);
    if (simple != std::string_view::npos) {
      out.push_back(kEscapeBytes[simple]);
      continue;
    }
    if (text[i] != 'x' || i + 2 >= text.size()) return false;
    const std::string hex(text.substr(i + 1, 2));
    if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) return false;
    out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
    i += 2;
  }
  return true;
}

std::vector<std::string> splitOn(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find(separator, begin);
    parts.emplace_back(
        text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

std::vector<Vector> loadVectors() {
  std::vector<Vector> vectors;
  std::ifstream file(kVectorFile);
  if (!file) {
    Vector missing;
    missing.error = std::string("cannot open ") + kVectorFile;
    vectors.push_back(missing);
    return vectors;
  }
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    Vector vector;
    vector.line = number;
    const std::vector<std::string> fields = splitOn(line, '\t');
    if (fields.size() != 3) {
      vector.error = "expected 3 tab-separated fields, got " + std::to_string(fields.size());
    } else if (!unescape(fields[1], vector.input) || !unescape(fields[2], vector.expected)) {
      vector.error = "bad escape";
    } else {
      vector.chain = splitOn(fields[0], ',');
    }
    vectors.push_back(vector);
  }
  return vectors;
}

const std::vector<Vector>& allVectors() {
  static const std::vector<Vector> vectors = loadVectors();
  return vectors;
}

std::string vectorName(const testing::TestParamInfo<Vector>& info) {
  std::string name;
  for (const std::string& step : info.param.chain) name += step + "_";
  name += "line" + std::to_string(info.param.line);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// Applies `chain` to `input` the way the rule engine does: the output of a step that reports no change is
// never looked at, and buffers alternate so a step's input never aliases its output.
std::string applyChain(const std::vector<std::string>& chain, const std::string& input, bool& lastChanged) {
  static const std::string kStale = "stale bytes from an earlier call";
  std::string current = input;
  std::string scratch;
  for (const std::string& name : chain) {
    const TransformInfo* info = findTransform(name);
    if (info == nullptr) {
      ADD_FAILURE() << "unknown transformation " << name;
      return current;
    }
    scratch = kStale;
    lastChanged = info->fn(current, scratch);
    if (lastChanged) {
      EXPECT_NE(scratch, current) << name << " reported a change but its output equals its input";
      current.swap(scratch);
    } else if (scratch != kStale && scratch != current) {
      ADD_FAILURE() << name << " reported no change but wrote a different output";
    }
  }
  return current;
}

std::string printable(std::string_view bytes) {
  std::ostringstream text;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      text << c;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      text << "\\x" << kHex[c >> 4] << kHex[c & 0xF];
    }
  }
  return text.str();
}

class TransformVectorTest : public testing::TestWithParam<Vector> {};

TEST_P(TransformVectorTest, ProducesExpectedOutputAndReportsChangeAccurately) {
  const Vector& vector = GetParam();
  ASSERT_TRUE(vector.error.empty()) << kVectorFile << ":" << vector.line << ": " << vector.error;
  bool changed = false;
  const std::string result = applyChain(vector.chain, vector.input, changed);
  EXPECT_EQ(printable(result), printable(vector.expected)) << kVectorFile << ":" << vector.line;
  if (vector.chain.size() == 1) {
    EXPECT_EQ(changed, vector.expected != vector.input) << kVectorFile << ":" << vector.line;
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, TransformVectorTest, testing::ValuesIn(allVectors()), vectorName);

TEST(TransformVectorFile, CoversEveryTransformationWithAtLeastFiveVectors) {
  std::map<TransformFn, int> vectorsPerFunction;
  for (const Vector& vector : allVectors()) {
    if (vector.chain.size() != 1) continue;
    if (const TransformInfo* info = findTransform(vector.chain[0])) ++vectorsPerFunction[info->fn];
  }
  std::size_t count = 0;
  const std::string_view* names = transformNames(count);
  for (std::size_t i = 0; i < count; ++i) {
    const TransformInfo* info = findTransform(names[i]);
    ASSERT_NE(info, nullptr) << names[i];
    EXPECT_GE(vectorsPerFunction[info->fn], static_cast<int>(kMinimumVectorsPerTransform)) << names[i];
  }
}

}  // namespace
}  // namespace bulwark::waf
