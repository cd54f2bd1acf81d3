// @pm (phrases in the parameter) and @pmFromFile / @pmf (phrases in files): case-insensitive phrase match.
//
// Parameter and file parsing follow v2: @pm splits its parameter (after v2's |hex| and escape processing)
// on whitespace; @pmFromFile takes whitespace-separated file names relative to the rule file's directory,
// one phrase per line, trimmed, blank lines and lines starting with '#' skipped. With `capture`, TX:0 is
// the phrase that matched and TX:1..9 are removed.
#include <memory>
#include <string>
#include <vector>

#include "waf/operators/factories.h"
#include "waf/operators/phrase_matcher.h"
#include "waf/operators/util.h"

namespace bulwark::waf::operators {

namespace {

// The phrases as case-insensitive regex alternations for the Hyperscan prefilter (which finds a literal
// set in one pass): regex metacharacters and non-printable bytes written as \xHH, alternations cut at
// about 8,000 bytes (Hyperscan limits a pattern's length) and joined by NUL bytes, which the prefilter
// compiles as several expressions of one rule. Empty when there is no phrase.
std::string phraseAlternation(const std::vector<std::string>& phrases) {
  if (phrases.empty()) return {};
  static constexpr std::size_t kMaxPart = 8000;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  std::size_t partStart = 0;
  for (const std::string& phrase : phrases) {
    if (out.size() == partStart) {
      out += "(?i)(?:";
    } else if (out.size() - partStart > kMaxPart) {
      out += ")";
      out += '\0';
      partStart = out.size();
      out += "(?i)(?:";
    } else {
      out += '|';
    }
    for (unsigned char c : phrase) {
      const bool meta =
          std::string_view("\\^$.|?*+()[]{}/#-").find(static_cast<char>(c)) != std::string_view::npos;
      if (c > 0x20 && c < 0x7f && !meta) {
        out += static_cast<char>(c);
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  }
  out += ')';
  return out;
}

class PmOperator final : public Operator {
 public:
  explicit PmOperator(PhraseMatcher matcher)
      : matcher_(std::move(matcher)), alternation_(phraseAlternation(matcher_.phrases())) {}

  bool match(OperatorContext& ctx, std::string_view input) const override {
    if (input.empty()) return false;  // v2: "nothing to read"
    const std::string* phrase = matcher_.find(input);
    if (phrase == nullptr) return false;
    if (ctx.captureEnabled()) {
      ctx.setCapture(0, *phrase);
      unsetCapturesFrom(ctx, 1);
    }
    return true;
  }

  std::string_view regexPattern() const noexcept override { return alternation_; }

 private:
  PhraseMatcher matcher_;
  std::string alternation_;
};

// Splits on C isspace(), dropping empty pieces.
std::vector<std::string_view> splitOnSpace(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && isCSpace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !isCSpace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

bool addPhrasesFromFile(const std::string& path, std::vector<std::string>& phrases, std::string& error) {
  std::string content;
  if (!readWholeFile(path, content, error)) {
    error = "could not open phrase file: " + error;
    return false;
  }
  std::string processed;
  std::string ignored;
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t newline = content.find('\n', pos);
    std::size_t end = newline == std::string::npos ? content.size() : newline + 1;
    // v2 processes the line with its newline (fgets), then trims; a line it cannot process stays raw.
    std::string_view line(content.data() + pos, end - pos);
    pos = end;
    std::string_view phrase = line;
    if (parsePmContent(line, processed, ignored)) phrase = processed;
    phrase = trimCSpace(phrase);
    if (phrase.empty() || phrase.front() == '#') continue;
    phrases.emplace_back(phrase);
  }
  return true;
}

std::unique_ptr<Operator> makePm(const std::vector<std::string>& phrases, std::string& error) {
  PhraseMatcher matcher;
  if (!matcher.build(phrases)) {
    error = "phrase list too large";
    return nullptr;
  }
  return std::make_unique<PmOperator>(std::move(matcher));
}

}  // namespace

std::unique_ptr<Operator> createPm(const OperatorArgs& args, std::string& error) {
  if (trimCSpace(args.param).empty()) {
    error = "missing parameter for operator @pm";
    return nullptr;
  }
  std::string processed;
  std::string ignored;
  std::string_view text = args.param;
  // v2 falls back to the raw parameter when its |hex|/escape processing fails.
  if (parsePmContent(args.param, processed, ignored)) text = processed;
  std::vector<std::string> phrases;
  for (std::string_view word : splitOnSpace(text)) phrases.emplace_back(word);
  return makePm(phrases, error);
}

std::unique_ptr<Operator> createPmFromFile(const OperatorArgs& args, std::string& error) {
  std::vector<std::string_view> names = splitOnSpace(args.param);
  if (names.empty()) {
    error = "missing parameter for operator @pmFromFile";
    return nullptr;
  }
  std::vector<std::string> phrases;
  for (std::string_view name : names) {
    if (name.starts_with("http://") || name.starts_with("https://")) {
      error = "remote phrase files are not supported: " + std::string(name);
      return nullptr;
    }
    if (!addPhrasesFromFile(resolvePath(args.baseDir, name), phrases, error)) return nullptr;
  }
  return makePm(phrases, error);
}

}  // namespace bulwark::waf::operators
