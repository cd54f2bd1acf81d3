#include "waf/seclang/lexer.h"

namespace bulwark::waf::seclang {

namespace {

std::string_view trimConf(std::string_view s) {
  std::size_t begin = 0;
  while (begin < s.size() && isConfSpace(s[begin])) ++begin;
  std::size_t end = s.size();
  while (end > begin && isConfSpace(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

// Appends `raw` (the inside of a quoted word, or an unquoted word) with substring_conf's unescaping.
void appendUnescaped(std::string_view raw, char quote, std::string& out) {
  out.reserve(out.size() + raw.size());
  std::size_t i = 0;
  while (i < raw.size()) {
    const std::size_t slash = raw.find('\\', i);
    if (slash == std::string_view::npos) {
      out.append(raw.substr(i));
      return;
    }
    out.append(raw.substr(i, slash - i));
    const bool pair =
        slash + 1 < raw.size() && (raw[slash + 1] == '\\' || (quote != 0 && raw[slash + 1] == quote));
    // A pair keeps its second character; a lone backslash is kept as it is.
    out += raw[pair ? slash + 1 : slash];
    i = slash + (pair ? 2 : 1);
  }
}

}  // namespace

LineSplitter::LineSplitter(std::string_view contents) : rest_(contents) {
  // A UTF-8 byte order mark would otherwise become part of the first directive's name, invisibly.
  if (rest_.starts_with("\xEF\xBB\xBF")) rest_.remove_prefix(3);
}

bool LineSplitter::next(LogicalLine& out) {
  if (rest_.empty()) return false;
  out.firstLine = lineNo_ + 1;
  out.danglingContinuation = false;
  std::string joined;  // only used when the logical line spans several physical lines
  bool continued = false;
  std::string_view last;
  while (true) {
    if (rest_.empty()) {
      // The previous physical line asked for a continuation and the file ends.
      out.danglingContinuation = true;
      break;
    }
    const std::size_t nl = rest_.find('\n');
    const bool terminated = nl != std::string_view::npos;
    const std::string_view physical = rest_.substr(0, terminated ? nl : rest_.size());
    rest_.remove_prefix(terminated ? nl + 1 : rest_.size());
    ++lineNo_;
    // ap_cfg_getline_core: a backslash right before [CR]LF continues the line; the backslash and the line
    // break go, and the next line is appended as it is (its leading white space stays).
    std::string_view body = physical;
    if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
    if (body.empty() || body.back() != '\\') {
      last = physical;
      break;
    }
    body.remove_suffix(1);
    joined.append(body);
    continued = true;
    if (!terminated) {
      // A backslash ending a file without a final newline: Apache keeps it as a character, but it is a
      // truncated continuation all the same, so it is reported like one.
      out.danglingContinuation = true;
      break;
    }
  }
  if (continued) {
    joined.append(last);
    out.text.assign(trimConf(joined));
  } else {
    out.text.assign(trimConf(last));
  }
  out.hasNul = out.text.find('\0') != std::string::npos;
  return true;
}

bool splitWords(std::string_view line, std::vector<std::string>& words, std::string& error) {
  words.clear();
  std::size_t p = 0;
  const std::size_t n = line.size();
  while (true) {
    while (p < n && isConfSpace(line[p])) ++p;
    if (p == n) return true;
    const char quote = line[p];
    std::string word;
    if (quote == '"' || quote == '\'') {
      const std::size_t open = p;
      std::size_t end = p + 1;
      while (end < n && line[end] != quote) {
        if (line[end] == '\\' && end + 1 < n && (line[end + 1] == quote || line[end + 1] == '\\')) {
          end += 2;
        } else {
          ++end;
        }
      }
      if (end >= n) {
        error = std::string("unterminated ") + quote + " quote (opened at character " +
                std::to_string(open + 1) + ")";
        return false;
      }
      appendUnescaped(line.substr(open + 1, end - open - 1), quote, word);
      p = end + 1;
    } else {
      const std::size_t start = p;
      while (p < n && !isConfSpace(line[p])) ++p;
      appendUnescaped(line.substr(start, p - start), 0, word);
    }
    words.push_back(std::move(word));
  }
}

}  // namespace bulwark::waf::seclang
