// replaceComments, removeComments, removeCommentsChar: v2's three comment strippers.
#include "waf/transforms/byte_class.h"
#include "waf/transforms/functions.h"

namespace bulwark::waf::transforms {
namespace {

// Whether `token` (2 to 4 bytes) starts at in[i]. Callers test the first byte through a table before
// calling, so the comparison runs only at candidate positions.
bool startsWithAt(std::string_view in, std::size_t i, std::string_view token) {
  if (in.size() - i < token.size()) return false;
  for (std::size_t k = 0; k < token.size(); ++k) {
    if (in[i + k] != token[k]) return false;
  }
  return true;
}

constexpr ByteTable kRemoveCommentsTrigger = makeByteSet("/<-#");
constexpr ByteTable kRemoveCommentsCharTrigger = makeByteSet("/*<-#");
constexpr ByteTable kCommentEndTrigger = makeByteSet("*-");

}  // namespace

// C comments: each "/* ... */" becomes one space; an unterminated one is replaced by a space to the end.
bool replaceComments(std::string_view in, std::string& out) {
  std::size_t i = in.find("/*");
  if (i == std::string_view::npos) return false;
  OutputCursor cursor(in, out, i, in.size());
  while (i != std::string_view::npos) {
    // in[i] starts a comment: drop it up to its end, which becomes a single space.
    const std::size_t close = in.find("*/", i + 2);
    cursor.put(' ');
    if (close == std::string_view::npos) break;
    const std::size_t next = in.find("/*", close + 2);
    const std::size_t keepEnd = next == std::string_view::npos ? in.size() : next;
    cursor.put(in.data() + close + 2, keepEnd - close - 2);
    i = next;
  }
  return true;
}

// SQL, C and HTML comments: "/* ... */" and "<!-- ... -->" are deleted (an unterminated one becomes a
// single space), and "--" or "#" outside a block comment ends the value, as a line comment would.
// After a block comment ends, scanning resumes normally: current v2 does so (its regression tests expect
// "SELECT/**//**/UNION" -> "SELECTUNION"), whereas older v2 releases and libmodsecurity v3 copy the byte
// after "*/" unexamined.
bool removeComments(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kRemoveCommentsTrigger);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  bool inComment = false;
  while (i < in.size()) {
    if (inComment) {
      if (kCommentEndTrigger[byteAt(in, i)] == 0) {
        ++i;
      } else if (startsWithAt(in, i, "*/")) {
        inComment = false;
        i += 2;
      } else if (startsWithAt(in, i, "-->")) {
        inComment = false;
        i += 3;
      } else {
        ++i;
      }
    } else if (kRemoveCommentsTrigger[byteAt(in, i)] == 0) {
      cursor.put(in[i++]);
    } else if (startsWithAt(in, i, "/*")) {
      inComment = true;
      changed = true;
      i += 2;
    } else if (startsWithAt(in, i, "<!--")) {
      inComment = true;
      changed = true;
      i += 4;
    } else if (startsWithAt(in, i, "--") || in[i] == '#') {
      changed = true;
      break;
    } else {
      cursor.put(in[i++]);
    }
  }
  if (inComment) cursor.put(' ');
  return changed;
}

// Deletes the comment markers themselves ("/*", "*/", "<!--", "-->", "--", "#") and keeps the text between.
bool removeCommentsChar(std::string_view in, std::string& out) {
  std::size_t i = findFirstOf(in, kRemoveCommentsCharTrigger);
  if (i == in.size()) return false;
  OutputCursor cursor(in, out, i, in.size());
  bool changed = false;
  while (i < in.size()) {
    std::size_t marker = 0;
    if (kRemoveCommentsCharTrigger[byteAt(in, i)] == 0) {
      marker = 0;
    } else if (startsWithAt(in, i, "/*") || startsWithAt(in, i, "*/")) {
      marker = 2;
    } else if (startsWithAt(in, i, "<!--")) {
      marker = 4;
    } else if (startsWithAt(in, i, "-->")) {
      marker = 3;
    } else if (startsWithAt(in, i, "--")) {
      marker = 2;
    } else if (in[i] == '#') {
      marker = 1;
    }
    if (marker == 0) {
      cursor.put(in[i++]);
    } else {
      changed = true;
      i += marker;
    }
  }
  return changed;
}

}  // namespace bulwark::waf::transforms
