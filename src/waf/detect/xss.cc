// detectXss(): runs a small HTML tokenizer (after the HTML5 tokenizer's states, without tree building)
// over the input from each place an application may echo it (page text, inside an unquoted, a
// double-quoted or a single-quoted attribute value, among a tag's attributes), and flags what would run
// script there: script-capable elements, event-handler attributes, script URLs in URL attributes,
// script in style. Two byte scans add what a tokenizer pass can miss: a script-capable tag name after
// any '<', and a value that is itself a script URL. See docs/waf-detectors.md.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

#include "waf/detect/detect.h"

namespace bulwark::waf {
namespace {

// Elements that run or load script or active content by their mere presence, or change how the rest of
// the page is read (base, meta refresh, style, link). Plain formatting tags (<b>, <p>, <a href=https:>)
// are not here: they are everyday rich text and harmless without a handler or a script URL.
constexpr std::array<std::string_view, 19> kScriptTags = {
    "applet", "base", "bgsound", "embed",  "frame",  "frameset", "iframe",   "ilayer", "import", "isindex",
    "layer",  "link", "meta",    "object", "script", "style",    "vmlframe", "xml",    "xss",
};

// Attributes whose value is fetched or navigated to as a URL (xlink:href is read as href).
constexpr std::array<std::string_view, 17> kUrlAttributes = {
    "action", "background", "classid", "code", "codebase", "data",  "dynsrc", "formaction", "from",
    "href",   "lowsrc",     "poster",  "src",  "to",       "value", "values", "by",
};

// Event handler attributes, for contexts where no tag was seen and an English word like "online" must
// not count. Sorted (checked below).
constexpr std::array<std::string_view, 96> kEvents = {
    "onabort",
    "onactivate",
    "onafterprint",
    "onanimationend",
    "onanimationiteration",
    "onanimationstart",
    "onauxclick",
    "onbeforeactivate",
    "onbeforecopy",
    "onbeforecut",
    "onbeforeinput",
    "onbeforepaste",
    "onbeforeprint",
    "onbeforeunload",
    "onbegin",
    "onblur",
    "onbounce",
    "oncanplay",
    "oncanplaythrough",
    "onchange",
    "onclick",
    "onclose",
    "oncontextmenu",
    "oncopy",
    "oncuechange",
    "oncut",
    "ondblclick",
    "ondeactivate",
    "ondrag",
    "ondragend",
    "ondragenter",
    "ondragleave",
    "ondragover",
    "ondragstart",
    "ondrop",
    "ondurationchange",
    "onend",
    "onended",
    "onerror",
    "onfilterchange",
    "onfinish",
    "onfocus",
    "onfocusin",
    "onfocusout",
    "onformdata",
    "onhashchange",
    "oninput",
    "oninvalid",
    "onkeydown",
    "onkeypress",
    "onkeyup",
    "onload",
    "onloadeddata",
    "onloadedmetadata",
    "onloadend",
    "onloadstart",
    "onmessage",
    "onmousedown",
    "onmouseenter",
    "onmouseleave",
    "onmousemove",
    "onmouseout",
    "onmouseover",
    "onmouseup",
    "onmousewheel",
    "onoffline",
    "ononline",
    "onpagehide",
    "onpageshow",
    "onpaste",
    "onpause",
    "onplay",
    "onplaying",
    "onpointerdown",
    "onpointerenter",
    "onpointerleave",
    "onpointermove",
    "onpointerout",
    "onpointerover",
    "onpointerup",
    "onpopstate",
    "onprogress",
    "onpropertychange",
    "onreadystatechange",
    "onrepeat",
    "onreset",
    "onresize",
    "onscroll",
    "onsearch",
    "onselect",
    "onstart",
    "onsubmit",
    "ontoggle",
    "ontransitionend",
    "onunload",
    "onwheel",
};

constexpr bool isSortedList(const auto& list) {
  for (std::size_t i = 1; i < list.size(); ++i) {
    if (!(list[i - 1] < list[i])) return false;
  }
  return true;
}
static_assert(isSortedList(kEvents), "kEvents must be sorted for binary search");

// Longest name compared; longer names are lower-cased only this far (and match nothing).
constexpr std::size_t kMaxName = 24;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }
bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// HTML whitespace, plus the other control bytes browsers skip or that survive decoding.
bool isSpace(char c) { return static_cast<unsigned char>(c) <= 0x20; }

// A name lower-cased into a fixed buffer; a namespace prefix (`x:script`, `xlink:href`) is dropped.
class Name {
 public:
  explicit Name(std::string_view raw) {
    const std::size_t colon = raw.rfind(':');
    if (colon != std::string_view::npos) raw = raw.substr(colon + 1);
    size_ = std::min(raw.size(), buffer_.size());
    for (std::size_t i = 0; i < size_; ++i) buffer_[i] = lower(raw[i]);
    tooLong_ = raw.size() > buffer_.size();
  }
  std::string_view view() const {
    return tooLong_ ? std::string_view() : std::string_view(buffer_.data(), size_);
  }
  template <std::size_t N>
  bool in(const std::array<std::string_view, N>& list) const {
    return !tooLong_ && std::find(list.begin(), list.end(), view()) != list.end();
  }

