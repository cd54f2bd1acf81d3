// libFuzzer target: the SecLang reader on arbitrary text, with Include disabled so that no input can make
// it open a file. Every SecRule/SecAction it yields goes through parseVariables/parseOperator/parseActions.
// Invariants checked (a violation traps):
//   - errors are "fuzz.conf:LINE: ..." and directive lines lie within the input;
//   - writing the directives back with every word quoted reads back to the same directives;
//   - a parsed variable list or action list, written back in canonical form, parses to the same parts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "waf/seclang/parser.h"

using namespace bulwark::waf::seclang;

namespace {

// The inverse of Apache's unescaping inside "...": escape '\' and '"'.
std::string quoteWord(const std::string& word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Inside '...' of a selector or an action value only \' and \\ exist.
std::string quoteValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

bool sameVariables(const std::vector<VariableRef>& a, const std::vector<VariableRef>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].exclude != b[i].exclude || a[i].count != b[i].count || a[i].collection != b[i].collection ||
        a[i].selector != b[i].selector || a[i].selectorIsRegex != b[i].selectorIsRegex) {
      return false;
    }
  }
  return true;
}

void checkVariables(const std::string& text) {
  std::vector<VariableRef> vars;
  std::string error;
  if (!parseVariables(text, vars, error)) {
    if (error.empty()) __builtin_trap();
    return;
  }
  if (vars.empty()) __builtin_trap();
  std::string canonical;
  for (const VariableRef& v : vars) {
    if (!canonical.empty()) canonical += '|';
    canonical += std::string(v.exclude ? "!" : "") + (v.count ? "&" : "") + v.collection;
    if (v.selector.empty()) continue;
    // A quoted selector is a regex exactly when it looks like /.../, so a regex keeps its slashes.
    const std::string selector = v.selectorIsRegex ? "/" + v.selector + "/" : v.selector;
    if (!v.selectorIsRegex && v.collection != "XML" && selector.size() > 2 && selector.front() == '/' &&
        selector.back() == '/') {
      return;  // a plain key that looks like a regex cannot be written back (nor can it be read)
    }
    canonical += ":" + quoteValue(selector);
  }
  std::vector<VariableRef> again;
  if (!parseVariables(canonical, again, error) || !sameVariables(vars, again)) __builtin_trap();
}

void checkOperator(const std::string& text) {
  OperatorRef op;
  std::string error;
  if (!parseOperator(text, op, error)) {
    if (error.empty()) __builtin_trap();
    return;
  }
  if (op.name.empty()) __builtin_trap();
  // Only an implicit regex may keep leading white space, and it cannot be written with '@'.
  if (!op.param.empty() &&
      (op.param.front() == ' ' || op.param.front() == '\t' || op.param.front() == '\n' ||
       op.param.front() == '\v' || op.param.front() == '\f' || op.param.front() == '\r')) {
    return;
  }
  const std::string canonical =
      std::string(op.negated ? "!" : "") + "@" + op.name + (op.param.empty() ? "" : " " + op.param);
  OperatorRef again;
  if (!parseOperator(canonical, again, error) || again.negated != op.negated || again.name != op.name ||
      again.param != op.param) {
    __builtin_trap();
  }
}

void checkActions(const std::string& text) {
  std::vector<ActionRef> actions;
  std::string error;
  if (!parseActions(text, actions, error)) {
    if (error.empty()) __builtin_trap();
    return;
  }
  if (actions.empty()) __builtin_trap();
  std::string canonical;
  for (const ActionRef& a : actions) {
    if (!canonical.empty()) canonical += ',';
    canonical += a.name + ":" + quoteValue(a.param);
  }
  std::vector<ActionRef> again;
  if (!parseActions(canonical, again, error) || again.size() != actions.size()) __builtin_trap();
  for (std::size_t i = 0; i < actions.size(); ++i) {
    if (again[i].name != actions[i].name || again[i].param != actions[i].param) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ReadLimits limits;
  limits.allowInclude = false;
  limits.maxFileBytes = 1 << 20;
  limits.maxDirectives = 10000;
  const ReadResult r = readText(text, "fuzz.conf", limits);

  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const ParseError& e : r.errors) {
    if (!e.message.starts_with("fuzz.conf:")) __builtin_trap();
  }
  std::string rewritten;
  for (const Directive& d : r.directives) {
    if (d.loc.line < 1 || static_cast<std::size_t>(d.loc.line) > lines || d.loc.file != "fuzz.conf") {
      __builtin_trap();
    }
    rewritten += quoteWord(d.name);
    for (const std::string& arg : d.args) rewritten += " " + quoteWord(arg);
    rewritten += "\n";

    if (d.name == "SecRule" && d.args.size() >= 2) {
      checkVariables(d.args[0]);
      checkOperator(d.args[1]);
      if (d.args.size() >= 3) checkActions(d.args[2]);
    } else if ((d.name == "SecAction" || d.name == "SecDefaultAction") && !d.args.empty()) {
      checkActions(d.args[0]);
    }
  }

  // Quoted words survive a second reading unchanged (words never hold a line break: lines split first).
  limits.maxFileBytes = 4 << 20;
  const ReadResult again = readText(rewritten, "fuzz.conf", limits);
  if (!again.ok() || again.directives.size() != r.directives.size()) __builtin_trap();
  for (std::size_t i = 0; i < again.directives.size(); ++i) {
    if (again.directives[i].name != r.directives[i].name ||
        again.directives[i].args != r.directives[i].args) {
      __builtin_trap();
    }
  }

  // The layer-2 parsers also take raw text directly, not only what the line reader produces.
  const std::string raw(text.substr(0, 4096));
  checkVariables(raw);
  checkOperator(raw);
  checkActions(raw);
  return 0;
}
