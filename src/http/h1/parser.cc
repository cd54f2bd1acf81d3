// Strict HTTP/1.1 head parser (RFC 9112 sections 2-6, RFC 9110 section 5).
//
// The scanner reads the head strictly left to right and decides every error at the first byte that
// makes the message invalid, using only the bytes before it. So a prefix of a message is either
// kIncomplete or already fails with the same error as the whole message: feeding the bytes one at a time
// gives the same answer as feeding them at once, and a slow client sending garbage is rejected early.
// Size limits follow the same rule: the byte that would exceed a limit is the error.
//
// Framing (Content-Length, Transfer-Encoding, Host) is decided in a second pass over the parsed header
// list, once the head is complete.
#include "http/h1/parser.h"

#include <array>
#include <cstring>
#include <limits>

namespace bulwark::h1 {
namespace {

// Character classes, one bit each, looked up in a single 256-entry table.
constexpr std::uint8_t kTcharBit = 1;   // RFC 9110 tchar: method, header names, tokens
constexpr std::uint8_t kFieldBit = 2;   // field-value byte: SP, HTAB, VCHAR, obs-text (0x80-0xFF)
constexpr std::uint8_t kTargetBit = 4;  // request-target byte: VCHAR only (no CTL, SP, DEL, >= 0x80)
constexpr std::uint8_t kHostBit = 8;    // Host value: unreserved / pct-encoded / sub-delims / ":" "[" "]"

constexpr std::array<std::uint8_t, 256> makeCharTable() {
  std::array<std::uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    const bool vchar = c >= 0x21 && c <= 0x7E;
    std::uint8_t bits = 0;
    if (alpha || digit) bits |= kTcharBit | kHostBit;
    for (const char* p = "!#$%&'*+-.^_`|~"; *p != '\0'; ++p) {
      if (c == *p) bits |= kTcharBit;
    }
    // reg-name/IP-literal bytes, without '%': a percent-encoded host ("localhost%00") is refused, since
    // the gateway and the origin could decode it differently.
    for (const char* p = "-._~!$&'()*+,;=:[]"; *p != '\0'; ++p) {
      if (c == *p) bits |= kHostBit;
    }
    if (vchar || c == ' ' || c == '\t' || c >= 0x80) bits |= kFieldBit;
    if (vchar) bits |= kTargetBit;
    table[static_cast<std::size_t>(c)] = bits;
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> kCharTable = makeCharTable();

inline bool hasClass(char c, std::uint8_t bit) noexcept {
  return (kCharTable[static_cast<unsigned char>(c)] & bit) != 0;
}
inline bool isTchar(char c) noexcept { return hasClass(c, kTcharBit); }
inline bool isOws(char c) noexcept { return c == ' ' || c == '\t'; }
inline bool isDigit(char c) noexcept { return c >= '0' && c <= '9'; }

// Word-at-a-time skipping for the two long runs in a head, the request-target and header values. A word
// is skipped only when none of its eight bytes can end the run; otherwise the byte loop after it finds
// the exact stop, so these only make the scan faster, never different.
constexpr std::uint64_t kEveryByte = 0x0101010101010101ull;
constexpr std::uint64_t kHighBits = 0x8080808080808080ull;

// Non-zero if some byte of `w` is below `n` (n <= 0x80); exact as a yes/no answer.
constexpr std::uint64_t anyByteBelow(std::uint64_t w, std::uint64_t n) noexcept {
  return (w - kEveryByte * n) & ~w & kHighBits;
}
// Non-zero if some byte of `w` equals `v`.
constexpr std::uint64_t anyByteEquals(std::uint64_t w, std::uint64_t v) noexcept {
  const std::uint64_t x = w ^ (kEveryByte * v);
  return (x - kEveryByte) & ~x & kHighBits;
}

inline std::uint64_t loadWord(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Skips field-value bytes from `i`: every word without CTL (< 0x20, so also CR, LF and HTAB) or DEL.
inline std::size_t skipFieldBytes(const char* b, std::size_t i, std::size_t n) noexcept {
  while (n - i >= 8) {
    const std::uint64_t w = loadWord(b + i);
    if ((anyByteBelow(w, 0x20) | anyByteEquals(w, 0x7F)) != 0) break;
    i += 8;
  }
  while (i < n && hasClass(b[i], kFieldBit)) ++i;
  return i;
}

// Skips request-target bytes (VCHAR) from `i`, up to `n`.
inline std::size_t skipTargetBytes(const char* b, std::size_t i, std::size_t n) noexcept {
  while (n - i >= 8) {
    const std::uint64_t w = loadWord(b + i);
    if ((anyByteBelow(w, 0x21) | anyByteEquals(w, 0x7F) | (w & kHighBits)) != 0) break;
    i += 8;
  }
  while (i < n && hasClass(b[i], kTargetBit)) ++i;
  return i;
}

inline std::size_t skipTchars(const char* b, std::size_t i, std::size_t n) noexcept {
  while (i < n && isTchar(b[i])) ++i;
  return i;
}

inline char toLower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

constexpr ParseResult incomplete() noexcept {
  return ParseResult{ParseStatus::kIncomplete, 0, ParseError::kNone};
}
constexpr ParseResult fail(ParseError e) noexcept { return ParseResult{ParseStatus::kError, 0, e}; }
constexpr ParseResult complete(std::size_t consumed) noexcept {
  return ParseResult{ParseStatus::kComplete, consumed, ParseError::kNone};
}

std::string_view trimOws(std::string_view v) noexcept {
  while (!v.empty() && isOws(v.front())) v.remove_prefix(1);
  while (!v.empty() && isOws(v.back())) v.remove_suffix(1);
  return v;
}

bool isToken(std::string_view v) noexcept {
  if (v.empty()) return false;
  for (char c : v) {
    if (!isTchar(c)) return false;
  }
  return true;
}

// Calls `f(element)` for each OWS-trimmed element of a comma-separated list. Returns false, without
// finishing, at the first empty element: RFC 9110 5.6.1 asks recipients to skip empty elements, but in
// Content-Length and Transfer-Encoding they are a classic way to make two parsers disagree, so we refuse.
template <typename F>
bool forEachStrictListElement(std::string_view value, F&& f) {
  for (;;) {
    const std::size_t comma = value.find(',');
    const std::string_view element = trimOws(value.substr(0, comma));
    if (element.empty() || !f(element)) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

// Content-Length element: 1..19 decimal digits, so the value always fits in 64 bits.
constexpr std::size_t kMaxContentLengthDigits = 19;

bool parseContentLength(std::string_view v, std::uint64_t& out) noexcept {
  if (v.empty() || v.size() > kMaxContentLengthDigits) return false;
  std::uint64_t n = 0;
  for (char c : v) {
    if (!isDigit(c)) return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = n;
  return true;
}

// Result of checking `HTTP/d.d`: supported (minor set), well-formed but unsupported, or not a version.
enum class VersionCheck { kOk, kUnsupported, kGarbage };

VersionCheck checkVersion(std::string_view v, int& minor) noexcept {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7])) {
    return VersionCheck::kGarbage;
  }
  // HTTP/0.x has no request line of this form: a malformed request (400, as Apache and nginx answer).
  if (v[5] == '0') return VersionCheck::kGarbage;
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return VersionCheck::kUnsupported;
  minor = v[7] - '0';
  return VersionCheck::kOk;
}

std::size_t saturatingAdd(std::size_t a, std::size_t b) noexcept {
  return b > std::numeric_limits<std::size_t>::max() - a ? std::numeric_limits<std::size_t>::max() : a + b;
}

// Parses header lines from `pos` up to and including the empty line; sets `pos` past it on success.
// `in` is already cut at the head-size limit, so running out of bytes means "incomplete" to the caller.
ParseResult parseHeaderLines(std::string_view in, std::size_t& pos, std::size_t maxHeaders,
                             std::vector<Header>& headers) {
  const char* const b = in.data();
  const std::size_t n = in.size();
  std::size_t i = pos;
  for (;;) {
    if (i == n) return incomplete();
    const char first = b[i];
    if (first == '\r') {
      if (i + 1 == n) return incomplete();
      if (b[i + 1] != '\n') return fail(ParseError::kBareCr);
      pos = i + 2;
      return complete(pos);
    }
    if (first == '\n') return fail(ParseError::kBareLf);
    // A line starting with whitespace is obs-fold, or (right after the start line) an attempt to hide a
    // header from parsers that skip it; RFC 9112 2.2 and 5.2 let a server reject both.
    if (isOws(first)) return fail(ParseError::kObsFold);
    if (headers.size() == maxHeaders) return fail(ParseError::kTooManyHeaders);

    const std::size_t nameStart = i;
    while (i < n && isTchar(b[i])) ++i;
    if (i == n) return incomplete();
    if (b[i] != ':' || i == nameStart) return fail(ParseError::kBadHeaderName);
    const std::string_view name(b + nameStart, i - nameStart);
    ++i;

    while (i < n && isOws(b[i])) ++i;
    const std::size_t valueStart = i;
    i = skipFieldBytes(b, i, n);
    if (i == n) return incomplete();
    if (b[i] == '\r') {
      if (i + 1 == n) return incomplete();
      if (b[i + 1] != '\n') return fail(ParseError::kBareCr);
    } else if (b[i] == '\n') {
      return fail(ParseError::kBareLf);
    } else {
      return fail(ParseError::kBadHeaderValue);  // NUL, DEL or another control byte
    }
    std::size_t valueEnd = i;
    while (valueEnd > valueStart && isOws(b[valueEnd - 1])) --valueEnd;
    headers.push_back(Header{name, std::string_view(b + valueStart, valueEnd - valueStart)});
    i += 2;
  }
}

// Header fields that influence framing or connection handling; the others are only listed in `headers`.
enum class KnownHeader { kOther, kContentLength, kTransferEncoding, kHost, kConnection, kUpgrade, kExpect };

KnownHeader classifyHeader(std::string_view name) noexcept {
  switch (name.size()) {
    case 4:
      return iequals(name, "host") ? KnownHeader::kHost : KnownHeader::kOther;
    case 6:
      return iequals(name, "expect") ? KnownHeader::kExpect : KnownHeader::kOther;
    case 7:
      return iequals(name, "upgrade") ? KnownHeader::kUpgrade : KnownHeader::kOther;
    case 10:
      return iequals(name, "connection") ? KnownHeader::kConnection : KnownHeader::kOther;
    case 14:
      return iequals(name, "content-length") ? KnownHeader::kContentLength : KnownHeader::kOther;
    case 17:
      return iequals(name, "transfer-encoding") ? KnownHeader::kTransferEncoding : KnownHeader::kOther;
    default:
      return KnownHeader::kOther;
  }
}

// What the header list says about framing and the connection, gathered in one pass so that the order
// of the header lines never changes which error is reported.
struct HeaderSummary {
  bool hasContentLength = false;
  bool badContentLength = false;  // bad syntax, or values that differ
  std::uint64_t contentLength = 0;

  bool hasTransferEncoding = false;
  bool badTransferEncoding = false;  // an element that is empty or not a plain token (e.g. `chunked;x`)
  std::size_t codings = 0;           // transfer codings over all Transfer-Encoding lines
  std::size_t chunkedCodings = 0;    // how many of them are `chunked`
  bool lastCodingIsChunked = false;

  std::size_t hostCount = 0;
  std::string_view host;

  bool connectionClose = false;
  bool connectionKeepAlive = false;
  bool connectionUpgrade = false;
  bool hasUpgrade = false;
  bool expectContinue = false;
};

void summarizeHeaders(const std::vector<Header>& headers, HeaderSummary& s) {
  for (const Header& h : headers) {
    switch (classifyHeader(h.name)) {
      case KnownHeader::kContentLength:
        // Several Content-Length lines or a list are tolerated only when every value is the same
        // (RFC 9110 8.6); the value cannot be empty.
        if (!forEachStrictListElement(h.value, [&](std::string_view element) {
              std::uint64_t v = 0;
              if (!parseContentLength(element, v)) return false;
              if (s.hasContentLength && v != s.contentLength) return false;
              s.hasContentLength = true;
              s.contentLength = v;
              return true;
            })) {
          s.badContentLength = true;
        }
        s.hasContentLength = true;
        break;
      case KnownHeader::kTransferEncoding:
        s.hasTransferEncoding = true;
        if (!forEachStrictListElement(h.value, [&](std::string_view coding) {
              if (!isToken(coding)) return false;
              const bool chunked = iequals(coding, "chunked");
              ++s.codings;
              if (chunked) ++s.chunkedCodings;
              s.lastCodingIsChunked = chunked;
              return true;
            })) {
          s.badTransferEncoding = true;
        }
        break;
      case KnownHeader::kHost:
        ++s.hostCount;
        s.host = h.value;
        break;
      case KnownHeader::kConnection:
        s.connectionClose = s.connectionClose || headerHasToken(h.value, "close");
        s.connectionKeepAlive = s.connectionKeepAlive || headerHasToken(h.value, "keep-alive");
        s.connectionUpgrade = s.connectionUpgrade || headerHasToken(h.value, "upgrade");
        break;
      case KnownHeader::kUpgrade:
        s.hasUpgrade = true;
        break;
      case KnownHeader::kExpect:
        s.expectContinue = s.expectContinue || iequals(h.value, "100-continue");
        break;
      case KnownHeader::kOther:
        break;
    }
  }
}

bool isValidHost(std::string_view host) noexcept {
  for (char c : host) {
    if (!hasClass(c, kHostBit)) return false;
  }
  return true;
}

// authority-form (CONNECT only): host ":" port, with a non-empty host and a 1..5 digit port.
bool isAuthorityForm(std::string_view target) noexcept {
  const std::size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view port = target.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!isDigit(c)) return false;
  }
  const std::string_view host = target.substr(0, colon);
  return isValidHost(host) && host.find('@') == std::string_view::npos;
}

// absolute-form with an http or https scheme; returns the authority, or "" if the target is not one.
// Userinfo is refused (RFC 9110 4.2.4 tells recipients to treat it as an error).
std::string_view absoluteFormAuthority(std::string_view target) noexcept {
  std::size_t schemeLength = 0;
  if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {
    schemeLength = 7;
  } else if (target.size() > 8 && iequals(target.substr(0, 8), "https://")) {
    schemeLength = 8;
  } else {
    return {};
  }
  const std::string_view rest = target.substr(schemeLength);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos || !isValidHost(authority)) return {};
  return authority;
}

// Checks the request-target against the form its method allows (RFC 9112 3.2).
bool isTargetAllowed(std::string_view method, std::string_view target) noexcept {
  if (method == "CONNECT") return isAuthorityForm(target);
  if (target.front() == '/') return true;
  if (target == "*") return method == "OPTIONS";
  return !absoluteFormAuthority(target).empty();
}

// Scans one request-line field from `i` with `skip(data, from, to)`, which returns the end of the run it
// accepts, staying inside the request-line limit. Returns true when the caller may look at in[i];
// otherwise `result` says incomplete or 414.
template <typename Skip>
bool scanLineField(std::string_view in, std::size_t& i, std::size_t contentEnd, Skip&& skip,
                   ParseResult& result) {
  const std::size_t n = in.size();
  i = skip(in.data(), i, contentEnd < n ? contentEnd : n);
  if (i == n) {
    result = incomplete();
    return false;
  }
  // The byte at the limit may only be the CR that ends the line; anything else makes the line too long.
  if (i >= contentEnd && in[i] != '\r') {
    result = fail(ParseError::kRequestLineTooLong);
    return false;
  }
  return true;
}

// Parses `method SP request-target SP HTTP-version CRLF` from `pos`; sets `pos` past the CRLF.
ParseResult parseRequestLine(std::string_view in, std::size_t& pos, std::size_t maxLine, RequestHead& out) {
  const std::size_t n = in.size();
  const std::size_t start = pos;
  const std::size_t contentEnd = saturatingAdd(start, maxLine);
  ParseResult result;
  std::size_t i = start;

  if (!scanLineField(in, i, contentEnd, skipTchars, result)) return result;
  if (in[i] != ' ') {
    const bool lineEnds = in[i] == '\r' || in[i] == '\n';
    return fail(lineEnds || i == start ? ParseError::kBadRequestLine : ParseError::kBadMethod);
  }
  if (i == start) return fail(ParseError::kBadRequestLine);
  out.method = in.substr(start, i - start);

  const std::size_t targetStart = ++i;
  if (!scanLineField(in, i, contentEnd, skipTargetBytes, result)) return result;
  if (in[i] != ' ') {
    return fail(in[i] == '\r' || in[i] == '\n' ? ParseError::kBadRequestLine : ParseError::kBadTarget);
  }
  if (i == targetStart) return fail(ParseError::kBadTarget);
  out.target = in.substr(targetStart, i - targetStart);

  const std::size_t versionStart = ++i;
  if (!scanLineField(in, i, contentEnd, skipTargetBytes, result)) return result;
  if (in[i] == '\n') return fail(ParseError::kBareLf);
  if (in[i] != '\r') return fail(ParseError::kBadRequestLine);  // a third SP, or a control byte
  if (i + 1 == n) return incomplete();
  if (in[i + 1] != '\n') return fail(ParseError::kBareCr);
  switch (checkVersion(in.substr(versionStart, i - versionStart), out.versionMinor)) {
    case VersionCheck::kOk:
      break;
    case VersionCheck::kUnsupported:
      return fail(ParseError::kBadVersion);
    case VersionCheck::kGarbage:
      return fail(ParseError::kBadRequestLine);
  }
  // A fragment is never sent in a request-target (RFC 9112 3.2): a client that sends one is broken or probing.
  if (!isTargetAllowed(out.method, out.target) || out.target.find('#') != std::string_view::npos) {
    return fail(ParseError::kBadTarget);
  }
  pos = i + 2;
  return complete(pos);
}

ParseResult finishRequest(RequestHead& out, std::size_t consumed) {
  HeaderSummary s;
  summarizeHeaders(out.headers, s);

  // Framing first: it is what smuggling attacks target, so its error wins when several apply.
  if (s.hasTransferEncoding && s.hasContentLength) return fail(ParseError::kLengthAndChunked);
  if (s.badContentLength) return fail(ParseError::kBadContentLength);
  if (s.hasTransferEncoding) {
    // Only a single `chunked` is accepted: anything else either cannot be framed (chunked not final, RFC
    // 9112 6.3) or asks us to decode a coding we do not implement. HTTP/1.0 has no Transfer-Encoding,
    // so a 1.0 message carrying one has faulty framing (RFC 9112 6.1).
    if (s.badTransferEncoding || s.codings != 1 || !s.lastCodingIsChunked || out.versionMinor == 0) {
      return fail(ParseError::kBadTransferEncoding);
    }
    out.framing = BodyFraming::kChunked;
  } else if (s.hasContentLength) {
    out.framing = BodyFraming::kContentLength;
    out.contentLength = s.contentLength;
  }

  if (s.hostCount > 1 || (s.hostCount == 0 && out.versionMinor == 1)) return fail(ParseError::kMissingHost);
  // An empty Host names no site to route to (Apache and nginx answer 400 too).
  if (s.hostCount == 1 && s.host.empty()) return fail(ParseError::kMissingHost);
  if (!isValidHost(s.host)) return fail(ParseError::kBadHeaderValue);
  out.host = s.host;

  // With absolute-form, the origin uses the target's authority and ignores Host (RFC 9112 3.2.2) while we
  // route on Host: require both to agree so routing and the origin see the same site.
  if (out.target.front() != '/' && out.target != "*" && out.method != "CONNECT" && s.hostCount == 1 &&
      !iequals(absoluteFormAuthority(out.target), s.host)) {
    return fail(ParseError::kBadTarget);
  }

  out.keepAlive = out.versionMinor == 1 ? !s.connectionClose : (s.connectionKeepAlive && !s.connectionClose);
  out.expectContinue = s.expectContinue;
  out.upgrade = s.connectionUpgrade && s.hasUpgrade;
  return complete(consumed);
}

// Parses `HTTP-version SP 3DIGIT [SP reason-phrase] CRLF` from the start of `in`; sets `pos` past it.
ParseResult parseStatusLine(std::string_view in, std::size_t& pos, ResponseHead& out) {
  const char* const b = in.data();
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (i < n && hasClass(b[i], kTargetBit)) ++i;
  if (i == n) return incomplete();
  if (b[i] != ' ') return fail(ParseError::kBadStatusLine);
  switch (checkVersion(in.substr(0, i), out.versionMinor)) {
    case VersionCheck::kOk:
      break;
    case VersionCheck::kUnsupported:
      return fail(ParseError::kBadVersion);
    case VersionCheck::kGarbage:
      return fail(ParseError::kBadStatusLine);
  }
  ++i;
  int status = 0;
  for (int digit = 0; digit < 3; ++digit, ++i) {
    if (i == n) return incomplete();
    if (!isDigit(b[i])) return fail(ParseError::kBadStatusLine);
    status = status * 10 + (b[i] - '0');
  }
  // RFC 9110 15: codes outside 100..599 are not HTTP status codes.
  if (status < 100 || status > 599) return fail(ParseError::kBadStatusLine);
  out.status = status;

  if (i == n) return incomplete();
  std::size_t reasonStart = i;
  if (b[i] == ' ') {
    reasonStart = ++i;
    while (i < n && hasClass(b[i], kFieldBit)) ++i;
    if (i == n) return incomplete();
  }
  if (b[i] == '\n') return fail(ParseError::kBareLf);
  if (b[i] != '\r') return fail(ParseError::kBadStatusLine);
  if (i + 1 == n) return incomplete();
  if (b[i + 1] != '\n') return fail(ParseError::kBareCr);
  out.reason = in.substr(reasonStart, i - reasonStart);
  pos = i + 2;
  return complete(pos);
}

ParseResult finishResponse(ResponseHead& out, std::string_view requestMethod, std::size_t consumed) {
  HeaderSummary s;
  summarizeHeaders(out.headers, s);
  // A malformed Content-Length says the origin is broken even when the response has no body.
  if (s.badContentLength) return fail(ParseError::kBadContentLength);

  out.keepAlive = out.versionMinor == 1 ? !s.connectionClose : (s.connectionKeepAlive && !s.connectionClose);

  // RFC 9112 6.3 items 1-2: these responses never have content, whatever their headers say.
  const int status = out.status;
  const bool noContent = requestMethod == "HEAD" || status < 200 || status == 204 || status == 304 ||
                         (requestMethod == "CONNECT" && status < 300);
  if (noContent) {
    out.framing = BodyFraming::kNone;
    return complete(consumed);
  }

  if (s.hasTransferEncoding) {
    // RFC 9112 6.3 item 3 lets Transfer-Encoding override Content-Length but calls the pair a likely
    // smuggling or splitting attempt; a gateway has no reason to forward it, so it is an error.
    if (s.hasContentLength) return fail(ParseError::kLengthAndChunked);
    if (s.badTransferEncoding || s.chunkedCodings > 1 || out.versionMinor == 0) {
      return fail(ParseError::kBadTransferEncoding);
    }
    if (s.lastCodingIsChunked) {
      out.framing = BodyFraming::kChunked;
    } else {
      // Chunked is not the final coding: the body runs to the end of the connection (RFC 9112 6.3 item 4).
      out.framing = BodyFraming::kUntilClose;
      out.keepAlive = false;
    }
  } else if (s.hasContentLength) {
    out.framing = BodyFraming::kContentLength;
    out.contentLength = s.contentLength;
  } else {
    out.framing = BodyFraming::kUntilClose;
    out.keepAlive = false;
  }
  return complete(consumed);
}

}  // namespace

