// detectSqli(): reads the input as the tail of a SQL query in three places an application may paste it
// (as a bare value, inside '...', inside "..."), folds the tokens, and asks whether the result has the
// shape of an injection: a closed literal followed by SQL structure, a tautology, a stacked statement, a
// UNION SELECT, a subquery or a call to a delaying or file-reading function. See docs/waf-detectors.md.
#include <array>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

#include "waf/detect/detect.h"
#include "waf/detect/sql_lexer.h"

namespace bulwark::waf {
namespace {

using sql::Token;
using sql::TokenType;
using sql::Word;

// Folded tokens held at once. When the array fills, rules that may match anywhere are run over all
// but the last kKeep tokens, which move to the front; so memory is fixed and time linear.
constexpr std::size_t kCapacity = 64;
constexpr std::size_t kKeep = 8;  // more than any rule looks ahead
// Rules anchored at the start of the input look at this many folded tokens.
constexpr std::size_t kPrefix = 16;
// Tokens that appear in a fingerprint.
constexpr std::size_t kFingerprintTokens = 8;

char typeLetter(TokenType type) {
  switch (type) {
    case TokenType::kNumber:
      return '1';
    case TokenType::kString:
      return 's';
    case TokenType::kWord:
      return 'w';
    case TokenType::kVariable:
      return 'v';
    case TokenType::kFunction:
      return 'f';
    case TokenType::kLogic:
      return '&';
    case TokenType::kCompare:
      return '=';
    case TokenType::kArith:
      return '+';
    case TokenType::kOpen:
      return '(';
    case TokenType::kClose:
      return ')';
    case TokenType::kComma:
      return ',';
    case TokenType::kSemicolon:
      return ';';
    case TokenType::kDot:
      return '.';
    case TokenType::kComment:
      return 'c';
    case TokenType::kUnion:
      return 'U';
    case TokenType::kStatement:
      return 'S';
    case TokenType::kClause:
      return 'C';
    case TokenType::kKeyword:
      return 'k';
    case TokenType::kOther:
      return '?';
    case TokenType::kEnd:
      return '$';
  }
  return '?';
}

// A read-only view of folded tokens with kEnd past the last one, so rules can look ahead freely.
class Tokens {
 public:
  // `truncated`: more tokens followed that are not here, so reading past the last one gives kOther.
  Tokens(std::string_view input, const Token* tokens, std::size_t count, bool truncated = false)
      : input_(input),
        tokens_(tokens),
        count_(count),
        past_(truncated ? TokenType::kOther : TokenType::kEnd) {}

  TokenType type(std::size_t i) const { return i < count_ ? tokens_[i].type : past_; }
  Word word(std::size_t i) const { return i < count_ ? tokens_[i].word : Word::kNone; }
  bool has(std::size_t i, sql::TokenFlag flag) const { return i < count_ && tokens_[i].has(flag); }
  bool isValue(std::size_t i) const { return i < count_ && tokens_[i].isValue(); }
  bool truncated() const { return past_ != TokenType::kEnd; }
  bool is(std::size_t i, TokenType t, Word w) const { return type(i) == t && word(i) == w; }
  // The token's bytes, empty past the last token.
  std::string_view text(std::size_t i) const {
    return i < count_ ? input_.substr(tokens_[i].pos, tokens_[i].len) : std::string_view();
  }
  std::size_t size() const { return count_; }

