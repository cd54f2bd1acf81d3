#include "waf/detect/sql_lexer.h"

#include <algorithm>
#include <array>

namespace bulwark::waf::sql {
namespace {

struct KeywordEntry {
  std::string_view name;  // lower case
  TokenType type;
  Word word;
};

// Sorted by name (checked below). Common English words that are also SQL (table, user, order, all,
// time) stay kWord so that prose reads as words; rules look at their Word id where it matters.
constexpr std::array kKeywords = {
    KeywordEntry{"all", TokenType::kWord, Word::kAll},
    KeywordEntry{"alter", TokenType::kStatement, Word::kAlter},
    KeywordEntry{"and", TokenType::kLogic, Word::kNone},
    KeywordEntry{"as", TokenType::kWord, Word::kAs},
    KeywordEntry{"between", TokenType::kCompare, Word::kBetween},
    KeywordEntry{"by", TokenType::kWord, Word::kBy},
    KeywordEntry{"case", TokenType::kWord, Word::kCase},
    KeywordEntry{"create", TokenType::kStatement, Word::kCreate},
    KeywordEntry{"database", TokenType::kWord, Word::kDatabase},
    KeywordEntry{"declare", TokenType::kStatement, Word::kDeclare},
    KeywordEntry{"delay", TokenType::kWord, Word::kDelay},
    KeywordEntry{"delete", TokenType::kStatement, Word::kDelete},
    KeywordEntry{"distinct", TokenType::kKeyword, Word::kDistinct},
    KeywordEntry{"div", TokenType::kArith, Word::kNone},
    KeywordEntry{"drop", TokenType::kStatement, Word::kDrop},
    KeywordEntry{"dumpfile", TokenType::kClause, Word::kOutfile},
    KeywordEntry{"exec", TokenType::kStatement, Word::kExec},
    KeywordEntry{"execute", TokenType::kStatement, Word::kExec},
    KeywordEntry{"exists", TokenType::kKeyword, Word::kExists},
    KeywordEntry{"false", TokenType::kNumber, Word::kNone},
    KeywordEntry{"from", TokenType::kClause, Word::kFrom},
    KeywordEntry{"glob", TokenType::kCompare, Word::kLike},
    KeywordEntry{"grant", TokenType::kStatement, Word::kGrant},
    KeywordEntry{"group", TokenType::kWord, Word::kGroup},
    KeywordEntry{"having", TokenType::kClause, Word::kHaving},
    KeywordEntry{"ilike", TokenType::kCompare, Word::kLike},
    KeywordEntry{"in", TokenType::kCompare, Word::kIn},
    KeywordEntry{"index", TokenType::kWord, Word::kIndex},
    KeywordEntry{"insert", TokenType::kStatement, Word::kInsert},
    KeywordEntry{"intersect", TokenType::kUnion, Word::kNone},
    KeywordEntry{"into", TokenType::kClause, Word::kInto},
    KeywordEntry{"is", TokenType::kCompare, Word::kIs},
    KeywordEntry{"join", TokenType::kClause, Word::kJoin},
    KeywordEntry{"like", TokenType::kCompare, Word::kLike},
    KeywordEntry{"limit", TokenType::kClause, Word::kLimit},
    KeywordEntry{"mod", TokenType::kArith, Word::kNone},
    KeywordEntry{"not", TokenType::kLogic, Word::kNot},
    KeywordEntry{"null", TokenType::kNumber, Word::kNull},
    KeywordEntry{"offset", TokenType::kClause, Word::kOffset},
    KeywordEntry{"or", TokenType::kLogic, Word::kNone},
    KeywordEntry{"order", TokenType::kWord, Word::kOrder},
    KeywordEntry{"outfile", TokenType::kClause, Word::kOutfile},
    KeywordEntry{"procedure", TokenType::kClause, Word::kProcedure},
    KeywordEntry{"regexp", TokenType::kCompare, Word::kLike},
    KeywordEntry{"revoke", TokenType::kStatement, Word::kRevoke},
    KeywordEntry{"rlike", TokenType::kCompare, Word::kLike},
    KeywordEntry{"schema", TokenType::kWord, Word::kSchema},
    KeywordEntry{"select", TokenType::kStatement, Word::kSelect},
    KeywordEntry{"set", TokenType::kWord, Word::kSet},
    KeywordEntry{"shutdown", TokenType::kStatement, Word::kShutdown},
    KeywordEntry{"sounds", TokenType::kWord, Word::kSounds},
    KeywordEntry{"table", TokenType::kWord, Word::kTable},
    KeywordEntry{"time", TokenType::kWord, Word::kTime},
    KeywordEntry{"top", TokenType::kWord, Word::kTop},
    KeywordEntry{"true", TokenType::kNumber, Word::kNone},
    KeywordEntry{"truncate", TokenType::kStatement, Word::kTruncate},
    KeywordEntry{"union", TokenType::kUnion, Word::kNone},
    KeywordEntry{"update", TokenType::kStatement, Word::kUpdate},
    KeywordEntry{"user", TokenType::kWord, Word::kUser},
    KeywordEntry{"values", TokenType::kClause, Word::kValues},
    KeywordEntry{"view", TokenType::kWord, Word::kView},
    KeywordEntry{"waitfor", TokenType::kStatement, Word::kWaitfor},
    KeywordEntry{"where", TokenType::kClause, Word::kWhere},
    KeywordEntry{"xor", TokenType::kLogic, Word::kNone},
};

struct FunctionEntry {
  std::string_view name;  // lower case
  std::uint8_t flags;
};

// Functions an injection calls to read data or to prove itself blind (delays, errors carrying data,
// file and command access). Sorted by name (checked below).
constexpr std::uint8_t kRisky = kFlagRisky;
constexpr std::uint8_t kSleepy = kFlagRisky | kFlagSleepy;
constexpr std::array kFunctions = {
    FunctionEntry{"ascii", kRisky},
    FunctionEntry{"benchmark", kSleepy},
    FunctionEntry{"bin", kRisky},
    FunctionEntry{"cast", kRisky},
    FunctionEntry{"char", kRisky},
    FunctionEntry{"char_length", kRisky},
    FunctionEntry{"chr", kRisky},
    FunctionEntry{"coalesce", kRisky},
    FunctionEntry{"concat", kRisky},
    FunctionEntry{"concat_ws", kRisky},
    FunctionEntry{"conv", kRisky},
    FunctionEntry{"convert", kRisky},
    FunctionEntry{"count", kRisky},
    FunctionEntry{"current_user", kRisky},
    FunctionEntry{"database", kRisky},
    FunctionEntry{"db_name", kRisky},
    FunctionEntry{"elt", kRisky},
    FunctionEntry{"exp", kRisky},
    FunctionEntry{"extractvalue", kSleepy},
    FunctionEntry{"floor", kRisky},
    FunctionEntry{"get_host_address", kSleepy},
    FunctionEntry{"get_host_name", kSleepy},
    FunctionEntry{"group_concat", kRisky},
    FunctionEntry{"gtid_subset", kRisky},
    FunctionEntry{"hex", kRisky},
    FunctionEntry{"host_name", kRisky},
    FunctionEntry{"if", kRisky},
    FunctionEntry{"ifnull", kRisky},
    FunctionEntry{"iif", kRisky},
    FunctionEntry{"instr", kRisky},
    FunctionEntry{"isnull", kRisky},
    FunctionEntry{"json_keys", kRisky},
    FunctionEntry{"length", kRisky},
    FunctionEntry{"lo_import", kSleepy},
    FunctionEntry{"load_file", kSleepy},
    FunctionEntry{"make_set", kRisky},
    FunctionEntry{"md5", kRisky},
    FunctionEntry{"mid", kRisky},
    FunctionEntry{"name_const", kRisky},
    FunctionEntry{"nullif", kRisky},
    FunctionEntry{"openrowset", kSleepy},
    FunctionEntry{"ord", kRisky},
    FunctionEntry{"pg_read_file", kSleepy},
    FunctionEntry{"pg_sleep", kSleepy},
    FunctionEntry{"rand", kRisky},
    FunctionEntry{"randomblob", kSleepy},
    FunctionEntry{"receive_message", kSleepy},
    FunctionEntry{"schema", kRisky},
    FunctionEntry{"session_user", kRisky},
    FunctionEntry{"sha1", kRisky},
    FunctionEntry{"sleep", kSleepy},
    FunctionEntry{"string_agg", kRisky},
    FunctionEntry{"substr", kRisky},
    FunctionEntry{"substring", kRisky},
    FunctionEntry{"substring_index", kRisky},
    FunctionEntry{"sys_eval", kSleepy},
    FunctionEntry{"sys_exec", kSleepy},
    FunctionEntry{"sysdate", kRisky},
    FunctionEntry{"system_user", kRisky},
    FunctionEntry{"unhex", kRisky},
    FunctionEntry{"updatexml", kSleepy},
    FunctionEntry{"user", kRisky},
    FunctionEntry{"user_name", kRisky},
    FunctionEntry{"version", kRisky},
    FunctionEntry{"xmltype", kRisky},
    FunctionEntry{"xp_cmdshell", kSleepy},
    FunctionEntry{"xp_dirtree", kSleepy},
    FunctionEntry{"xp_regread", kSleepy},
};

template <typename Table>
constexpr bool isSorted(const Table& table) {
  for (std::size_t i = 1; i < table.size(); ++i) {
    if (!(table[i - 1].name < table[i].name)) return false;
  }
  return true;
}
static_assert(isSorted(kKeywords), "kKeywords must be sorted for the first-letter index");
static_assert(isSorted(kFunctions), "kFunctions must be sorted for the first-letter index");

// Longest keyword or function name; longer words are never looked up.
constexpr std::size_t kMaxNameLength = 20;

// Where each first letter's entries start in a sorted table, so a lookup compares a handful of names
// of that letter (most words are not SQL, and are rejected by length or letter without a compare).
template <typename Table>
constexpr std::array<std::uint8_t, 27> letterIndex(const Table& table) {
  std::array<std::uint8_t, 27> index{};
  std::size_t entry = 0;
  for (std::size_t letter = 0; letter < 26; ++letter) {
    index[letter] = static_cast<std::uint8_t>(entry);
    while (entry < table.size() && table[entry].name[0] == static_cast<char>('a' + letter)) ++entry;
  }
  index[26] = static_cast<std::uint8_t>(entry);
  return index;
}
constexpr auto kKeywordIndex = letterIndex(kKeywords);
constexpr auto kFunctionIndex = letterIndex(kFunctions);
static_assert(kKeywordIndex[26] == kKeywords.size() && kFunctionIndex[26] == kFunctions.size(),
              "tables must hold lower-case names starting with a letter");

template <typename Table>
const typename Table::value_type* lookup(const Table& table, const std::array<std::uint8_t, 27>& index,
                                         std::string_view text) {
  if (text.empty() || text.size() > kMaxNameLength) return nullptr;
  const char first = static_cast<char>(text[0] | 0x20);
  if (first < 'a' || first > 'z') return nullptr;
  for (std::size_t i = index[first - 'a']; i < index[first - 'a' + 1]; ++i) {
    const std::string_view name = table[i].name;
    if (name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t k = 1; k < name.size() && same; ++k) {
      const char c = text[k];
      same = ((c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c) == name[k];
    }
    if (same) return &table[i];
  }
  return nullptr;
}

bool isSpace(unsigned char c) { return c <= 0x20 || c == 0x7F; }
bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(unsigned char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// Bytes of identifiers; non-ASCII bytes count as letters, as in MySQL identifiers and prose.
bool isWordStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}
bool isWordByte(unsigned char c) { return isWordStart(c) || isDigit(c); }
bool isAlnum(unsigned char c) { return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

void classifyWord(std::string_view text, Token& token) {
  if (const KeywordEntry* entry = lookup(kKeywords, kKeywordIndex, text)) {
    token.type = entry->type;
    token.word = entry->word;
  } else {
    token.type = TokenType::kWord;
    token.word = Word::kNone;
  }
}

std::uint8_t functionFlags(std::string_view name) {
  const FunctionEntry* entry = lookup(kFunctions, kFunctionIndex, name);
  return entry != nullptr ? entry->flags : 0;
}

bool Lexer::next(Token& token) {
  token = Token{};
  token.type = TokenType::kOther;
  if (!started_ && quoteContext_ != 0) {
    started_ = true;
    readString(token, 0, quoteContext_, /*opened=*/false);
    return true;
  }
  for (;;) {
    while (pos_ < input_.size() && isSpace(static_cast<unsigned char>(input_[pos_]))) ++pos_;
    if (pos_ >= input_.size()) return false;
    const std::string_view rest = input_.substr(pos_);
    if (rest.starts_with("/*!")) {
      // MySQL executable comment: its content is code. Skip the marker and version digits; the closing
      // `*/` is skipped like any other stray comment end.
      pos_ += 3;
      while (pos_ < input_.size() && isDigit(static_cast<unsigned char>(input_[pos_]))) ++pos_;
    } else if (rest.starts_with("*/")) {
      pos_ += 2;
    } else {
      break;
    }
  }

  const std::size_t start = pos_;
  const auto c = static_cast<unsigned char>(input_[start]);
  const auto peek = [&](std::size_t ahead) -> unsigned char {
    return start + ahead < input_.size() ? static_cast<unsigned char>(input_[start + ahead]) : 0;
  };
  token.pos = static_cast<std::uint32_t>(start);

  if (c == '\'' || c == '"') {
    readString(token, start, static_cast<char>(c), /*opened=*/true);
    return true;
  }
  if (c == '`') {  // MySQL quoted identifier
    const std::size_t end = input_.find('`', start + 1);
    pos_ = end == std::string_view::npos ? input_.size() : end + 1;
    token.type = TokenType::kWord;
  } else if (c == '[' && closingBracket(start) != std::string_view::npos) {  // MSSQL quoted identifier
    pos_ = closingBracket(start) + 1;
    token.type = TokenType::kWord;
  } else if (isDigit(c) || (c == '.' && isDigit(peek(1)))) {
    readNumber(token, start);
  } else if (isWordStart(c)) {
    readWord(token, start);
  } else if (c == '@') {
    std::size_t end = start + 1;
    if (end < input_.size() && input_[end] == '@') ++end;
    const std::size_t nameStart = end;
    while (end < input_.size() && isWordByte(static_cast<unsigned char>(input_[end]))) ++end;
    pos_ = end;
    token.type = end > nameStart ? TokenType::kVariable : TokenType::kOther;
  } else if ((c == '-' && peek(1) == '-') || c == '#') {
    // Line comment, up to the end of the line. Whether it says anything tells a probe (`'-- -`) from
    // prose that happens to contain a dash pair or a hash.
    std::size_t end = input_.find('\n', start);
    if (end == std::string_view::npos) end = input_.size();
    bool quiet = true;
    for (std::size_t i = start + (c == '#' ? 1 : 2); i < end && quiet; ++i) {
      const auto b = static_cast<unsigned char>(input_[i]);
      quiet = !isAlnum(b) && b != '\'' && b != '"';
    }
    pos_ = end;
    token.type = TokenType::kComment;
    if (quiet) token.flags |= kFlagQuiet;
  } else if (c == '/' && peek(1) == '*') {
    const std::size_t end = input_.find("*/", start + 2);
    token.type = TokenType::kComment;
    if (end == std::string_view::npos) {
      pos_ = input_.size();
      token.flags |= kFlagUnterminated | kFlagQuiet;
    } else {
      pos_ = end + 2;
      token.flags |= kFlagInline;
    }
  } else if (c == '(' || c == ')' || c == ',' || c == ';' || c == '.') {
    pos_ = start + 1;
    token.type = c == '('   ? TokenType::kOpen
                 : c == ')' ? TokenType::kClose
                 : c == ',' ? TokenType::kComma
                 : c == ';' ? TokenType::kSemicolon
                            : TokenType::kDot;
  } else if (!readOperator(token, start)) {
    pos_ = start + 1;
    token.type = TokenType::kOther;
  }
  token.len = static_cast<std::uint32_t>(pos_ - start);
  return true;
}

std::size_t Lexer::closingBracket(std::size_t start) {
  // The next ']' is found once and remembered until the lexer passes it, so many '[' cost linear time.
  if (nextBracket_ <= start) {
    nextBracket_ = input_.find(']', start + 1);
    if (nextBracket_ == std::string_view::npos) nextBracket_ = input_.size();
  }
  if (nextBracket_ >= input_.size() || nextBracket_ - start > kMaxBracketedName)
    return std::string_view::npos;
  return nextBracket_;
}

void Lexer::readString(Token& token, std::size_t start, char quote, bool opened) {
  // In a literal the input opens, a backslash escapes the next byte (MySQL) and a doubled quote is an
  // escaped quote (SQL standard). The application's own literal ends at the input's first quote
  // whatever precedes it: a backslash escapes only in MySQL, and PostgreSQL, SQL Server and SQLite
  // would close the literal there (`\' or 1=1`).
  std::size_t i = opened ? start + 1 : start;
  token.type = TokenType::kString;
  token.pos = static_cast<std::uint32_t>(start);
  while (i < input_.size()) {
    const char c = input_[i];
    if (c == '\\' && opened) {
      i += 2;
      continue;
    }
    if (c == quote) {
      if (opened && i + 1 < input_.size() && input_[i + 1] == quote) {
        i += 2;
        continue;
      }
      pos_ = i + 1;
      token.len = static_cast<std::uint32_t>(pos_ - start);
      if (!opened) token.flags |= kFlagBreak;
      return;
    }
    ++i;
  }
  pos_ = input_.size();
  token.len = static_cast<std::uint32_t>(pos_ - start);
  token.flags |= kFlagUnterminated;
}

void Lexer::readWord(Token& token, std::size_t start) {
  std::size_t end = start;
  while (end < input_.size() && isWordByte(static_cast<unsigned char>(input_[end]))) ++end;
  pos_ = end;
  const std::string_view text = input_.substr(start, end - start);
  // A string prefix: x'41', N'text', b'01', E'text' (no space allowed between prefix and quote).
  if (text.size() == 1 && end < input_.size() && (input_[end] == '\'' || input_[end] == '"')) {
    const char p = static_cast<char>(text[0] | 0x20);
    if (p == 'x' || p == 'n' || p == 'b' || p == 'e') {
      readString(token, end, input_[end], /*opened=*/true);
      token.pos = static_cast<std::uint32_t>(start);
      token.len = static_cast<std::uint32_t>(pos_ - start);
      return;
    }
  }
  std::size_t after = end;
  while (after < input_.size() && isSpace(static_cast<unsigned char>(input_[after]))) ++after;
  if (after < input_.size() && input_[after] == '(') {
    Token keyword{};
    classifyWord(text, keyword);
    // Keywords that take a parenthesis (`IN (`, `AND (`, `VALUES (`) stay keywords.
    if (keyword.type == TokenType::kWord || keyword.word == Word::kNull) {
      token.type = TokenType::kFunction;
      token.flags |= functionFlags(text);
      if (after != end) token.flags |= kFlagSpaced;
      if (keyword.word == Word::kUser || keyword.word == Word::kSchema || keyword.word == Word::kDatabase) {
        token.flags |= kFlagRisky;
      }
      return;
    }
  }
  classifyWord(text, token);
}

void Lexer::readNumber(Token& token, std::size_t start) {
  std::size_t end = start;
  const auto at = [&](std::size_t i) -> unsigned char {
    return i < input_.size() ? static_cast<unsigned char>(input_[i]) : 0;
  };
  token.type = TokenType::kNumber;
  if (at(start) == '0' && (at(start + 1) | 0x20) == 'x' && isHexDigit(at(start + 2))) {
    end = start + 2;
    while (isHexDigit(at(end))) ++end;
  } else if (at(start) == '0' && (at(start + 1) | 0x20) == 'b' &&
             (at(start + 2) == '0' || at(start + 2) == '1')) {
    end = start + 2;
    while (at(end) == '0' || at(end) == '1') ++end;
  } else {
    while (isDigit(at(end))) ++end;
    if (at(end) == '.' && isDigit(at(end + 1))) {
      ++end;
      while (isDigit(at(end))) ++end;
    } else if (at(end) == '.' && !isWordStart(at(end + 1))) {
      ++end;  // `1.` is a number; `10.to_i` is a number, a dot and a word
    }
    if ((at(end) | 0x20) == 'e' &&
        (isDigit(at(end + 1)) || ((at(end + 1) == '+' || at(end + 1) == '-') && isDigit(at(end + 2))))) {
      end += 2;
      while (isDigit(at(end))) ++end;
    }
  }
  // Digits running into letters are an identifier (`2nd`, `1abc`), as MySQL reads them.
  if (isWordStart(at(end)) && at(end) != '$') {
    pos_ = end;
    while (pos_ < input_.size() && isWordByte(static_cast<unsigned char>(input_[pos_]))) ++pos_;
    token.type = TokenType::kWord;
    return;
  }
  pos_ = end;
}

bool Lexer::readOperator(Token& token, std::size_t start) {
  const char c = input_[start];
  const char n = start + 1 < input_.size() ? input_[start + 1] : 0;
  const char n2 = start + 2 < input_.size() ? input_[start + 2] : 0;
  std::size_t length = 1;
  switch (c) {
    case '<':
      token.type = TokenType::kCompare;
      if (n == '=' && n2 == '>') {
        length = 3;  // <=>
      } else if (n == '=' || n == '>') {
        length = 2;
      } else if (n == '<') {
        token.type = TokenType::kArith;
        length = 2;
      }
      break;
    case '>':
      token.type = n == '>' ? TokenType::kArith : TokenType::kCompare;
      length = (n == '=' || n == '>') ? 2 : 1;
      break;
    case '!':
      if (n == '=' || n == '<' || n == '>') {
        token.type = TokenType::kCompare;
        length = 2;
      } else {
        token.type = TokenType::kLogic;
        token.word = Word::kNot;
      }
      break;
    case '=':
      token.type = TokenType::kCompare;
      length = n == '=' ? 2 : 1;
      break;
    case ':':
      if (n != '=') return false;
      token.type = TokenType::kCompare;  // := assignment, as in `@x:=1`
      length = 2;
      break;
    case '&':
    case '|':
      if (n == c) {
        token.type = TokenType::kLogic;
        if (c == '|') token.flags |= kFlagConcat;
        length = 2;
      } else {
        token.type = TokenType::kArith;
      }
      break;
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '^':
    case '~':
      token.type = TokenType::kArith;
      break;
    default:
      return false;
  }
  pos_ = start + length;
  return true;
}

}  // namespace bulwark::waf::sql
