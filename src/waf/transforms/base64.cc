// base64Decode, base64DecodeExt, base64Encode.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

constexpr std::uint8_t kNotBase64 = 0xFF;
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr ByteTable makeBase64Values(bool urlSafeToo) {
  ByteTable table{};
  for (auto& value : table) value = kNotBase64;
  for (int v = 0; v < 64; ++v)
    table[static_cast<unsigned char>(kBase64Alphabet[v])] = static_cast<std::uint8_t>(v);
  if (urlSafeToo) {
    table['-'] = 62;
    table['_'] = 63;
  }
  return table;
}

// RFC 4648 section 4 (what APR's decoder accepts) and, for base64DecodeExt, also section 5's "-" and "_".
constexpr ByteTable kBase64Value = makeBase64Values(false);
constexpr ByteTable kBase64ExtValue = makeBase64Values(true);

// Accumulates 6-bit values and writes each completed byte to `out`.
class SextetWriter {
 public:
  explicit SextetWriter(OutputCursor& out) : out_(out) {}

  void push(std::uint8_t sextet) {
    bits_ = ((bits_ << 6) | sextet) & 0xFFFF;  // at most 6 + 7 pending bits matter
    bitCount_ += 6;
    ++sextets_;
    if (bitCount_ >= 8) {
      bitCount_ -= 8;
      out_.put(static_cast<char>((bits_ >> bitCount_) & 0xFF));
    }
  }

  std::size_t sextets() const { return sextets_; }

 private:
  OutputCursor& out_;
  unsigned bits_ = 0;
  unsigned bitCount_ = 0;
  std::size_t sextets_ = 0;
};

}  // namespace

// APR's apr_base64_decode, which v2 uses: decodes the longest prefix of alphabet characters and stops at
// the first other byte, '=' included ("VGVzdA==!!" and "VGVzdA" both give "Test"). Leftover bits that do
// not fill a byte are dropped. libmodsecurity v3 (mbedTLS) instead rejects such input as a whole.
bool base64Decode(std::string_view in, std::string& out) {
  if (in.empty()) return false;
  std::size_t valid = 0;
  while (valid < in.size() && kBase64Value[byteAt(in, valid)] != kNotBase64) ++valid;
  OutputCursor cursor(in, out, 0, valid / 4 * 3 + 2);
  SextetWriter writer(cursor);
  for (std::size_t i = 0; i < valid; ++i) writer.push(kBase64Value[byteAt(in, i)]);
  return true;  // the result is shorter than any non-empty input
}

// v2's forgiving decoder: both alphabets, and any other byte (whitespace, '.', NUL...) is skipped. '=' is
// skipped too, except that a '=' not followed by another '=' right after a group's first character (a
// position where no byte can end) makes the whole result empty, as in v2. v2 stops at a NUL byte; we skip
// it like any other invalid byte, as libmodsecurity v3 does, so that a NUL cannot hide the rest.
bool base64DecodeExt(std::string_view in, std::string& out) {
  if (in.empty()) return false;
  OutputCursor cursor(in, out, 0, in.size() / 4 * 3 + 2);
  SextetWriter writer(cursor);
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=') {
      if (writer.sextets() % 4 == 1 && (i + 1 == in.size() || in[i + 1] != '=')) {
        cursor.truncate(0);
        return true;
      }
      continue;
    }
    const std::uint8_t value = kBase64ExtValue[byteAt(in, i)];
    if (value == kNotBase64) continue;
    writer.push(value);
  }
  return true;  // the result is shorter than any non-empty input
}

bool base64Encode(std::string_view in, std::string& out) {
  if (in.empty()) return false;
  OutputCursor cursor(in, out, 0, (in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned group = (byteAt(in, i) << 16) | (byteAt(in, i + 1) << 8) | byteAt(in, i + 2);
    cursor.put(kBase64Alphabet[(group >> 18) & 0x3F]);
    cursor.put(kBase64Alphabet[(group >> 12) & 0x3F]);
    cursor.put(kBase64Alphabet[(group >> 6) & 0x3F]);
    cursor.put(kBase64Alphabet[group & 0x3F]);
  }
  const std::size_t rest = in.size() - i;
  if (rest > 0) {
    const unsigned group = (byteAt(in, i) << 16) | (rest == 2 ? byteAt(in, i + 1) << 8 : 0);
    cursor.put(kBase64Alphabet[(group >> 18) & 0x3F]);
    cursor.put(kBase64Alphabet[(group >> 12) & 0x3F]);
    cursor.put(rest == 2 ? kBase64Alphabet[(group >> 6) & 0x3F] : '=');
    cursor.put('=');
  }
  return true;  // base64 of non-empty input is longer than it
}

}  // namespace bulwark::waf::transforms
