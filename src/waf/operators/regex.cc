#include "waf/operators/regex.h"

#include <atomic>

#include "waf/operators/regex_limits.h"

namespace bulwark::waf {

namespace {

// Limits are read on every match by every thread: relaxed atomics, plus a generation number so a thread
// re-applies them to its own match context only after a change.
std::atomic<std::uint32_t> gMatchLimit{kDefaultRegexMatchLimits.match};
std::atomic<std::uint32_t> gRecursionLimit{kDefaultRegexMatchLimits.recursion};
std::atomic<std::uint64_t> gLimitsGeneration{1};
std::atomic<std::uint64_t> gLimitHits{0};
thread_local std::uint64_t tLimitHits = 0;

}  // namespace

void setRegexMatchLimits(std::uint32_t match, std::uint32_t recursion) noexcept {
  gMatchLimit.store(match, std::memory_order_relaxed);
  gRecursionLimit.store(recursion, std::memory_order_relaxed);
  gLimitsGeneration.fetch_add(1, std::memory_order_release);
}

RegexMatchLimits regexMatchLimits() noexcept {
  return RegexMatchLimits{gMatchLimit.load(std::memory_order_relaxed),
                          gRecursionLimit.load(std::memory_order_relaxed)};
}

std::uint64_t regexLimitHits() noexcept { return gLimitHits.load(std::memory_order_relaxed); }

std::uint64_t regexLimitHitsOnThisThread() noexcept { return tLimitHits; }

namespace operators {

namespace {

// PCRE2's own defaults, used when a limit is set to 0.
constexpr std::uint32_t kPcre2DefaultLimit = 10'000'000;
// The JIT stack grows up to this size per thread; deeper matches count as a limit hit.
constexpr std::size_t kJitStackStart = 32 * 1024;
constexpr std::size_t kJitStackMax = 1024 * 1024;

// Everything a thread needs to run any pattern, made on its first match and freed at thread exit.
class ThreadMatchState {
 public:
  ThreadMatchState()
      : data_(pcre2_match_data_create(kCaptureSlots, nullptr)),
        context_(pcre2_match_context_create(nullptr)),
        jitStack_(pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr)) {
    if (context_ != nullptr && jitStack_ != nullptr) pcre2_jit_stack_assign(context_, nullptr, jitStack_);
  }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(jitStack_);
    pcre2_match_context_free(context_);
    pcre2_match_data_free(data_);
  }
  ThreadMatchState(const ThreadMatchState&) = delete;
  ThreadMatchState& operator=(const ThreadMatchState&) = delete;

  bool ok() const noexcept { return data_ != nullptr && context_ != nullptr; }
  pcre2_match_data* data() noexcept { return data_; }

  pcre2_match_context* context() noexcept {
    std::uint64_t generation = gLimitsGeneration.load(std::memory_order_acquire);
    if (generation != generation_) {
      std::uint32_t match = gMatchLimit.load(std::memory_order_relaxed);
      std::uint32_t depth = gRecursionLimit.load(std::memory_order_relaxed);
      pcre2_set_match_limit(context_, match == 0 ? kPcre2DefaultLimit : match);
      pcre2_set_depth_limit(context_, depth == 0 ? kPcre2DefaultLimit : depth);
      generation_ = generation;
    }
    return context_;
  }

 private:
  pcre2_match_data* data_;
  pcre2_match_context* context_;
  pcre2_jit_stack* jitStack_;
  std::uint64_t generation_ = 0;
};

ThreadMatchState& threadMatchState() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::unique_ptr<Regex> Regex::compile(std::string_view pattern, std::uint32_t options, std::string& error) {
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                   &errorCode, &errorOffset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(errorCode, message, sizeof(message));
    error = "error compiling pattern (offset " + std::to_string(errorOffset) +
            "): " + reinterpret_cast<const char*>(message);
    return nullptr;
  }
  // A pattern the JIT cannot handle still runs, in the interpreter, with the same results.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<Regex>(new Regex(code, pattern));
}

Regex::~Regex() { pcre2_code_free(code_); }

RegexResult Regex::match(std::string_view subject, std::size_t offset, std::uint32_t options,
                         RegexSpan* groups, int& groupCount) const noexcept {
  groupCount = 0;
  ThreadMatchState& state = threadMatchState();
  if (!state.ok()) return RegexResult::kError;
  // An empty view may have a null data pointer, which PCRE2 rejects even with length 0.
  PCRE2_SPTR text = reinterpret_cast<PCRE2_SPTR>(subject.data() != nullptr ? subject.data() : "");
  int rc = pcre2_match(code_, text, subject.size(), offset, options, state.data(), state.context());
  if (rc == PCRE2_ERROR_NOMATCH) return RegexResult::kNoMatch;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
      rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    gLimitHits.fetch_add(1, std::memory_order_relaxed);
    ++tLimitHits;
    return RegexResult::kLimit;
  }
  if (rc < 0) return RegexResult::kError;
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data());
  // rc == 0: more groups took part than the match data holds; v2 then reports the match, no captures.
  groupCount = rc;
  for (int i = 0; i < rc; ++i) {
    PCRE2_SIZE begin = ovector[2 * i];
    PCRE2_SIZE end = ovector[2 * i + 1];
    if (begin == PCRE2_UNSET || end < begin) {
      groups[i] = RegexSpan{};  // v2 stores an empty string for a group that did not take part
    } else {
      groups[i] = RegexSpan{begin, end};
    }
  }
  return RegexResult::kMatch;
}

void escapeLikeV2(std::string_view pattern, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : pattern) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case ':':
      case '"':
      case '+':
      case '.':
      case ']':
      case '[':
      case '(':
      case ')':
      case '?':
      case '/':
      case '\\':
        out.push_back('\\');
        out.push_back(ch);
        break;
      case '\b':
        out += "\\b";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c <= 0x1f || c >= 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0x0f]);
        } else {
          out.push_back(ch);
        }
        break;
    }
  }
}

}  // namespace operators
}  // namespace bulwark::waf
