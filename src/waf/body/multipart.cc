// multipart/form-data: ModSecurity v2's msc_multipart.c semantics (boundary rules, MULTIPART_* flags, part
// header and Content-Disposition grammar) over a body held in memory. docs/waf-body-processors.md lists the
// deliberate differences from v2.
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

// v2 reads the body in pieces of at most this many bytes: a piece ends after '\n' or when it is full (and a
// full piece never ends with '\r', so CRLF is never split). Boundaries are recognised only at the start of a
// piece that starts a line and a part header line must fit in one piece; the same size gives the same
// verdicts on long lines.
constexpr std::size_t kPieceSize = 4096;
constexpr std::size_t kMaxContentTypeLength = 1024;
// v2 has no such cap, but it looks headers up linearly; a cap keeps a part with thousands of headers from
// costing quadratic time. Real clients send two or three.
constexpr std::size_t kMaxPartHeaders = 100;
constexpr std::size_t kMaxQuotedBytes = 64;  // of a hostile line echoed into an error message
constexpr std::string_view kFormDataType = "multipart/form-data";

// isspace() in the C locale, which is what v2 uses in the places that accept more than SP and HTAB.
bool isCSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool isSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

bool isTokenChar(unsigned char c) {
  if (c <= 32 || c >= 127) return false;
  return std::strchr("()<>@,;:\\\"/[]?=", c) == nullptr;
}

// RFC 2046 bcharsnospace plus space, which may not be last.
bool boundaryCharsValid(std::string_view b) {
  for (std::size_t i = 0; i < b.size(); ++i) {
    unsigned char c = b[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c == ' ' && i + 1 < b.size()) || std::strchr("'()+_,-./:=?", c) != nullptr;
    if (!ok || c == '\0') return false;
  }
  return true;
}

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

// How many times "boundary" (any case) occurs with an '=' somewhere after it: v2 rejects a Content-Type with
// more than one, and a boundary value with any.
int countBoundaryParams(std::string_view s) {
  static constexpr std::string_view kWord = "boundary";
  std::size_t lastEquals = s.rfind('=');
  if (lastEquals == std::string_view::npos) return 0;
  int count = 0;
  for (std::size_t i = 0; i + kWord.size() <= s.size();) {
    if (equalsIgnoreCase(s.substr(i, kWord.size()), kWord)) {
      i += kWord.size();
      if (lastEquals >= i) ++count;
    } else {
      ++i;
    }
  }
  return count;
}

// v2's remove_lf_crlf_inplace: drops one trailing "\n" or "\r\n".
std::string_view stripLineEnd(std::string_view s) {
  if (!s.empty() && s.back() == '\n') {
    s.remove_suffix(1);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  }
  return s;
}

bool endsWithBareLf(std::string_view piece) {
  return !piece.empty() && piece.back() == '\n' && (piece.size() < 2 || piece[piece.size() - 2] != '\r');
}

