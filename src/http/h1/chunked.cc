// Chunked transfer coding decoder (RFC 9112 section 7.1), byte-at-a-time for the control bytes.
//
// Only the size lines, the CRLFs around chunk data and the trailer section go through step(); chunk
// data is handed to the sink in bulk by feed(). Every deviation from the grammar moves to kError at the
// byte that causes it, so the decoder never guesses where a message ends.
#include "http/h1/chunked.h"

namespace bulwark::h1 {
namespace {

// RFC 9110 tchar. Kept local (parser.cc has its own table) so the decoder stays a self-contained unit.
constexpr bool isTchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// VCHAR or obs-text.
constexpr bool isVisible(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x7E) || u >= 0x80;
}

// Field-value byte, as in header fields: SP, HTAB, VCHAR, obs-text.
constexpr bool isFieldByte(char c) noexcept { return c == ' ' || c == '\t' || isVisible(c); }

// qdtext (RFC 9110 5.6.4): everything visible except DQUOTE and backslash, plus SP and HTAB.
constexpr bool isQdtext(char c) noexcept { return isFieldByte(c) && c != '"' && c != '\\'; }

constexpr int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 16 hex digits hold any 64-bit size; a 17th digit is refused rather than checked for overflow.
constexpr std::uint32_t kMaxSizeDigits = 16;

}  // namespace

std::size_t ChunkedDecoder::step(std::string_view in) {
  const auto isControlState = [this] {
    return state_ != State::kData && state_ != State::kDone && state_ != State::kError;
  };
  std::size_t i = 0;
  while (i < in.size() && isControlState()) {
    const char c = in[i++];
    switch (state_) {
      case State::kSize:
        stepSize(c);
        break;
      case State::kSizeLf:
        if (c != '\n') {
          state_ = State::kError;
        } else if (size_ == 0) {
          state_ = State::kTrailer;
          trailerState_ = TrailerState::kLineStart;
        } else {
          remaining_ = size_;
          state_ = State::kData;
        }
        size_ = 0;
        sizeDigits_ = 0;
        break;
      case State::kExt:
        stepExt(c);
        break;
      case State::kDataCr:
        state_ = c == '\r' ? State::kDataLf : State::kError;
        break;
      case State::kDataLf:
        state_ = c == '\n' ? State::kSize : State::kError;
        break;
      case State::kTrailer:
        stepTrailer(c);
        break;
      case State::kData:
      case State::kDone:
      case State::kError:
        break;  // excluded by the loop condition
    }
  }
  return i;
}

void ChunkedDecoder::stepSize(char c) noexcept {
  const int v = hexValue(c);
  if (v >= 0) {
    if (sizeDigits_ == kMaxSizeDigits) {
      state_ = State::kError;
      return;
    }
    ++sizeDigits_;
    size_ = (size_ << 4) | static_cast<std::uint64_t>(v);
    return;
  }
  // No sign, no "0x", no whitespace: a size line is digits, then an extension or CRLF.
  if (sizeDigits_ == 0) {
    state_ = State::kError;
  } else if (c == '\r') {
    state_ = State::kSizeLf;
  } else if (c == ';') {
    state_ = State::kExt;
    extState_ = ExtState::kNameStart;
    ++metadataBytes_;
  } else {
    state_ = State::kError;
  }
}

void ChunkedDecoder::stepExt(char c) noexcept {
  if (++metadataBytes_ > maxMetadataBytes) {
    state_ = State::kError;
    return;
  }
  bool ok = true;
  switch (extState_) {
    case ExtState::kNameStart:
      ok = isTchar(c);
      extState_ = ExtState::kName;
      break;
    case ExtState::kName:
    case ExtState::kToken:
      if (c == '=' && extState_ == ExtState::kName) {
        extState_ = ExtState::kValueStart;
      } else if (c == ';') {
        extState_ = ExtState::kNameStart;
      } else if (c == '\r') {
        state_ = State::kSizeLf;
      } else {
        ok = isTchar(c);
      }
      break;
    case ExtState::kValueStart:
      if (c == '"') {
        extState_ = ExtState::kQuoted;
      } else {
        ok = isTchar(c);
        extState_ = ExtState::kToken;
      }
      break;
    case ExtState::kQuoted:
      if (c == '"') {
        extState_ = ExtState::kAfterQuoted;
      } else if (c == '\\') {
        extState_ = ExtState::kQuotedPair;
      } else {
        ok = isQdtext(c);
      }
      break;
    case ExtState::kQuotedPair:
      ok = isFieldByte(c);
      extState_ = ExtState::kQuoted;
      break;
    case ExtState::kAfterQuoted:
      if (c == ';') {
        extState_ = ExtState::kNameStart;
      } else if (c == '\r') {
        state_ = State::kSizeLf;
      } else {
        ok = false;
      }
      break;
  }
  if (!ok) state_ = State::kError;
}

void ChunkedDecoder::stepTrailer(char c) noexcept {
  if (++metadataBytes_ > maxMetadataBytes) {
    state_ = State::kError;
    return;
  }
  bool ok = true;
  switch (trailerState_) {
    case TrailerState::kLineStart:
      // A field name, or the CR of the empty line that ends the message. Whitespace here would be
      // obs-fold, refused as in the head.
      if (c == '\r') {
        trailerState_ = TrailerState::kFinalLf;
      } else {
        ok = isTchar(c);
        trailerState_ = TrailerState::kName;
      }
      break;
    case TrailerState::kName:
      if (c == ':') {
        trailerState_ = TrailerState::kValue;
      } else {
        ok = isTchar(c);
      }
      break;
    case TrailerState::kValue:
      if (c == '\r') {
        trailerState_ = TrailerState::kValueLf;
      } else {
        ok = isFieldByte(c);
      }
      break;
    case TrailerState::kValueLf:
      ok = c == '\n';
      trailerState_ = TrailerState::kLineStart;
      break;
    case TrailerState::kFinalLf:
      ok = c == '\n';
      if (ok) state_ = State::kDone;
      break;
  }
  if (!ok) state_ = State::kError;
}

std::size_t writeChunkHeader(std::uint64_t n, char* out) noexcept {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  int digits = 1;
  while (digits < 16 && (n >> (4 * digits)) != 0) ++digits;
  for (int d = 0; d < digits; ++d) {
    out[d] = kHexDigits[(n >> (4 * (digits - 1 - d))) & 0xF];
  }
  out[digits] = '\r';
  out[digits + 1] = '\n';
  return static_cast<std::size_t>(digits) + 2;
}

}  // namespace bulwark::h1
