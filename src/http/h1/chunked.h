// Strict incremental decoder for the HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1).
//
// feed() takes any slice of the byte stream and reports, through the sink, the chunk-data it contains;
// it returns how many input bytes it used. It stops at the end of the message (after the trailer section),
// so bytes after the message (a pipelined request) are left unconsumed. Strictness: chunk sizes are 1..16
// hex digits without sign, spaces or overflow; a chunk extension must be `;name[=value]` with token/quoted
// values; every line ends in CRLF (a bare LF or CR is an error); chunk data must be followed by CRLF;
// trailer fields are validated like header fields and dropped (never forwarded). Total bytes of extension
// and trailer text are bounded by `maxMetadataBytes`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bulwark::h1 {

class ChunkedDecoder {
 public:
  enum class State : std::uint8_t { kSize, kSizeLf, kExt, kData, kDataCr, kDataLf, kTrailer, kDone, kError };

  // Sink receives each run of decoded body bytes, in order, possibly split across several calls.
  template <typename Sink>
  std::size_t feed(std::string_view in, Sink&& sink) {
    std::size_t pos = 0;
    while (pos < in.size() && state_ != State::kDone && state_ != State::kError) {
      if (state_ == State::kData) {
        std::size_t n = in.size() - pos;
        if (n > remaining_) n = static_cast<std::size_t>(remaining_);
        sink(in.substr(pos, n));
        pos += n;
        remaining_ -= n;
        bodyBytes_ += n;
        if (remaining_ == 0) state_ = State::kDataCr;
        continue;
      }
      pos += step(in.substr(pos));
    }
    return pos;
  }

  bool done() const noexcept { return state_ == State::kDone; }
  bool failed() const noexcept { return state_ == State::kError; }
  // Decoded body bytes so far (for body size limits).
  std::uint64_t bodyBytes() const noexcept { return bodyBytes_; }
  void reset() noexcept { *this = ChunkedDecoder(); }

  std::size_t maxMetadataBytes = 16384;

 private:
  // Where we are inside a chunk extension: `;name[=value]`, value a token or a quoted-string.
  enum class ExtState : std::uint8_t {
    kNameStart,
    kName,
    kValueStart,
    kToken,
    kQuoted,
    kQuotedPair,
    kAfterQuoted
  };
  // Where we are inside the trailer section: each line is a field line or the final empty line.
  enum class TrailerState : std::uint8_t { kLineStart, kName, kValue, kValueLf, kFinalLf };

  // Consumes control bytes (size line, CRLFs, trailers) from `in`; never called in kData. Stops when the
  // state becomes kData, kDone or kError, or at the end of `in`.
  std::size_t step(std::string_view in);
  void stepSize(char c) noexcept;
  void stepExt(char c) noexcept;
  void stepTrailer(char c) noexcept;

  State state_ = State::kSize;
  std::uint64_t remaining_ = 0;      // data bytes left in the current chunk
  std::uint64_t size_ = 0;           // size being parsed
  std::uint32_t sizeDigits_ = 0;     // hex digits seen on this size line
  std::uint64_t metadataBytes_ = 0;  // extension and trailer bytes so far, against maxMetadataBytes
  std::uint64_t bodyBytes_ = 0;
  TrailerState trailerState_ = TrailerState::kLineStart;
  ExtState extState_ = ExtState::kNameStart;
};

// Writes the chunk header for `n` bytes ("1a2b\r\n") into `out` (at least 18 bytes); returns its length.
std::size_t writeChunkHeader(std::uint64_t n, char* out) noexcept;

}  // namespace bulwark::h1