int httpStatus(ParseError e) noexcept {
  switch (e) {
    case ParseError::kBadVersion:
      return 505;
    case ParseError::kRequestLineTooLong:
      return 414;
    case ParseError::kHeadersTooLarge:
    case ParseError::kTooManyHeaders:
      return 431;
    case ParseError::kBadStatusLine:
      return 502;            // only produced for origin responses: the client gets a Bad Gateway
    case ParseError::kNone:  // not an error; 400 rather than 0 so a misuse still sends a valid status
    case ParseError::kBadRequestLine:
    case ParseError::kBadMethod:
    case ParseError::kBadTarget:
    case ParseError::kBadHeaderName:
    case ParseError::kBadHeaderValue:
    case ParseError::kObsFold:
    case ParseError::kBareCr:
    case ParseError::kBareLf:
    case ParseError::kBadContentLength:
    case ParseError::kLengthAndChunked:
    case ParseError::kBadTransferEncoding:
    case ParseError::kMissingHost:
      return 400;
  }
  return 400;
}

std::string_view errorName(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone:
      return "none";
    case ParseError::kBadRequestLine:
      return "bad_request_line";
    case ParseError::kBadMethod:
      return "bad_method";
    case ParseError::kBadTarget:
      return "bad_target";
    case ParseError::kBadVersion:
      return "bad_version";
    case ParseError::kRequestLineTooLong:
      return "request_line_too_long";
    case ParseError::kHeadersTooLarge:
      return "headers_too_large";
    case ParseError::kTooManyHeaders:
      return "too_many_headers";
    case ParseError::kBadHeaderName:
      return "bad_header_name";
    case ParseError::kBadHeaderValue:
      return "bad_header_value";
    case ParseError::kObsFold:
      return "obs_fold";
    case ParseError::kBareCr:
      return "bare_cr";
    case ParseError::kBareLf:
      return "bare_lf";
    case ParseError::kBadContentLength:
      return "bad_content_length";
    case ParseError::kLengthAndChunked:
      return "length_and_chunked";
    case ParseError::kBadTransferEncoding:
      return "bad_transfer_encoding";
    case ParseError::kMissingHost:
      return "missing_host";
    case ParseError::kBadStatusLine:
      return "bad_status_line";
  }
  return "unknown";
}

