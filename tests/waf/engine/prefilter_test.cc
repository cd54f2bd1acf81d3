#include "waf/engine/prefilter.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <thread>

#include "waf/engine/program.h"
#include "waf/engine/transaction.h"
#include "waf/operators/regex.h"

namespace bulwark::waf {
namespace {

namespace fs = std::filesystem;

// Sets (or, with nullptr, unsets) an environment variable for one scope and restores what was there: the
// runner's own BULWARK_CACHE_DIR / XDG_CACHE_HOME must survive these tests.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A fresh cache directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bulwark-prefilter-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

PrefilterPlan planOf(std::vector<std::string> patterns) {
  PrefilterPlan plan;
  PrefilterPlan::Group g;
  g.patterns = std::move(patterns);
  PrefilterPlan::Database db;
  for (uint32_t i = 0; i < g.patterns.size(); ++i) db.slots.push_back(i);
  g.databases.push_back(db);
  plan.groups.push_back(std::move(g));
  return plan;
}

std::vector<uint64_t> scan(const PrefilterSet& set, std::string_view value) {
  std::vector<uint64_t> bits(set.words(0), 0);
  set.scan(0, 0, value, bits.data());
  return bits;
}

bool bit(const std::vector<uint64_t>& bits, std::size_t slot) {
  return ((bits[slot >> 6] >> (slot & 63)) & 1) != 0;
}

bool pcreMatches(const std::string& pattern, std::string_view value) {
  std::string error;
  auto re = operators::Regex::compile(pattern, operators::kRxCompileOptions, error);
  EXPECT_TRUE(re) << pattern << ": " << error;
  operators::RegexSpan groups[operators::kCaptureSlots];
  int n = 0;
  return re->match(value, 0, 0, groups, n) == operators::RegexResult::kMatch;
}

// The prefilter may report more than PCRE2 matches, never less: every PCRE2 match must have its bit.
TEST(WafPrefilter, NeverMissesAPcreMatch) {
  std::vector<std::string> patterns = {
      R"((?i)union\s+select)",
      R"(\s)",
      R"(^abc$)",
      R"(a.b)",
      R"((?:<script|javascript:))",
      R"(\bor\b\s*\d)",
      R"([\x80-\xff]{2})",
      R"((a)\1)",
      R"((?=x)x+y)",
      R"(^$)",
      R"((?i)\x41\xe9)",
      R"(\d{3,}$)",
      R"((?<!a)b)",
      R"([[:space:]])",
      R"(\w+\W+\w+)",
  };
  std::string error;
  auto set = PrefilterSet::build(planOf(patterns), "", error);
  ASSERT_TRUE(set) << error;
  std::vector<std::string> values = {
      "",     "union   select", "UNION\x0bSELECT", "abc",     "abc\n", "a\nb", "x or 1",  "\xe9\xe9", "aa",
      "xxy",  "\x41\xc9",       "12345",           "12345\n", "ab",    "cb",   "foo;bar", "\x0b",     "\x0c",
      "\xa0", "<SCRIPT>"};
  std::mt19937 rng(42);
  const std::string alphabet = "ab xyzAB\n\x0b\x0c\t01<>;'\"\\\x80\xe9\xff";
  for (int i = 0; i < 3000; ++i) {
    std::string v;
    const int len = static_cast<int>(rng() % 12);
    for (int k = 0; k < len; ++k) v += alphabet[rng() % alphabet.size()];
    values.push_back(v);
  }
  for (const std::string& v : values) {
    std::vector<uint64_t> bits = scan(*set, v);
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      if (pcreMatches(patterns[i], v)) {
        EXPECT_TRUE(bit(bits, i)) << "pattern " << patterns[i] << " value " << v;
      }
    }
  }
}

// Each thread's first scan clones the set's prototype scratch; threads scanning at once agree with a
// single thread.
TEST(WafPrefilter, ThreadsScanWithClonedScratch) {
  std::string error;
  auto set = PrefilterSet::build(planOf({"union\\s+select", "<script", "a.b", "\\d{3}"}), "", error);
  ASSERT_TRUE(set) << error;
  const std::vector<std::string> values = {"1 union  select", "<script>", "axb", "12345", "nothing", ""};
  std::vector<std::vector<uint64_t>> expected;
  for (const std::string& v : values) expected.push_back(scan(*set, v));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 50; ++round) {
        for (std::size_t i = 0; i < values.size(); ++i) {
          if (scan(*set, values[i]) != expected[i]) ++mismatches;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_TRUE(bit(expected[0], 0));
  EXPECT_TRUE(bit(expected[1], 1));
  EXPECT_FALSE(bit(expected[4], 0));
}

// A scan from a thread_local destructor that runs after the thread's Hyperscan scratch is gone (a
// transaction ended at thread exit) answers "maybe" for every pattern instead of using the freed scratch.
// (Before the guard, such a scan handed the freed scratch to Hyperscan, whose own checks usually refused
// it; ASan cannot see reads inside libhs, so this test checks the answer, not the access.)
struct ScanAtExit {
  const PrefilterSet* set = nullptr;
  std::vector<uint64_t>* out = nullptr;
  ~ScanAtExit() {
    if (set != nullptr) *out = scan(*set, "nothing to see");
  }
};

TEST(WafPrefilter, ScanAfterTheThreadsScratchIsGoneIsAllMaybe) {
  std::string error;
  auto set = PrefilterSet::build(planOf({"union\\s+select", "<script"}), "", error);
  ASSERT_TRUE(set) << error;
  std::vector<uint64_t> atExit;
  std::vector<uint64_t> during;
  std::thread([&] {
    thread_local ScanAtExit late;  // constructed before the scratch: destroyed after it
    during = scan(*set, "nothing to see");
    late.set = set.get();
    late.out = &atExit;
  }).join();
  ASSERT_FALSE(during.empty());
  EXPECT_FALSE(bit(during, 0));
  ASSERT_EQ(atExit.size(), during.size());
  EXPECT_TRUE(bit(atExit, 0));
  EXPECT_TRUE(bit(atExit, 1));
}

TEST(WafPrefilter, ReportsOnlyLikelyPatterns) {
  std::string error;
  auto set = PrefilterSet::build(planOf({"select", "script", "^[0-9]+$"}), "", error);
  ASSERT_TRUE(set);
  std::vector<uint64_t> bits = scan(*set, "harmless text");
  EXPECT_FALSE(bit(bits, 0));
  EXPECT_FALSE(bit(bits, 1));
  EXPECT_FALSE(bit(bits, 2));
  bits = scan(*set, "<script>");
  EXPECT_FALSE(bit(bits, 0));
  EXPECT_TRUE(bit(bits, 1));
  EXPECT_TRUE(bit(scan(*set, "12345"), 2));
}

TEST(WafPrefilter, PatternHyperscanCannotCompileIsAlwaysMaybe) {
  std::string error;
  // \K (reset the match start) is rejected by Hyperscan even in prefilter mode.
  auto set = PrefilterSet::build(planOf({"abc", R"(x\Ky)", "def"}), "", error);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->stats().unsupported, 1u);
  std::vector<uint64_t> bits = scan(*set, "nothing here");
  EXPECT_FALSE(bit(bits, 0));
  EXPECT_TRUE(bit(bits, 1));
  EXPECT_FALSE(bit(bits, 2));
  EXPECT_TRUE(bit(scan(*set, "def"), 2));
}

TEST(WafPrefilter, DiskCacheIsReusedAndDamageIsRepaired) {
  TempDir dir;
  PrefilterPlan plan = planOf({"alpha", "beta[0-9]+", "(?i)gamma"});
  std::string error;
  auto first = PrefilterSet::build(plan, dir.path() + "/sub", error);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->stats().cacheHits, 0u);
  EXPECT_EQ(first->stats().cacheWrites, 1u);
  auto second = PrefilterSet::build(plan, dir.path() + "/sub", error);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->stats().cacheHits, 1u);
  EXPECT_TRUE(bit(scan(*second, "BETA7 GAMMA"), 2));
  EXPECT_FALSE(bit(scan(*second, "nothing"), 0));

  // A damaged file fails its checksum: rebuilt and rewritten, and the result is still right.
  std::string file;
  for (const auto& e : fs::directory_iterator(dir.path() + "/sub")) file = e.path();
  ASSERT_FALSE(file.empty());
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x5a');
  }
  auto third = PrefilterSet::build(plan, dir.path() + "/sub", error);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->stats().cacheHits, 0u);
  EXPECT_EQ(third->stats().cacheWrites, 1u);
  EXPECT_TRUE(bit(scan(*third, "alpha"), 0));

  // A file others could have written is not trusted.
  ::chmod(file.c_str(), 0666);
  auto fourth = PrefilterSet::build(plan, dir.path() + "/sub", error);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->stats().cacheHits, 0u);
}

