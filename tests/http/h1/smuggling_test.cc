// Request-smuggling vectors from tests/data/h1/smuggling.txt (the file header describes the format).
// Each vector must either be rejected with the expected error or be framed exactly once, leaving a
// pipelined second request untouched; and feeding it one byte at a time must not change the outcome.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "http/h1/chunked.h"
#include "http/h1/parser.h"

namespace bulwark::h1 {
namespace {

constexpr std::string_view kNextRequest = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

struct SmugglingCase {
  std::string name;
  std::string expect;   // error name, "chunked_error" or "body=..."
  std::string message;  // unescaped bytes
  int line = 0;
};

// Keeps gtest failure messages readable (the default prints the object's bytes).
void PrintTo(const SmugglingCase& c, std::ostream* os) { *os << c.name; }

// Decodes the escapes and macros documented at the top of smuggling.txt.
std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.substr(i).starts_with("{post}")) {
      out += "POST / HTTP/1.1\r\nHost: a\r\n";
      i += 5;
      continue;
    }
    if (text.substr(i).starts_with("{next}")) {
      out += kNextRequest;
      i += 5;
      continue;
    }
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char e = text[++i];
    switch (e) {
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case '0':
        out += '\0';
        break;
      case 'x':
        out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
        break;
      default:
        out += e;  // "\\" and any other escaped byte stand for themselves
    }
  }
  return out;
}

std::vector<SmugglingCase> loadCases() {
  std::vector<SmugglingCase> cases;
  std::ifstream file(std::string(BULWARK_TEST_DATA) + "/h1/smuggling.txt", std::ios::binary);
  std::string line;
  int lineNumber = 0;
  while (std::getline(file, line)) {
    ++lineNumber;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    SmugglingCase c;
    fields >> c.name >> c.expect;
    std::string rest;
    std::getline(fields >> std::ws, rest);
    c.message = unescape(rest);
    c.line = lineNumber;
    cases.push_back(std::move(c));
  }
  return cases;
}

const std::vector<SmugglingCase>& allCases() {
  static const std::vector<SmugglingCase> cases = loadCases();
  return cases;
}

struct Outcome {
  std::string error;     // errorName() of the head error, "chunked_error", or "" when framed
  std::string body;      // decoded body when framed
  std::size_t used = 0;  // bytes of the whole message (head + body) when framed
  bool incomplete = false;
};

// Frames one request from `input`, delivered in slices of `sliceSize` bytes (0 = all at once): the head
// is re-parsed on each new slice, as a connection would, then the body is decoded from the same slices.
Outcome frame(std::string_view input, std::size_t sliceSize) {
  Outcome outcome;
  const Limits limits;
  RequestHead head;
  std::size_t available = sliceSize == 0 ? input.size() : std::min(sliceSize, input.size());
  ParseResult r;
  for (;;) {
    r = parseRequestHead(input.substr(0, available), limits, head);
    if (r.status != ParseStatus::kIncomplete || available == input.size()) break;
    available = std::min(available + sliceSize, input.size());
  }
  if (r.status == ParseStatus::kIncomplete) {
    outcome.incomplete = true;
    return outcome;
  }
  if (r.status == ParseStatus::kError) {
    outcome.error = std::string(errorName(r.error));
    return outcome;
  }
  std::size_t pos = r.consumed;
  switch (head.framing) {
    case BodyFraming::kNone:
      break;
    case BodyFraming::kContentLength:
      if (input.size() - pos < head.contentLength) {
        outcome.incomplete = true;
        return outcome;
      }
      outcome.body = std::string(input.substr(pos, head.contentLength));
      pos += head.contentLength;
      break;
    case BodyFraming::kChunked: {
      ChunkedDecoder decoder;
      const std::size_t step = sliceSize == 0 ? input.size() : sliceSize;
      while (pos < input.size() && !decoder.done() && !decoder.failed()) {
        const std::string_view slice = input.substr(pos, step);
        const std::size_t used = decoder.feed(slice, [&](std::string_view data) { outcome.body += data; });
        if (used == 0) break;
        pos += used;
      }
      if (decoder.failed()) {
        outcome.error = "chunked_error";
        return outcome;
      }
      if (!decoder.done()) {
        outcome.incomplete = true;
        return outcome;
      }
      EXPECT_EQ(decoder.bodyBytes(), outcome.body.size());
      break;
    }
    case BodyFraming::kUntilClose:
      ADD_FAILURE() << "a request can never be framed until close";
      break;
  }
  outcome.used = pos;
  return outcome;
}