 private:
  std::string_view input_;
  const Token* tokens_;
  std::size_t count_;
  TokenType past_;
};

// What follows `(` in a call reads as SQL arguments: `(5)`, `('/etc/passwd')`, `(1,md5(1))`,
// `((select ...))`, `(@x)`; not prose such as `(well)` or `(8 hours)`.
bool argumentsAt(const Tokens& t, std::size_t i, bool allowEmpty) {
  if (t.type(i) != TokenType::kOpen) return false;
  const TokenType first = t.type(i + 1);
  if (first == TokenType::kClose) return allowEmpty;
  if (first == TokenType::kFunction || first == TokenType::kOpen || first == TokenType::kVariable ||
      t.is(i + 1, TokenType::kStatement, Word::kSelect)) {
    return true;
  }
  if (first == TokenType::kArith && t.type(i + 2) == TokenType::kClose) return true;  // count(*)
  if (first == TokenType::kNumber || first == TokenType::kString) {
    const TokenType next = t.type(i + 2);
    return next == TokenType::kClose || next == TokenType::kComma || next == TokenType::kEnd ||
           next == TokenType::kCompare || next == TokenType::kArith || next == TokenType::kLogic;
  }
  return false;
}

// A built-in called as MySQL requires, without a space before '(' ("if (0 == 1) halt" is prose).
bool riskyCallAt(const Tokens& t, std::size_t i) {
  return t.type(i) == TokenType::kFunction && t.has(i, sql::kFlagRisky) && !t.has(i, sql::kFlagSpaced) &&
         argumentsAt(t, i + 1, /*allowEmpty=*/!t.has(i, sql::kFlagSleepy));
}

// Delaying and file functions written as MySQL calls them, with no space before '(', take looser
// arguments (`benchmark(2999/**/999,md5(1))`); with a space ("benchmark (1.5.0-1) unstable") the
// arguments must read as SQL.
bool sleepyCallAt(const Tokens& t, std::size_t i) {
  if (t.type(i) != TokenType::kFunction || !t.has(i, sql::kFlagSleepy) || t.type(i + 1) != TokenType::kOpen) {
    return false;
  }
  const TokenType first = t.type(i + 2);
  if (!t.has(i, sql::kFlagSpaced) &&
      (first == TokenType::kNumber || first == TokenType::kString || first == TokenType::kVariable)) {
    return true;
  }
  return argumentsAt(t, i + 1, /*allowEmpty=*/false);
}

// An unterminated string with a space in it at the end: the rest of a sentence after an apostrophe or
// a quotation mark, not the stub an injection leaves for the application's closing quote (`'a`, `'%`).
bool proseTailAt(const Tokens& t, std::size_t i) {
  if (t.type(i) != TokenType::kString || !t.has(i, sql::kFlagUnterminated)) return false;
  const std::string_view text = t.text(i);
  return text.find(' ') != std::string_view::npos;
}

// The input ends with an operator and a lone quote, as a concatenation injection does to rejoin the
// application's literal: `'+sleep(5)+'`, `" | type x | "`, `'||x||'`.
bool endsRejoiningAt(const Tokens& t, std::size_t first) {
  if (t.truncated() || t.size() < 5) return false;  // break, operator, operand, operator, quote
  const std::size_t last = t.size() - 1;
  const bool loneQuote =
      t.type(last) == TokenType::kString && t.has(last, sql::kFlagUnterminated) && t.text(last).size() == 1;
  // The same joining operator on both sides (`'+x+'`, `'||x||'`), and one that joins values rather than
  // paths or ranges ("'/usr/share/GPL-2'", "'+' or '-'").
  const std::string_view op = t.text(last - 1);
  const bool joins = op == "+" || op == "|" || op == "||" || op == "&" || op == "^" || op == "*";
  return loneQuote && joins && t.text(first) == op;
}

// After SELECT: a select list that reads as SQL (`*`, `@@version`, `1,2`, `user()`, `name from`),
// not as an English imperative ("select your size", "select all that apply").
bool selectListAt(const Tokens& t, std::size_t i) {
  const TokenType first = t.type(i);
  const TokenType next = t.type(i + 1);
  switch (first) {
    case TokenType::kVariable:
    case TokenType::kOpen:
      return true;
    case TokenType::kFunction:
      return argumentsAt(t, i + 1, /*allowEmpty=*/true);
    case TokenType::kArith:
      return next == TokenType::kClause || next == TokenType::kEnd || next == TokenType::kComment ||
             next == TokenType::kClose || next == TokenType::kOpen;
    case TokenType::kNumber:
    case TokenType::kString:
      return next == TokenType::kComma || next == TokenType::kClause || next == TokenType::kComment ||
             next == TokenType::kSemicolon || (first == TokenType::kNumber && next == TokenType::kEnd);
    case TokenType::kWord:
      if (t.word(i) == Word::kTop && t.type(i + 1) == TokenType::kNumber) return true;
      if (t.word(i) == Word::kCase) return true;
      [[fallthrough]];
    case TokenType::kKeyword:
      return (next == TokenType::kClause && t.word(i + 1) == Word::kFrom) || next == TokenType::kComma ||
             ((t.isValue(i + 1) || next == TokenType::kArith) &&
              t.is(i + 2, TokenType::kClause, Word::kFrom));
    default:
      return false;
  }
}

bool equalsFolded(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if ((text[k] | 0x20) != lower[k]) return false;
  }
  return true;
}

bool startsWithAny(std::string_view text, std::initializer_list<std::string_view> prefixes) {
  for (const std::string_view prefix : prefixes) {
    if (text.size() < prefix.size()) continue;
    bool same = true;
    for (std::size_t k = 0; k < prefix.size() && same; ++k) {
      same = (text[k] | 0x20) == prefix[k] || text[k] == prefix[k];
    }
    if (same) return true;
  }
  return false;
}

// A statement that reads as SQL rather than prose: `drop table`, `waitfor delay '0:0:5'`,
// `exec xp_cmdshell`, `declare @x`, `insert into`, `select * from`.
bool statementAt(const Tokens& t, std::size_t i) {
  if (t.type(i) != TokenType::kStatement) return false;
  const TokenType next = t.type(i + 1);
  switch (t.word(i)) {
    case Word::kSelect:
      return selectListAt(t, i + 1);
    case Word::kDrop:
    case Word::kCreate:
    case Word::kAlter:
    case Word::kTruncate: {
      const Word object = t.word(i + 1);
      return object == Word::kTable || object == Word::kDatabase || object == Word::kSchema ||
             object == Word::kUser || object == Word::kView || object == Word::kIndex ||
             object == Word::kProcedure;
    }
    case Word::kWaitfor:
      return next == TokenType::kString || next == TokenType::kNumber;
    case Word::kExec:
      // `exec xp_cmdshell 'dir'`, `exec master..xp_dirtree`, `exec sp_executesql`, `exec(@q)`;
      // not "execute the order".
      return next == TokenType::kVariable || next == TokenType::kString ||
             (next == TokenType::kOpen &&
              (t.type(i + 2) == TokenType::kVariable || t.type(i + 2) == TokenType::kString)) ||
             (next == TokenType::kFunction && t.has(i + 1, sql::kFlagRisky)) ||
             (next == TokenType::kWord && startsWithAny(t.text(i + 1), {"xp_", "sp_", "master"}));
    case Word::kDeclare:
      return next == TokenType::kVariable;
    case Word::kShutdown:
      return next == TokenType::kEnd || next == TokenType::kComment || next == TokenType::kSemicolon;
    case Word::kInsert:
      return t.is(i + 1, TokenType::kClause, Word::kInto);
    case Word::kDelete:
      return t.is(i + 1, TokenType::kClause, Word::kFrom);
    case Word::kUpdate:
      return next == TokenType::kWord && t.word(i + 2) == Word::kSet;
    case Word::kGrant:
    case Word::kRevoke:
      return t.word(i + 1) == Word::kAll || t.type(i + 1) == TokenType::kStatement;
    default:
      return false;
  }
}

// A clause that continues a query: `order by 1`, `group by x`, `having 1=1`, `into outfile '/x'`,
// `procedure analyse(`, `limit 1`, `where 1=1`.
bool clauseAt(const Tokens& t, std::size_t i) {
  if (t.type(i) != TokenType::kClause) return false;
  const TokenType next = t.type(i + 1);
  switch (t.word(i)) {
    case Word::kOrder:
    case Word::kGroup:
      return t.isValue(i + 1) || next == TokenType::kFunction || next == TokenType::kOpen;
    case Word::kHaving:
    case Word::kWhere:
      return (t.isValue(i + 1) && t.type(i + 2) == TokenType::kCompare) || next == TokenType::kOpen ||
             riskyCallAt(t, i + 1);
    case Word::kInto:
      return next == TokenType::kVariable || (t.has(i, sql::kFlagFolded) && next == TokenType::kString);
    case Word::kOutfile:
      return next == TokenType::kString;
    case Word::kProcedure:
      return next == TokenType::kFunction;
    case Word::kLimit:
      return next == TokenType::kNumber;
    default:
      return false;
  }
}

// A comparison whose right side fits its operator: `= x`, `like 'a%'`, `in (`, `is null`, `between 1`.
// Keeps English "in", "is" and "like" ("2 and stored in y") from reading as SQL comparisons.
bool comparisonAt(const Tokens& t, std::size_t i) {
  if (t.type(i) != TokenType::kCompare) return false;
  switch (t.word(i)) {
    case Word::kIn:
      return t.type(i + 1) == TokenType::kOpen;
    case Word::kIs:
      return t.type(i + 1) == TokenType::kNumber;  // NULL, TRUE, FALSE (IS NOT folds into IS)
    case Word::kLike:
      return t.type(i + 1) == TokenType::kString || t.type(i + 1) == TokenType::kNumber ||
             t.type(i + 1) == TokenType::kFunction;
    default:
      return t.isValue(i + 1) || t.type(i + 1) == TokenType::kFunction || t.type(i + 1) == TokenType::kOpen;
  }
}

// An operand that makes a boolean test of an injection: `1=1`, `'a'='b`, `sleep(5)`, `(select ...)`,
// `1--`. A lone word ("... and Donuts") or a lone string does not count.
// `loneNumber`: a number alone counts (`' or 1`) — after a break, not after a bare number ("1 and 2").
bool conditionAt(const Tokens& t, std::size_t i, bool loneNumber) {
  while (t.is(i, TokenType::kLogic, Word::kNot)) ++i;
  const TokenType first = t.type(i);
  const TokenType next = t.type(i + 1);
  if (t.isValue(i)) {
    if (comparisonAt(t, i + 1) || next == TokenType::kSemicolon) return true;
    if (next == TokenType::kComment) return first != TokenType::kWord || t.has(i + 1, sql::kFlagQuiet);
    if (first != TokenType::kNumber || next != TokenType::kEnd) return false;
    // A lone TRUE is a tautology wherever it is; a lone number only after a break ("1 and 2").
    return loneNumber || equalsFolded(t.text(i), "true");
  }
  if (first == TokenType::kFunction) return riskyCallAt(t, i);
  if (first == TokenType::kOpen) {
    while (t.type(i + 1) == TokenType::kOpen) ++i;
    if (t.is(i + 1, TokenType::kStatement, Word::kSelect) || riskyCallAt(t, i + 1)) return true;
    if (!t.isValue(i + 1)) return false;
    std::size_t j = i + 2;
    while (t.type(j) == TokenType::kClose) ++j;  // `(1)=(1`
    return comparisonAt(t, j);
  }
  if (first == TokenType::kKeyword) return t.word(i) == Word::kExists && next == TokenType::kOpen;
  if (first == TokenType::kStatement) return statementAt(t, i);
  return false;
}

// The input closed the application's string literal (token 0). What follows decides.
const char* afterBreak(const Tokens& t) {
  std::size_t i = 1;
  std::size_t closes = 0;
  for (; t.type(i) == TokenType::kClose; ++i) ++closes;
  const TokenType next = t.type(i + 1);
  switch (t.type(i)) {
    case TokenType::kComment:
      // `admin'--`, `')#`, `'/*`; but not "Dunkin' -- the best".
      return (t.has(i, sql::kFlagQuiet) || closes > 0) ? "break-comment" : nullptr;
    case TokenType::kSemicolon:
      return (next == TokenType::kComment || statementAt(t, i + 1) || next == TokenType::kVariable)
                 ? "break-stacked"
                 : nullptr;
    case TokenType::kLogic:
      return conditionAt(t, i + 1, true) ? "break-logic" : nullptr;
    case TokenType::kCompare:
      // `'='`, `x' like '%`, `' = 1--`; not "the 'is not' fix from upstream".
      if (!comparisonAt(t, i)) return nullptr;
      if (t.isValue(i + 1)) {
        const TokenType after = t.type(i + 2);
        return ((after == TokenType::kEnd && !proseTailAt(t, i + 1)) || after == TokenType::kComment ||
                after == TokenType::kLogic || after == TokenType::kClose)
                   ? "break-compare"
                   : nullptr;
      }
      return conditionAt(t, i + 1, true) ? "break-compare" : nullptr;
    case TokenType::kArith:
      // `'+sleep(5)+'`, `'-(select 1)-'`, `" | type %x% | "`.
      if (riskyCallAt(t, i + 1) || (conditionAt(t, i + 1, true) && t.type(i + 1) == TokenType::kOpen)) {
        return "break-arith";
      }
      // A bare operator is common in prose around quoted paths ("in '/usr/share/GPL-2'"); what betrays an
      // injection is that it rejoins the literal at the end.
      return endsRejoiningAt(t, i) ? "break-arith" : nullptr;
    case TokenType::kUnion:
      return "break-union";
    case TokenType::kClause:
      return clauseAt(t, i) ? "break-clause" : nullptr;
    case TokenType::kStatement:
      return (closes > 0 || statementAt(t, i)) ? "break-statement" : nullptr;
    case TokenType::kFunction:
      return riskyCallAt(t, i) ? "break-call" : nullptr;
    default:
      return nullptr;
  }
}

// The input starts outside any literal: a numeric parameter (`1 or 1=1`, `1) union ...`), or a whole
// statement or expression.
const char* bareStart(const Tokens& t) {
  std::size_t i = 0;
  std::size_t closes = 0;
  for (; t.type(i) == TokenType::kClose; ++i) ++closes;
  const TokenType first = t.type(i);
  if (first == TokenType::kNumber || (closes > 0 && first == TokenType::kLogic)) {
    if (first == TokenType::kNumber) {
      for (++i; t.type(i) == TokenType::kClose; ++i) ++closes;
    }
    const TokenType next = t.type(i + 1);
    switch (t.type(i)) {
      case TokenType::kLogic:
        return conditionAt(t, i + 1, false) ? "number-logic" : nullptr;
      case TokenType::kComment:
        // `1--`, `1)#`, `1/*`; not "41/po/*", a folded expression.
        return (closes > 0 || (t.has(i, sql::kFlagQuiet) && !t.has(i - 1, sql::kFlagFolded)))
                   ? "number-comment"
                   : nullptr;
      case TokenType::kSemicolon:
        return statementAt(t, i + 1) ? "number-stacked" : nullptr;
      case TokenType::kUnion:
        return "number-union";
      case TokenType::kClause:
        return clauseAt(t, i) ? "number-clause" : nullptr;
      case TokenType::kCompare:
        if (!comparisonAt(t, i)) return nullptr;
        if (t.isValue(i + 1)) {
          const TokenType after = t.type(i + 2);
          return (after == TokenType::kLogic || after == TokenType::kSemicolon ||
                  (after == TokenType::kComment && t.has(i + 2, sql::kFlagQuiet)))
                     ? "number-compare"
                     : nullptr;
        }
        return conditionAt(t, i + 1, false) ? "number-compare" : nullptr;
      case TokenType::kArith:
        return (riskyCallAt(t, i + 1) ||
                (next == TokenType::kOpen && t.is(i + 2, TokenType::kStatement, Word::kSelect)))
                   ? "number-arith"
                   : nullptr;
      case TokenType::kStatement:
        return (closes > 0 || t.word(i) == Word::kWaitfor) && statementAt(t, i) ? "number-statement"
                                                                                : nullptr;
      default:
        return nullptr;
    }
  }
  switch (first) {
    case TokenType::kFunction:
      return sleepyCallAt(t, i) ? "call" : nullptr;
    case TokenType::kStatement:
      return statementAt(t, i) ? "statement" : nullptr;
    case TokenType::kLogic:
      // `or 1=1` pasted after a condition; `!x` is not a connective.
      return (t.word(i) != Word::kNot && conditionAt(t, i + 1, false) && t.type(i + 1) != TokenType::kWord)
                 ? "logic"
                 : nullptr;
    case TokenType::kWord:
    case TokenType::kVariable: {
      // `admin or 1=1`: a tautology after a bare word.
      // NOT is no connective: `if not "%1" == ""` is a batch file.
      if (t.type(i + 1) != TokenType::kLogic || t.word(i + 1) == Word::kNot || !t.isValue(i + 2) ||
          t.type(i + 3) != TokenType::kCompare || !t.isValue(i + 4)) {
        return nullptr;
      }
      const bool numbers = t.type(i + 2) == TokenType::kNumber && t.type(i + 4) == TokenType::kNumber;
      const bool strings = t.type(i + 2) == TokenType::kString && t.type(i + 4) == TokenType::kString;
      return (numbers || strings) ? "word-tautology" : nullptr;
    }
    default:
      return nullptr;
  }
}

// Shapes that betray SQL wherever they appear in the input.
const char* anywhere(const Tokens& t, std::size_t i) {
  switch (t.type(i)) {
    case TokenType::kUnion: {
      // At most three parentheses, so that the look-ahead stays within the tokens kept across a shift.
      std::size_t j = i + 1;
      while (t.type(j) == TokenType::kOpen && j < i + 4) ++j;
      return (t.is(j, TokenType::kStatement, Word::kSelect) && selectListAt(t, j + 1)) ? "union-select"
                                                                                       : nullptr;
    }
    case TokenType::kSemicolon:
      return statementAt(t, i + 1) ? "stacked" : nullptr;
    case TokenType::kOpen:
      return (t.is(i + 1, TokenType::kStatement, Word::kSelect) && selectListAt(t, i + 2)) ? "subquery"
                                                                                           : nullptr;
    case TokenType::kFunction:
      return sleepyCallAt(t, i) ? "sleepy-call" : nullptr;
    case TokenType::kStatement:
      return (t.word(i) == Word::kWaitfor && statementAt(t, i)) ? "waitfor" : nullptr;
    case TokenType::kClause:
      return (t.word(i) == Word::kInto && clauseAt(t, i)) ? "into-outfile" : nullptr;
    default:
      return nullptr;
  }
}

// One pass of the detector over the input read in one quote context.
class Pass {
 public:
  Pass(std::string_view input, char quoteContext) : input_(input), quoteContext_(quoteContext) {}

