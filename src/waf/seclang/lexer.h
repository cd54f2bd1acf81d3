// Private to src/waf/seclang: the two lexical steps of Apache's configuration reader, kept apart from file
// handling so that the reader, the tests and the fuzzer drive exactly the same code.
//
//   LineSplitter  ~ ap_cfg_getline (httpd 2.4 server/util.c): physical lines -> logical lines
//   splitWords    ~ ap_getword_conf + substring_conf: one logical line -> unquoted, unescaped words
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf::seclang {

inline bool isConfSpace(char c) {
  // apr_isspace in the C locale: the set Apache trims and splits on.
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

struct LogicalLine {
  std::string text;                   // continuation joined, leading and trailing white space removed
  int firstLine = 0;                  // 1-based physical line where it starts
  bool danglingContinuation = false;  // the file ends right after a continuation backslash
  bool hasNul = false;                // a NUL byte: Apache would silently cut the line there
};

// Yields the logical lines of a file's contents, comments and blank lines included (the caller skips
// them, because a comment line ending in a backslash swallows the next line, as in Apache).
class LineSplitter {
 public:
  explicit LineSplitter(std::string_view contents);
  // false at the end of the contents.
  bool next(LogicalLine& out);

 private:
  std::string_view rest_;
  int lineNo_ = 0;
};

// Splits one logical line into words. Quoting follows ap_getword_conf: a word starting with " or ' runs to
// the matching unescaped quote (a quoted word may be directly followed by the next word); inside it `\\` and
// `\<that quote>` are unescaped; outside quotes only `\\` is. Every other backslash is kept. Returns false
// with `error` set on an unterminated quote (Apache silently takes the rest of the line).
bool splitWords(std::string_view line, std::vector<std::string>& words, std::string& error);

}  // namespace bulwark::waf::seclang
