// SecLang (ModSecurity rule language) reader: files -> directives -> rule parts.
//
// Layer 1, readFile()/readText(): splits a configuration file into directives the way Apache + ModSecurity
// v2 (CRS's reference engine) read them: `#` comment lines, backslash-newline continuation, arguments
// separated by white space, quoted with "..." or '...' where `\\` and `\<quote>` are unescaped and every
// other backslash is kept (Apache's ap_getword_conf rules). `Include` (with globs, relative to the
// including file) is expanded in place, with a depth limit and a cycle check.
// Layer 2, parseVariables()/parseOperator()/parseActions(): split SecRule's three arguments into parts.
// Nothing here knows which directive, variable, operator or action names exist: the compiler checks names
// against its registries, so an unknown name is always a load error there, with this file:line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bulwark::waf::seclang {

struct SourceLoc {
  std::string file;
  int line = 0;  // 1-based line where the directive starts
};

struct Directive {
  std::string name;               // as written, e.g. "SecRule" (compare case-insensitively)
  std::vector<std::string> args;  // unquoted, unescaped
  SourceLoc loc;
};

struct ParseError {
  std::string message;  // "FILE:LINE: message"
};

struct ReadResult {
  std::vector<Directive> directives;
  std::vector<ParseError> errors;
  bool ok() const { return errors.empty(); }
};

struct ReadLimits {
  int maxIncludeDepth = 16;
  std::size_t maxFileBytes = 64 * 1024 * 1024;
  std::size_t maxDirectives = 1000000;
  // Files opened in one call, counting every Include expansion: a few files that each Include the next
  // one many times would otherwise make the work grow exponentially with the depth.
  std::size_t maxFiles = 10000;
  // false: every Include is an error and no file is opened (readText on untrusted text, e.g. fuzzing).
  bool allowInclude = true;
};

// Reads a file (or the files a glob matches, in sorted order) with Includes expanded.
ReadResult readFile(const std::string& pathOrGlob, const ReadLimits& limits = {});
// Reads text as if it were the file `name` (Includes resolve relative to the current directory).
ReadResult readText(std::string_view text, const std::string& name, const ReadLimits& limits = {});

// One target of a rule: `ARGS`, `!ARGS:foo`, `&TX:score`, `REQUEST_HEADERS:/^x-/`, `XML:/*`, `TX:'a b'`.
struct VariableRef {
  bool exclude = false;  // `!COLL:sel`: remove these from the rule's targets
  bool count = false;    // `&COLL`: the number of matching values
  std::string collection;  // upper-cased: "ARGS", "REQUEST_HEADERS", "TX", ...
  std::string selector;    // "" for the whole collection; the key or the regex text (slashes stripped)
  bool selectorIsRegex = false;
};

struct OperatorRef {
  bool negated = false;  // "!@rx ..."
  std::string name;      // without '@', as written (compare case-insensitively); "rx" when there is no '@'
  std::string param;     // rest of the argument, leading white space removed
};

struct ActionRef {
  std::string name;   // lower-cased name, e.g. "setvar", "t", "ctl", "msg"
  std::string param;  // value after the first ':', unquoted ('...'); "" if none
};

// Each returns false and sets `error` (without file:line; the caller adds it) on malformed text.
bool parseVariables(std::string_view text, std::vector<VariableRef>& out, std::string& error);
bool parseOperator(std::string_view text, OperatorRef& out, std::string& error);
bool parseActions(std::string_view text, std::vector<ActionRef>& out, std::string& error);

}  // namespace bulwark::waf::seclang
