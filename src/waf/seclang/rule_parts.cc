// Layer 2 of the SecLang reader: SecRule's variables, operator and actions arguments -> parts.
//
// Variables and actions share one grammar, ModSecurity v2's msre_parse_generic (apache2/re.c):
//   list  := item (ws* sep ws* item)*        sep := ',' | '|'
//   item  := name [':' value]
//   name  := run of characters other than ',' '|' ':' and white space
//   value := "'" (any but '\' and "'" | "\'" | "\\")* "'"     (any other backslash pair is an error)
//          | run of characters other than ',' '|' and white space
// v2 quietly accepts a few malformed lists (an empty item after a value, a trailing separator, items
// separated by white space only); those are errors here, since they are typing mistakes in practice.
#include <string>
#include <string_view>
#include <vector>

#include "waf/seclang/lexer.h"
#include "waf/seclang/parser.h"

namespace bulwark::waf::seclang {

namespace {

bool isSeparator(char c) { return c == ',' || c == '|'; }

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::size_t skipSpace(std::string_view s, std::size_t p) {
  while (p < s.size() && isConfSpace(s[p])) ++p;
  return p;
}

// "'x'" for a printable character, "byte 0xNN" otherwise: a message never carries a raw control byte.
std::string describe(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 15];
}

std::string at(std::size_t p) { return " at character " + std::to_string(p + 1); }

// Reads a single-quoted value starting at s[p] == '\''; leaves p after the closing quote.
bool readQuoted(std::string_view s, std::size_t& p, std::string& value, std::string& error) {
  const std::size_t open = p++;
  value.clear();
  while (p < s.size()) {
    const char c = s[p];
    if (c == '\'') {
      ++p;
      return true;
    }
    if (c == '\\') {
      if (p + 1 < s.size() && (s[p + 1] == '\'' || s[p + 1] == '\\')) {
        value += s[p + 1];
        p += 2;
        continue;
      }
      // v2 rejects these too ("Invalid quoted pair"): only \' and \\ exist inside '...'.
      error = "invalid escape" + at(p) + " in a quoted value (only \\' and \\\\ are allowed)";
      return false;
    }
    value += c;
    ++p;
  }
  error = "unterminated ' quote (opened" + at(open) + ")";
  return false;
}

// Unquoted value: runs to a separator, white space or the end.
std::string_view readBare(std::string_view s, std::size_t& p) {
  const std::size_t start = p;
  while (p < s.size() && !isSeparator(s[p]) && !isConfSpace(s[p])) ++p;
  return s.substr(start, p - start);
}

enum class After { kItem, kEnd, kError };

// After an item: the end, or one separator followed by another item (p is then at that item).
After nextItem(std::string_view s, std::size_t& p, std::string_view what, std::string& error) {
  p = skipSpace(s, p);
  if (p == s.size()) return After::kEnd;
  if (!isSeparator(s[p])) {
    error = "expected ',' or '|' between " + std::string(what) + "s, found " + describe(s[p]) + at(p);
    return After::kError;
  }
  const char sep = s[p];
  p = skipSpace(s, p + 1);
  if (p == s.size() || isSeparator(s[p])) {
    error = "empty " + std::string(what) + " after '" + sep + "'" + at(p == s.size() ? p - 1 : p);
    return After::kError;
  }
  return After::kItem;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// v2's rule (var_generic_list_validate): a selector longer than two characters that starts and ends with
// '/' is a regular expression. XML's selector is an XPath expression and never a regex.
bool looksLikeRegex(std::string_view selector) {
  return selector.size() > 2 && selector.front() == '/' && selector.back() == '/';
}

}  // namespace

bool parseVariables(std::string_view text, std::vector<VariableRef>& out, std::string& error) {
  out.clear();
  std::size_t p = skipSpace(text, 0);
  if (p == text.size()) {
    error = "empty variable list";
    return false;
  }
  while (true) {
    VariableRef var;
    const std::size_t itemStart = p;
    if (text[p] == '!') {
      var.exclude = true;
      ++p;
    } else if (text[p] == '&') {
      var.count = true;
      ++p;
    }
    const std::size_t nameStart = p;
    while (p < text.size() && text[p] != ':' && !isSeparator(text[p]) && !isConfSpace(text[p])) ++p;
    const std::string_view name = text.substr(nameStart, p - nameStart);
    if (name.empty()) {
      error = nameStart == itemStart
                  ? "empty variable" + at(itemStart)
                  : "missing collection name after " + describe(text[itemStart]) + at(itemStart);
      return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i];
      // HTTP_User-Agent is v2's alias for REQUEST_HEADERS:User-Agent, hence '-'.
      if (isNameChar(c) || (c == '-' && i > 0)) continue;
      error = (c == '!' || c == '&')
                  ? "a variable takes at most one of the '!' and '&' prefixes" + at(nameStart + i)
                  : "invalid character " + describe(c) + " in variable name" + at(nameStart + i);
      return false;
    }
    var.collection = upper(name);
    if (p < text.size() && text[p] == ':') {
      ++p;
      if (p < text.size() && text[p] == '\'') {
        if (!readQuoted(text, p, var.selector, error)) {
          error += " in the selector of " + var.collection;
          return false;
        }
        if (p < text.size() && !isSeparator(text[p]) && !isConfSpace(text[p])) {
          error =
              "unexpected " + describe(text[p]) + " after the quoted selector of " + var.collection + at(p);
          return false;
        }
      } else {
        // An empty selector ("ARGS:") means the whole collection, as in v2.
        var.selector = readBare(text, p);
        if (var.collection != "XML" && !var.selector.empty() && var.selector.front() == '/' &&
            !looksLikeRegex(var.selector)) {
          error = "regex selector " + var.selector + " of " + var.collection +
                  " is not closed by '/' (a selector containing ',', '|' or white space must be quoted: " +
                  var.collection + ":'/a|b/')";
          return false;
        }
      }
      if (var.collection != "XML" && looksLikeRegex(var.selector)) {
        var.selectorIsRegex = true;
        var.selector = var.selector.substr(1, var.selector.size() - 2);
      }
    }
    out.push_back(std::move(var));
    const After after = nextItem(text, p, "variable", error);
    if (after != After::kItem) return after == After::kEnd;
  }
}