 private:
  std::array<char, kMaxName> buffer_{};
  std::size_t size_ = 0;
  bool tooLong_ = false;
};

bool isEvent(const Name& name) { return std::binary_search(kEvents.begin(), kEvents.end(), name.view()); }

// Reads a URL or CSS value as a browser would before matching a scheme or keyword: skipping whitespace
// and control bytes (browsers drop tab and newline inside URLs) and decoding character references.
class Significant {
 public:
  // `css`: also skip /* comments */, which old IE dropped inside expression().
  explicit Significant(std::string_view text, bool css = false) : text_(text), css_(css) {}

  // The next significant byte, lower-cased, or 0 at the end. References above 0x7F read as 0x80.
  char next() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (isSpace(c)) {
        ++pos_;
        continue;
      }
      if (css_ && c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '*') {
        const std::size_t end = text_.find("*/", pos_ + 2);
        pos_ = end == std::string_view::npos ? text_.size() : end + 2;
        continue;
      }
      if (c == '&') {
        bool skip = false;
        const char decoded = reference(skip);
        if (skip) continue;
        if (decoded != 0) return lower(decoded);
      }
      ++pos_;
      return lower(c);
    }
    return 0;
  }

  bool startsWith(std::string_view word) {
    for (const char c : word) {
      if (next() != c) return false;
    }
    return true;
  }

 private:
  // Decodes a reference at pos_ (advancing past it) and returns its byte; sets `skip` for references to
  // whitespace; returns 0 and leaves pos_ if there is no reference here.
  char reference(bool& skip) {
    std::size_t i = pos_ + 1;
    if (i < text_.size() && text_[i] == '#') {
      ++i;
      const bool hex = i < text_.size() && (text_[i] == 'x' || text_[i] == 'X');
      if (hex) ++i;
      unsigned value = 0;
      std::size_t digits = 0;
      for (; i < text_.size() && digits < 8; ++i, ++digits) {
        const char d = text_[i];
        unsigned v;
        if (d >= '0' && d <= '9') {
          v = static_cast<unsigned>(d - '0');
        } else if (hex && lower(d) >= 'a' && lower(d) <= 'f') {
          v = static_cast<unsigned>(lower(d) - 'a' + 10);
        } else {
          break;
        }
        value = value * (hex ? 16 : 10) + v;
      }
      if (digits == 0) return 0;
      if (i < text_.size() && text_[i] == ';') ++i;
      pos_ = i;
      if (value <= 0x20) {
        skip = true;
        return 0;
      }
      return value < 0x80 ? static_cast<char>(value) : static_cast<char>(0x80);
    }
    struct Named {
      std::string_view name;
      char value;  // 0: whitespace
    };
    static constexpr std::array<Named, 4> kNamed = {Named{"&colon;", ':'}, Named{"&tab;", 0},
                                                    Named{"&newline;", 0}, Named{"&lpar;", '('}};
    for (const Named& named : kNamed) {
      if (text_.size() - pos_ < named.name.size()) continue;
      bool same = true;
      for (std::size_t k = 0; k < named.name.size() && same; ++k)
        same = lower(text_[pos_ + k]) == named.name[k];
      if (!same) continue;
      pos_ += named.name.size();
      skip = named.value == 0;
      return named.value;
    }
    return 0;
  }

  std::string_view text_;
  bool css_;
  std::size_t pos_ = 0;
};

// True if a URL runs script: javascript:, vbscript:, livescript:, or a data: URL other than an image.
bool isScriptUrl(std::string_view value) {
  for (const std::string_view scheme : {"javascript:", "vbscript:", "livescript:"}) {
    if (Significant(value).startsWith(scheme)) return true;
  }
  Significant data(value);
  if (!data.startsWith("data:")) return false;
  Significant image(value);
  image.startsWith("data:");
  return !(image.startsWith("image/") && !Significant(value).startsWith("data:image/svg"));
}

// Case-insensitive search in CSS, ignoring whitespace and comments and decoding references.
bool containsFolded(std::string_view text, std::string_view needle) {
  for (std::size_t start = 0; start < text.size(); ++start) {
    if (lower(text[start]) != needle[0]) continue;
    if (Significant(text.substr(start), /*css=*/true).startsWith(needle)) return true;
  }
  return false;
}

