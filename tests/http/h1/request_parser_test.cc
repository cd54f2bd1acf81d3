// Behaviour of parseRequestHead(): accepted forms, connection flags, limits, incremental parsing.
// Malformed and ambiguous framing is covered by the vector table in smuggling_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "http/h1/parser.h"

namespace bulwark::h1 {

// Readable gtest output for the parser's enums (inline: the same definition is in each h1 test file).
inline void PrintTo(ParseError e, std::ostream* os) { *os << errorName(e); }
inline void PrintTo(ParseStatus s, std::ostream* os) {
  *os << (s == ParseStatus::kComplete ? "complete" : s == ParseStatus::kIncomplete ? "incomplete" : "error");
}

namespace {

ParseResult parse(std::string_view in, RequestHead& head, const Limits& limits = Limits{}) {
  return parseRequestHead(in, limits, head);
}

ParseError errorOf(std::string_view in, const Limits& limits = Limits{}) {
  RequestHead head;
  const ParseResult r = parse(in, head, limits);
  EXPECT_EQ(r.status, ParseStatus::kError) << in;
  return r.error;
}

TEST(RequestParser, ParsesSimpleGetWithZeroCopyViews) {
  const std::string in = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8 \r\n\r\n";
  RequestHead head;
  const ParseResult r = parse(in, head);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/index.html?q=1");
  EXPECT_EQ(head.versionMinor, 1);
  EXPECT_EQ(head.host, "example.com");
  ASSERT_EQ(head.headers.size(), 2u);
  EXPECT_EQ(head.headers[1].name, "User-Agent");
  EXPECT_EQ(head.headers[1].value, "curl/8");  // OWS trimmed on both sides
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_TRUE(head.keepAlive);
  EXPECT_FALSE(head.expectContinue);
  EXPECT_FALSE(head.upgrade);
  // Views point into the input, no copies.
  EXPECT_EQ(head.method.data(), in.data());
  EXPECT_EQ(head.headers[0].value.data(), in.data() + in.find("example.com"));
}

TEST(RequestParser, ReportsIncompleteUntilTheEmptyLine) {
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestHead head;
  for (std::size_t n = 0; n < in.size(); ++n) {
    EXPECT_EQ(parse(in.substr(0, n), head).status, ParseStatus::kIncomplete) << n;
  }
  EXPECT_EQ(parse(in, head).status, ParseStatus::kComplete);
}

TEST(RequestParser, ByteByByteGivesTheSameResultAsWhole) {
  const std::string in =
      "POST /pay HTTP/1.1\r\nHost: api.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
      "Connection: keep-alive\r\n\r\n{}";
  RequestHead whole;
  const ParseResult expected = parse(in, whole);
  ASSERT_EQ(expected.status, ParseStatus::kComplete);
  RequestHead head;
  std::string buffer;
  ParseResult r;
  for (char c : in) {
    buffer += c;
    r = parse(buffer, head);
    if (r.status != ParseStatus::kIncomplete) break;
  }
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, expected.consumed);
  EXPECT_EQ(buffer.size(), expected.consumed) << "completes exactly at the end of the head";
  EXPECT_EQ(head.framing, BodyFraming::kContentLength);
  EXPECT_EQ(head.contentLength, 2u);
  ASSERT_EQ(head.headers.size(), whole.headers.size());
  for (std::size_t i = 0; i < head.headers.size(); ++i) {
    EXPECT_EQ(head.headers[i].name, whole.headers[i].name);
    EXPECT_EQ(head.headers[i].value, whole.headers[i].value);
  }
}

TEST(RequestParser, LeavesPipelinedRequestsUnconsumed) {
  const std::string first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string third = "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  const std::string stream = first + "abc" + second + third;
  RequestHead head;
  std::string_view rest = stream;

  ParseResult r = parse(rest, head);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(head.target, "/a");
  rest.remove_prefix(r.consumed + head.contentLength);

  r = parse(rest, head);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(head.target, "/b");
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  rest.remove_prefix(r.consumed);

  r = parse(rest, head);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, rest.size());
  EXPECT_EQ(head.target, "/c");
  EXPECT_FALSE(head.keepAlive);
}