  // Returns the name of the matching rule, or nullptr.
  const char* run() {
    sql::Lexer lexer(input_, quoteContext_);
    Token token{};
    while (lexer.next(token)) {
      push(token);
      if (match_ != nullptr) return match_;
    }
    scan(count_);
    if (match_ != nullptr) return match_;
    const Tokens prefix = prefixTokens();
    match_ = quoteContext_ != 0 ? afterBreak(prefix) : bareStart(prefix);
    return match_;
  }

  // Letters for the first tokens, e.g. "s&1=1" for `x' or 1=1`.
  void fingerprint(std::string& out) const {
    const Tokens prefix = prefixTokens();
    for (std::size_t i = 0; i < prefix.size() && i < kFingerprintTokens; ++i)
      out += typeLetter(prefix.type(i));
  }

 private:
  Tokens prefixTokens() const {
    return shifted_ ? Tokens(input_, prefix_.data(), prefix_.size(), /*truncated=*/true)
                    : Tokens(input_, tokens_.data(), count_);
  }

  Token* back(std::size_t fromEnd) { return count_ > fromEnd ? &tokens_[count_ - 1 - fromEnd] : nullptr; }

  // Folds `token` into the tokens so far, or appends it.
  void push(const Token& token) {
    if (token.type == TokenType::kComment && token.has(sql::kFlagInline)) return;  // acts as a space
    Token* last = back(0);
    Token* prev = back(1);
    if (last != nullptr && fold(*last, prev, token)) return;
    if (count_ == kCapacity) shift();
    tokens_[count_++] = token;
  }