TEST(WafPrefilter, ChangedPatternsMissTheCache) {
  TempDir dir;
  std::string error;
  ASSERT_TRUE(PrefilterSet::build(planOf({"one", "two"}), dir.path(), error));
  auto other = PrefilterSet::build(planOf({"one", "three"}), dir.path(), error);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->stats().cacheHits, 0u);
  EXPECT_TRUE(bit(scan(*other, "three"), 1));
}

// --- engine integration ---------------------------------------------------------------------------------

constexpr const char* kRules = R"RULES(SecRuleEngine On
SecRule ARGS|REQUEST_HEADERS "@rx (?i)union\s+select" "id:1,phase:2,pass,t:none,t:urlDecodeUni,capture,setvar:tx.m1=%{TX.0}"
SecRule ARGS|REQUEST_HEADERS "@rx <script" "id:2,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase"
SecRule ARGS|REQUEST_HEADERS "@rx javascript:" "id:3,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase"
SecRule ARGS "!@rx ^[a-z0-9 ]*$" "id:4,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase"
SecRule ARGS "@rx ^[0-9]+$" "id:5,phase:2,pass,t:none,t:urlDecodeUni,t:lowercase"
SecRule REQUEST_HEADERS:User-Agent "@rx (?:curl|wget)" "id:6,phase:2,pass,t:none,t:urlDecodeUni"
SecRule ARGS_NAMES "@rx ^(id|q)$" "id:7,phase:2,pass,t:none"
SecRule ARGS_NAMES "@rx ^x" "id:8,phase:2,pass,t:none"
)RULES";

