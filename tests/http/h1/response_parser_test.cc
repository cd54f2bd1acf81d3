// Behaviour of parseResponseHead(): status line, and framing per RFC 9112 6.3 for each request method.
#include <gtest/gtest.h>

#include <string>

#include "http/h1/parser.h"

namespace bulwark::h1 {

// Readable gtest output for the parser's enums (inline: the same definition is in each h1 test file).
inline void PrintTo(ParseError e, std::ostream* os) { *os << errorName(e); }
inline void PrintTo(ParseStatus s, std::ostream* os) {
  *os << (s == ParseStatus::kComplete ? "complete" : s == ParseStatus::kIncomplete ? "incomplete" : "error");
}

namespace {

struct FramingCase {
  const char* name;
  const char* requestMethod;
  const char* head;  // status line and header lines, without the final empty line
  ParseError error;  // kNone when the head must be accepted
  BodyFraming framing;
  std::uint64_t contentLength;
  bool keepAlive;
};

void PrintTo(const FramingCase& c, std::ostream* os) { *os << c.name; }

constexpr auto kNone = BodyFraming::kNone;
constexpr auto kLength = BodyFraming::kContentLength;
constexpr auto kChunked = BodyFraming::kChunked;
constexpr auto kUntilClose = BodyFraming::kUntilClose;
constexpr auto kOk = ParseError::kNone;

const FramingCase kFramingCases[] = {
    {"ContentLength", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 12", kOk, kLength, 12, true},
    {"RepeatedEqualContentLength", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3", kOk,
     kLength, 3, true},
    {"Chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", kOk, kChunked, 0, true},
    {"GzipThenChunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked", kOk, kChunked, 0, true},
    {"ChunkedNotFinalReadsUntilClose", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip", kOk,
     kUntilClose, 0, false},
    {"UnknownCodingReadsUntilClose", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", kOk, kUntilClose, 0,
     false},
    {"NoLengthReadsUntilClose", "GET", "HTTP/1.1 200 OK\r\nServer: x", kOk, kUntilClose, 0, false},
    {"HeadHasNoBody", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 500", kOk, kNone, 0, true},
    {"HeadWithChunkedHasNoBody", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", kOk, kNone, 0,
     true},
    {"InformationalHasNoBody", "GET", "HTTP/1.1 100 Continue", kOk, kNone, 0, true},
    {"SwitchingProtocolsHasNoBody", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket", kOk,
     kNone, 0, true},
    {"NoContentHasNoBody", "POST", "HTTP/1.1 204 No Content\r\nContent-Length: 10", kOk, kNone, 0, true},
    {"NotModifiedHasNoBody", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10", kOk, kNone, 0, true},
    {"ConnectSuccessIsATunnel", "CONNECT", "HTTP/1.1 200 Connection established", kOk, kNone, 0, true},
    {"ConnectFailureHasABody", "CONNECT", "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2", kOk, kLength, 2,
     true},
    {"Http10DefaultsToClose", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1", kOk, kLength, 1, false},
    {"Http10KeepAlive", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive", kOk, kLength,
     1, true},
    {"ConnectionClose", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close", kOk, kLength, 1,
     false},
    {"EmptyReasonWithSpace", "GET", "HTTP/1.1 200 \r\nContent-Length: 0", kOk, kLength, 0, true},
    {"NoReasonNoSpace", "GET", "HTTP/1.1 200\r\nContent-Length: 0", kOk, kLength, 0, true},
    {"RejectsLengthWithChunked", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
     ParseError::kLengthAndChunked, kNone, 0, true},
    {"RejectsDifferentContentLengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6",
     ParseError::kBadContentLength, kNone, 0, true},
    {"RejectsBadContentLengthEvenWithoutBody", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: -1",
     ParseError::kBadContentLength, kNone, 0, true},
    {"RejectsChunkedTwice", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked",
     ParseError::kBadTransferEncoding, kNone, 0, true},
    {"RejectsEmptyCoding", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,,chunked",
     ParseError::kBadTransferEncoding, kNone, 0, true},
    {"RejectsTransferEncodingOnHttp10", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked",
     ParseError::kBadTransferEncoding, kNone, 0, true},
    {"RejectsObsFold", "GET", "HTTP/1.1 200 OK\r\nX: a\r\n b", ParseError::kObsFold, kNone, 0, true},
    {"RejectsBareLfInHeaders", "GET", "HTTP/1.1 200 OK\nContent-Length: 0", ParseError::kBareLf, kNone, 0,
     true},
    {"RejectsHttp2", "GET", "HTTP/2.0 200 OK", ParseError::kBadVersion, kNone, 0, true},
    {"RejectsGarbageVersion", "GET", "HTTP/1.1x 200 OK", ParseError::kBadStatusLine, kNone, 0, true},
    {"RejectsTwoDigitStatus", "GET", "HTTP/1.1 20 OK", ParseError::kBadStatusLine, kNone, 0, true},
    {"RejectsFourDigitStatus", "GET", "HTTP/1.1 2000 OK", ParseError::kBadStatusLine, kNone, 0, true},
    {"RejectsStatusOutOfRange", "GET", "HTTP/1.1 600 Odd", ParseError::kBadStatusLine, kNone, 0, true},
    {"RejectsStatusBelow100", "GET", "HTTP/1.1 099 Odd", ParseError::kBadStatusLine, kNone, 0, true},
    {"RejectsControlByteInReason", "GET", "HTTP/1.1 200 O\x01K", ParseError::kBadStatusLine, kNone, 0, true},
    {"RejectsLeadingEmptyLine", "GET", "\r\nHTTP/1.1 200 OK", ParseError::kBadStatusLine, kNone, 0, true},
};

class ResponseFraming : public ::testing::TestWithParam<FramingCase> {};

TEST_P(ResponseFraming, MatchesRfc9112Section63) {
  const FramingCase& c = GetParam();
  const std::string head = std::string(c.head) + "\r\n\r\n";
  ResponseHead out;
  const ParseResult r = parseResponseHead(head + "trailing", Limits{}, c.requestMethod, out);
  if (c.error != kOk) {
    ASSERT_EQ(r.status, ParseStatus::kError);
    EXPECT_EQ(r.error, c.error) << errorName(r.error);
    return;
  }
  ASSERT_EQ(r.status, ParseStatus::kComplete) << errorName(r.error);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(out.framing, c.framing);
  EXPECT_EQ(out.contentLength, c.contentLength);
  EXPECT_EQ(out.keepAlive, c.keepAlive);
}

std::string framingName(const ::testing::TestParamInfo<FramingCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Table, ResponseFraming, ::testing::ValuesIn(kFramingCases), framingName);

TEST(ResponseParser, ParsesStatusLineAndHeaders) {
  const std::string in =
      "HTTP/1.1 404 Not Found Here\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc";
  ResponseHead out;
  const ParseResult r = parseResponseHead(in, Limits{}, "GET", out);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, in.size() - 3);
  EXPECT_EQ(out.versionMinor, 1);
  EXPECT_EQ(out.status, 404);
  EXPECT_EQ(out.reason, "Not Found Here");
  ASSERT_EQ(out.headers.size(), 2u);
  EXPECT_EQ(out.headers[0].value, "text/plain");
}

TEST(ResponseParser, EveryPrefixIsIncomplete) {
  const std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
  ResponseHead out;
  for (std::size_t n = 0; n < in.size(); ++n) {
    EXPECT_EQ(parseResponseHead(in.substr(0, n), Limits{}, "GET", out).status, ParseStatus::kIncomplete) << n;
  }
}

TEST(ResponseParser, RejectsLargeHeadBeforeItEnds) {
  Limits limits;
  limits.maxHeaderBytes = 64;
  ResponseHead out;
  const std::string in = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a');
  const ParseResult r = parseResponseHead(in, limits, "GET", out);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, ParseError::kHeadersTooLarge);
}

TEST(ResponseParser, BadStatusLineMapsToBadGateway) {
  EXPECT_EQ(httpStatus(ParseError::kBadStatusLine), 502);
}

}  // namespace
}  // namespace bulwark::h1