class SmugglingVectors : public ::testing::TestWithParam<SmugglingCase> {};

TEST_P(SmugglingVectors, IsRejectedOrFramedExactlyOnce) {
  const SmugglingCase& c = GetParam();
  SCOPED_TRACE("smuggling.txt:" + std::to_string(c.line) + " " + c.name);
  const Outcome whole = frame(c.message, 0);
  ASSERT_FALSE(whole.incomplete) << "the vector must be a complete message";

  if (c.expect.starts_with("body=")) {
    EXPECT_EQ(whole.error, "") << "expected the message to be framed";
    EXPECT_EQ(whole.body, unescape(std::string_view(c.expect).substr(5)));
    ASSERT_LE(whole.used, c.message.size());
    const std::string_view rest = std::string_view(c.message).substr(whole.used);
    EXPECT_EQ(rest, kNextRequest) << "the pipelined request must be left unconsumed, exactly";
    RequestHead next;
    const ParseResult r = parseRequestHead(rest, Limits{}, next);
    EXPECT_EQ(r.status, ParseStatus::kComplete);
    EXPECT_EQ(next.target, "/next");
  } else {
    EXPECT_EQ(whole.error, c.expect);
  }

  const Outcome byteByByte = frame(c.message, 1);
  EXPECT_FALSE(byteByByte.incomplete);
  EXPECT_EQ(byteByByte.error, whole.error);
  EXPECT_EQ(byteByByte.body, whole.body);
  EXPECT_EQ(byteByByte.used, whole.used);
}

TEST_P(SmugglingVectors, EveryPrefixIsIncompleteOrTheSameHeadResult) {
  const SmugglingCase& c = GetParam();
  RequestHead head;
  const ParseResult whole = parseRequestHead(c.message, Limits{}, head);
  for (std::size_t n = 0; n < c.message.size(); ++n) {
    const ParseResult prefix = parseRequestHead(std::string_view(c.message).substr(0, n), Limits{}, head);
    if (prefix.status == ParseStatus::kIncomplete) continue;
    ASSERT_EQ(prefix.status, whole.status) << c.name << " prefix " << n;
    ASSERT_EQ(prefix.error, whole.error) << c.name << " prefix " << n;
    ASSERT_EQ(prefix.consumed, whole.consumed) << c.name << " prefix " << n;
  }
}

std::string caseName(const ::testing::TestParamInfo<SmugglingCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Table, SmugglingVectors, ::testing::ValuesIn(allCases()), caseName);

TEST(SmugglingTable, IsLoadedWithUniqueNamesAndKnownExpectations) {
  const std::vector<SmugglingCase>& cases = allCases();
  ASSERT_GE(cases.size(), 40u) << "tests/data/h1/smuggling.txt missing or truncated";
  std::vector<std::string> knownErrors;
  for (int e = static_cast<int>(ParseError::kNone); e <= static_cast<int>(ParseError::kBadStatusLine); ++e) {
    knownErrors.emplace_back(errorName(static_cast<ParseError>(e)));
  }
  std::vector<std::string> names;
  for (const SmugglingCase& c : cases) {
    const bool known = c.expect.starts_with("body=") || c.expect == "chunked_error" ||
                       std::find(knownErrors.begin(), knownErrors.end(), c.expect) != knownErrors.end();
    EXPECT_TRUE(known) << "line " << c.line << ": unknown expectation " << c.expect;
    EXPECT_TRUE(std::find(names.begin(), names.end(), c.name) == names.end()) << "duplicate " << c.name;
    names.push_back(c.name);
  }
}

}  // namespace
}  // namespace bulwark::h1
