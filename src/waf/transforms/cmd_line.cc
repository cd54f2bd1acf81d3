// cmdLine: v2's normaliser for shell and cmd.exe command lines, defeating obfuscation such as
// c^md, "c"md, w\hoami and ;,ls.
//   \ " ' ^                 deleted
//   space , ; \t \r \n      a run of them (ignoring deleted bytes) becomes one space
//   / (                     a space just before them is deleted
//   anything else           lower-cased (ASCII)
// v2 stops at the first NUL byte (it walks a C string), which would hide whatever follows; we process the
// whole input and treat NUL as an ordinary byte, as libmodsecurity v3 does.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

enum CmdClass : std::uint8_t { kPlain = 0, kDeleted, kSeparator, kGlued, kUpper };

constexpr ByteTable kCmdClass = makeByteTable([](unsigned char c) -> int {
  switch (c) {
    case '\\':
    case '"':
    case '\'':
    case '^':
      return kDeleted;
    case ' ':
    case ',':
    case ';':
    case '\t':
    case '\r':
    case '\n':
      return kSeparator;
    case '/':
    case '(':
      return kGlued;
    default:
      return (c >= 'A' && c <= 'Z') ? kUpper : kPlain;
  }
});

// Bytes from which the output can start to differ; '/' and '(' only matter after a separator.
constexpr ByteTable kCmdTrigger = makeByteTable([](unsigned char c) {
  return kCmdClass[c] == kDeleted || kCmdClass[c] == kSeparator || kCmdClass[c] == kUpper;
});

}  // namespace

bool cmdLine(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kCmdTrigger);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  bool afterSpace = false;  // the last byte written is a separator's space
  for (; i < in.size(); ++i) {
    const unsigned char c = byteAt(in, i);
    switch (kCmdClass[c]) {
      case kDeleted:
        changed = true;
        break;
      case kSeparator:
        if (afterSpace || c != ' ') changed = true;
        if (!afterSpace) cursor.put(' ');
        afterSpace = true;
        break;
      case kGlued:
        if (afterSpace) {
          cursor.popBack();
          changed = true;
        }
        cursor.put(static_cast<char>(c));
        afterSpace = false;
        break;
      case kUpper:
        changed = true;
        cursor.put(static_cast<char>(kToLower[c]));
        afterSpace = false;
        break;
      default:
        cursor.put(static_cast<char>(c));
        afterSpace = false;
        break;
    }
  }
  return changed;
}

}  // namespace bulwark::waf::transforms
