#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <vector>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

constexpr std::string_view kContentType = "multipart/form-data; boundary=XyZ";

std::string crlfLines(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view line : lines) {
    out += line;
    out += "\r\n";
  }
  return out;
}

MultipartResult parse(std::string_view body, std::string_view contentType = kContentType,
                      const Limits& limits = Limits{}) {
  MultipartResult r;
  parseMultipart(contentType, body, limits, r);
  return r;
}

// The flags by name, as the case file spells them.
std::vector<std::pair<std::string_view, bool>> namedFlags(const MultipartFlags& f) {
  return {{"strictError", f.strictError},
          {"unmatchedBoundary", f.unmatchedBoundary},
          {"boundaryQuoted", f.boundaryQuoted},
          {"boundaryWhitespace", f.boundaryWhitespace},
          {"dataBefore", f.dataBefore},
          {"dataAfter", f.dataAfter},
          {"headerFolding", f.headerFolding},
          {"lfLine", f.lfLine},
          {"crlfLfLines", f.crlfLfLines},
          {"missingSemicolon", f.missingSemicolon},
          {"invalidQuoting", f.invalidQuoting},
          {"invalidPart", f.invalidPart},
          {"invalidHeaderFolding", f.invalidHeaderFolding},
          {"fileLimitExceeded", f.fileLimitExceeded}};
}

struct Case {
  std::string name;
  std::string contentType;
  std::string body;
  Limits limits;
  std::vector<std::string> flags;
  std::optional<std::string> error;
  std::optional<Args> args;
};

