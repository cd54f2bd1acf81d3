// Data-driven checks of detectSqli() and detectXss(): the CRS 3.3.4 regression tests of rules 942100
// and 941100 (tests/data/waf/detect/crs_vectors.txt, made by extract_crs_vectors.py), a benign corpus
// that neither detector may flag, and malicious corpora each detector must flag. Also checks that the
// detectors do not allocate and measures their speed on benign input.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "waf/detect/detect.h"

// Counts heap allocations made while `gCounting` is set, to prove the detectors allocate nothing.
namespace {
std::atomic<bool> gCounting{false};
std::atomic<std::size_t> gAllocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (gCounting.load(std::memory_order_relaxed)) gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC pairs the replaced operator new with its own delete and warns about free() here; the pair above
// and below is consistent (malloc/free), so the warning does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace bulwark::waf {
namespace {

const std::string kDataDir = std::string(BULWARK_TEST_DATA) + "/waf/detect/";

// Undoes the escapes of the vector files: \\ \t \n \r \xHH.
std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    const char e = text[++i];
    if (e == 'x' && i + 2 < text.size() + 0 && i + 2 <= text.size() - 1) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e;
    }
  }
  return out;
}

// One value a line; blank lines and lines starting with '#' are skipped.
std::vector<std::string> readCorpus(const std::string& name) {
  std::ifstream in(kDataDir + name);
  EXPECT_TRUE(in.good()) << "cannot read " << kDataDir + name;
  std::vector<std::string> values;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    values.push_back(unescape(line));
  }
  return values;
}

struct CrsTest {
  std::string rule;
  bool expectDetect = false;
  std::vector<std::string> values;
};

// crs_vectors.txt: rule TAB test TAB detect|clean TAB value, one line per value the rule inspects.
std::map<std::string, CrsTest> readCrsVectors() {
  std::ifstream in(kDataDir + "crs_vectors.txt");
  EXPECT_TRUE(in.good());
  std::map<std::string, CrsTest> tests;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t a = line.find('\t');
    const std::size_t b = line.find('\t', a + 1);
    const std::size_t c = line.find('\t', b + 1);
    EXPECT_NE(c, std::string::npos) << line;
    if (c == std::string::npos) continue;
    CrsTest& test = tests[line.substr(a + 1, b - a - 1)];
    test.rule = line.substr(0, a);
    test.expectDetect = line.substr(b + 1, c - b - 1) == "detect";
    test.values.push_back(unescape(line.substr(c + 1)));
  }
  return tests;
}

bool detect(const std::string& rule, const std::string& value) {
  return rule == "942100" ? detectSqli(value) : detectXss(value);
}

TEST(CrsVectors, EveryRegressionTestOf942100And941100GivesTheExpectedVerdict) {
  const auto tests = readCrsVectors();
  std::size_t sqli = 0, xss = 0, passed = 0;
  for (const auto& [id, test] : tests) {
    (test.rule == "942100" ? sqli : xss)++;
    // ARGS, ARGS_NAMES, cookies and headers are one rule: a request matches if any value does.
    std::string detectedBy;
    for (const std::string& value : test.values) {
      if (detect(test.rule, value)) {
        detectedBy = value;
        break;
      }
    }
    const bool detected = !detectedBy.empty() || (test.values.size() == 1 && detect(test.rule, ""));
    EXPECT_EQ(detected, test.expectDetect)
        << id << (detected ? " matched: " + detectedBy : " matched nothing");
    if (detected == test.expectDetect) ++passed;
  }
  EXPECT_EQ(sqli, 14u);
  EXPECT_EQ(xss, 5u);
  std::printf("CRS vectors: %zu/%zu tests pass (942100: %zu tests, 941100: %zu tests)\n", passed,
              tests.size(), sqli, xss);
}

TEST(CrsVectors, RequestsWithoutInjectionAreClean) {
  // The test above checks verdicts per request; this names the clean values of detected requests too,
  // so that a detector matching everything would fail here.
  for (const auto& [id, test] : readCrsVectors()) {
    for (const std::string& value : test.values) {
      if (value == "var" || value == "ModSecurity CRS 3 Tests" || value == "text/xml" || value == "input") {
        EXPECT_FALSE(detect(test.rule, value)) << id << ": " << value;
      }
    }
  }
}

TEST(BenignCorpus, NeitherDetectorFlagsEverydayValues) {
  const auto values = readCorpus("benign.txt");
  ASSERT_GE(values.size(), 300u);
  std::size_t sqli = 0, xss = 0;
  for (const std::string& value : values) {
    std::string fingerprint;
    if (detectSqli(value, &fingerprint)) {
      ++sqli;
      ADD_FAILURE() << "detectSqli false positive (" << fingerprint << "): " << value;
    }
    if (detectXss(value)) {
      ++xss;
      ADD_FAILURE() << "detectXss false positive: " << value;
    }
  }
  std::printf("benign corpus: %zu values, %zu flagged by detectSqli, %zu by detectXss\n", values.size(), sqli,
              xss);
}

