// Byte classes and output helpers shared by the transformation files (private to src/waf/transforms/).
//
// Every class follows the C locale, because ModSecurity v2 calls isspace/isxdigit/isalnum/tolower without
// setting a locale: bytes >= 0x80 are never letters, digits or space. Tables are built at compile time and
// indexed by the byte value, so a class test is one load.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace bulwark::waf::transforms {

using ByteTable = std::array<std::uint8_t, 256>;

// Evaluates `fn` on every byte value (as unsigned char) at compile time.
template <typename Fn>
constexpr ByteTable makeByteTable(Fn fn) {
  ByteTable table{};
  for (int c = 0; c < 256; ++c) {
    table[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(fn(static_cast<unsigned char>(c)));
  }
  return table;
}

// Marks the bytes of `chars` (a set given as a string).
constexpr ByteTable makeByteSet(std::string_view chars) {
  ByteTable table{};
  for (char c : chars) table[static_cast<unsigned char>(c)] = 1;
  return table;
}

inline constexpr std::uint8_t kNotHex = 0xFF;

// Value of a hexadecimal digit, or kNotHex.
inline constexpr ByteTable kHexValue = makeByteTable([](unsigned char c) -> int {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return kNotHex;
});

// isspace() in the C locale: space, \t, \n, \v, \f, \r.
inline constexpr ByteTable kIsSpace = makeByteSet(" \t\n\v\f\r");
inline constexpr ByteTable kIsDigit = makeByteTable([](unsigned char c) { return c >= '0' && c <= '9'; });
inline constexpr ByteTable kIsOctal = makeByteTable([](unsigned char c) { return c >= '0' && c <= '7'; });
inline constexpr ByteTable kIsAlnum = makeByteTable([](unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
});
inline constexpr ByteTable kToLower =
    makeByteTable([](unsigned char c) -> int { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; });
inline constexpr ByteTable kToUpper =
    makeByteTable([](unsigned char c) -> int { return (c >= 'a' && c <= 'z') ? c - ('a' - 'A') : c; });

inline unsigned char byteAt(std::string_view s, std::size_t i) noexcept {
  return static_cast<unsigned char>(s[i]);
}

inline bool isHex(unsigned char c) noexcept { return kHexValue[c] != kNotHex; }

// The byte spelled by two hexadecimal digits; both must satisfy isHex.
inline char hexByte(unsigned char high, unsigned char low) noexcept {
  return static_cast<char>((kHexValue[high] << 4) | kHexValue[low]);
}

inline bool isLetterF(unsigned char c) noexcept { return c == 'f' || c == 'F'; }

// The one byte v2 makes of a code point written with four hex digits (%uHHHH, \uHHHH): its low byte,
// except that full-width ASCII U+FF01..U+FF5E becomes the ASCII character it stands for (low byte + 0x20).
inline char codePointByte(std::string_view fourHexDigits) noexcept {
  unsigned char value =
      static_cast<unsigned char>(hexByte(byteAt(fourHexDigits, 2), byteAt(fourHexDigits, 3)));
  if (value > 0x00 && value < 0x5F && isLetterF(byteAt(fourHexDigits, 0)) &&
      isLetterF(byteAt(fourHexDigits, 1))) {
    value += 0x20;
  }
  return static_cast<char>(value);
}

// Index of the first byte of `in` that is a member of `set`, or in.size().
inline std::size_t findFirstOf(std::string_view in, const ByteTable& set) noexcept {
  std::size_t i = 0;
  while (i < in.size() && set[byteAt(in, i)] == 0) ++i;
  return i;
}

// Whether `in` lies outside `out`'s buffer. A transformation clears `out` before reading all of `in`, so the
// two must not overlap; chains alternate between two buffers.
inline bool isOutsideOf(std::string_view in, const std::string& out) noexcept {
  const auto inBegin = reinterpret_cast<std::uintptr_t>(in.data());
  const auto outBegin = reinterpret_cast<std::uintptr_t>(out.data());
  return in.empty() || inBegin + in.size() <= outBegin || inBegin > outBegin + out.capacity();
}

// Starts a result in `out`: the first `prefix` bytes of `in` (which the caller found unchanged), with room
// for `capacity` bytes. For results built by appending whole pieces; byte loops use OutputCursor.
inline void beginOutput(std::string_view in, std::string& out, std::size_t prefix, std::size_t capacity) {
  assert(isOutsideOf(in, out));
  out.clear();
  out.reserve(capacity);
  out.append(in.data(), prefix);
}

// Builds a result in `out` through a raw pointer. `out` is sized once to an upper bound of the result (the
// caller proves the bound), so writing a byte is a plain store with no capacity check or reallocation;
// the destructor, or finish(), trims `out` to what was written.
class OutputCursor {
 public:
  // Starts with the first `prefix` bytes of `in`, which the caller found unchanged.
  OutputCursor(std::string_view in, std::string& out, std::size_t prefix, std::size_t capacity) : out_(out) {
    assert(isOutsideOf(in, out));
    assert(prefix <= capacity);
    out.clear();
    out.resize(capacity);
    begin_ = out.data();
    end_ = begin_ + capacity;
    std::memcpy(begin_, in.data(), prefix);
    next_ = begin_ + prefix;
  }
  OutputCursor(const OutputCursor&) = delete;
  OutputCursor& operator=(const OutputCursor&) = delete;
  ~OutputCursor() { finish(); }

  void put(char c) noexcept {
    assert(next_ < end_);
    *next_++ = c;
  }
  void put(const char* bytes, std::size_t count) noexcept {
    assert(count <= static_cast<std::size_t>(end_ - next_));
    std::memcpy(next_, bytes, count);
    next_ += count;
  }

  std::size_t size() const noexcept { return static_cast<std::size_t>(next_ - begin_); }
  bool empty() const noexcept { return next_ == begin_; }
  char back() const noexcept { return next_[-1]; }
  char operator[](std::size_t i) const noexcept { return begin_[i]; }
  void popBack() noexcept { --next_; }
  void truncate(std::size_t size) noexcept { next_ = begin_ + size; }

  // Trims `out` to the bytes written; the cursor must not be used afterwards.
  void finish() { out_.resize(size()); }

 private:
  std::string& out_;
  char* begin_;
  char* next_;
  char* end_;
};

// Replaces every byte through `map` (a total function on bytes). Returns false, leaving `out` untouched,
// when no byte changes.
inline bool mapEachByte(std::string_view in, std::string& out, const ByteTable& map) {
  std::size_t i = 0;
  while (i < in.size() && map[byteAt(in, i)] == byteAt(in, i)) ++i;
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  for (; i < in.size(); ++i) cursor.put(static_cast<char>(map[byteAt(in, i)]));
  return true;
}

// Shared driver of the backslash-escape decoders (jsDecode, escapeSeqDecode): bytes are copied until a
// backslash that is not the last byte; `decodeEscape(in, i, cursor)` writes the decoded escape at `i` and
// returns how many input bytes it used. Changed whenever any escape was decoded (v2's rule for these).
template <typename DecodeEscape>
bool decodeBackslashEscapes(std::string_view in, std::string& out, DecodeEscape decodeEscape) {
  std::size_t i = in.find('\\');
  if (i == std::string_view::npos) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  while (i < in.size()) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      cursor.put(in[i++]);
      continue;
    }
    i += decodeEscape(in, i, cursor);
    changed = true;
  }
  return changed;
}

}  // namespace bulwark::waf::transforms