std::vector<Case> loadCases() {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.load(BULWARK_TEST_DATA "/waf/body/multipart_cases.json");
  std::vector<Case> cases;
  for (simdjson::dom::element c : doc["cases"].get_array()) {
    Case k;
    k.name = std::string(c["name"].get_string().value());
    k.contentType = std::string(c["contentType"].get_string().value());
    if (simdjson::dom::array lines; c["lines"].get(lines) == simdjson::SUCCESS) {
      for (std::string_view line : lines) k.body.append(line).append("\r\n");
    } else {
      k.body = std::string(c["raw"].get_string().value());
    }
    if (simdjson::dom::object limits; c["limits"].get(limits) == simdjson::SUCCESS) {
      for (auto [key, value] : limits) {
        uint64_t n = value.get_uint64();
        if (key == "maxFiles") k.limits.maxFiles = n;
        if (key == "maxParts") k.limits.maxParts = n;
        if (key == "maxArgs") k.limits.maxArgs = n;
      }
    }
    for (std::string_view flag : c["flags"].get_array()) k.flags.emplace_back(flag);
    if (std::string_view error; c["error"].get(error) == simdjson::SUCCESS) k.error = std::string(error);
    if (simdjson::dom::array args; c["args"].get(args) == simdjson::SUCCESS) {
      k.args.emplace();
      for (simdjson::dom::array pair : args) {
        k.args->emplace_back(std::string(pair.at(0).get_string().value()),
                             std::string(pair.at(1).get_string().value()));
      }
    }
    cases.push_back(std::move(k));
  }
  return cases;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class MultipartCaseTest : public testing::TestWithParam<Case> {};

TEST_P(MultipartCaseTest, FlagsErrorAndArgsAreV2s) {
  const Case& c = GetParam();
  MultipartResult r = parse(c.body, c.contentType, c.limits);
  for (auto [name, value] : namedFlags(r.flags)) {
    bool expected = std::find(c.flags.begin(), c.flags.end(), name) != c.flags.end();
    EXPECT_EQ(value, expected) << "flag " << name;
  }
  for (const std::string& flag : c.flags) {
    bool known = false;
    for (auto [name, value] : namedFlags(r.flags)) known |= name == flag;
    EXPECT_TRUE(known) << "unknown flag in case file: " << flag;
  }
  if (c.error) {
    EXPECT_TRUE(r.error);
    EXPECT_NE(r.errorMsg.find(*c.error), std::string::npos) << r.errorMsg;
  } else {
    EXPECT_FALSE(r.error) << r.errorMsg;
  }
  if (c.args) {
    EXPECT_EQ(r.args, *c.args);
  }
}

INSTANTIATE_TEST_SUITE_P(CaseFile, MultipartCaseTest, testing::ValuesIn(loadCases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(Multipart, ReportsFieldsFilesNamesAndPartHeaders) {
  std::string body =
      crlfLines({"--XyZ", "Content-Disposition: form-data; name=\"title\"", "", "Quarterly report", "--XyZ",
                 "Content-Disposition: form-data; name=\"doc\"; filename=\"q3.txt\"",
                 "Content-Type: text/plain", "", "line one", "line two", "--XyZ",
                 "Content-Disposition: form-data; name=\"empty\"; filename=\"\"", "", "", "--XyZ--"});
  MultipartResult r = parse(body);
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_FALSE(r.flags.strictError);
  EXPECT_EQ(r.args, (Args{{"title", "Quarterly report"}}));
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].name, "doc");
  EXPECT_EQ(r.files[0].filename, "q3.txt");
  EXPECT_EQ(r.files[0].size, std::string_view("line one\r\nline two").size());
  EXPECT_EQ(r.files[0].contentType, "text/plain");
  EXPECT_EQ(r.files[1].name, "empty");
  EXPECT_EQ(r.files[1].filename, "");
  EXPECT_EQ(r.files[1].size, 0u);
  EXPECT_EQ(r.names, (std::vector<std::string>{"title", "doc", "empty"}));
  EXPECT_EQ(r.filenames, (std::vector<std::string>{"q3.txt", ""}));
  EXPECT_EQ(r.partHeaders,
            (Args{{"title", "Content-Disposition: form-data; name=\"title\""},
                  {"doc", "Content-Disposition: form-data; name=\"doc\"; filename=\"q3.txt\""},
                  {"doc", "Content-Type: text/plain"},
                  {"empty", "Content-Disposition: form-data; name=\"empty\"; filename=\"\""}}));
}

TEST(Multipart, QuotedParameterUnescapesQuoteAndBackslashOnly) {
  MultipartResult r =
      parse(crlfLines({"--XyZ", R"(Content-Disposition: form-data; name="a\"b\\c\d")", "", "1", "--XyZ--"}));
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.args, (Args{{R"(a"b\c\d)", "1"}}));
}

TEST(Multipart, FoldedHeaderIsJoinedWithOneSpaceInPartHeaders) {
  MultipartResult r =
      parse(crlfLines({"--XyZ", "Content-Disposition: form-data;", "\t name=\"a\"", "", "1", "--XyZ--"}));
  ASSERT_FALSE(r.error) << r.errorMsg;
  EXPECT_EQ(r.partHeaders, (Args{{"a", "Content-Disposition: form-data; name=\"a\""}}));
}

TEST(Multipart, FilenameStarIsDecodedButNotTranscoded) {
  MultipartResult r = parse(crlfLines({"--XyZ",
                                       "Content-Disposition: form-data; name=\"f\"; "
                                       "filename*=UTF-8''%E2%82%AC%20rates.php",
                                       "", "<?php", "--XyZ--"}));
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].filename, "\xE2\x82\xAC rates.php");
  EXPECT_EQ(r.filenames, (std::vector<std::string>{"\xE2\x82\xAC rates.php"}));
}

TEST(Multipart, FilenameAndFilenameStarNamingTheSameFileAreAccepted) {
  MultipartResult r = parse(crlfLines({"--XyZ",
                                       "Content-Disposition: form-data; name=\"f\"; filename=\"a b.txt\"; "
                                       "filename*=utf-8'en'a%20b.txt",
                                       "", "x", "--XyZ--"}));
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].filename, "a b.txt");
}

TEST(Multipart, HeaderLineLongerThanV2sBufferIsAnError) {
  std::string longValue(5000, 'a');
  MultipartResult r = parse(crlfLines(
      {"--XyZ", "Content-Disposition: form-data; name=\"a\"", "X-Long: " + longValue, "", "1", "--XyZ--"}));
  EXPECT_TRUE(r.error);
  EXPECT_NE(r.errorMsg.find("Part header line over 4096 bytes long"), std::string::npos) << r.errorMsg;
}

TEST(Multipart, DataLinesLongerThanV2sBufferKeepEveryByte) {
  // Pieces end at 4096 bytes, and never on a CR that starts a CRLF: both must be invisible in the value.
  std::string value(4095, 'v');
  value += "\r\n";
  value += std::string(9000, 'w');
  MultipartResult r =
      parse(crlfLines({"--XyZ", "Content-Disposition: form-data; name=\"a\"", "", value, "--XyZ--"}));
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.args.size(), 1u);
  EXPECT_EQ(r.args[0].second, value);
  EXPECT_FALSE(r.flags.strictError);
}