TEST(RequestParser, SkipsOneLeadingEmptyLineAndCountsIt) {
  RequestHead head;
  const ParseResult r = parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", head);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, 29u);
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(errorOf("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadRequestLine);
}

TEST(RequestParser, ReusesHeaderCapacityAcrossCalls) {
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  RequestHead head;
  head.headers.reserve(16);
  const Header* storage = head.headers.data();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(parse(in, head).status, ParseStatus::kComplete);
    EXPECT_EQ(head.headers.size(), 4u);
    EXPECT_EQ(head.headers.data(), storage) << "no reallocation when capacity suffices";
  }
}

TEST(RequestParser, ResetsOutputFieldsBetweenCalls) {
  RequestHead head;
  ASSERT_EQ(parse("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", head).status,
            ParseStatus::kComplete);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", head).status, ParseStatus::kComplete);
  EXPECT_EQ(head.framing, BodyFraming::kNone);
  EXPECT_EQ(head.contentLength, 0u);
  EXPECT_EQ(head.versionMinor, 1);
  EXPECT_TRUE(head.keepAlive);
  EXPECT_FALSE(head.expectContinue);
}

TEST(RequestParser, AcceptsHttp10WithoutHost) {
  RequestHead head;
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", head).status, ParseStatus::kComplete);
  EXPECT_EQ(head.versionMinor, 0);
  EXPECT_EQ(head.host, "");
  EXPECT_FALSE(head.keepAlive);
}

TEST(RequestParser, Http10KeepsAliveOnlyWhenAsked) {
  RequestHead head;
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", head).status, ParseStatus::kComplete);
  EXPECT_TRUE(head.keepAlive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_FALSE(head.keepAlive);
}

TEST(RequestParser, Http11ClosesOnConnectionCloseInAnyConnectionHeader) {
  RequestHead head;
  ASSERT_EQ(
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: bar ,CLOSE\r\n\r\n", head).status,
      ParseStatus::kComplete);
  EXPECT_FALSE(head.keepAlive);
}

TEST(RequestParser, DetectsExpectContinueCaseInsensitively) {
  RequestHead head;
  ASSERT_EQ(
      parse("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", head).status,
      ParseStatus::kComplete);
  EXPECT_TRUE(head.expectContinue);
}

TEST(RequestParser, DetectsUpgradeOnlyWithBothHeaders) {
  RequestHead head;
  ASSERT_EQ(
      parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", head).status,
      ParseStatus::kComplete);
  EXPECT_TRUE(head.upgrade);
  ASSERT_EQ(parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_FALSE(head.upgrade);
}

TEST(RequestParser, FramesChunkedAndContentLength) {
  RequestHead head;
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(head.framing, BodyFraming::kChunked);
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(head.framing, BodyFraming::kContentLength);
  EXPECT_EQ(head.contentLength, 9999999999999999999ull);
}

TEST(RequestParser, RejectsContentLengthWithChunked) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ParseError::kLengthAndChunked);
}

TEST(RequestParser, AcceptsTheFourTargetForms) {
  RequestHead head;
  EXPECT_EQ(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", head).status, ParseStatus::kComplete);
  EXPECT_EQ(parse("CONNECT pay.example:443 HTTP/1.1\r\nHost: pay.example:443\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(head.target, "pay.example:443");
  EXPECT_EQ(parse("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(parse("GET HTTPS://A.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(parse("GET //double/slash HTTP/1.1\r\nHost: a\r\n\r\n", head).status, ParseStatus::kComplete);
}

TEST(RequestParser, RejectsTargetFormsNotAllowedForTheMethod) {
  EXPECT_EQ(errorOf("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("CONNECT a.example:123456 HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
}

TEST(RequestParser, RejectsTargetBytesOutsideVisibleAscii) {
  EXPECT_EQ(errorOf(std::string("GET /a") + '\0' + "b HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
}

TEST(RequestParser, RejectsMalformedRequestLines) {
  EXPECT_EQ(errorOf(" GET / HTTP/1.1\r\n\r\n"), ParseError::kBadRequestLine);
  EXPECT_EQ(errorOf("GET\r\n\r\n"), ParseError::kBadRequestLine);
  EXPECT_EQ(errorOf("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), ParseError::kBadRequestLine);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\x01\r\nHost: a\r\n\r\n"), ParseError::kBadRequestLine);
  EXPECT_EQ(errorOf("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadMethod);
  EXPECT_EQ(errorOf("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadMethod);
}

TEST(RequestParser, Answers505OnlyForWellFormedUnsupportedVersions) {
  for (const char* version : {"HTTP/2.0", "HTTP/3.0", "HTTP/1.2", "HTTP/9.9"}) {
    const ParseError e = errorOf(std::string("GET / ") + version + "\r\nHost: a\r\n\r\n");
    EXPECT_EQ(e, ParseError::kBadVersion) << version;
    EXPECT_EQ(httpStatus(e), 505);
  }
  for (const char* version :
       {"HTTP/1.10", "HTTP/11", "HTTP/1", "HTTPS/1.1", "HTTP/1.1x", "HTTP/a.b", "1.1", "HTTP/0.9", "HTTP/0.8"}) {
    const ParseError e = errorOf(std::string("GET / ") + version + "\r\nHost: a\r\n\r\n");
    EXPECT_EQ(e, ParseError::kBadRequestLine) << version;
    EXPECT_EQ(httpStatus(e), 400);
  }
}

TEST(RequestParser, RejectsFragmentPercentEncodedHostAndEmptyHost) {
  EXPECT_EQ(errorOf("GET /index.html#tag HTTP/1.1\r\nHost: a\r\n\r\n"), ParseError::kBadTarget);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: localhost%00\r\n\r\n"), ParseError::kBadHeaderValue);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost:\r\n\r\n"), ParseError::kMissingHost);
  EXPECT_EQ(errorOf("GET / HTTP/1.0\r\nHost: \r\n\r\n"), ParseError::kMissingHost);
}

TEST(RequestParser, RejectsMissingOrRepeatedHost) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\n\r\n"), ParseError::kMissingHost);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), ParseError::kMissingHost);
  EXPECT_EQ(errorOf("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), ParseError::kMissingHost);
}

TEST(RequestParser, AcceptsObsTextButNotControlBytesInValues) {
  RequestHead head;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xff\t\x7e\r\n\r\n", head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(head.headers[1].value, "\x80\xff\t\x7e");
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n"), ParseError::kBadHeaderValue);
}

// Long values and targets are scanned eight bytes at a time; every byte value at every offset of a
// long run must be judged exactly as the byte-wise rules say.
TEST(RequestParser, JudgesEveryByteValueAtEveryOffsetOfALongHeaderValue) {
  RequestHead head;
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    for (std::size_t offset = 0; offset < 24; ++offset) {
      std::string value(24, 'v');
      value[offset] = c;
      const std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX: " + value + "\r\n\r\n";
      const ParseResult r = parse(in, head);
      SCOPED_TRACE("byte " + std::to_string(byte) + " at " + std::to_string(offset));
      if (byte == '\t' || byte == ' ' || (byte >= 0x21 && byte != 0x7F)) {
        ASSERT_EQ(r.status, ParseStatus::kComplete);
        // Whitespace at either end is OWS and trimmed; inside the value it is kept.
        std::string_view expected = value;
        if (offset == 0 && (c == ' ' || c == '\t')) expected.remove_prefix(1);
        if (offset == 23 && (c == ' ' || c == '\t')) expected.remove_suffix(1);
        EXPECT_EQ(head.headers[1].value, expected);
      } else if (byte == '\r') {
        EXPECT_EQ(r.error, ParseError::kBareCr);
      } else if (byte == '\n') {
        EXPECT_EQ(r.error, ParseError::kBareLf);
      } else {
        EXPECT_EQ(r.error, ParseError::kBadHeaderValue);
      }
    }
  }
}

TEST(RequestParser, JudgesEveryByteValueAtEveryOffsetOfALongTarget) {
  RequestHead head;
  for (int byte = 0; byte < 256; ++byte) {
    for (std::size_t offset = 1; offset < 24; ++offset) {
      std::string target = "/" + std::string(23, 't');
      target[offset] = static_cast<char>(byte);
      const std::string in = "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n";  // outlives the views
      const ParseResult r = parse(in, head);
      SCOPED_TRACE("byte " + std::to_string(byte) + " at " + std::to_string(offset));
      if (byte >= 0x21 && byte <= 0x7E && byte != '#') {
        ASSERT_EQ(r.status, ParseStatus::kComplete);
        EXPECT_EQ(head.target, target);
      } else if (byte == ' ' || byte == '\r' || byte == '\n') {
        EXPECT_EQ(r.error, ParseError::kBadRequestLine);
      } else {
        EXPECT_EQ(r.error, ParseError::kBadTarget);
      }
    }
  }
}

TEST(RequestParser, AcceptsRequestLineOfExactlyTheLimit) {
  Limits limits;
  limits.maxRequestLine = 32;
  const std::string line = "GET /" + std::string(32 - 14, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 32u);
  RequestHead head;
  EXPECT_EQ(parse(line + "\r\nHost: a\r\n\r\n", head, limits).status, ParseStatus::kComplete);
  EXPECT_EQ(errorOf("GET /a" + line.substr(5) + "\r\nHost: a\r\n\r\n", limits),
            ParseError::kRequestLineTooLong);
}

TEST(RequestParser, RejectsLongRequestLineBeforeItEnds) {
  Limits limits;
  limits.maxRequestLine = 64;
  RequestHead head;
  const std::string partial = "GET /" + std::string(59, 'a');  // exactly 64 bytes, no CRLF yet
  EXPECT_EQ(parse(partial, head, limits).status, ParseStatus::kIncomplete);
  const ParseResult r = parse(partial + "a", head, limits);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, ParseError::kRequestLineTooLong);
  EXPECT_EQ(httpStatus(r.error), 414);
}

TEST(RequestParser, AllowsTheLineEndingCrRightAtTheLimit) {
  Limits limits;
  limits.maxRequestLine = 64;
  RequestHead head;
  const std::string line = "GET /" + std::string(50, 'a') + " HTTP/1.1";
  ASSERT_EQ(line.size(), 64u);
  EXPECT_EQ(parse(line + "\r", head, limits).status, ParseStatus::kIncomplete);
  EXPECT_EQ(parse(line + "\r\n", head, limits).status, ParseStatus::kIncomplete);
  EXPECT_EQ(errorOf(line + "1\r\n", limits), ParseError::kRequestLineTooLong);
}

TEST(RequestParser, LeadingEmptyLineDoesNotCountTowardsTheRequestLineLimit) {
  Limits limits;
  limits.maxRequestLine = 14;
  RequestHead head;
  EXPECT_EQ(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", head, limits).status, ParseStatus::kComplete);
}

TEST(RequestParser, RejectsLargeHeadBeforeItEnds) {
  Limits limits;
  limits.maxHeaderBytes = 256;
  RequestHead head;
  std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  in += std::string(256 - in.size(), 'v');
  EXPECT_EQ(parse(in, head, limits).status, ParseStatus::kIncomplete);
  const ParseResult r = parse(in + "v", head, limits);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, ParseError::kHeadersTooLarge);
  EXPECT_EQ(httpStatus(r.error), 431);
}

TEST(RequestParser, AcceptsHeadOfExactlyTheSizeLimit) {
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n";
  Limits limits;
  limits.maxHeaderBytes = in.size();
  RequestHead head;
  EXPECT_EQ(parse(in + "body", head, limits).status, ParseStatus::kComplete);
  limits.maxHeaderBytes = in.size() - 1;
  EXPECT_EQ(errorOf(in, limits), ParseError::kHeadersTooLarge);
}

TEST(RequestParser, RejectsMoreHeadersThanTheLimit) {
  Limits limits;
  limits.maxHeaders = 3;
  RequestHead head;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", head, limits).status,
            ParseStatus::kComplete);
  const ParseResult r = parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC", head, limits);
  ASSERT_EQ(r.status, ParseStatus::kError) << "detected at the first byte of the extra line";
  EXPECT_EQ(r.error, ParseError::kTooManyHeaders);
  EXPECT_EQ(httpStatus(r.error), 431);
}

TEST(RequestParser, RejectsWhitespaceBeforeTheFirstHeader) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n"), ParseError::kObsFold);
}

TEST(RequestParser, RejectsGarbageEarly) {
  RequestHead head;
  // A TLS ClientHello sent to the plaintext port fails at its first byte, not after 8 KiB.
  const ParseResult r = parse("\x16\x03\x01\x02", head);
  EXPECT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, ParseError::kBadRequestLine);
  EXPECT_EQ(errorOf("GET\x16 / HTTP/1.1\r\n"), ParseError::kBadMethod);
}

TEST(ParseErrors, MapToDocumentedStatusesAndUniqueNames) {
  EXPECT_EQ(httpStatus(ParseError::kBadTransferEncoding), 400);
  EXPECT_EQ(httpStatus(ParseError::kLengthAndChunked), 400);
  EXPECT_EQ(httpStatus(ParseError::kMissingHost), 400);
  EXPECT_EQ(httpStatus(ParseError::kBadStatusLine), 502);
  std::vector<std::string_view> names;
  for (int e = static_cast<int>(ParseError::kNone); e <= static_cast<int>(ParseError::kBadStatusLine); ++e) {
    const std::string_view name = errorName(static_cast<ParseError>(e));
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(std::find(names.begin(), names.end(), name) == names.end()) << name;
    names.push_back(name);
  }
}

TEST(HeaderHelpers, CompareCaseInsensitivelyAndFindListTokens) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(iequals("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(iequals("a\xc1", "a\xe1"));  // only ASCII letters fold
  EXPECT_TRUE(headerHasToken("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(headerHasToken(" close ", "close"));
  EXPECT_FALSE(headerHasToken("closed, xclose", "close"));
  EXPECT_FALSE(headerHasToken("", "close"));
}

}  // namespace
}  // namespace bulwark::h1
