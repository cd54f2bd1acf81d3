// SQL tokenizer and token folder behind detectSqli() (private to src/waf/detect/).
//
// The lexer reads any bytes as SQL of no particular dialect (MySQL, PostgreSQL, MSSQL, Oracle, SQLite
// features mixed), optionally starting inside a string literal opened by the application's query
// (`quoteContext`). The folder collapses what does not change the shape of a query (inline comments,
// `1+1`, `a.b`, `UNION ALL`, `ORDER BY`) so that decision rules see few tokens. Neither allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bulwark::waf::sql {

enum class TokenType : std::uint8_t {
  kNumber,     // 1, -2.5e3, 0x41, NULL, TRUE, FALSE
  kString,     // 'a', "a", x'41', N'a'
  kWord,       // identifiers and English words, `quoted`, [bracketed]
  kVariable,   // @x, @@version
  kFunction,   // a word followed by '('
  kLogic,      // AND OR XOR NOT && || !
  kCompare,    // = <> != < > <= >= <=> := LIKE RLIKE REGEXP IS IN BETWEEN
  kArith,      // + - * / % ^ & | ~ << >> DIV MOD
  kOpen,       // (
  kClose,      // )
  kComma,      // ,
  kSemicolon,  // ;
  kDot,        // .
  kComment,    // -- ... , # ... , /* ... */
  kUnion,      // UNION [ALL|DISTINCT]
  kStatement,  // SELECT INSERT UPDATE DELETE DROP ... WAITFOR
  kClause,     // FROM WHERE HAVING ORDER BY GROUP BY LIMIT INTO ...
  kKeyword,    // other SQL keywords: ALL DISTINCT TOP CASE TABLE ...
  kOther,      // any other byte
  kEnd,        // past the last token (never produced by the lexer; rules read it at the end)
};

// Which keyword or function a token is, where rules care; kNone for everything else.
enum class Word : std::uint8_t {
  kNone,
  // statements
  kSelect,
  kInsert,
  kUpdate,
  kDelete,
  kDrop,
  kCreate,
  kAlter,
  kTruncate,
  kExec,
  kDeclare,
  kShutdown,
  kWaitfor,
  kGrant,
  kRevoke,
  kSet,
  // clauses
  kFrom,
  kWhere,
  kHaving,
  kOrder,
  kGroup,
  kBy,
  kLimit,
  kOffset,
  kInto,
  kValues,
  kProcedure,
  kOutfile,
  kJoin,
  // other keywords
  kAll,
  kDistinct,
  kTop,
  kCase,
  kTable,
  kDatabase,
  kSchema,
  kUser,
  kView,
  kIndex,
  kDelay,
  kTime,
  kAs,
  kNot,
  kLike,
  kIs,
  kIn,
  kBetween,
  kSounds,
  kExists,
  kNull,
};

enum TokenFlag : std::uint16_t {
  kFlagBreak = 1,         // string: the literal the application opened, closed by the input
  kFlagUnterminated = 2,  // string or /* comment: runs to the end of the input
  kFlagRisky = 4,         // function: a known SQL built-in (information, string, conversion)
  kFlagSleepy = 8,        // function: delays, reads files or runs commands (SLEEP, BENCHMARK, LOAD_FILE)
  kFlagFolded = 16,       // value: absorbed an operator (`1+1`, `a||b`), or dotted (`a.b`)
  kFlagConcat = 32,       // logic: `||`, which is string concatenation outside MySQL
  kFlagQuiet = 64,        // line comment: no letters, digits or quotes in its text (`-- -`, `#`)
  kFlagInline = 128,      // comment: a closed /* ... */, which separates tokens like a space
  kFlagSpaced = 256,      // function: whitespace before '(' (MySQL reads built-ins only without it)
};

// Trivially constructible, so that the detector's fixed token arrays cost nothing to set up; write
// `Token{}` for a zeroed one.
struct Token {
  TokenType type;
  Word word;
  std::uint16_t flags;
  std::uint32_t pos;  // byte offset in the input
  std::uint32_t len;  // byte length in the input

  bool has(TokenFlag f) const { return (flags & f) != 0; }
  bool isValue() const {
    return type == TokenType::kNumber || type == TokenType::kString || type == TokenType::kWord ||
           type == TokenType::kVariable;
  }
};

// Splits `input` into tokens, one per next() call. With quoteContext '\'' or '"' the input is read as
// if it followed that quote character: the first token is the rest of that string literal, closed by
// the first quote character of the input (kFlagBreak), or, if there is none, unterminated.
class Lexer {
 public:
  Lexer(std::string_view input, char quoteContext) : input_(input), quoteContext_(quoteContext) {}

  // Fills `token` and returns true, or returns false at the end of the input. Each call consumes at
  // least one byte, so a full pass is linear in the input length.
  bool next(Token& token);

 private:
  void readString(Token& token, std::size_t start, char quote, bool opened);
  void readWord(Token& token, std::size_t start);
  void readNumber(Token& token, std::size_t start);
  bool readOperator(Token& token, std::size_t start);
  std::size_t closingBracket(std::size_t start);

  static constexpr std::size_t kMaxBracketedName = 128;

  std::string_view input_;
  std::size_t pos_ = 0;
  char quoteContext_;
  bool started_ = false;
  std::size_t nextBracket_ = 0;  // position of the next ']' after the last '[' seen, or the input size
};

// Case-insensitive keyword lookup; sets `token.type` and `token.word` for SQL keywords and leaves
// anything else a kWord. Exposed for tests.
void classifyWord(std::string_view text, Token& token);

// Flags for a function name (kFlagRisky / kFlagSleepy), 0 if it is not a known SQL built-in.
std::uint8_t functionFlags(std::string_view name);

}  // namespace bulwark::waf::sql