TEST(Multipart, BoundaryAfterALongLineIsOnlyRecognisedAtALineStart) {
  // "--XyZ" 4096 bytes into a line begins a new piece but not a new line: part data, like v2.
  std::string value(4096, 'v');
  value += "--XyZ--";
  MultipartResult r =
      parse(crlfLines({"--XyZ", "Content-Disposition: form-data; name=\"a\"", "", value, "--XyZ--"}));
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.args.size(), 1u);
  EXPECT_EQ(r.args[0].second, value);
}

TEST(Multipart, ErrorMessageQuotesHostileBytesEscapedAndShort) {
  std::string line = "--XyZ\x01" + std::string(500, 'z');
  MultipartResult r =
      parse(crlfLines({line, "Content-Disposition: form-data; name=\"a\"", "", "1", "--XyZ--"}));
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.errorMsg.find("--XyZ\\x01zzz"), std::string::npos) << r.errorMsg;
  EXPECT_LT(r.errorMsg.size(), 200u);
}

TEST(Multipart, ResultIsResetBetweenCalls) {
  MultipartResult r;
  parseMultipart("multipart/form-data", "x", Limits{}, r);
  ASSERT_TRUE(r.error);
  parseMultipart(kContentType,
                 crlfLines({"--XyZ", "Content-Disposition: form-data; name=\"a\"", "", "1", "--XyZ--"}),
                 Limits{}, r);
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.errorMsg.empty());
  EXPECT_EQ(r.args.size(), 1u);
}

TEST(Multipart, ManyLinesMentioningTheBoundaryStayLinear) {
  // Every line holds a near-miss of a long boundary: the unmatched-boundary search must not be quadratic.
  std::string boundary(70, 'a');
  std::string line = "x";
  while (line.size() < 4000) line += "--" + std::string(69, 'a') + "b";
  std::string body =
      "--" + boundary + "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n";
  while (body.size() < (8u << 20)) body += line + "\r\n";
  body += "--" + boundary + "--\r\n";
  auto start = std::chrono::steady_clock::now();
  MultipartResult r = parse(body, "multipart/form-data; boundary=" + boundary);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.error) << r.errorMsg;
  ASSERT_EQ(r.files.size(), 1u);
  std::size_t dataStart = body.find("\r\n\r\n") + 4;
  std::size_t trailer = ("\r\n--" + boundary + "--\r\n").size();
  EXPECT_EQ(r.files[0].size, body.size() - trailer - dataStart);
  EXPECT_FALSE(r.flags.unmatchedBoundary);
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(Multipart, PartHeadersPerPartAreCapped) {
  std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n";
  for (int i = 0; i < 200; ++i) body += "X-H" + std::to_string(i) + ": v\r\n";
  body += "\r\n1\r\n--XyZ--\r\n";
  MultipartResult r = parse(body);
  EXPECT_TRUE(r.error);
  EXPECT_NE(r.errorMsg.find("Too many part headers"), std::string::npos) << r.errorMsg;
}

}  // namespace
}  // namespace bulwark::waf::body