std::vector<int64_t> matchedIds(const std::shared_ptr<const Program>& p, const std::string& uri,
                                const std::string& ua, std::string* capture = nullptr) {
  Transaction tx(p, TxInfo{"192.0.2.1", 5555, "127.0.0.1", 80, "uid1", "example.com"});
  tx.setRequestLine("GET", uri, "HTTP/1.1");
  tx.addRequestHeader("Host", "example.com");
  tx.addRequestHeader("User-Agent", ua);
  tx.processRequestHeaders();
  tx.processRequestBody();
  std::vector<int64_t> ids;
  for (const auto& m : tx.matches()) ids.push_back(m.rule->id);
  if (capture != nullptr) {
    const KeyValue* kv = tx.tx().find("m1");
    *capture = kv != nullptr ? kv->value : "";
  }
  return ids;
}

TEST(WafPrefilter, CompilerGroupsRxRulesByChainAndVariable) {
  CompileResult r = compileText(kRules, "test.conf");
  ASSERT_TRUE(r.program) << (r.errors.empty() ? "" : r.errors[0]);
  ASSERT_TRUE(r.program->prefilter);
  const PrefilterPlan& plan = r.program->prefilter->plan();
  // Chains: (none,urlDecodeUni), (none,urlDecodeUni,lowercase), (none).
  EXPECT_EQ(plan.groups.size(), 3u);
  EXPECT_EQ(plan.patternCount(), 8u);
  const PrefilterPlan::Group& lower =
      plan.groups[static_cast<std::size_t>(r.program->phases[2][1]->prefilterGroup)];
  EXPECT_EQ(lower.patterns.size(), 4u);
  // ARGS is read by rules 2-5 and REQUEST_HEADERS by rules 2-3: two databases.
  EXPECT_EQ(lower.databases.size(), 2u);
  EXPECT_GE(lower.databaseOfVar[static_cast<std::size_t>(VariableId::kArgs)], 0);
  // Rule 6 alone reads User-Agent through its chain, and rule 1 alone... shares the chain: REQUEST_HEADERS
  // is read by rules 1 and 6, so it has a database; ARGS by rule 1 only, so it has none.
  const PrefilterPlan::Group& plain =
      plan.groups[static_cast<std::size_t>(r.program->phases[2][0]->prefilterGroup)];
  EXPECT_GE(plain.databaseOfVar[static_cast<std::size_t>(VariableId::kRequestHeaders)], 0);
  EXPECT_LT(plain.databaseOfVar[static_cast<std::size_t>(VariableId::kArgs)], 0);
}

