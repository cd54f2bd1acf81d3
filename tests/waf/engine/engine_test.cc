#include <gtest/gtest.h>

#include <filesystem>

#include "waf/engine/program.h"
#include "waf/engine/transaction.h"

namespace bulwark::waf {
namespace {

std::shared_ptr<const Program> compileOk(std::string_view text) {
  CompileResult r = compileText(text, "test.conf");
  for (const auto& e : r.errors) ADD_FAILURE() << e;
  return r.program;
}

std::unique_ptr<Transaction> run(const std::shared_ptr<const Program>& p, std::string_view uri,
                                 std::vector<std::pair<std::string, std::string>> headers = {},
                                 std::string_view body = {}) {
  auto tx =
      std::make_unique<Transaction>(p, TxInfo{"192.0.2.1", 5555, "127.0.0.1", 80, "uid1", "example.com"});
  tx->setRequestLine("GET", uri, "HTTP/1.1");
  for (auto& [n, v] : headers) tx->addRequestHeader(n, v);
  tx->processRequestHeaders();
  if (!tx->intervention().disrupted) {
    tx->appendRequestBody(body);
    tx->processRequestBody();
  }
  return tx;
}

bool matched(const Transaction& tx, int64_t id) {
  for (const auto& m : tx.matches()) {
    if (m.rule->id == id) return true;
  }
  return false;
}

TEST(WafEngine, DenyRuleBlocksMatchingArgument) {
  auto p = compileOk(R"(SecRuleEngine On
SecRule ARGS "@rx attack" "id:1,phase:2,deny,status:403,msg:'found %{MATCHED_VAR_NAME}'")");
  ASSERT_TRUE(p);
  auto tx = run(p, "/x?a=1&b=the+attack");
  EXPECT_TRUE(tx->intervention().disrupted);
  EXPECT_EQ(tx->intervention().status, 403);
  ASSERT_EQ(tx->matches().size(), 1u);
  EXPECT_EQ(tx->matches()[0].message, "found ARGS:b");
  EXPECT_FALSE(run(p, "/x?a=benign")->intervention().disrupted);
}

// ModSecurity runs the logging phase (5) whatever happened before: after a block and after `allow`, so
// CRS's correlation rules report blocked requests. A disruptive rule in phase 5 ends phase 5.
TEST(WafEngine, LoggingPhaseRunsAfterABlockAndAfterAllow) {
  auto p = compileOk(R"(SecRuleEngine On
SecRule ARGS "@rx attack" "id:1,phase:2,deny,status:403,setvar:tx.score=5"
SecRule ARGS "@rx skip" "id:2,phase:1,allow"
SecRule REQUEST_URI "@rx ." "id:3,phase:2,pass,log"
SecRule REQUEST_URI "@rx ." "id:5,phase:5,pass,log,msg:'score %{tx.score}'"
SecRule REQUEST_URI "@rx ." "id:6,phase:5,deny,log"
SecRule REQUEST_URI "@rx ." "id:7,phase:5,pass,log")");
  ASSERT_TRUE(p);
  auto blocked = run(p, "/x?a=attack");
  ASSERT_TRUE(blocked->intervention().disrupted);
  EXPECT_FALSE(matched(*blocked, 3));  // the rest of phase 2 is skipped
  blocked->processLogging();
  EXPECT_TRUE(matched(*blocked, 5));
  EXPECT_TRUE(matched(*blocked, 6));
  EXPECT_FALSE(matched(*blocked, 7));
  EXPECT_EQ(blocked->intervention().status, 403);
  EXPECT_EQ(blocked->intervention().ruleId, 1);  // still the rule that blocked
  EXPECT_EQ(blocked->intervention().phase, 2);
  for (const auto& m : blocked->matches()) {
    if (m.rule->id == 5) {
      EXPECT_EQ(m.message, "score 5");
    }
  }

  auto allowed = run(p, "/x?a=skip");
  EXPECT_FALSE(allowed->intervention().disrupted);
  EXPECT_FALSE(matched(*allowed, 3));  // allow skips phases 2-4
  allowed->processLogging();
  EXPECT_TRUE(matched(*allowed, 5));
  EXPECT_FALSE(matched(*allowed, 7));
}

TEST(WafEngine, DetectionOnlyLogsButNeverDisrupts) {
  auto p = compileOk(R"(SecRuleEngine DetectionOnly
SecRule ARGS "@rx attack" "id:1,phase:1,deny")");
  auto tx = run(p, "/?q=attack");
  EXPECT_FALSE(tx->intervention().disrupted);
  EXPECT_TRUE(matched(*tx, 1));
}

TEST(WafEngine, ChainMatchesOnlyWhenEveryLinkMatches) {
  auto p = compileOk(R"(SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass,log,chain"
  SecRule ARGS:id "@rx ^[0-9]+$" "setvar:tx.ok=1")");
  EXPECT_TRUE(matched(*run(p, "/?id=42"), 1));
  EXPECT_FALSE(matched(*run(p, "/?id=x"), 1));
}

TEST(WafEngine, SetvarArithmeticAndMacros) {
  auto p = compileOk(R"(SecAction "id:1,phase:1,pass,nolog,setvar:tx.score=5,setvar:tx.step=2"
SecRule ARGS "@rx x" "id:2,phase:1,pass,nolog,setvar:'tx.score=+%{tx.step}'"
SecRule TX:SCORE "@ge 9" "id:3,phase:1,pass,log")");
  auto tx = run(p, "/?a=x&b=x");  // two matching values: the setvar runs per match (v2)
  EXPECT_EQ(tx->tx().find("score")->value, "9");
  EXPECT_TRUE(matched(*tx, 3));
}

TEST(WafEngine, SkipAfterJumpsToMarker) {
  auto p = compileOk(R"(SecRule ARGS:skip "@streq 1" "id:1,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS "@rx ." "id:2,phase:1,pass,log"
SecMarker END
SecRule ARGS "@rx ." "id:3,phase:1,pass,log")");
  auto tx = run(p, "/?skip=1");
  EXPECT_FALSE(matched(*tx, 2));
  EXPECT_TRUE(matched(*tx, 3));
  EXPECT_TRUE(matched(*run(p, "/?skip=0"), 2));
}

TEST(WafEngine, ExclusionsAndCtlRemoveTarget) {
  auto p = compileOk(R"(SecRule ARGS|!ARGS:safe "@rx evil" "id:1,phase:2,pass,log"
SecRule REQUEST_URI "@beginsWith /api" "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetById=3;ARGS:token"
SecRule ARGS "@rx evil" "id:3,phase:2,pass,log")");
  EXPECT_FALSE(matched(*run(p, "/?safe=evil"), 1));
  EXPECT_TRUE(matched(*run(p, "/?other=evil"), 1));
  EXPECT_FALSE(matched(*run(p, "/api?token=evil"), 3));
  EXPECT_TRUE(matched(*run(p, "/web?token=evil"), 3));
}

TEST(WafEngine, CountTargetsAndTransformations) {
  auto p = compileOk(R"(SecRule &ARGS "@eq 2" "id:1,phase:1,pass,log"
SecRule ARGS "@streq select" "id:2,phase:1,pass,log,t:none,t:lowercase")");
  auto tx = run(p, "/?a=SeLeCt&b=2");
  EXPECT_TRUE(matched(*tx, 1));
  EXPECT_TRUE(matched(*tx, 2));
}

TEST(WafEngine, UrlencodedBodyBecomesArgsPost) {
  auto p = compileOk(R"(SecRequestBodyAccess On
SecRule ARGS_POST:user "@streq admin" "id:1,phase:2,pass,log")");
  auto tx = run(p, "/login", {{"Content-Type", "application/x-www-form-urlencoded"}}, "user=admin&pw=x");
  EXPECT_TRUE(matched(*tx, 1));
}

TEST(WafEngine, RemoveAndUpdateTargetsByTagAndMsgApplyToEarlierRules) {
  auto p = compileOk(R"(SecRule ARGS "@rx evil" "id:1,phase:1,pass,log,tag:'attack-sqli',msg:'SQL thing'"
SecRule ARGS "@rx evil" "id:2,phase:1,pass,log,tag:'attack-xss',msg:'XSS thing'"
SecRule ARGS "@rx evil" "id:3,phase:1,pass,log,tag:'attack-rce',msg:'RCE thing'"
SecRuleRemoveByTag "attack-sqli"
SecRuleRemoveByMsg "^XSS"
SecRuleUpdateTargetByTag "attack-rce" "!ARGS:safe"
SecRule ARGS "@rx evil" "id:4,phase:1,pass,log,tag:'attack-sqli'")");
  ASSERT_TRUE(p);
  auto tx = run(p, "/?q=evil");
  EXPECT_FALSE(matched(*tx, 1));  // removed by tag
  EXPECT_FALSE(matched(*tx, 2));  // removed by msg
  EXPECT_TRUE(matched(*tx, 3));
  EXPECT_TRUE(matched(*tx, 4));  // loaded after the removal: untouched (v2 order semantics)
  EXPECT_FALSE(matched(*run(p, "/?safe=evil"), 3));  // target removed by tag
}

TEST(WafEngine, UnknownNamesAreLoadErrorsWithFileAndLine) {
  CompileResult r =
      compileText("SecRuleEngine On\nSecRule ARGS \"@nosuchop x\" \"id:1,phase:1,pass\"\n", "t.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].rfind("t.conf:2: ", 0), 0u) << r.errors[0];
  EXPECT_FALSE(r.program);
  r = compileText("SecRule NOSUCHVAR \"@rx x\" \"id:1,phase:1,pass\"\n", "t.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  r = compileText("SecRule ARGS \"@rx x\" \"id:1,phase:1,pass,frobnicate\"\n", "t.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  r = compileText("SecRule ARGS \"@rx x\" \"id:1,phase:1,pass,t:nosuch\"\n", "t.conf");
  ASSERT_EQ(r.errors.size(), 1u);
  r = compileText("SecFrobnicate On\n", "t.conf");
  ASSERT_EQ(r.errors.size(), 1u);
}

TEST(WafEngine, LoadsDebianCoreRuleSet) {
  const std::string setup = "/etc/modsecurity/crs/crs-setup.conf";
  const std::string rules = "/usr/share/modsecurity-crs/rules/*.conf";
  if (!std::filesystem::exists(setup)) GTEST_SKIP() << "modsecurity-crs is not installed";
  std::vector<std::string> files = {setup, rules};
  if (std::filesystem::exists("/etc/nginx/modsecurity.conf"))
    files.insert(files.begin(), "/etc/nginx/modsecurity.conf");
  CompileResult r = compileFiles(files);
  for (const auto& e : r.errors) ADD_FAILURE() << e;
  ASSERT_TRUE(r.program);
  EXPECT_GT(r.program->ruleCount, 500u);
}

TEST(WafEngine, RegexOverTheMatchLimitIsNoMatchAndFlagsTheTransaction) {
  auto p = compileOk(R"(SecRule ARGS "@rx ^(a+)+$" "id:1,phase:2,pass,t:none"
SecRule TX:/^MSC_/ "!@streq 0" "id:2,phase:2,pass,t:none,msg:'internal error flagged: %{MATCHED_VAR_NAME}'")");
  ASSERT_TRUE(p);
  auto tx = run(p, "/?q=" + std::string(40, 'a') + "b");
  EXPECT_FALSE(matched(*tx, 1));
  ASSERT_TRUE(matched(*tx, 2));
  EXPECT_EQ(tx->matches().back().message, "internal error flagged: TX:MSC_PCRE_LIMITS_EXCEEDED");
  auto fine = run(p, "/?q=aaaa");
  EXPECT_TRUE(matched(*fine, 1));
  EXPECT_FALSE(matched(*fine, 2));
}

TEST(WafEngine, MatchedVarsHoldOnlyTheCurrentRulesMatches) {
  auto p = compileOk(R"(SecRule ARGS:a "@rx evil" "id:1,phase:2,pass"
SecRule ARGS:b "@rx x" "id:2,phase:2,pass,chain"
  SecRule MATCHED_VARS "@rx evil" ""
SecRule ARGS:b "@rx x" "id:3,phase:2,pass,chain"
  SecRule MATCHED_VARS "@rx ^x$" "")");
  ASSERT_TRUE(p);
  auto tx = run(p, "/?a=evil&b=x");
  EXPECT_TRUE(matched(*tx, 1));
  EXPECT_FALSE(matched(*tx, 2));  // rule 1's match is not in rule 2's MATCHED_VARS
  EXPECT_TRUE(matched(*tx, 3));   // the chain starter's own match is
}

TEST(WafEngine, RequestFilenameIsPercentDecoded) {
  auto p = compileOk(R"(SecRule REQUEST_FILENAME "@streq /a b/c(+.php" "id:1,phase:1,pass"
SecRule REQUEST_BASENAME "@streq c(+.php" "id:2,phase:1,pass"
SecRule REQUEST_URI "@streq /a%20b/c%28+.php?q=%41" "id:3,phase:1,pass"
SecRule REQUEST_FILENAME "@streq /bad%zz" "id:4,phase:1,pass")");
  ASSERT_TRUE(p);
  auto tx = run(p, "/a%20b/c%28+.php?q=%41");
  EXPECT_TRUE(matched(*tx, 1));
  EXPECT_TRUE(matched(*tx, 2));
  EXPECT_TRUE(matched(*tx, 3));                 // REQUEST_URI stays as sent
  EXPECT_TRUE(matched(*run(p, "/bad%zz"), 4));  // an invalid escape is kept
}

TEST(WafEngine, BodiesWithoutFilesFollowTheNoFilesLimit) {
  auto p = compileOk(R"(SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 1000000
SecRequestBodyNoFilesLimit 100
SecRequestBodyLimitAction Reject)");
  ASSERT_TRUE(p);
  auto limitFor = [&](const char* contentType, EngineMode mode, bool& reject) {
    Transaction tx(p, TxInfo{"192.0.2.1", 5555, "127.0.0.1", 80, "uid1", "example.com"});
    tx.forceMode(mode);
    tx.setRequestLine("POST", "/", "HTTP/1.1");
    tx.addRequestHeader("Content-Type", contentType);
    tx.processRequestHeaders();
    reject = tx.requestBodyLimitReject();
    EXPECT_EQ(tx.appendRequestBody(std::string(150, 'a')), tx.requestBodyLimit() >= 150);
    return tx.requestBodyLimit();
  };
  bool reject = false;
  EXPECT_EQ(limitFor("application/x-www-form-urlencoded", EngineMode::kOn, reject), 100u);
  EXPECT_TRUE(reject);
  EXPECT_EQ(limitFor("application/json", EngineMode::kOn, reject), 100u);
  EXPECT_EQ(limitFor("multipart/form-data; boundary=x", EngineMode::kOn, reject), 1000000u);
  // DetectionOnly never rejects over a limit: it inspects what fits (v2's ProcessPartial).
  EXPECT_EQ(limitFor("text/plain", EngineMode::kDetectionOnly, reject), 100u);
  EXPECT_FALSE(reject);
}

}  // namespace
}  // namespace bulwark::waf
