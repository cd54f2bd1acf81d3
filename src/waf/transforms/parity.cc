// parityEven7bit, parityOdd7bit, parityZero7bit: set bit 7 of each byte from a parity, or clear it.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

// v2 computes the parity over all eight bits, bit 7 included, and sets or clears bit 7 from it. For
// 7-bit input that is the textbook parity bit; for a byte that already has bit 7 set the result is the
// opposite of the textbook one. We keep v2's arithmetic so rules match the same bytes.
constexpr bool hasOddParity(unsigned char c) {
  int ones = 0;
  for (int bit = 0; bit < 8; ++bit) ones += (c >> bit) & 1;
  return (ones & 1) != 0;
}

constexpr ByteTable kEvenParity =
    makeByteTable([](unsigned char c) -> int { return hasOddParity(c) ? (c | 0x80) : (c & 0x7F); });
constexpr ByteTable kOddParity =
    makeByteTable([](unsigned char c) -> int { return hasOddParity(c) ? (c & 0x7F) : (c | 0x80); });
constexpr ByteTable kZeroParity = makeByteTable([](unsigned char c) -> int { return c & 0x7F; });

}  // namespace

bool parityEven7bit(std::string_view in, std::string& out) { return mapEachByte(in, out, kEvenParity); }

bool parityOdd7bit(std::string_view in, std::string& out) { return mapEachByte(in, out, kOddParity); }

bool parityZero7bit(std::string_view in, std::string& out) { return mapEachByte(in, out, kZeroParity); }

}  // namespace bulwark::waf::transforms