// The same requests give the same matches and captures with and without the prefilter.
TEST(WafPrefilter, VerdictsAndCapturesEqualPcreOnly) {
  CompileResult plain = [] {
    ScopedEnv off("BULWARK_WAF_PREFILTER", "off");
    return compileText(kRules, "test.conf");
  }();
  CompileResult fast = [] {
    ScopedEnv on("BULWARK_WAF_PREFILTER", nullptr);
    return compileText(kRules, "test.conf");
  }();
  ASSERT_TRUE(plain.program && fast.program);
  EXPECT_FALSE(plain.program->prefilter);
  ASSERT_TRUE(fast.program->prefilter);
  ASSERT_TRUE(fast.program->prefilter->buildNow());
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"/?q=hello", "Mozilla/5.0"},
      {"/?q=1%20UNION%20%20SELECT%20x", "Mozilla/5.0"},
      {"/?id=12345&xq=javascript%3Aalert(1)", "curl/8.0"},
      {"/?q=%3CScRiPt%3E", "Mozilla <script>"},
      {"/?id=abc&q=Ab+C", "wget union select"},
      {"/", ""},
  };
  for (const auto& [uri, ua] : requests) {
    std::string capPlain;
    std::string capFast;
    EXPECT_EQ(matchedIds(plain.program, uri, ua, &capPlain), matchedIds(fast.program, uri, ua, &capFast))
        << uri;
    EXPECT_EQ(capPlain, capFast) << uri;
  }
  // And the prefilter really decided something: rule 1 matches, its capture is PCRE2's.
  std::string cap;
  std::vector<int64_t> ids = matchedIds(fast.program, "/?q=1%20UNION%20%20SELECT%20x", "Mozilla/5.0", &cap);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 1), ids.end());
  EXPECT_EQ(cap, "UNION  SELECT");
}

// Rules decided from the union of a variable's scan results must still see data added in a later phase
// (body arguments) and still respect keys and exclusions.
TEST(WafPrefilter, UnionDecisionsFollowPhasesKeysAndExclusions) {
  CompileResult r = compileText(R"RULES(SecRuleEngine On
SecRequestBodyAccess On
SecRule ARGS "@rx attack" "id:1,phase:1,pass,t:none,t:lowercase"
SecRule ARGS "@rx evil" "id:2,phase:1,pass,t:none,t:lowercase"
SecRule ARGS "@rx attack" "id:3,phase:2,pass,t:none,t:lowercase"
SecRule ARGS "@rx evil" "id:4,phase:2,pass,t:none,t:lowercase"
SecRule ARGS:b "@rx attack" "id:5,phase:2,pass,t:none,t:lowercase"
SecRule ARGS|!ARGS:p "@rx evil" "id:6,phase:2,pass,t:none,t:lowercase"
)RULES",
                                "test.conf");
  ASSERT_TRUE(r.program && r.program->prefilter);
  ASSERT_TRUE(r.program->prefilter->buildNow());
  Transaction tx(r.program, TxInfo{"192.0.2.1", 5555, "127.0.0.1", 80, "uid1", "example.com"});
  tx.setRequestLine("POST", "/?a=ATTACK", "HTTP/1.1");
  tx.addRequestHeader("Content-Type", "application/x-www-form-urlencoded");
  tx.processRequestHeaders();
  const std::string body = "p=Evil&q=fine";
  tx.appendRequestBody(body);
  tx.processRequestBody();
  std::vector<int64_t> ids;
  for (const auto& m : tx.matches()) ids.push_back(m.rule->id);
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 3, 4}));  // 2: no body yet; 5: b absent; 6: p excluded
}