  bool fold(Token& last, Token* prev, const Token& token) {
    const auto extend = [&](Token& into) {
      into.len = token.pos + token.len - into.pos;
      into.flags |= sql::kFlagFolded;
    };
    // Multi-word keywords.
    if (last.type == TokenType::kUnion && (token.word == Word::kAll || token.word == Word::kDistinct))
      return true;
    if (last.type == TokenType::kWord && (last.word == Word::kOrder || last.word == Word::kGroup) &&
        token.word == Word::kBy) {
      last.type = TokenType::kClause;
      return true;
    }
    if (last.word == Word::kWaitfor && (token.word == Word::kDelay || token.word == Word::kTime)) return true;
    if (last.word == Word::kInto && token.word == Word::kOutfile) {
      last.flags |= sql::kFlagFolded;  // INTO OUTFILE / DUMPFILE
      return true;
    }
    if (last.word == Word::kIs && token.word == Word::kNot) return true;
    if (last.type == TokenType::kLogic && last.word == Word::kNot && token.type == TokenType::kCompare) {
      last = token;  // NOT LIKE, NOT IN, NOT BETWEEN
      return true;
    }
    if (last.word == Word::kSounds && token.word == Word::kLike) {
      last.type = TokenType::kCompare;
      return true;
    }
    // `dbms_pipe.receive_message(`: a qualified function name.
    if (token.type == TokenType::kFunction && last.type == TokenType::kDot && prev != nullptr &&
        prev->type == TokenType::kWord) {
      const std::uint32_t pos = prev->pos;
      *prev = token;
      prev->pos = pos;
      prev->len = token.pos + token.len - pos;
      --count_;
      return true;
    }
    // A sign before a number where no operand precedes: `-1`, `(+2`.
    if (token.type == TokenType::kNumber && last.type == TokenType::kArith && last.len == 1 &&
        (input_[last.pos] == '-' || input_[last.pos] == '+' || input_[last.pos] == '~') &&
        (prev == nullptr || !(prev->isValue() || prev->type == TokenType::kClose))) {
      const std::uint32_t pos = last.pos;
      last = token;
      last.pos = pos;
      last.len = token.pos + token.len - pos;
      return true;
    }
    // Expressions and qualified names: `1+1`, `2024-01-15`, `a.b`, `10.to_i`. The application's own
    // literal (the break token) and a final unterminated string (which the application's closing quote
    // would end) are never folded, so rules see what the input added between them.
    if (token.isValue() && !token.has(sql::kFlagUnterminated) && prev != nullptr && prev->isValue() &&
        !prev->has(sql::kFlagBreak) && (last.type == TokenType::kArith || last.type == TokenType::kDot)) {
      extend(*prev);
      --count_;
      return true;
    }
    return false;
  }