// CSS that runs script (old IE expression() and behaviors, Firefox bindings, script URLs).
bool isScriptStyle(std::string_view value) {
  // Bounded: a style value longer than this is checked on its first kMaxStyle bytes only, which keeps
  // the search (quadratic in the worst case) cheap.
  constexpr std::size_t kMaxStyle = 512;
  value = value.substr(0, kMaxStyle);
  for (const std::string_view needle :
       {"expression(", "javascript:", "vbscript:", "behavior:", "behaviour:", "-moz-binding", "@import"}) {
    if (containsFolded(value, needle)) return true;
  }
  return false;
}

bool startsWithFolded(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(text[i]) != prefix[i]) return false;
  }
  return true;
}

enum class Start {
  kText,           // page text
  kUnquotedValue,  // <tag attr=INPUT ...>
  kDoubleValue,    // <tag attr="INPUT" ...>
  kSingleValue,    // <tag attr='INPUT' ...>
  kAttributes,     // <tag INPUT>
};

// One tokenizer pass from one starting context. Every step consumes at least one byte.
class HtmlPass {
 public:
  HtmlPass(std::string_view input, Start start) : in_(input), start_(start) {}

  bool run() {
    switch (start_) {
      case Start::kText:
        break;
      case Start::kUnquotedValue:
        skipUnquotedValue();
        if (attributes(/*inTag=*/false)) return true;
        break;
      case Start::kDoubleValue:
      case Start::kSingleValue: {
        const char quote = start_ == Start::kDoubleValue ? '"' : '\'';
        const std::size_t end = in_.find(quote);
        if (end == std::string_view::npos) return false;  // the input never leaves the value
        pos_ = end + 1;
        if (attributes(/*inTag=*/false)) return true;
        break;
      }
      case Start::kAttributes:
        if (attributes(/*inTag=*/false)) return true;
        break;
    }
    return text();
  }

 private:
  // Page text: looks for tags, skips comments and other markup declarations.
  bool text() {
    while (pos_ < in_.size()) {
      const std::size_t lt = in_.find('<', pos_);
      if (lt == std::string_view::npos) return false;
      pos_ = lt + 1;
      const char next = pos_ < in_.size() ? in_[pos_] : 0;
      if (isLetter(next) || (next == '/' && pos_ + 1 < in_.size() && isLetter(in_[pos_ + 1]))) {
        if (next == '/') ++pos_;
        const std::size_t nameStart = pos_;
        while (pos_ < in_.size() && !isSpace(in_[pos_]) && in_[pos_] != '/' && in_[pos_] != '>') ++pos_;
        if (Name(in_.substr(nameStart, pos_ - nameStart)).in(kScriptTags)) return true;
        if (attributes(/*inTag=*/true)) return true;
      } else if (in_.substr(pos_, 3) == "!--") {
        const std::size_t end = in_.find("-->", pos_ + 3);
        pos_ = end == std::string_view::npos ? in_.size() : end + 3;
      } else if (next == '?' && (startsWithFolded(in_.substr(pos_ + 1), "import") ||
                                 startsWithFolded(in_.substr(pos_ + 1), "xml-stylesheet"))) {
        return true;  // old IE behaviors and XSLT: both load and run script
      } else if (next == '!' || next == '?' || next == '/') {
        const std::size_t end = in_.find('>', pos_);
        pos_ = end == std::string_view::npos ? in_.size() : end + 1;
      }
    }
    return false;
  }

  void skipUnquotedValue() {
    while (pos_ < in_.size() && !isSpace(in_[pos_]) && in_[pos_] != '>') ++pos_;
  }

  // Attributes up to the end of the tag ('>' or the end of the input); true if one runs script.
  // `inTag`: a tag was seen, so any on* attribute counts, not only known event names.
  bool attributes(bool inTag) {
    while (pos_ < in_.size()) {
      const char c = in_[pos_];
      if (isSpace(c) || c == '/') {
        ++pos_;
        continue;
      }
      if (c == '>') {
        ++pos_;
        return false;
      }
      const std::size_t nameStart = pos_++;  // a name may start with '=' (HTML5), so take one byte
      while (pos_ < in_.size() && !isSpace(in_[pos_]) && in_[pos_] != '/' && in_[pos_] != '>' &&
             in_[pos_] != '=') {
        ++pos_;
      }
      const std::string_view rawName = in_.substr(nameStart, pos_ - nameStart);
      while (pos_ < in_.size() && isSpace(in_[pos_])) ++pos_;
      if (pos_ >= in_.size() || in_[pos_] != '=') continue;  // no value: harmless
      ++pos_;
      while (pos_ < in_.size() && isSpace(in_[pos_])) ++pos_;
      std::string_view value;
      if (pos_ < in_.size() && (in_[pos_] == '"' || in_[pos_] == '\'' || in_[pos_] == '`')) {
        const char quote = in_[pos_++];
        std::size_t end = in_.find(quote, pos_);
        if (end == std::string_view::npos) end = in_.size();
        value = in_.substr(pos_, end - pos_);
        pos_ = end == in_.size() ? end : end + 1;
      } else {
        const std::size_t valueStart = pos_;
        skipUnquotedValue();
        value = in_.substr(valueStart, pos_ - valueStart);
      }
      if (runsScript(Name(rawName), value, inTag)) return true;
    }
    return false;
  }