// A group whose rules read a variable by keys only scans just those keys' values for its union; one rule
// reading the whole variable makes the union cover every value again.
TEST(WafPrefilter, UnionsCoverTheKeysTheGroupReads) {
  CompileResult r = compileText(R"RULES(SecRuleEngine On
SecRule REQUEST_HEADERS:User-Agent "@rx attack" "id:1,phase:1,pass,t:none,t:lowercase"
SecRule REQUEST_HEADERS:Referer|REQUEST_HEADERS:User-Agent "@rx evil" "id:2,phase:1,pass,t:none,t:lowercase"
SecRule REQUEST_HEADERS "@rx attack" "id:3,phase:1,pass,t:none,t:urlDecode"
SecRule REQUEST_HEADERS "@rx evil" "id:4,phase:1,pass,t:none,t:urlDecode"
SecRule REQUEST_HEADERS:/^x-/ "@rx bad" "id:5,phase:1,pass,t:none,t:urlDecode"
)RULES",
                                "test.conf");
  ASSERT_TRUE(r.program && r.program->prefilter);
  const PrefilterPlan& plan = r.program->prefilter->plan();
  const auto headers = static_cast<std::size_t>(VariableId::kRequestHeaders);
  const PrefilterPlan::Group& keyed =
      plan.groups[static_cast<std::size_t>(r.program->phases[1][0]->prefilterGroup)];
  EXPECT_EQ(keyed.keysOfVar[headers], (std::vector<std::string>{"referer", "user-agent"}));
  const PrefilterPlan::Group& whole =
      plan.groups[static_cast<std::size_t>(r.program->phases[1][2]->prefilterGroup)];
  EXPECT_TRUE(whole.keysOfVar[headers].empty());
  ASSERT_TRUE(r.program->prefilter->buildNow());
  auto ids = [&](const std::vector<std::pair<std::string, std::string>>& hs) {
    Transaction tx(r.program, TxInfo{"192.0.2.1", 5555, "127.0.0.1", 80, "uid1", "example.com"});
    tx.setRequestLine("GET", "/", "HTTP/1.1");
    for (const auto& [k, v] : hs) tx.addRequestHeader(k, v);
    tx.processRequestHeaders();
    std::vector<int64_t> out;
    for (const auto& m : tx.matches()) out.push_back(m.rule->id);
    return out;
  };
  // Rules 3-5 do not lower-case: "ATTACK" and "Evil" are not theirs.
  EXPECT_EQ(ids({{"User-Agent", "ATTACK"}, {"Accept", "evil"}}), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(ids({{"User-Agent", "attack"}, {"Accept", "evil"}}), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(ids({{"Accept", "attack evil"}, {"referer", "x"}}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ids({{"REFERER", "Evil"}, {"X-A", "bad"}}), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(ids({{"REFERER", "evil"}, {"X-A", "bad"}}), (std::vector<int64_t>{2, 4, 5}));
  EXPECT_EQ(ids({{"Y-A", "bad"}}), (std::vector<int64_t>{}));
}

TEST(WafPrefilter, FirstTransactionStartsTheBackgroundBuild) {
  TempDir dir;
  CompileResult r = [&] {
    ScopedEnv cache("BULWARK_CACHE_DIR", dir.path().c_str());
    return compileText(kRules, "test.conf");
  }();
  ASSERT_TRUE(r.program && r.program->prefilter);
  EXPECT_EQ(r.program->prefilter->cacheDir(), dir.path());
  // Until the databases exist, transactions run on PCRE2 alone, with the same verdicts.
  std::vector<int64_t> before = matchedIds(r.program, "/?q=%3Cscript%3E", "curl");
  const PrefilterSet* set = r.program->prefilter->waitBuilt();
  ASSERT_NE(set, nullptr) << r.program->prefilter->error();
  EXPECT_EQ(r.program->prefilter->acquire(), set);
  EXPECT_EQ(matchedIds(r.program, "/?q=%3Cscript%3E", "curl"), before);
  EXPECT_FALSE(fs::is_empty(dir.path()));
}

TEST(WafPrefilter, DefaultCacheDirFollowsTheEnvironment) {
  {
    ScopedEnv cache("BULWARK_CACHE_DIR", "/x/y");
    EXPECT_EQ(defaultPrefilterCacheDir(), "/x/y");
  }
  {
    ScopedEnv cache("BULWARK_CACHE_DIR", "off");
    EXPECT_EQ(defaultPrefilterCacheDir(), "");
  }
  ScopedEnv noCache("BULWARK_CACHE_DIR", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(defaultPrefilterCacheDir(), "/xdg/bulwark");
  }
  ScopedEnv noXdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/u");
  EXPECT_EQ(defaultPrefilterCacheDir(), "/home/u/.cache/bulwark");
}

}  // namespace
}  // namespace bulwark::waf
