// application/json: simdjson On Demand, walked with an explicit stack, arguments named as ModSecurity v2.9's
// msc_json.c names them (docs/waf-body-processors.md has the table and the differences from v3).
#include <simdjson.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "waf/body/body.h"

namespace bulwark::waf::body {
namespace {

namespace od = simdjson::ondemand;

// Argument names repeat their parents' keys, so a body with a long key and many leaves below it could
// make names far larger than the body. Past this budget (bytes of names and values) parsing stops.
constexpr std::size_t kOutputBytesPerBodyByte = 4;
constexpr std::size_t kOutputSlackBytes = 256 * 1024;

bool isJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trimTrailingWhitespace(std::string_view s) {
  while (!s.empty() && isJsonWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar. The value is kept as written (like v2, which hands yajl's number text to the
// rules), so simdjson's numeric conversion, which rejects some valid numbers (1e400), is not used.
bool isJsonNumber(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && isDigit(s[i])) ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

class JsonWalker {
 public:
  JsonWalker(const Limits& limits, std::size_t bodySize, JsonResult& out)
      : limits_(limits), outputBudget_(bodySize * kOutputBytesPerBodyByte + kOutputSlackBytes), out_(out) {}

  // `inputEnd` is one past the last byte of the body.
  void walk(od::document& doc, const char* inputEnd) {
    bool scalar = false;
    if (!check(doc.is_scalar().get(scalar))) return;
    if (scalar) {
      // The raw token runs to the next token or to the end: anything else is trailing content.
      std::string_view token = rawToken(doc);
      if (token.data() + token.size() != inputEnd) {
        fail("JSON: trailing content after document");
        return;
      }
      addRootScalar(doc);
      return;
    }
    od::value root;
    if (!check(doc.get_value().get(root)) || !open(root) || !drain()) return;
    // simdjson does not look past the end of the top-level value by itself.
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == simdjson::SUCCESS)
      fail("JSON: trailing content after document");
  }

 private:
  struct Frame {
    bool isArray = false;
    bool started = false;
    od::array_iterator arrayAt;
    od::array_iterator arrayEnd;
    od::object_iterator objectAt;
    od::object_iterator objectEnd;
    // Restores the naming state when a nested container closes: the prefix is truncated back and the key
    // is the prefix's last component again. (Nothing follows the top-level container.)
    std::size_t prefixLength = 0;
    bool hadPrefix = false;
    std::size_t keyStart = 0;
    bool countsForDepth = true;
  };

  bool fail(std::string message) {
    out_.error = true;
    out_.errorMsg = std::move(message);
    return false;
  }

  bool check(simdjson::error_code code) {
    if (code == simdjson::SUCCESS) return true;
    return fail(std::string("JSON parsing error: ") + simdjson::error_message(code));
  }

  bool addArgument(std::string_view value) {
    if (out_.args.size() >= limits_.maxArgs) {
      return fail("JSON: More than " + std::to_string(limits_.maxArgs) + " JSON keys");
    }
    std::string name;
    if (hasPrefix_) {
      name.reserve(prefix_.size() + 1 + key_.size());
      name += prefix_;
      name += '.';
    }
    name += key_;
    outputBytes_ += name.size() + value.size();
    if (outputBytes_ > outputBudget_) return fail("JSON: argument names and values exceed the size budget");
    out_.args.emplace_back(std::move(name), std::string(value));
    return true;
  }

  // true, false and null (as ""), and numbers as written; strings unescaped.
  template <typename V>
  bool addScalar(V& v, od::json_type type) {
    if (type == od::json_type::string) {
      std::string_view s;
      return check(v.get_string().get(s)) && addArgument(s);
    }
    std::string_view token = trimTrailingWhitespace(rawToken(v));
    switch (type) {
      case od::json_type::number:
        if (!isJsonNumber(token)) return fail("JSON parsing error: invalid number");
        return addArgument(token);
      case od::json_type::boolean:
        if (token != "true" && token != "false") return fail("JSON parsing error: invalid literal");
        return addArgument(token);
      case od::json_type::null:
        if (token != "null") return fail("JSON parsing error: invalid literal");
        return addArgument("");
      default:
        return fail("JSON parsing error: unexpected value");
    }
  }

  static std::string_view rawToken(od::value& v) { return v.raw_json_token(); }
  static std::string_view rawToken(od::document& d) {
    std::string_view token;
    return d.raw_json_token().get(token) == simdjson::SUCCESS ? token : std::string_view();
  }

  bool addRootScalar(od::document& doc) {
    od::json_type type = od::json_type::null;  // set by get(); initialised for -O3 -Wmaybe-uninitialized
    return check(doc.type().get(type)) && addScalar(doc, type);
  }

  // Pushes a container, renaming as v2 does: a top-level object adds nothing (its keys are names), a
  // top-level array is "array" with key "array", anything else appends ".key" to the prefix.
  bool open(od::value& v) {
    od::json_type type = od::json_type::null;  // set by get(); initialised for -O3 -Wmaybe-uninitialized
    if (!check(v.type().get(type))) return false;
    if (type != od::json_type::object && type != od::json_type::array) return addScalar(v, type);

    Frame f;
    f.isArray = type == od::json_type::array;
    f.prefixLength = prefix_.size();
    f.hadPrefix = hasPrefix_;
    bool root = stack_.empty();
    if (root && !f.isArray) {
      f.countsForDepth = false;  // v2 does not count the top-level object
    } else if (root) {
      prefix_ = "array";
      key_ = "array";
      hasPrefix_ = true;
    } else {
      if (hasPrefix_) prefix_ += '.';
      f.keyStart = prefix_.size();
      prefix_ += key_;
      hasPrefix_ = true;
    }
    if (f.countsForDepth && ++depth_ > limits_.maxJsonDepth) return fail("JSON depth limit exceeded");
    if (f.isArray) {
      od::array array;
      if (!check(v.get_array().get(array)) || !check(array.begin().get(f.arrayAt)) ||
          !check(array.end().get(f.arrayEnd))) {
        return false;
      }
    } else {
      od::object object;
      if (!check(v.get_object().get(object)) || !check(object.begin().get(f.objectAt)) ||
          !check(object.end().get(f.objectEnd))) {
        return false;
      }
    }
    stack_.push_back(f);
    return true;
  }

  void close() {
    const Frame& f = stack_.back();
    if (f.countsForDepth) --depth_;
    if (stack_.size() > 1) {
      key_.assign(prefix_, f.keyStart);
      prefix_.resize(f.prefixLength);
      hasPrefix_ = f.hadPrefix;
    }
    stack_.pop_back();
  }

  // Visits every member of every open container, depth first, without recursion.
  bool drain() {
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      od::value child;
      if (f.isArray) {
        if (f.started) ++f.arrayAt;
        f.started = true;
        if (!(f.arrayAt != f.arrayEnd)) {
          close();
          continue;
        }
        if (!check((*f.arrayAt).get(child))) return false;
      } else {
        if (f.started) ++f.objectAt;
        f.started = true;
        if (!(f.objectAt != f.objectEnd)) {
          close();
          continue;
        }
        od::field field;
        std::string_view key;
        if (!check((*f.objectAt).get(field)) || !check(field.unescaped_key().get(key))) return false;
        key_.assign(key);
        child = field.value();
      }
      if (!open(child)) return false;  // may push: `f` is not used after this
    }
    return true;
  }

  const Limits& limits_;
  const std::size_t outputBudget_;
  JsonResult& out_;
  std::vector<Frame> stack_;
  std::string prefix_;
  bool hasPrefix_ = false;
  std::string key_;  // empty until the first key: a top-level scalar has an empty name
  uint32_t depth_ = 0;
  std::size_t outputBytes_ = 0;
};

}  // namespace

void parseJson(std::string_view body, const Limits& limits, JsonResult& out) {
  out = JsonResult{};
  if (body.empty()) return;  // no body, nothing to parse (a body of only whitespace is an error)
  simdjson::padded_string padded(body);
  od::parser parser;
  // The walk stops at the configured depth; simdjson must track one level more than that (the top-level
  // object is not counted) and never more than the body could hold.
  std::size_t parserDepth = std::min<std::size_t>(limits.maxJsonDepth, body.size()) + 2;
  od::document doc;
  simdjson::error_code code = parser.allocate(body.size(), parserDepth);
  if (code == simdjson::SUCCESS) code = parser.iterate(padded).get(doc);
  if (code != simdjson::SUCCESS) {
    out.error = true;
    out.errorMsg = std::string("JSON parsing error: ") + simdjson::error_message(code);
    return;
  }
  JsonWalker(limits, body.size(), out).walk(doc, padded.data() + body.size());
}

}  // namespace bulwark::waf::body
