// Strict, zero-copy, incremental HTTP/1.1 message-head parser.
//
// Contract (in the spirit of picohttpparser): parseRequestHead()/parseResponseHead() look at the bytes
// received so far and return exactly one of
//   - kComplete:   the head (start line + headers + empty line) is complete; `consumed` bytes were used and
//                  the views in the output point into `input` (the caller keeps those bytes alive);
//   - kIncomplete: more bytes are needed; nothing in the output is valid; call again with more input
//                  (the parser is stateless, it re-parses from the start: heads are small and bounded);
//   - kError:      the message is malformed or exceeds a limit; `error` says why and `httpStatus()` the
//                  status to answer with (400, 414, 431, 505; 502 for a bad status line). The connection
//                  must be closed.
// Framing is decided here once (RFC 9112 section 6.3) and never re-derived by the proxy, so the gateway and
// the origin cannot disagree on where a message ends: every ambiguity is an error, never a guess.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace bulwark::h1 {

struct Limits {
  std::size_t maxRequestLine = 8192;   // bytes of the request line without CRLF; over it: 414
  std::size_t maxHeaderBytes = 32768;  // bytes of the whole head including the start line; over it: 431
  std::size_t maxHeaders = 100;        // header fields; over it: 431
};

enum class ParseStatus { kComplete, kIncomplete, kError };

enum class ParseError {
  kNone,
  kBadRequestLine,        // 400: not `method SP target SP HTTP/1.x CRLF`
  kBadMethod,             // 400: method is not a token
  kBadTarget,             // 400: invalid byte in the request target, or empty target
  kBadVersion,            // 505: well-formed HTTP/d.d other than 1.0/1.1 (garbage is kBadRequestLine, 400)
  kRequestLineTooLong,    // 414
  kHeadersTooLarge,       // 431
  kTooManyHeaders,        // 431
  kBadHeaderName,         // 400: empty or non-token name, space before colon
  kBadHeaderValue,        // 400: control byte or NUL in a value
  kObsFold,               // 400: continuation line (obs-fold)
  kBareCr,                // 400: CR not followed by LF
  kBareLf,                // 400: LF line ending without CR
  kBadContentLength,      // 400: not all digits, overflow, or several different values
  kLengthAndChunked,      // 400: Content-Length together with Transfer-Encoding
  kBadTransferEncoding,   // 400: request TE not exactly `chunked` (or on HTTP/1.0); malformed response TE
  kMissingHost,           // 400: HTTP/1.1 request without exactly one Host header
  kBadStatusLine,         // 502, response only: malformed status line
};

// The HTTP status code to answer a parse error with.
int httpStatus(ParseError e) noexcept;
// A short stable name for logs and metrics ("bad_content_length", ...).
std::string_view errorName(ParseError e) noexcept;

enum class BodyFraming {
  kNone,           // no body (request without CL/TE, HEAD response, 1xx/204/304)
  kContentLength,  // exactly `contentLength` bytes follow
  kChunked,        // chunked transfer coding (the only Transfer-Encoding we accept: a single final `chunked`)
  kUntilClose,     // response only: body ends when the origin closes
};

struct Header {
  std::string_view name;   // as received (case preserved); compare with iequals()
  std::string_view value;  // leading/trailing OWS removed
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // origin-form, absolute-form, authority-form (CONNECT) or "*" (OPTIONS)
  int versionMinor = 1;     // 0 or 1 (HTTP/1.0 or HTTP/1.1)
  std::vector<Header> headers;
  std::string_view host;    // value of the Host header ("" if absent and HTTP/1.0)
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t contentLength = 0;  // valid when framing == kContentLength
  bool keepAlive = true;            // from version and Connection header
  bool expectContinue = false;      // `Expect: 100-continue`
  bool upgrade = false;             // Connection: upgrade + Upgrade header present
};

struct ResponseHead {
  int versionMinor = 1;
  int status = 0;
  std::string_view reason;
  std::vector<Header> headers;
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t contentLength = 0;
  bool keepAlive = true;
};

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  std::size_t consumed = 0;  // bytes of the head, valid when status == kComplete
  ParseError error = ParseError::kNone;
};

// Parses a request head. `out.headers` is cleared first; its capacity is reused across calls.
ParseResult parseRequestHead(std::string_view input, const Limits& limits, RequestHead& out);

// Parses a response head. `requestMethod` decides framing for HEAD and CONNECT (RFC 9112 6.3).
// 1xx responses are returned as complete heads with framing kNone; the caller skips them.
ParseResult parseResponseHead(std::string_view input, const Limits& limits, std::string_view requestMethod,
                              ResponseHead& out);

// ASCII case-insensitive comparison for header names and tokens.
bool iequals(std::string_view a, std::string_view b) noexcept;

// True if `token` appears in the comma-separated list `value` (case-insensitive), e.g. Connection: close.
bool headerHasToken(std::string_view value, std::string_view token) noexcept;

}  // namespace bulwark::h1