ParseResult parseRequestHead(std::string_view input, const Limits& limits, RequestHead& out) {
  out.headers.clear();
  out.method = {};
  out.target = {};
  out.versionMinor = 1;
  out.host = {};
  out.framing = BodyFraming::kNone;
  out.contentLength = 0;
  out.keepAlive = true;
  out.expectContinue = false;
  out.upgrade = false;

  // Everything past the head-size limit is out of reach: if the head has not ended by then, that byte
  // is the error (431), whichever state the scanner is in.
  const std::string_view in = input.substr(0, limits.maxHeaderBytes);
  const auto limitOrIncomplete = [&](ParseResult r) {
    if (r.status == ParseStatus::kIncomplete && input.size() > in.size()) {
      return fail(ParseError::kHeadersTooLarge);
    }
    return r;
  };

  std::size_t pos = 0;
  // RFC 9112 2.2: a server should ignore at least one empty line before the request-line; we skip
  // exactly one, so a stream of CRLFs cannot keep a connection busy for free.
  if (!in.empty() && in[0] == '\r') {
    if (in.size() == 1) return limitOrIncomplete(incomplete());
    if (in[1] != '\n') return fail(ParseError::kBareCr);
    pos = 2;
  } else if (!in.empty() && in[0] == '\n') {
    return fail(ParseError::kBareLf);
  }

  ParseResult r = parseRequestLine(in, pos, limits.maxRequestLine, out);
  if (r.status != ParseStatus::kComplete) return limitOrIncomplete(r);
  r = parseHeaderLines(in, pos, limits.maxHeaders, out.headers);
  if (r.status != ParseStatus::kComplete) return limitOrIncomplete(r);
  return finishRequest(out, pos);
}

ParseResult parseResponseHead(std::string_view input, const Limits& limits, std::string_view requestMethod,
                              ResponseHead& out) {
  out.headers.clear();
  out.versionMinor = 1;
  out.status = 0;
  out.reason = {};
  out.framing = BodyFraming::kNone;
  out.contentLength = 0;
  out.keepAlive = true;

  const std::string_view in = input.substr(0, limits.maxHeaderBytes);
  const auto limitOrIncomplete = [&](ParseResult r) {
    if (r.status == ParseStatus::kIncomplete && input.size() > in.size()) {
      return fail(ParseError::kHeadersTooLarge);
    }
    return r;
  };

  std::size_t pos = 0;
  ParseResult r = parseStatusLine(in, pos, out);
  if (r.status != ParseStatus::kComplete) return limitOrIncomplete(r);
  r = parseHeaderLines(in, pos, limits.maxHeaders, out.headers);
  if (r.status != ParseStatus::kComplete) return limitOrIncomplete(r);
  return finishResponse(out, requestMethod, pos);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

bool headerHasToken(std::string_view value, std::string_view token) noexcept {
  for (;;) {
    const std::size_t comma = value.find(',');
    if (iequals(trimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace bulwark::h1