bool parseOperator(std::string_view text, OperatorRef& out, std::string& error) {
  out = OperatorRef{};
  if (text.empty()) {
    error = "empty operator";
    return false;
  }
  std::size_t p = 0;
  if (text[0] == '!') {
    out.negated = true;
    p = skipSpace(text, 1);
    if (p == text.size()) {
      error = "operator '!' negates nothing";
      return false;
    }
  }
  if (text[p] != '@') {
    // v2 (msre_rule_create): no '@' means the whole rest is a regular expression, taken as written.
    const std::size_t first = skipSpace(text, p);
    if (first == text.size()) {
      error = "empty operator (white space only)";
      return false;
    }
    if (first > p && (text[first] == '@' || text[first] == '!')) {
      // v2 would read " @rx a" as the regex " @rx a", which is never what the author meant.
      error = "white space before " + describe(text[first]) + " at the start of the operator";
      return false;
    }
    out.name = "rx";
    out.param.assign(text.substr(p));
    return true;
  }
  const std::size_t nameStart = p + 1;
  std::size_t nameEnd = nameStart;
  while (nameEnd < text.size() && !isConfSpace(text[nameEnd])) ++nameEnd;
  if (nameEnd == nameStart) {
    error = "missing operator name after '@'";
    return false;
  }
  for (std::size_t i = nameStart; i < nameEnd; ++i) {
    if (!isNameChar(text[i])) {
      error = "invalid character " + describe(text[i]) + " in operator name" + at(i);
      return false;
    }
  }
  out.name.assign(text.substr(nameStart, nameEnd - nameStart));
  out.param.assign(text.substr(skipSpace(text, nameEnd)));
  return true;
}

bool parseActions(std::string_view text, std::vector<ActionRef>& out, std::string& error) {
  out.clear();
  std::size_t p = skipSpace(text, 0);
  if (p == text.size()) {
    error = "empty action list";
    return false;
  }
  while (true) {
    const std::size_t nameStart = p;
    while (p < text.size() && text[p] != ':' && !isSeparator(text[p]) && !isConfSpace(text[p])) ++p;
    const std::string_view name = text.substr(nameStart, p - nameStart);
    if (name.empty()) {
      error = text[p] == ':' ? "missing action name before ':'" + at(p) : "empty action" + at(p);
      return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
      if (!isNameChar(name[i])) {
        error = "invalid character " + describe(name[i]) + " in action name" + at(nameStart + i);
        return false;
      }
    }
    ActionRef& action = out.emplace_back();
    action.name = lower(name);
    if (p < text.size() && text[p] == ':') {
      ++p;
      if (p < text.size() && text[p] == '\'') {
        if (!readQuoted(text, p, action.param, error)) {
          error += " in the value of " + action.name;
          return false;
        }
        if (p < text.size() && !isSeparator(text[p]) && !isConfSpace(text[p])) {
          error = "unexpected " + describe(text[p]) + " after the quoted value of " + action.name + at(p);
          return false;
        }
      } else {
        action.param.assign(readBare(text, p));
      }
    }
    const After after = nextItem(text, p, "action", error);
    if (after != After::kItem) return after == After::kEnd;
  }
}

}  // namespace bulwark::waf::seclang