  // Makes room: remembers the prefix once, scans everything but the last kKeep tokens, keeps those.
  void shift() {
    if (!shifted_) {
      for (std::size_t i = 0; i < kPrefix; ++i) prefix_[i] = tokens_[i];
      shifted_ = true;
    }
    scan(count_ - kKeep);
    for (std::size_t i = 0; i < kKeep; ++i) tokens_[i] = tokens_[count_ - kKeep + i];
    count_ = kKeep;
  }

  void scan(std::size_t end) {
    const Tokens all(input_, tokens_.data(), count_);
    for (std::size_t i = 0; i < end && match_ == nullptr; ++i) match_ = anywhere(all, i);
  }

  std::string_view input_;
  char quoteContext_;
  std::array<Token, kCapacity> tokens_;
  std::size_t count_ = 0;
  std::array<Token, kPrefix> prefix_;
  bool shifted_ = false;
  const char* match_ = nullptr;
};

}  // namespace

bool detectSqli(std::string_view input, std::string* fingerprint) {
  // Bare first (numeric parameters and whole statements), then inside each kind of literal, which only
  // matters if the input contains that quote character.
  static constexpr std::array<char, 3> kContexts = {0, '\'', '"'};
  for (const char context : kContexts) {
    if (context != 0 && input.find(context) == std::string_view::npos) continue;
    Pass pass(input, context);
    if (const char* rule = pass.run()) {
      if (fingerprint != nullptr) {
        *fingerprint = context == 0 ? "bare" : context == '\'' ? "single" : "double";
        *fingerprint += ':';
        *fingerprint += rule;
        *fingerprint += ':';
        pass.fingerprint(*fingerprint);
      }
      return true;
    }
  }
  return false;
}

}  // namespace bulwark::waf