  static bool runsScript(const Name& name, std::string_view value, bool inTag) {
    const std::string_view n = name.view();
    if (n.size() >= 5 && n.starts_with("on")) {
      if (isEvent(name)) return true;
      // An unknown on* name: in a tag any counts (new events appear); elsewhere only with a value that
      // reads as code, so that "online=yes" stays text.
      if (inTag) return true;
      for (const char c : value) {
        if (c == '(' || c == '`' || c == '=') return true;
      }
    }
    if (n == "style") return isScriptStyle(value);
    if (n == "srcdoc") return value.find('<') != std::string_view::npos;
    if (name.in(kUrlAttributes)) return isScriptUrl(value);
    return false;
  }

  std::string_view in_;
  Start start_;
  std::size_t pos_ = 0;
};

// '<' or '</' directly followed by a script-capable tag name, wherever it is: inside comments, attribute
// values or text the tokenizer read past (`<scr<script>ipt>`, `<!--<script>`).
bool hasScriptTagAnywhere(std::string_view in) {
  for (std::size_t lt = in.find('<'); lt != std::string_view::npos; lt = in.find('<', lt + 1)) {
    std::size_t start = lt + 1;
    if (start < in.size() && in[start] == '/') ++start;
    std::size_t end = start;
    while (end < in.size() && end - start <= kMaxName && (isLetter(in[end]) || in[end] == ':')) ++end;
    if (end == start || end - start > kMaxName) continue;
    if (end < in.size() && !isSpace(in[end]) && in[end] != '/' && in[end] != '>') continue;
    if (Name(in.substr(start, end - start)).in(kScriptTags)) return true;
  }
  return false;
}

bool isJoin(char c) {
  switch (c) {
    case ';':
    case '+':
    case '-':
    case '*':
    case '/':
    case '|':
    case '&':
    case ',':
    case ')':
    case '}':
    case ']':
    case ' ':
      return true;
    default:
      return false;
  }
}

// Breaking out of a JavaScript string into a call: `';alert(1)//`, `"-confirm(1)-"`, `'+eval(x)+'`.
bool hasScriptStringBreak(std::string_view in) {
  constexpr std::array<std::string_view, 5> kSinks = {"alert", "confirm", "prompt", "eval", "print"};
  for (std::size_t q = 0; q < in.size(); ++q) {
    if (in[q] != '\'' && in[q] != '"') continue;
    std::size_t i = q + 1;
    // At most a few joining characters between the quote and the call.
    std::size_t joins = 0;
    while (i < in.size() && joins < 3 && isJoin(in[i])) {
      ++i;
      ++joins;
    }
    if (joins == 0) continue;
    for (const std::string_view sink : kSinks) {
      if (in.size() - i <= sink.size()) continue;
      bool same = true;
      for (std::size_t k = 0; k < sink.size() && same; ++k) same = lower(in[i + k]) == sink[k];
      if (same && (in[i + sink.size()] == '(' || in[i + sink.size()] == '`')) return true;
    }
  }
  return false;
}

// The whole value is a script URL that could be echoed into an href or src. Stricter than inside an
// attribute, as prose starts with "JavaScript: The Good Parts" or "data: none": the scheme must be
// followed by code (no space after the colon; a call, an assignment, a template, or a data: payload).
bool isScriptUrlValue(std::string_view input) {
  if (!isScriptUrl(input)) return false;
  const std::size_t colon = input.find(':');
  if (colon == std::string_view::npos || colon + 1 >= input.size() || isSpace(input[colon + 1])) return false;
  for (const char c : input) {
    if (c == '(' || c == '`' || c == '=' || c == ',' || c == '&' || c == '\\') return true;
  }
  return false;
}

}  // namespace

bool detectXss(std::string_view input) {
  if (isScriptUrlValue(input)) return true;
  if (hasScriptTagAnywhere(input) || hasScriptStringBreak(input)) return true;
  // Past the scans above, only an attribute with a value can run script, and that needs an '='.
  if (input.find('=') == std::string_view::npos) return false;
  for (const Start start :
       {Start::kText, Start::kUnquotedValue, Start::kDoubleValue, Start::kSingleValue, Start::kAttributes}) {
    if (HtmlPass(input, start).run()) return true;
  }
  return false;
}

}  // namespace bulwark::waf