TEST(MaliciousCorpus, DetectSqliFlagsEverySqlInjectionPayload) {
  const auto values = readCorpus("sqli_malicious.txt");
  std::size_t detected = 0;
  for (const std::string& value : values) {
    if (detectSqli(value)) {
      ++detected;
    } else {
      ADD_FAILURE() << "detectSqli missed: " << value;
    }
  }
  std::printf("SQLi corpus: %zu/%zu detected\n", detected, values.size());
}

TEST(MaliciousCorpus, DetectXssFlagsEveryXssPayload) {
  const auto values = readCorpus("xss_malicious.txt");
  std::size_t detected = 0;
  for (const std::string& value : values) {
    if (detectXss(value)) {
      ++detected;
    } else {
      ADD_FAILURE() << "detectXss missed: " << value;
    }
  }
  std::printf("XSS corpus: %zu/%zu detected\n", detected, values.size());
}

TEST(MaliciousCorpus, DetectorsDoNotMistakeOneAttackForTheOther) {
  // Not a requirement, a sanity check of specificity: plain SQL payloads are not HTML.
  std::size_t crossed = 0;
  for (const std::string& value : readCorpus("sqli_malicious.txt")) crossed += detectXss(value) ? 1 : 0;
  EXPECT_EQ(crossed, 0u);
}

TEST(Resources, DetectorsAllocateNothingWithoutAFingerprint) {
  std::vector<std::string> values = readCorpus("benign.txt");
  for (const char* file : {"sqli_malicious.txt", "xss_malicious.txt"}) {
    for (std::string& v : readCorpus(file)) values.push_back(std::move(v));
  }
  values.push_back(std::string(100000, '('));
  gAllocations = 0;
  gCounting = true;
  for (const std::string& value : values) {
    (void)detectSqli(value);
    (void)detectXss(value);
  }
  gCounting = false;
  EXPECT_EQ(gAllocations.load(), 0u);
}

// Builds 100-byte benign inputs from the benign corpus (values joined by spaces, cut at 100 bytes).
std::vector<std::string> hundredByteInputs() {
  std::vector<std::string> inputs;
  std::string current;
  for (const std::string& value : readCorpus("benign.txt")) {
    current += value;
    current += ' ';
    if (current.size() >= 100) {
      inputs.push_back(current.substr(0, 100));
      current.clear();
    }
  }
  return inputs;
}

// CPU time of this thread, in nanoseconds: steadier than wall time on a shared machine.
double cpuNanoseconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <typename Detector>
double nanosecondsPerInput(const std::vector<std::string>& inputs, Detector detector) {
  constexpr int kRounds = 200;
  std::size_t hits = 0;
  const double start = cpuNanoseconds();
  for (int round = 0; round < kRounds; ++round) {
    for (const std::string& input : inputs) hits += detector(input) ? 1 : 0;
  }
  const double elapsed = cpuNanoseconds() - start;
  EXPECT_EQ(hits, 0u);
  return elapsed / (kRounds * inputs.size());
}

TEST(Speed, BenignHundredByteInputsAreCheap) {
  const auto inputs = hundredByteInputs();
  ASSERT_GE(inputs.size(), 50u);
  const double sqli = nanosecondsPerInput(inputs, [](const std::string& s) { return detectSqli(s); });
  const double xss = nanosecondsPerInput(inputs, [](const std::string& s) { return detectXss(s); });
  std::printf("speed on %zu benign 100-byte inputs: detectSqli %.0f ns, detectXss %.0f ns per input\n",
              inputs.size(), sqli, xss);
  // A loose bound that holds in sanitizer builds; it catches accidental quadratic work, not regressions.
  EXPECT_LT(sqli, 100000.0);
  EXPECT_LT(xss, 100000.0);
}

// Time for one call on `input`, best of a few runs, in nanoseconds.
template <typename Detector>
double bestTime(const std::string& input, Detector detector) {
  double best = 1e18;
  for (int run = 0; run < 5; ++run) {
    const double start = cpuNanoseconds();
    (void)detector(input);
    best = std::min(best, cpuNanoseconds() - start);
  }
  return best;
}

TEST(Speed, TimeGrowsLinearlyOnAdversarialInputs) {
  // Repeating units that defeat a naive scanner: unclosed brackets, quotes, comments, tags, references.
  const std::vector<std::string> units = {
      "(", "'",    "\"", "[",    "/*",   "*/",   "<", "<a ", "&#",     "a=",
      "`", "<!--", "1+", "--\n", "'or'", "x:e(", "/", "@",   "union ", "<a style=\"expression"};
  for (const std::string& unit : units) {
    std::string small, large;
    while (small.size() < 16384) small += unit;
    while (large.size() < 65536) large += unit;
    const double sqliRatio =
        bestTime(large, [](const std::string& s) { return detectSqli(s); }) /
        std::max(1.0, bestTime(small, [](const std::string& s) { return detectSqli(s); }));
    const double xssRatio = bestTime(large, [](const std::string& s) { return detectXss(s); }) /
                            std::max(1.0, bestTime(small, [](const std::string& s) { return detectXss(s); }));
    // Linear is 4x for 4x the input; quadratic would be 16x.
    EXPECT_LT(sqliRatio, 10.0) << "detectSqli on repeated '" << unit << "'";
    EXPECT_LT(xssRatio, 10.0) << "detectXss on repeated '" << unit << "'";
  }
}

}  // namespace
}  // namespace bulwark::waf