// For error messages: printable ASCII as is, the rest as \xHH, at most kMaxQuotedBytes of input.
std::string quoteForLog(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMaxQuotedBytes; ++i) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (s.size() > kMaxQuotedBytes) out += "...";
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lowerAscii(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 5987 ext-value (the RFC 2231 form HTTP uses): charset'language'percent-encoded. The bytes are returned
// as sent, not converted from the charset. nullopt if it is not of that form.
std::optional<std::string> decodeExtValue(std::string_view v) {
  std::size_t q1 = v.find('\'');
  if (q1 == 0 || q1 == std::string_view::npos) return std::nullopt;
  std::size_t q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return std::nullopt;
  std::string out;
  for (std::size_t i = q2 + 1; i < v.size(); ++i) {
    if (v[i] != '%') {
      out.push_back(v[i]);
      continue;
    }
    int hi = i + 1 < v.size() ? hexValue(v[i + 1]) : -1;
    int lo = i + 2 < v.size() ? hexValue(v[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// One part as it is being read. At namespace scope: clang cannot default-construct a nested class with
// member initialisers inside its enclosing class.
struct Part {
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::size_t> lastHeader;  // the header a folded line continues
  std::optional<std::string> lastHeaderLine;
  std::vector<std::string> headerLines;  // MULTIPART_PART_HEADERS values
  std::optional<std::string> name;
  std::optional<std::string> filename;
  std::optional<std::string> filenameExt;  // filename*, decoded
  bool isFile = false;
  std::string value;  // form fields only; file contents are counted, not kept
  uint64_t size = 0;

  const std::string* header(std::string_view headerName) const {
    for (const auto& [n, v] : headers) {
      if (equalsIgnoreCase(n, headerName)) return &v;
    }
    return nullptr;
  }
};

class MultipartParser {
 public:
  MultipartParser(const Limits& limits, MultipartResult& out) : limits_(limits), out_(out) {}

  void parse(std::string_view contentType, std::string_view body) {
    if (initBoundary(contentType)) parseBody(body);
    MultipartFlags& f = out_.flags;
    f.crlfLfLines = f.lfLine && crlfLine_;
    // As v2's MULTIPART_STRICT_ERROR: every flag but UNMATCHED_BOUNDARY (and CRLF_LF_LINES, implied by
    // LF_LINE), plus the parse error itself.
    f.strictError = out_.error || f.boundaryQuoted || f.boundaryWhitespace || f.dataBefore || f.dataAfter ||
                    f.headerFolding || f.lfLine || f.missingSemicolon || f.invalidQuoting || f.invalidPart ||
                    f.invalidHeaderFolding || f.fileLimitExceeded;
  }

 private:
  enum class PartState { kHeaders, kData };

  bool fail(std::string message) {
    out_.error = true;
    out_.errorMsg = std::move(message);
    return false;
  }

  // v2's multipart_init: the boundary from the Content-Type, and the flags about how it was written.
  bool initBoundary(std::string_view ct) {
    ct = ct.substr(0, ct.find('\0'));  // v2 sees a C string
    if (ct.size() > kMaxContentTypeLength) return fail("Multipart: Invalid boundary in C-T (length).");
    if (ct.size() < kFormDataType.size() ||
        !equalsIgnoreCase(ct.substr(0, kFormDataType.size()), kFormDataType)) {
      return fail("Multipart: Invalid MIME type.");
    }
    if (countBoundaryParams(ct) > 1) return fail("Multipart: Multiple boundary parameters in C-T.");

    std::size_t at = ct.find("boundary");
    if (at == std::string_view::npos) {
      if (countBoundaryParams(ct) > 0) return fail("Multipart: Invalid boundary in C-T (case sensitivity).");
      return fail("Multipart: Boundary not found in C-T.");
    }
    bool seenSemicolon = false;
    for (std::size_t i = kFormDataType.size(); i < at; ++i) {
      if (isCSpace(ct[i])) continue;
      if (ct[i] != ';' || seenSemicolon) return fail("Multipart: Invalid boundary in C-T (malformed).");
      seenSemicolon = true;
    }
    if (!seenSemicolon) out_.flags.missingSemicolon = true;

    std::size_t equals = ct.find('=', at + 8);
    if (equals == std::string_view::npos) return fail("Multipart: Invalid boundary in C-T (malformed).");
    for (std::size_t i = at + 8; i < equals; ++i) {
      if (!isCSpace(ct[i])) return fail("Multipart: Invalid boundary in C-T (parameter name).");
      out_.flags.boundaryWhitespace = true;
    }
    std::string_view b = ct.substr(equals + 1);
    if (!b.empty() && isCSpace(b[0])) out_.flags.boundaryWhitespace = true;
    if (b.size() >= 2 && b.front() == '"' && b.back() == '"') {
      b = b.substr(1, b.size() - 2);
      out_.flags.boundaryQuoted = true;
    } else if ((!b.empty() && b.front() == '"') || (b.size() >= 2 && b.back() == '"')) {
      return fail("Multipart: Invalid boundary in C-T (quote).");
    }
    if (countBoundaryParams(b) != 0) return fail("Multipart: Invalid boundary in C-T (content).");
    if (!boundaryCharsValid(b)) return fail("Multipart: Invalid boundary in C-T (characters).");
    if (b.empty()) return fail("Multipart: Invalid boundary in C-T (empty).");
    boundary_ = b;
    dashBoundary_ = "--";
    dashBoundary_ += b;
    return true;
  }

  // Splits the body into v2's pieces and feeds them through the state machine.
  void parseBody(std::string_view body) {
    if (body.empty()) return;  // v2: no data seen, nothing to complete
    std::size_t pos = 0;
    while (pos < body.size()) {
      std::size_t avail = body.size() - pos;
      const char* start = body.data() + pos;
      const void* newline = std::memchr(start, '\n', std::min(avail, kPieceSize));
      std::size_t len;
      if (newline != nullptr) {
        len = static_cast<const char*>(newline) - start + 1;
      } else if (avail >= kPieceSize) {
        len = body[pos + kPieceSize - 1] == '\r' ? kPieceSize - 1 : kPieceSize;
      } else {
        break;  // an unterminated last line: only complete() looks at it
      }
      if (!processPiece(body.substr(pos, len))) return;
      pos += len;
      if (complete_ && pos < body.size()) {
        out_.flags.dataAfter = true;
        return;
      }
    }
    if (!complete_) finish(body.substr(pos));
  }

  bool startsWithBoundary(std::string_view s, std::size_t at) const {
    return s.size() >= at + boundary_.size() && s.compare(at, boundary_.size(), boundary_) == 0;
  }

  bool processPiece(std::string_view piece) {
    bool processedAsBoundary = false;
    // v2 measures the piece with strlen(), so a NUL byte hides what follows it.
    std::size_t cLength = std::min(piece.find('\0'), piece.size());
    if (atLineStart_ && cLength > 3 && piece[0] == '-' && piece[1] == '-') {
      if (startsWithBoundary(piece, 2)) {
        if (prevEndedBareLf_) out_.flags.lfLine = true;
        if (!partDataRead_ && boundaryCount_ > 0) {
          // Where the part's data should begin: the CRLF that belongs to the delimiter is missing. v2 keeps
          // the line as part content rather than end an empty part, since parsers disagree here.
          out_.flags.invalidPart = true;
        } else {
          std::string_view rest = piece.substr(2 + boundary_.size());
          bool isFinal = rest.substr(0, 2) == "--";
          if (isFinal) rest.remove_prefix(2);
          if (rest != "\r\n" && rest != "\n")
            return fail("Multipart: Invalid boundary: " + quoteForLog(piece));
          (rest == "\n" ? out_.flags.lfLine : crlfLine_) = true;
          if (!processBoundary(isFinal)) return false;
          if (isFinal) complete_ = true;
          processedAsBoundary = true;
          ++boundaryCount_;
        }
      } else {
        if (out_.flags.boundaryQuoted && cLength >= boundary_.size() + 3 && piece[2] == '"' &&
            startsWithBoundary(piece, 3)) {
          return fail("Multipart: Invalid boundary (quotes).");
        }
        std::size_t p = 2;
        while (p < cLength && isCSpace(piece[p])) ++p;
        if (p != 2 && startsWithBoundary(piece, p)) return fail("Multipart: Invalid boundary (whitespace).");
        out_.flags.unmatchedBoundary = true;
      }
    } else if (atLineStart_ &&
               memmem(piece.data(), piece.size(), dashBoundary_.data(), dashBoundary_.size()) != nullptr) {
      out_.flags.unmatchedBoundary = true;  // memmem: linear time whatever the boundary
    }

    if (!processedAsBoundary) {
      if (!part_) {
        out_.flags.dataBefore = true;
      } else if (partState_ == PartState::kHeaders) {
        if (piece.back() != '\n') return fail("Multipart: Part header line over 4096 bytes long");
        if (!processHeaderLine(piece)) return false;
      } else {
        processData(piece);
      }
    }
    atLineStart_ = piece.back() == '\n';
    prevEndedBareLf_ = endsWithBareLf(piece);
    return true;
  }

  // v2's multipart_complete: the body ended before the final boundary was processed.
  void finish(std::string_view leftover) {
    if (boundaryCount_ == 0) {
      fail("Multipart: No boundaries found in payload.");
      return;
    }
    // A final boundary without a line break after it is still the end.
    if (atLineStart_ && leftover.size() == boundary_.size() + 4 && startsWithBoundary(leftover, 2) &&
        leftover.substr(0, 2) == "--" && leftover.substr(leftover.size() - 2) == "--") {
      if (prevEndedBareLf_) out_.flags.lfLine = true;
      if (!partDataRead_) out_.flags.invalidPart = true;
      if (!processBoundary(true)) return;
      complete_ = true;
      return;
    }
    fail("Multipart: Final boundary missing.");
  }

  bool processBoundary(bool isFinal) {
    if (part_) {
      if (part_->name) {
        if (!finishPart(*part_)) return false;
      } else {
        out_.flags.invalidPart = true;
      }
      part_.reset();
    }
    if (isFinal) return true;
    if (++partCount_ > limits_.maxParts) {
      return fail("Multipart: More than " + std::to_string(limits_.maxParts) + " parts.");
    }
    part_.emplace();
    partState_ = PartState::kHeaders;
    partDataRead_ = false;
    reserve_ = {};
    return true;
  }

  bool finishPart(Part& part) {
    if (part.isFile) {
      const std::string* type = part.header("Content-Type");
      out_.files.push_back(MultipartFile{*part.name, part.filenameExt ? *part.filenameExt : *part.filename,
                                         part.size, type != nullptr ? *type : std::string()});
    } else {
      if (out_.args.size() >= limits_.maxArgs) {
        return fail("Multipart: More than " + std::to_string(limits_.maxArgs) + " arguments.");
      }
      out_.args.emplace_back(*part.name, std::move(part.value));
    }
    for (std::string& line : part.headerLines) out_.partHeaders.emplace_back(*part.name, std::move(line));
    return true;
  }

  bool processHeaderLine(std::string_view line) {
    if (line.find('\0') != std::string_view::npos) return fail("Multipart: Nul byte in part headers.");
    (endsWithBareLf(line) ? out_.flags.lfLine : crlfLine_) = true;
    Part& part = *part_;

    if (line == "\r\n" || line == "\n") return endHeaders(part);

    if (isCSpace(line[0])) {
      out_.flags.headerFolding = true;
      // RFC 5322 folds with SP or HTAB only; PHP takes any whitespace, so v2 accepts it and flags it.
      std::size_t p = 0;
      while (p < line.size() && isCSpace(line[p])) {
        if (!isSpaceOrTab(line[p])) out_.flags.invalidHeaderFolding = true;
        ++p;
      }
      if (!part.lastHeader) return fail("Multipart: Invalid part header (folding error).");
      auto& [headerName, headerValue] = part.headers[*part.lastHeader];
      headerValue += ' ';
      headerValue += stripLineEnd(line.substr(p));
      if (headerValue.size() > kPieceSize) return fail("Multipart: Part header too long.");
      part.lastHeaderLine = headerName + ": " + headerValue;
      return true;
    }

    if (part.lastHeaderLine) part.headerLines.push_back(std::move(*part.lastHeaderLine));
    part.lastHeaderLine = std::string(stripLineEnd(line));
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return fail("Multipart: Invalid part header (colon missing): " + quoteForLog(line) + ".");
    }
    if (colon == 0) return fail("Multipart: Invalid part header (header name missing).");
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (c < 33 || c > 126) return fail("Multipart: Invalid part header (contains invalid character).");
    }
    std::size_t valueStart = colon + 1;
    while (valueStart < line.size() && isSpaceOrTab(line[valueStart])) ++valueStart;
    if (part.header(name) != nullptr) {
      return fail("Multipart: Duplicate part header: " + quoteForLog(name) + ".");
    }
    if (part.headers.size() >= kMaxPartHeaders) return fail("Multipart: Too many part headers.");
    part.headers.emplace_back(std::string(name), std::string(stripLineEnd(line.substr(valueStart))));
    part.lastHeader = part.headers.size() - 1;
    return true;
  }

  bool endHeaders(Part& part) {
    const std::string* disposition = part.header("Content-Disposition");
    if (disposition == nullptr) return fail("Multipart: Part missing Content-Disposition header.");
    int rc = parseContentDisposition(*disposition, part);
    if (rc < 0) {
      return fail("Multipart: Invalid Content-Disposition header (" + std::to_string(rc) +
                  "): " + quoteForLog(*disposition) + ".");
    }
    if (!part.name) return fail("Multipart: Content-Disposition header missing name field.");
    if (part.filename) {
      // Some parsers find the file name with a crude search; reject what they would read differently.
      if (disposition->find("filename=") == std::string::npos) {
        return fail("Multipart: Invalid Content-Disposition header (filename).");
      }
      // Both forms naming different files: the backend may use either, so there is no safe choice.
      if (part.filenameExt && *part.filenameExt != *part.filename) {
        return fail("Multipart: Invalid Content-Disposition header (filename and filename* differ).");
      }
    }
    part.isFile = part.filename || part.filenameExt;
    if (part.isFile && ++fileCount_ > limits_.maxFiles) out_.flags.fileLimitExceeded = true;
    partState_ = PartState::kData;
    partDataRead_ = false;
    part.lastHeader.reset();
    if (part.lastHeaderLine) {
      part.headerLines.push_back(std::move(*part.lastHeaderLine));
      part.lastHeaderLine.reset();
    }
    return true;
  }

  // v2's grammar: form-data *( ";" name "=" ( token | quoted ) ), only name, filename (and here filename*),
  // each at most once. Returns v2's negative codes on error (-16: bad filename* value).
  int parseContentDisposition(std::string_view v, Part& part) {
    auto at = [&v](std::size_t i) { return i < v.size() ? v[i] : '\0'; };
    auto skipWhitespace = [&](std::size_t& i) {
      while (isSpaceOrTab(at(i))) ++i;
    };
    if (v.substr(0, 9) != "form-data") return -1;
    std::size_t p = 9;
    skipWhitespace(p);
    if (at(p) == '\0') return 1;
    if (at(p) != ';') return -2;
    ++p;
    while (at(p) != '\0') {
      skipWhitespace(p);
      if (at(p) == '\0') return -3;
      std::size_t start = p;
      while (at(p) != '\0' && at(p) != '=' && !isSpaceOrTab(at(p))) ++p;
      if (at(p) == '\0') return -4;
      std::string_view paramName = v.substr(start, p - start);
      skipWhitespace(p);
      if (at(p) == '\0') return -5;
      if (at(p) != '=') return -13;
      ++p;
      skipWhitespace(p);
      if (at(p) == '\0') return -6;

      std::string value;
      char quote = '\0';
      if (at(p) == '"' || at(p) == '\'') {
        // Single quotes are not HTTP quoting, but some backends take them: accept and flag.
        quote = at(p);
        if (quote == '\'') out_.flags.invalidQuoting = true;
        ++p;
        if (at(p) == '\0') return -7;
        while (at(p) != '\0') {
          if (at(p) == '\\') {
            if (at(p + 1) == '\0') return -8;
            // Only the quote and the backslash can be escaped; IE sends other backslashes unescaped.
            if (at(p + 1) == quote || at(p + 1) == '\\') ++p;
          } else if (at(p) == quote) {
            break;
          }
          value.push_back(at(p++));
        }
        if (at(p) == '\0') return -10;
        ++p;
      } else {
        start = p;
        while (at(p) != '\0' && isTokenChar(at(p))) ++p;
        value.assign(v.substr(start, p - start));
      }

      // A single quote inside a value not enclosed in double quotes is how quoting confusion shows.
      if (quote != '"' && paramName != "filename*" && value.find('\'') != std::string::npos) {
        out_.flags.invalidQuoting = true;
      }
      if (paramName == "name") {
        out_.names.push_back(value);
        if (part.name) return -14;
        part.name = std::move(value);
      } else if (paramName == "filename") {
        out_.filenames.push_back(value);
        if (part.filename) return -15;
        part.filename = std::move(value);
      } else if (paramName == "filename*") {
        std::optional<std::string> decoded = decodeExtValue(value);
        if (!decoded) return -16;
        out_.filenames.push_back(*decoded);
        if (part.filenameExt) return -15;
        part.filenameExt = std::move(decoded);
      } else {
        return -11;
      }

      if (at(p) != '\0') {
        skipWhitespace(p);
        if (at(p) == '\0') return 1;
        if (at(p) != ';') {
          if (v[p - 1] == '\'' || v[p - 1] == '"') out_.flags.invalidQuoting = true;
          return -12;
        }
        ++p;
      }
    }
    return 1;
  }

  // Part data: the line break ending each piece is held back, because the one before a boundary belongs
  // to the delimiter, not to the content.
  void processData(std::string_view piece) {
    partDataRead_ = true;
    std::size_t held = 0;
    if (!piece.empty() && piece.back() == '\n')
      held = (piece.size() >= 2 && piece[piece.size() - 2] == '\r') ? 2 : 1;
    std::string_view data = piece.substr(0, piece.size() - held);
    Part& part = *part_;
    if (part.isFile) {
      part.size += reserve_.size() + data.size();
    } else {
      part.value += reserve_;
      part.value += data;
    }
    reserve_ = piece.substr(piece.size() - held);
  }

  const Limits& limits_;
  MultipartResult& out_;
  std::string boundary_;
  std::string dashBoundary_;  // "--" + boundary
  std::optional<Part> part_;
  PartState partState_ = PartState::kHeaders;
  bool partDataRead_ = false;     // v2's mpp_substate_part_data_read
  bool atLineStart_ = true;       // v2's buf_contains_line
  bool prevEndedBareLf_ = false;  // v2's crlf_state_buf_end == 2
  bool crlfLine_ = false;
  bool complete_ = false;
  std::size_t boundaryCount_ = 0;
  std::size_t partCount_ = 0;
  std::size_t fileCount_ = 0;
  std::string_view reserve_;
};

}  // namespace

void parseMultipart(std::string_view contentType, std::string_view body, const Limits& limits,
                    MultipartResult& out) {
  out = MultipartResult{};
  MultipartParser(limits, out).parse(contentType, body);
}

}  // namespace bulwark::waf::body
